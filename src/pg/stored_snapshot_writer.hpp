// Writing a new stored snapshot file and its backup_logs row together, for
// backup_create (pg/create_backup.hpp) and backup_upload.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/compression.hpp"
#include "core/json_writer.hpp"
#include "pg/backup_log.hpp"
#include "pg/file_io.hpp"
#include "pg/storage_directory.hpp"

namespace ptb::pg {

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

}  // namespace ptb::pg
