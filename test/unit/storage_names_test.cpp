#include "core/storage_names.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <string>

#include "core/error.hpp"

using namespace ptb::core;

namespace {

constexpr int64_t kSample = 1795299780;  // 2026-11-21 22:23:00 UTC

}  // namespace

TEST(StorageNames, NamesTenantAndDatabaseSnapshots) {
  EXPECT_EQ(snapshot_file_name(std::string("acme_42"), 16384, 17, kSample, Compression::Zstd),
            "tenant-acme_42-20261121T222300Z-db16384-17.json.zst");
  EXPECT_EQ(snapshot_file_name(std::string("acme_42"), 16384, 17, kSample, Compression::None),
            "tenant-acme_42-20261121T222300Z-db16384-17.json");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 16384, 17, kSample, Compression::Zstd),
            "database-20261121T222300Z-db16384-17.json.zst");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 16384, 0, 0, Compression::None),
            "database-19700101T000000Z-db16384-0.json");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 16384, 1, 253402300799, Compression::None),
            "database-99991231T235959Z-db16384-1.json");
  EXPECT_EQ(snapshot_file_name(std::string("x"), 16384, 9, 951782400, Compression::None),  // leap day
            "tenant-x-20000229T000000Z-db16384-9.json");
}

TEST(StorageNames, DerivesTheTenantPartNeverUsingItRaw) {
  auto name = [](std::string tenant) {
    return snapshot_file_name(tenant, 16384, 5, kSample, Compression::None);
  };
  EXPECT_EQ(name("../../etc/passwd"), "tenant-______etc_passwd-20261121T222300Z-db16384-5.json");
  EXPECT_EQ(name("Acme Corp."), "tenant-Acme_Corp_-20261121T222300Z-db16384-5.json");
  EXPECT_EQ(name(std::string("a\0b/c", 5)), "tenant-a_b_c-20261121T222300Z-db16384-5.json");
  EXPECT_EQ(name("caf\xc3\xa9"), "tenant-caf__-20261121T222300Z-db16384-5.json");  // per byte
  EXPECT_EQ(name(""), "tenant--20261121T222300Z-db16384-5.json");
  EXPECT_EQ(name(".hidden"), "tenant-_hidden-20261121T222300Z-db16384-5.json");
  // Cut at 40 bytes.
  EXPECT_EQ(name(std::string(100, 'z')),
            "tenant-" + std::string(40, 'z') + "-20261121T222300Z-db16384-5.json");
}

TEST(StorageNames, GeneratedNamesAreAlwaysSafeAndAccepted) {
  std::mt19937 random(42);
  for (int i = 0; i < 5000; ++i) {
    std::string tenant(random() % 80, '\0');
    for (char& c : tenant) c = static_cast<char>(random());
    auto compression = i % 2 ? Compression::Zstd : Compression::None;
    std::optional<std::string> who;
    if (i % 5) who = tenant;
    std::string name = snapshot_file_name(who, 16384, static_cast<int64_t>(random()) * 1000003,
                                          random() % 253402300800, compression);
    EXPECT_NE(name.front(), '.');
    EXPECT_EQ(name.find('/'), std::string::npos);
    EXPECT_EQ(name.find('\0'), std::string::npos);
    EXPECT_EQ(name.find(".."), std::string::npos);
    EXPECT_TRUE(is_snapshot_file_name(name)) << name;
    EXPECT_FALSE(is_snapshot_file_name(temporary_file_name(name))) << name;
  }
  // The longest possible name still fits.
  std::string longest =
      snapshot_file_name(std::string(200, 'a'), UINT32_MAX, std::numeric_limits<int64_t>::max(),
                         253402300799, Compression::Zstd);
  EXPECT_TRUE(is_snapshot_file_name(longest)) << longest;
  std::string longest_encrypted =
      snapshot_file_name(std::string(200, 'a'), UINT32_MAX, std::numeric_limits<int64_t>::max(),
                         253402300799, Compression::Zstd, true);
  EXPECT_TRUE(is_snapshot_file_name(longest_encrypted)) << longest_encrypted;
}

