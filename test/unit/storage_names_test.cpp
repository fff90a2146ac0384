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
  EXPECT_EQ(snapshot_file_name(std::string("acme_42"), 17, kSample, Compression::Zstd),
            "tenant-acme_42-20261121T222300Z-17.json.zst");
  EXPECT_EQ(snapshot_file_name(std::string("acme_42"), 17, kSample, Compression::None),
            "tenant-acme_42-20261121T222300Z-17.json");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 17, kSample, Compression::Zstd),
            "database-20261121T222300Z-17.json.zst");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 0, 0, Compression::None),
            "database-19700101T000000Z-0.json");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 1, 253402300799, Compression::None),
            "database-99991231T235959Z-1.json");
  EXPECT_EQ(snapshot_file_name(std::string("x"), 9, 951782400, Compression::None),  // leap day
            "tenant-x-20000229T000000Z-9.json");
}

TEST(StorageNames, DerivesTheTenantPartNeverUsingItRaw) {
  auto name = [](std::string tenant) {
    return snapshot_file_name(tenant, 5, kSample, Compression::None);
  };
  EXPECT_EQ(name("../../etc/passwd"), "tenant-______etc_passwd-20261121T222300Z-5.json");
  EXPECT_EQ(name("Acme Corp."), "tenant-Acme_Corp_-20261121T222300Z-5.json");
  EXPECT_EQ(name(std::string("a\0b/c", 5)), "tenant-a_b_c-20261121T222300Z-5.json");
  EXPECT_EQ(name("caf\xc3\xa9"), "tenant-caf__-20261121T222300Z-5.json");  // per byte
  EXPECT_EQ(name(""), "tenant--20261121T222300Z-5.json");
  EXPECT_EQ(name(".hidden"), "tenant-_hidden-20261121T222300Z-5.json");
  // Cut at 40 bytes.
  EXPECT_EQ(name(std::string(100, 'z')),
            "tenant-" + std::string(40, 'z') + "-20261121T222300Z-5.json");
}

TEST(StorageNames, GeneratedNamesAreAlwaysSafeAndAccepted) {
  std::mt19937 random(42);
  for (int i = 0; i < 5000; ++i) {
    std::string tenant(random() % 80, '\0');
    for (char& c : tenant) c = static_cast<char>(random());
    auto compression = i % 2 ? Compression::Zstd : Compression::None;
    std::optional<std::string> who;
    if (i % 5) who = tenant;
    std::string name = snapshot_file_name(who, static_cast<int64_t>(random()) * 1000003,
                                          random() % 253402300800, compression);
    EXPECT_NE(name.front(), '.');
    EXPECT_EQ(name.find('/'), std::string::npos);
    EXPECT_EQ(name.find('\0'), std::string::npos);
    EXPECT_EQ(name.find(".."), std::string::npos);
    EXPECT_TRUE(is_snapshot_file_name(name)) << name;
    EXPECT_FALSE(is_snapshot_file_name(temporary_file_name(name))) << name;
  }
  // The longest possible name still fits.
  std::string longest = snapshot_file_name(
      std::string(200, 'a'), std::numeric_limits<int64_t>::max(), 253402300799, Compression::Zstd);
  EXPECT_TRUE(is_snapshot_file_name(longest)) << longest;
  std::string longest_encrypted =
      snapshot_file_name(std::string(200, 'a'), std::numeric_limits<int64_t>::max(), 253402300799,
                         Compression::Zstd, true);
  EXPECT_TRUE(is_snapshot_file_name(longest_encrypted)) << longest_encrypted;
}

TEST(StorageNames, EncryptedFilesEndInEnc) {
  EXPECT_EQ(snapshot_file_name(std::string("acme_42"), 17, kSample, Compression::Zstd, true),
            "tenant-acme_42-20261121T222300Z-17.json.zst.enc");
  EXPECT_EQ(snapshot_file_name(std::nullopt, 17, kSample, Compression::None, true),
            "database-20261121T222300Z-17.json.enc");
  EXPECT_TRUE(is_snapshot_file_name("database-20261121T222300Z-17.json.enc"));
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
      snapshot_file_name(std::nullopt, id, seconds, Compression::None);
      ADD_FAILURE() << id << " " << seconds;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
}

TEST(StorageNames, RecognizesSnapshotFileNames) {
  EXPECT_TRUE(is_snapshot_file_name("tenant-acme_42-20261121T222300Z-17.json.zst"));
  EXPECT_TRUE(is_snapshot_file_name("database-20261121T222300Z-17.json"));
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
  EXPECT_EQ(temporary_file_name("database-20261121T222300Z-17.json"),
            "database-20261121T222300Z-17.json.tmp");
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
        const std::string name = snapshot_file_name(std::string("acme-42"), id, 1763763780, c, encrypted);
        EXPECT_EQ(snapshot_id_of_file_name(name), id) << name;
      }
  EXPECT_EQ(snapshot_id_of_file_name(snapshot_file_name(std::nullopt, 5, 0, Compression::None)), 5);
  EXPECT_EQ(snapshot_id_of_file_name("tenant-x-20261121T222300Z-.json"), std::nullopt);
  EXPECT_EQ(snapshot_id_of_file_name("tenant-x-20261121T222300Z-1a.json"), std::nullopt);
  EXPECT_EQ(snapshot_id_of_file_name("tenant-x-20261121T222300Z-17.json.zst.1234.tmp"), std::nullopt);
  EXPECT_EQ(snapshot_id_of_file_name("notes.txt"), std::nullopt);
}
