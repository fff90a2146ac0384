// Stored snapshots: their backup_logs rows and their files, shared by the
// functions that read, verify, import and restore them.
#include "pg/stored_snapshot_reader.hpp"

#include "core/error.hpp"
#include "core/storage_names.hpp"
#include "pg/backup_log.hpp"
#include "pg/session.hpp"
#include "pg/settings.hpp"
#include "pg/spi.hpp"
#include "pg/file_io.hpp"
#include "pg/storage_directory.hpp"

namespace ptb::pg {

namespace {
using nlohmann::json;
constexpr size_t kChunk = 1 << 20;
}  // namespace

StoredBackup find_stored_backup(int64_t id) {
  const BackupRow row = find_backup_row(id);
  const std::string which = "backup " + std::to_string(id);
  if (row.status != "completed" && row.status != "restored")
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      which + " is " + row.status + ": it has no stored snapshot", {},
                      "Only completed snapshots can be read, verified or restored.");
  if (!row.file_name || !row.checksum || !row.size_bytes)
    throw core::Error(core::sqlstate::kDataCorrupted,
                      which + " has no valid file name or checksum in backup_logs");
  const RowFile file = file_of_row(id, *row.file_name, "read");
  StoredBackup b;
  b.id = id;
  b.status = row.status;
  b.tenant = row.tenant;
  b.file_name = *row.file_name;
  b.path = file.path;
  b.legacy = file.legacy;
  b.checksum = *row.checksum;
  b.size_bytes = *row.size_bytes;
  b.compression = core::compression_from_string(row.compression.value_or("none")).value_or(core::Compression::None);
  b.table_counts = row.table_counts ? json::parse(*row.table_counts) : json::object();
  check_may_open_snapshot(id, b.table_counts);
  b.encrypted = row.encryption.has_value();
  b.encryption_key_id = row.encryption_key_id;
  return b;
}

void check_may_open_snapshot(int64_t id, const json& table_counts) {
  if (!table_counts.is_object() || table_counts.empty()) return;
  json names = json::array();
  for (const auto& [name, rows] : table_counts.items()) names.push_back(name);
  // As the caller. Every name is schema-qualified, so the caller's
  // search_path cannot change what it resolves to; a table that no longer
  // exists is not checked.
  auto tables = Spi::query(
      "SELECT c.oid::pg_catalog.text, c.oid::pg_catalog.regclass::pg_catalog.text,"
      "       pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE')"
      "       AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
      "  FROM pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb) AS t(name)"
      "  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(t.name)"
      " ORDER BY 2",
      {names.dump()});
  const std::string which = "backup " + std::to_string(id);
  const char* hint =
      "A stored snapshot holds all of its tenant's rows, so only a role that could export all of "
      "them opens it: one with SELECT on each of its tables and no row level security policy "
      "limiting what it reads (the tables' owner, or a role with BYPASSRLS). backup_export "
      "exports what you may read.";
  for (const auto& t : tables) {
    if (t[2] != "t")
      throw core::Error(core::sqlstate::kInsufficientPrivilege, "permission denied to open " + which,
                        "It holds rows of table " + t[1].value_or("?") +
                            ", which you have no right to read.",
                        hint);
    if (row_security_filters(static_cast<Oid>(std::stoul(*t[0]))))
      throw core::Error(core::sqlstate::kInsufficientPrivilege, "permission denied to open " + which,
                        "It holds rows of table " + t[1].value_or("?") +
                            ", of which row level security lets you read only part.",
                        hint);
  }
}

