// Stored snapshots: create, prune, delete. Shared by the SQL functions and
// the scheduler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <functional>

#include "core/compression.hpp"
#include "core/json_writer.hpp"
#include "core/retention.hpp"
#include "pg/backup_log.hpp"
#include "pg/server.hpp"
#include "pg/storage_directory.hpp"

namespace ptb::pg {

struct CreateRequest {
  std::optional<std::string> tenant;
  Jsonb* opts = nullptr;
  std::optional<std::string> name;
  std::optional<std::string> notes;
  std::string trigger = "manual";  // manual | scheduled | pre_restore
  std::optional<int64_t> schedule_id;
  bool keep = false;  // kept for good: no retention and no backup_prune removes it
  // Retention after a scheduled backup (the schedule's own snapshots only);
  // the settings when unset. A manual backup prunes only with
  // pg_tenant_backup.prune_manual on; a pre_restore one never does.
  std::optional<int64_t> max_backups;
  std::optional<int64_t> retention_days;
};

// Streams the snapshot to a file, records it in backup_logs and returns
// the log id. On failure the row says failed (committed whatever the
// caller's transaction does), no file is left, and the error is rethrown.
// `log_id`, when given, is set as soon as the row exists (so a caller can
// tell a refused call, which has no row, from a failed backup).
int64_t create_backup(const CreateRequest& request, std::optional<int64_t>* log_id = nullptr);

// A new stored snapshot file, as backup_create and backup_upload make it:
// a 'running' row committed at once, the bytes written by `write` under a
// temporary name (hashed and fsynced), `check` run once the file is
// complete (may be empty), then a durable rename. On any error the
// temporary file is removed, the row says failed with the error, and the
// error is rethrown.
// Returns the row id; `done` gets the file name ("<folder>/<name>", see
// core::snapshot_file_name), size and checksum. The final name is never an
// existing file's (install_new_file).
// With `read_along`, the bytes `write` writes to the file are also decrypted
// (with the key they are encrypted with) and decompressed on a thread of
// their own as they are written, and handed to `read_along` as a restore
// would read the file; it must not call the server, and its errors fail the
// file. It has read the whole file when `check` runs.
// With `encrypt`, what `write` writes is encrypted with the key of
// pg_tenant_backup.encryption_key_file, loaded after the row exists (a key
// that cannot be loaded leaves a failed row and no file); start.encryption
// must then be set. start.encryption without `encrypt`: the bytes written
// are already encrypted (an upload). start.encryption adds ".enc" to the
// file name.
struct StoredFileWriter {
  std::function<void(core::Sink& file)> write;
  std::function<void(core::Source& plain)> read_along;
  std::function<void()> check;
  bool encrypt = false;
};
int64_t store_snapshot_file(const LogEntry& start, const StorageFolder& folder,
                            core::Compression compression, const StoredFileWriter& writer,
                            LogEntry& done, std::optional<int64_t>* log_id = nullptr);

// Expires the completed snapshots `scope` owns (core/retention.hpp) beyond
// max_backups per tenant and older than retention_days (the settings when
// unset), never the newest of a tenant in the scope, never a kept one, never
// a pre_restore snapshot whose restore can still be undone. `only_group`:
// prune one tenant's group (nullopt inside = whole-database snapshots);
// without it, every group. Returns how many were expired.
int64_t prune_backups(const std::optional<std::optional<std::string>>& only_group,
                      const core::RetentionScope& scope, std::optional<int64_t> max_backups,
                      std::optional<int64_t> retention_days);

}  // namespace ptb::pg