TEST(StorageNames, EncryptedFilesEndInEnc) {
  EXPECT_EQ(snapshot_file_name(std::string("acme_42"), 16384, 17, kSample, Compression::Zstd, true),
            "tenant-acme_42-20261121T222300Z-db16384-17.json.zst.enc");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 16384, 17, kSample, Compression::None, true),
            "database-20261121T222300Z-db16384-17.json.enc");
  EXPECT_TRUE(is_snapshot_file_name("database-20261121T222300Z-db16384-17.json.enc"));
  EXPECT_TRUE(is_snapshot_file_name("a.json.zst.enc"));
  EXPECT_FALSE(is_snapshot_file_name("a.enc"));
  EXPECT_FALSE(is_snapshot_file_name("a.json.enc.tmp"));
  EXPECT_FALSE(is_snapshot_file_name("a.json.enc.enc"));
  EXPECT_FALSE(is_snapshot_file_name(".enc"));
}

TEST(StorageNames, RejectsNegativeIdsAndTimesOutOfRange) {
  for (auto [id, seconds] : {std::pair<int64_t, int64_t>{-1, kSample},
                             {1, -1},
                             {1, 253402300800},
                             {1, std::numeric_limits<int64_t>::max()},
                             {std::numeric_limits<int64_t>::min(), kSample}}) {
    try {
      snapshot_file_name(std::nullopt, 16384, id, seconds, Compression::None);
      ADD_FAILURE() << id << " " << seconds;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
}

TEST(StorageNames, RecognizesSnapshotFileNames) {
  EXPECT_TRUE(is_snapshot_file_name("tenant-acme_42-20261121T222300Z-db16384-17.json.zst"));
  EXPECT_TRUE(is_snapshot_file_name("database-20261121T222300Z-db16384-17.json"));
  EXPECT_TRUE(is_snapshot_file_name("a.json"));
  EXPECT_TRUE(is_snapshot_file_name("x.y.json.zst"));
  EXPECT_TRUE(is_snapshot_file_name(std::string(123, 'a') + ".json"));  // 128 bytes

  EXPECT_FALSE(is_snapshot_file_name(""));
  EXPECT_FALSE(is_snapshot_file_name(".json"));
  EXPECT_FALSE(is_snapshot_file_name(".hidden.json"));
  EXPECT_FALSE(is_snapshot_file_name("a..json"));
  EXPECT_FALSE(is_snapshot_file_name("../a.json"));
  EXPECT_FALSE(is_snapshot_file_name("dir/a.json"));
  EXPECT_FALSE(is_snapshot_file_name("a.json/"));
  EXPECT_FALSE(is_snapshot_file_name("a b.json"));
  EXPECT_FALSE(is_snapshot_file_name(std::string("a\0.json", 7)));
  EXPECT_FALSE(is_snapshot_file_name("a.json\n"));
  EXPECT_FALSE(is_snapshot_file_name("a.json.tmp"));
  EXPECT_FALSE(is_snapshot_file_name("a.json.zst.tmp"));
  EXPECT_FALSE(is_snapshot_file_name("a.JSON"));
  EXPECT_FALSE(is_snapshot_file_name("a.zst"));
  EXPECT_FALSE(is_snapshot_file_name("a.json.gz"));
  EXPECT_FALSE(is_snapshot_file_name("a.jsonx"));
  EXPECT_FALSE(is_snapshot_file_name("caf\xc3\xa9.json"));
  EXPECT_FALSE(is_snapshot_file_name(std::string(124, 'a') + ".json"));  // 129 bytes
}

TEST(StorageNames, TemporaryNameAppendsTmp) {
  EXPECT_EQ(temporary_file_name("database-20261121T222300Z-db16384-17.json"),
            "database-20261121T222300Z-db16384-17.json.tmp");
  EXPECT_EQ(temporary_file_name(""), ".tmp");
}

TEST(StorageNamesArchiveCommand, SubstitutesQuotedValues) {
  EXPECT_EQ(format_archive_command("cp %p /archive/%f", "/data/backups/a.json", "a.json"),
            "cp '/data/backups/a.json' /archive/'a.json'");
  EXPECT_EQ(format_archive_command("test ! -f %f && cp %p %f", "p", "f"),
            "test ! -f 'f' && cp 'p' 'f'");
  EXPECT_EQ(format_archive_command("no placeholders", "p", "f"), "no placeholders");
  EXPECT_EQ(format_archive_command("", "p", "f"), "");
  EXPECT_EQ(format_archive_command("%p%f", "", ""), "''''");
}

TEST(StorageNamesArchiveCommand, HandlesPercentLikeArchiveCommand) {
  EXPECT_EQ(format_archive_command("echo 100%% %f", "p", "f"), "echo 100% 'f'");
  EXPECT_EQ(format_archive_command("%%p is literal", "p", "f"), "%p is literal");
  EXPECT_EQ(format_archive_command("date +%Y-%m %r", "p", "f"), "date +%Y-%m %r");
  EXPECT_EQ(format_archive_command("ends with %", "p", "f"), "ends with %");
  EXPECT_EQ(format_archive_command("%%%", "p", "f"), "%%");
  EXPECT_EQ(format_archive_command("%%%p", "p", "f"), "%'p'");
  // Substituted text is not scanned again.
  EXPECT_EQ(format_archive_command("%p", "%f", "x"), "'%f'");
}

TEST(StorageNamesArchiveCommand, QuotesHostileValues) {
  EXPECT_EQ(format_archive_command("cp %p x", "it's", "f"), "cp 'it'\\''s' x");
  EXPECT_EQ(format_archive_command("cp %p x", "$(rm -rf /)", "f"), "cp '$(rm -rf /)' x");
  EXPECT_EQ(format_archive_command("cp %p x", "a; reboot", "f"), "cp 'a; reboot' x");
  EXPECT_EQ(format_archive_command("cp %p x", "`id`", "f"), "cp '`id`' x");
  EXPECT_EQ(format_archive_command("cp %p x", "a\nb", "f"), "cp 'a\nb' x");
  EXPECT_EQ(format_archive_command("cp %p x", "''", "f"), "cp ''\\'''\\''' x");
}

TEST(StorageNamesArchiveCommand, ShellSeesEachValueAsOneWord) {
  // Runs the commands through /bin/sh: each hostile value must come back
  // exactly, as a single argument, and nothing else may run.
  const std::string out_file = testing::TempDir() + "ptb_archive_command_test.out";
  const std::string canary = testing::TempDir() + "ptb_archive_command_canary";
  std::remove(canary.c_str());
  const std::string hostile[] = {
      "it's",
      "$(touch " + canary + ")",
      "`touch " + canary + "`",
      "a; touch " + canary,
      "a\ntouch " + canary,
      "'; touch " + canary + "; '",
      "spaces  and\ttabs",
      "$HOME ${PATH} \\ \" *",
      "'",
      "",
  };
  for (const auto& value : hostile) {
    std::string command =
        format_archive_command("printf '%%s|%%s' %p %f > " + out_file, value, value + "!");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream in(out_file, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, value + "|" + value + "!") << command;
  }
  std::ifstream touched(canary);
  EXPECT_FALSE(touched.good()) << "a value ran a command";
  std::remove(out_file.c_str());
}

TEST(StorageNamesArchiveCommand, RefusesNulBytes) {
  for (auto [path, file] : {std::pair<std::string, std::string>{std::string("a\0b", 3), "f"},
                            {"p", std::string("\0", 1)}}) {
    try {
      format_archive_command("cp %p %f", path, file);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
}

TEST(StorageNames, TheIdOfAFileNameIsTheOneItWasMadeWith) {
  for (int64_t id : {int64_t{0}, int64_t{17}, int64_t{123456789012}})
    for (bool encrypted : {false, true})
      for (Compression c : {Compression::None, Compression::Zstd}) {
        const std::string name = snapshot_file_name(std::string("acme-42"), 16384, id, 1763763780, c, encrypted);
        EXPECT_EQ(snapshot_id_of_file_name(name), id) << name;
      }
  EXPECT_EQ(snapshot_id_of_file_name(snapshot_file_name(std::nullopt, 16384, 5, 0, Compression::None)), 5);
  EXPECT_EQ(snapshot_id_of_file_name("tenant-x-20261121T222300Z-.json"), std::nullopt);
  EXPECT_EQ(snapshot_id_of_file_name("tenant-x-20261121T222300Z-1a.json"), std::nullopt);
  EXPECT_EQ(snapshot_id_of_file_name("tenant-x-20261121T222300Z-db16384-17.json.zst.1234.tmp"), std::nullopt);
  EXPECT_EQ(snapshot_id_of_file_name("notes.txt"), std::nullopt);
}

TEST(StorageNames, FileNamesCarryTheDatabaseOid) {
  // Two databases, same tenant, same second, same log id: two names.
  const std::string a = snapshot_file_name(std::string("1"), 16384, 1, kSample, Compression::Zstd);
  const std::string b = snapshot_file_name(std::string("1"), 16385, 1, kSample, Compression::Zstd);
  EXPECT_NE(a, b);
  EXPECT_EQ(database_oid_of_file_name(a), 16384u);
  EXPECT_EQ(database_oid_of_file_name(b), 16385u);
  EXPECT_EQ(database_oid_of_file_name(snapshot_file_name(std::nullopt, UINT32_MAX, 7, 0,
                                                         Compression::None, true)),
            UINT32_MAX);
  // A tenant that looks like the database part does not confuse it.
  EXPECT_EQ(database_oid_of_file_name(snapshot_file_name(std::string("db9-1"), 5, 3, kSample,
                                                         Compression::None)),
            5u);
  // 0.1.0 names carry none.
  EXPECT_EQ(database_oid_of_file_name("tenant-1-20261121T222300Z-17.json.zst"), std::nullopt);
  EXPECT_EQ(database_oid_of_file_name("tenant-db1-20261121T222300Z-17.json"), std::nullopt);
  EXPECT_EQ(database_oid_of_file_name("tenant-1-20261121T222300Z-db4294967296-17.json"),
            std::nullopt);  // not an OID
  EXPECT_EQ(database_oid_of_file_name("tenant-1-20261121T222300Z-db-17.json"), std::nullopt);
  EXPECT_EQ(database_oid_of_file_name("tenant-1-20261121T222300Z-dbx1-17.json"), std::nullopt);
  EXPECT_EQ(database_oid_of_file_name("notes.txt"), std::nullopt);
}

TEST(StorageNames, DatabaseFoldersAreNamedByNameAndOid) {
  EXPECT_EQ(database_folder_name("shop", 16384), "shop-16384");
  EXPECT_EQ(database_folder_name("my-db", 1), "my-db-1");
  EXPECT_EQ(database_folder_name("../etc", 5), "___etc-5");
  EXPECT_EQ(database_folder_name("caf\xc3\xa9 db", 7), "caf___db-7");
  EXPECT_EQ(database_folder_name(std::string(100, 'x'), UINT32_MAX),
            std::string(40, 'x') + "-4294967295");
  EXPECT_EQ(database_folder_name("", 3), "_-3");
  for (const char* name : {"shop", "my-db", "../etc", "", ".hidden", "a/b"}) {
    const std::string folder = database_folder_name(name, 16384);
    EXPECT_EQ(database_oid_of_folder_name(folder), 16384u) << folder;
    EXPECT_EQ(folder.find('/'), std::string::npos);
    EXPECT_NE(folder.front(), '.');
  }
  EXPECT_EQ(database_oid_of_folder_name("shop"), std::nullopt);
  EXPECT_EQ(database_oid_of_folder_name("-16384"), std::nullopt);
  EXPECT_EQ(database_oid_of_folder_name("shop-"), std::nullopt);
  EXPECT_EQ(database_oid_of_folder_name("shop-4294967296"), std::nullopt);
  EXPECT_EQ(database_oid_of_folder_name("../shop-1"), std::nullopt);
  EXPECT_EQ(database_oid_of_folder_name("sh.op-1"), std::nullopt);
  EXPECT_EQ(database_oid_of_folder_name(std::string(41, 'x') + "-1"), std::nullopt);
}

TEST(StorageNames, FolderMarkersRecordDatabaseAndCluster) {
  const std::string marker = format_folder_marker("shop\nx", 16384, 7321549201234567890ull);
  EXPECT_NE(marker.find("database: shop?x\n"), std::string::npos) << marker;
  auto owner = parse_folder_marker(marker);
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->database_oid, 16384u);
  EXPECT_EQ(owner->system_identifier, 7321549201234567890ull);
  auto max = parse_folder_marker(format_folder_marker("d", UINT32_MAX, UINT64_MAX));
  ASSERT_TRUE(max);
  EXPECT_EQ(max->system_identifier, UINT64_MAX);
  EXPECT_FALSE(parse_folder_marker(""));
  EXPECT_FALSE(parse_folder_marker("database_oid: 1\nsystem_identifier: 2\n"));
  EXPECT_FALSE(parse_folder_marker(marker.substr(0, marker.find("system_identifier"))));
  std::string bad = marker;
  bad.replace(bad.find("16384"), 5, "1x384");
  EXPECT_FALSE(parse_folder_marker(bad));
}

TEST(StorageNames, TheOwnerOfARowsFileComesFromItsName) {
  const std::string mine = "shop-16384/" + snapshot_file_name(std::string("1"), 16384, 17, kSample,
                                                                Compression::Zstd);
  auto owner = owner_of_stored_file(mine, 17, 16384);
  EXPECT_EQ(owner.owner, FileOwner::This);
  EXPECT_EQ(owner.database_oid, 16384u);
  // The same row seen from a clone (another OID): another database's file.
  owner = owner_of_stored_file(mine, 17, 16390);
  EXPECT_EQ(owner.owner, FileOwner::Other);
  EXPECT_EQ(owner.database_oid, 16384u);
  // Folder and name must both be this database's.
  EXPECT_EQ(owner_of_stored_file("clone-16390/" + mine.substr(11), 17, 16390).owner,
            FileOwner::Other);
  EXPECT_EQ(owner_of_stored_file("shop-16384/tenant-1-20261121T222300Z-db16390-17.json", 17, 16390)
                .owner,
            FileOwner::Other);
  // Another row's id, or shapes no writer makes.
  EXPECT_EQ(owner_of_stored_file(mine, 18, 16384).owner, FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file("../x-16384/tenant-1-20261121T222300Z-db16384-17.json", 17, 16384)
                .owner,
            FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file("shop-16384/sub/tenant-1-20261121T222300Z-db16384-17.json", 17,
                                 16384)
                .owner,
            FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file("shop-16384/tenant-1-20261121T222300Z-db16384-17.json.tmp", 17,
                                 16384)
                .owner,
            FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file("shop-16384/", 17, 16384).owner, FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file("", 17, 16384).owner, FileOwner::Invalid);
  // 0.1.0 names: bare, the timestamp right before the id.
  EXPECT_EQ(owner_of_stored_file("tenant-1-20261121T222300Z-17.json.zst", 17, 16384).owner,
            FileOwner::Legacy);
  EXPECT_EQ(owner_of_stored_file("database-20261121T222300Z-3.json", 3, 1).owner,
            FileOwner::Legacy);
  EXPECT_EQ(owner_of_stored_file("tenant-1-20261121T222300Z-17.json.zst", 18, 16384).owner,
            FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file(mine.substr(11), 17, 16384).owner, FileOwner::Invalid);
  EXPECT_EQ(owner_of_stored_file("../tenant-1-20261121T222300Z-17.json", 17, 16384).owner,
            FileOwner::Invalid);
}

TEST(StorageNames, FindsTheRecordedDatabaseInADocumentsFirstBytes) {
  const std::string doc =
      R"({"format": "pg_tenant_backup", "format_version": 1, "metadata": {"exported_at": "x",)"
      R"( "tenant": {"id": "1", "name": "database"}, "tenancy": "column", "database": "shop",)"
      R"( "options": {"database": "no"}}, "data": [)";
  EXPECT_EQ(database_in_snapshot_prefix(doc), "shop");
  // Cut anywhere before the value: not found; a value cut short: not found.
  EXPECT_EQ(database_in_snapshot_prefix(doc.substr(0, doc.find("shop") + 2)), std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix(doc.substr(0, 40)), std::nullopt);
  // Only metadata.database counts, not a "database" key elsewhere.
  EXPECT_EQ(database_in_snapshot_prefix(R"({"data": [{"database": "x"}], "database": "y"})"),
            std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix(R"({"metadata": {"options": {"database": "x"}}})"),
            std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix(R"({"metadata": {"database": 5}})"), std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix(R"([{"metadata": {"database": "x"}}])"), std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix("not json"), std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix(""), std::nullopt);
  EXPECT_EQ(database_in_snapshot_prefix(R"({"metadata": {"database": "caf\u00e9"}})"),
            "caf\xc3\xa9");
}
