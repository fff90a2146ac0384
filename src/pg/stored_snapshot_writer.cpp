#include "pg/stored_snapshot_writer.hpp"

#include <ctime>

#include "core/encryption.hpp"
#include "core/error.hpp"
#include "core/read_along.hpp"
#include "core/storage_names.hpp"
#include "pg/boundary.hpp"
#include "pg/encryption.hpp"
#include "pg/progress.hpp"
#include "pg/session.hpp"
#include "pg/strong_random.hpp"

namespace ptb::pg {

int64_t store_snapshot_file(const LogEntry& start, const StorageFolder& folder,
                            core::Compression compression, const StoredFileWriter& writer,
                            LogEntry& done, std::optional<int64_t>* log_id) {
  const int64_t id = insert_log_autonomously(start);
  if (log_id != nullptr) *log_id = id;
  progress::set_log_id(id);
  // "<folder>/<name>": backup_logs.file_name says whose file it is.
  const std::string file_name =
      folder.name + "/" +
      core::snapshot_file_name(start.tenant, database_oid(), id, static_cast<int64_t>(time(nullptr)),
                               compression, start.encryption.has_value());
  const std::string final_path = folder.root + "/" + file_name;
  const std::string temporary_path = final_path + "." + std::to_string(backend_pid()) + ".tmp";
  try {
    // The key first: without it no file, not even a temporary one, exists.
    std::optional<core::EncryptionKey> key;
    if (writer.encrypt) {
      key = key_for_writing();
      if (!key)
        throw core::Error(core::sqlstate::kConfigFileError, "pg_tenant_backup.encryption was turned off during the backup");
    }
    FileSink file(temporary_path);
    std::optional<core::ReadAlongSink> read_along;
    if (writer.read_along)
      read_along.emplace(file, [&writer, compression, key](core::Source& written) {
        // Only the writing key can have sealed these bytes: no lookup (it
        // would read settings, and this thread must not call the server).
        std::optional<core::DecryptingSource> opened;
        core::Source* sealed = &written;
        if (key) {
          opened.emplace(written, [key](const std::string& id) -> std::optional<core::EncryptionKey> {
            if (id == key->id()) return *key;
            return std::nullopt;
          });
          sealed = &*opened;
        }
        core::DecompressingSource plain(*sealed, compression);
        writer.read_along(plain);
      });
    core::Sink& target = read_along ? static_cast<core::Sink&>(*read_along) : file;
    if (key) {
      core::EncryptingSink sealed(target, *key, strong_random_bytes(32, "an encrypted snapshot"));
      writer.write(sealed);
      sealed.finish();
      done.encryption_key_id = key->id();
    } else {
      writer.write(target);
    }
    if (read_along) read_along->finish();
    file.finish();
    done.checksum = file.sha256();
    done.size_bytes = static_cast<int64_t>(file.size());
    if (writer.check) writer.check();
    install_new_file(temporary_path, final_path);
  } catch (...) {
    remove_file_quietly(temporary_path);
    LogEntry failed;
    failed.status = "failed";
    failed.error = current_error_json();
    try {
      finish_log_autonomously(id, failed);
    } catch (...) {
      // The original error matters more; the row stays 'running' and is
      // marked interrupted by the next backup.
    }
    throw;
  }
  done.file_name = file_name;
  return id;
}

}  // namespace ptb::pg
