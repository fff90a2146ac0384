// A stored snapshot found from its backup_logs row: whose file it is, who
// may open it, and reading the file back. For backup_verify, backup_read,
// backup_download, backup_delete, retention and backup_restore.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/compression.hpp"
#include "core/snapshot_reader.hpp"
#include "pg/encryption.hpp"

namespace ptb::pg {

struct StoredBackup {
  int64_t id;
  std::string status;
  std::optional<std::string> tenant;
  std::string file_name;
  std::string path;
  std::string checksum;
  int64_t size_bytes;
  core::Compression compression;
  nlohmann::json table_counts;
  bool encrypted = false;                        // backup_logs.encryption is set
  std::optional<std::string> encryption_key_id;  // as recorded
  bool legacy = false;  // a 0.1.0 file, in the storage directory itself
};

// Where the file of backup_logs row `id` (its file_name) is, decided from
// the name before anything is opened (core::owner_of_stored_file): a file
// of this database, in one of its folders (whose marker is checked), or a
// 0.1.0 file in the storage directory itself (`legacy`). A file of another
// database (a row copied by CREATE DATABASE ... TEMPLATE or a restored
// dump) is refused with 55000, naming that database; any other name with
// XX001. `action` says what was refused ("read", "delete").
struct RowFile {
  std::string path;
  bool legacy = false;
};
RowFile file_of_row(int64_t id, const std::string& file_name, const std::string& action);

// Whether a 0.1.0 file (never encrypted) may be removed by this database:
// the database its document records (metadata.database), read from the
// first 64 kB of its content and no more, is this database; or the file is
// gone. A file whose beginning does not say (uploaded documents in jsonb's
// key order, a database renamed since) is not this database's to remove.
bool legacy_file_is_own(const std::string& path, core::Compression compression);

// The stored snapshot `id`, which must be completed (or restored) and have
// a file: 42704 when there is no such backup, 55000 when it has no stored
// snapshot or its file is another database's (file_of_row), XX001 when its
// row lacks a file name or checksum, 42501 when the caller may not open it
// (check_may_open_snapshot). Needs SPI.
StoredBackup find_stored_backup(int64_t id);

// A stored snapshot holds every row of its tenant: only a caller who could
// export all of them opens it (read, download, verify, import, restore,
// delete). For each table it has rows of (`table_counts`, keyed by
// qualified name) that still exists, the caller needs USAGE on the schema
// and SELECT on the table, and no row level security policy may limit what
// the caller reads of it; else 42501 naming the table.
void check_may_open_snapshot(int64_t id, const nlohmann::json& table_counts);

// The snapshot in b's file, decrypted (when encrypted) and decompressed:
// the one way stored files are opened for their content (see
// pg/encryption.hpp). Call close() when done.
std::unique_ptr<StoredSnapshotSource> open_stored_snapshot(const StoredBackup& b,
                                                           bool hashed = false);

// Reads the whole file once for its checksum; throws XX001 on a mismatch.
void check_file_checksum(const StoredBackup& b);

// The stored document, decompressed, after checking its checksum, its
// format and shape; `summary`, when given, receives what the reader found.
std::string read_document(const StoredBackup& b, core::SnapshotSummary* summary = nullptr);

// The same checks, reading the document as a stream: every row is handed
// to `rows` as it is read, nothing of the document is kept whole.
core::SnapshotSummary read_stored_snapshot(const StoredBackup& b, core::RowVisitor& rows);

}  // namespace ptb::pg