RowFile file_of_row(int64_t id, const std::string& file_name, const std::string& action) {
  const std::string which = "backup " + std::to_string(id);
  const auto owner = core::owner_of_stored_file(file_name, id, database_oid());
  const std::string root = storage_settings().storage_path;
  switch (owner.owner) {
    case core::FileOwner::This:
      check_own_folder(file_name.substr(0, file_name.find('/')));
      return {root + "/" + file_name, false};
    case core::FileOwner::Legacy:
      return {root + "/" + file_name, true};
    case core::FileOwner::Other: {
      const std::optional<std::string> database = database_name(owner.database_oid);
      const std::string owner_text =
          database ? "database \"" + *database + "\" (OID " + std::to_string(owner.database_oid) + ")"
                   : "the database with OID " + std::to_string(owner.database_oid) +
                         ", which no longer exists";
      throw core::Error(
          core::sqlstate::kObjectNotInPrerequisiteState,
          "cannot " + action + " " + which + ": its file belongs to " + owner_text +
              ", not to this database",
          "The row was copied into this database (CREATE DATABASE ... TEMPLATE, or a restored "
          "dump); the file " + file_name + " is left as it is.",
          database ? "Read, verify, restore or delete it in database \"" + *database +
                         "\". To keep a copy here, fetch it there with backup_download and store it "
                         "here with backup_upload."
                   : "To keep the file, store it in this database with backup_upload "
                     "(docs/operations.md, Storage).");
    }
    case core::FileOwner::Invalid: break;
  }
  throw core::Error(core::sqlstate::kDataCorrupted, which + " has no valid file name in backup_logs",
                    "Its file name \"" + file_name + "\" is not one this extension writes.");
}

bool legacy_file_is_own(const std::string& path, core::Compression compression) {
  if (!file_exists(path)) return true;  // nothing to remove
  constexpr size_t kPrefix = 64 << 10;
  std::string prefix;
  StoredSnapshotSource plain(path, compression, false);
  try {
    std::string buffer(kPrefix, '\0');
    for (size_t n; prefix.size() < kPrefix &&
                   (n = plain.read(buffer.data(), kPrefix - prefix.size())) > 0;)
      prefix.append(buffer.data(), n);
    plain.close();
  } catch (const core::Error&) {
    plain.close();
    return false;  // not readable as a snapshot: not proven
  }
  const auto recorded = core::database_in_snapshot_prefix(prefix);
  return recorded && *recorded == database_name(database_oid());
}

std::unique_ptr<StoredSnapshotSource> open_stored_snapshot(const StoredBackup& b, bool hashed) {
  return std::make_unique<StoredSnapshotSource>(b.path, b.compression, b.encrypted, hashed);
}

void check_file_checksum(const StoredBackup& b) {
  FileSource file(b.path, true);
  std::string buffer(kChunk, '\0');
  while (file.read(buffer.data(), buffer.size()) > 0) {
  }
  file.close();
  const std::string found = file.sha256();
  if (file.size() != static_cast<uint64_t>(b.size_bytes) || found != b.checksum)
    throw core::Error(core::sqlstate::kDataCorrupted,
                      "snapshot file of backup " + std::to_string(b.id) + " is corrupted",
                      "Expected " + std::to_string(b.size_bytes) + " bytes with SHA-256 " +
                          b.checksum + ", found " + std::to_string(file.size()) + " bytes with " +
                          found + ".",
                      "Run backup_verify for a report; restore from another snapshot.");
}

std::string read_document(const StoredBackup& b, core::SnapshotSummary* summary) {
  check_file_checksum(b);
  auto plain = open_stored_snapshot(b);
  std::string document;
  std::string buffer(kChunk, '\0');
  for (size_t n; (n = plain->read(buffer.data(), buffer.size())) > 0;) {
    if (document.size() + n > kMaxAllocSize - 1)
      throw core::Error(core::sqlstate::kProgramLimitExceeded, "backup " + std::to_string(b.id) +
                                     " is too large to be read as one jsonb value",
                        {}, "Use backup_download to fetch the file.");
    document.append(buffer.data(), n);
  }
  plain->close();
  core::StringSource check(document);
  core::SnapshotSummary found = core::read_snapshot_summary(check);  // format, version, shape
  if (summary != nullptr) *summary = std::move(found);
  return document;
}

core::SnapshotSummary read_stored_snapshot(const StoredBackup& b, core::RowVisitor& rows) {
  check_file_checksum(b);
  auto plain = open_stored_snapshot(b);
  core::SnapshotSummary summary = core::read_snapshot(*plain, rows);
  plain->close();
  return summary;
}

}  // namespace ptb::pg
