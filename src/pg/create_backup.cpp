#include "pg/create_backup.hpp"

#include <cstdlib>
#include <map>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "core/compression.hpp"
#include "core/encryption.hpp"
#include "core/error.hpp"
#include "core/read_along.hpp"
#include "core/retention.hpp"
#include "core/snapshot_reader.hpp"
#include "core/storage_names.hpp"
#include "pg/backup_log.hpp"
#include "pg/change_segments.hpp"
#include "pg/boundary.hpp"
#include "pg/citus.hpp"
#include "pg/encryption.hpp"
#include "pg/progress.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"
#include "pg/storage_directory.hpp"
#include "pg/stored_snapshot_reader.hpp"

namespace ptb::pg {

namespace {

std::string counts_json(const std::vector<TableRowCount>& tables) {
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& t : tables) counts[t.table_name] = t.rows;
  return counts.dump();
}

// zstd level of stored snapshots. On snapshot JSON, level 1 compresses
// faster than zstd's default (3) and no worse (docs/performance.md).
constexpr int kSnapshotZstdLevel = 1;

int64_t unix_now() { return static_cast<int64_t>(time(nullptr)); }

// What the file decodes to (read along as it was written, as a restore
// reads it) must hold the rows that were written.
void compare_with_written(const core::SnapshotSummary& summary, const ExportStatistics& written) {
  std::vector<int64_t> counted;
  for (const auto& t : summary.tables)
    if (t.section == "data") counted.push_back(t.rows);
  std::vector<int64_t> expected;
  for (const auto& t : written.data_tables) expected.push_back(t.rows);
  if (counted != expected || summary.total_rows != written.total_rows)
    throw core::Error(core::sqlstate::kDataCorrupted, "snapshot file does not read back as written",
                      "Read " + std::to_string(summary.total_rows) + " rows, wrote " +
                          std::to_string(written.total_rows) + ".");
}

// archive_command, like the server's: %p and %f, shell-quoted. Returns
// the status recorded in backup_logs.
std::string run_archive_command(const std::string& command_template, const std::string& path,
                                const std::string& file_name) {
  std::string command = core::format_archive_command(command_template, path, file_name);
  int rc = -1;
  guarded([&] {
    fflush(nullptr);
    rc = system(command.c_str());
    if (rc != 0)
      ereport(WARNING,
              (errmsg("pg_tenant_backup.archive_command failed with exit code %d for \"%s\"",
                      WIFEXITED(rc) ? WEXITSTATUS(rc) : rc, file_name.c_str()),
               errdetail("The failed archive command was: %s", command.c_str()),
               errhint("The snapshot is stored; copy it off the host by hand or fix the command.")));
  });
  if (rc == 0) return "archived";
  return "failed: exit code " + std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : rc);
}

}  // namespace

int64_t create_backup(const CreateRequest& request, std::optional<int64_t>* log_id) {
  const StorageSettings settings = storage_settings();
  core::SnapshotOptions options = stored_snapshot_options(request.opts);
  core::StoredSnapshotOptions file_options{settings.compression, settings.verify_after_backup};
  if (request.opts != nullptr)
    file_options = core::apply_stored_snapshot_options(jsonb_text(request.opts), file_options);
  const core::Compression compression = *core::compression_from_string(file_options.compression);

  progress::Scope progress(progress::Operation::Backup, request.tenant, progress::Phase::Planning,
                           request.trigger == "scheduled");
  Spi::connect();
  mark_interrupted_rows();
  const StorageFolder folder = prepare_storage_directory();
  const int level = fix_output_settings();
  // Invalid calls (unknown tenant, bad options) fail here, before any row.
  TenantSnapshotPlan snapshot = plan_tenant_snapshot(request.tenant, std::move(options));
  require_one_snapshot(snapshot.plan);  // on Citus: refused at READ COMMITTED, before any row
  nlohmann::json recorded_options = nlohmann::json::parse(core::options_to_json(snapshot.plan.options()));
  recorded_options["compression"] = file_options.compression;
  recorded_options["verify_after_backup"] = file_options.verify_after_backup;

  LogEntry start;
  start.operation = "backup";
  start.trigger = request.trigger;
  start.tenant = request.tenant;
  start.name = request.name;
  start.notes = request.notes;
  start.status = "running";
  start.compression = file_options.compression;
  start.options = recorded_options.dump();
  start.schedule_id = request.schedule_id;
  start.keep = request.keep;
  StoredFileWriter writer;
  if (encryption_settings().enabled) {
    start.encryption = std::string(core::kEncryptionAlgorithm);
    writer.encrypt = true;
  }
  LogEntry done;
  ExportStatistics stats;
  writer.write = [&](core::Sink& file) {
    core::CompressingSink compressed(file, compression, kSnapshotZstdLevel);
    core::JsonWriter json(compressed);
    stats = write_snapshot(snapshot, json);
    compressed.finish();
  };
  core::SnapshotSummary read_back;
  if (file_options.verify_after_backup) {
    writer.read_along = [&read_back](core::Source& plain) {
      read_back = core::read_snapshot_summary(plain);
    };
    writer.check = [&] {
      progress::set_phase(progress::Phase::Verifying);
      compare_with_written(read_back, stats);
    };
  }
  const int64_t id = store_snapshot_file(start, folder, compression, writer, done, log_id);
  done.table_count = static_cast<int64_t>(stats.data_tables.size());
  done.row_count = stats.total_rows;
  done.table_counts = counts_json(stats.data_tables);
  if (!stats.snapshot_xmin.empty()) done.snapshot_xmin = stats.snapshot_xmin;
  done.status = "completed";
  if (!settings.archive_command.empty()) {
    progress::set_phase(progress::Phase::Archiving);
    done.archive_status =
        run_archive_command(settings.archive_command, folder.root + "/" + *done.file_name,
                            done.file_name->substr(done.file_name->find('/') + 1));
  }
  finish_log_autonomously(id, done);
  restore_output_settings(level);
  // Retention removes only what it owns (core/retention.hpp).
  const std::optional<std::optional<std::string>> group(request.tenant);
  if (request.trigger == "scheduled" && request.schedule_id) {
    progress::set_phase(progress::Phase::Pruning);
    prune_backups(group, {core::RetentionScope::Kind::Schedule, request.schedule_id},
                  request.max_backups, request.retention_days);
  } else if (request.trigger == "manual" && settings.prune_manual) {
    progress::set_phase(progress::Phase::Pruning);
    prune_backups(group, {core::RetentionScope::Kind::Manual, std::nullopt}, std::nullopt,
                  std::nullopt);
  }
  Spi::finish();
  return id;
}

int64_t store_snapshot_file(const LogEntry& start, const StorageFolder& folder,
                            core::Compression compression, const StoredFileWriter& writer,
                            LogEntry& done, std::optional<int64_t>* log_id) {
  const int64_t id = insert_log_autonomously(start);
  if (log_id != nullptr) *log_id = id;
  progress::set_log_id(id);
  // "<folder>/<name>": backup_logs.file_name says whose file it is.
  const std::string file_name =
      folder.name + "/" +
      core::snapshot_file_name(start.tenant, MyDatabaseId, id, unix_now(), compression,
                               start.encryption.has_value());
  const std::string final_path = folder.root + "/" + file_name;
  const std::string temporary_path = final_path + "." + std::to_string(MyProcPid) + ".tmp";
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
      // The salt makes the file's own AES key: from the server's strong
      // random source, which is reseeded in each backend after fork.
      std::string salt(32, '\0');
      if (!pg_strong_random(salt.data(), salt.size()))
        throw core::Error(core::sqlstate::kInternalError, "could not generate random bytes for an encrypted snapshot");
      core::EncryptingSink sealed(target, *key, salt);
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

int64_t prune_backups(const std::optional<std::optional<std::string>>& only_group,
                      const core::RetentionScope& scope, std::optional<int64_t> max_backups,
                      std::optional<int64_t> retention_days) {
  const StorageSettings settings = storage_settings();
  core::RetentionPolicy policy{max_backups ? max_backups : settings.max_backups,
                               retention_days ? retention_days : settings.retention_days};
  const auto rows = retention_candidates(only_group, restore_settings().restore_window);
  std::vector<core::StoredSnapshot> completed;
  std::map<int64_t, std::string> files;
  // Rows whose files are not this database's (copied with the database by
  // CREATE DATABASE ... TEMPLATE or a dump; 0.1.0 files whose document does
  // not name this database) are neither counted nor expired: their files
  // stay as they are.
  int64_t foreign = 0;
  for (const auto& row : rows) {
    bool own = false;
    try {
      const RowFile file = file_of_row(row.id, row.file_name, "prune");
      own = !file.legacy ||
            legacy_file_is_own(file.path, core::compression_from_string(row.compression)
                                              .value_or(core::Compression::None));
      if (own) files[row.id] = file.path;
    } catch (const core::Error&) {
      own = false;
    }
    if (!own) {
      ++foreign;
      continue;
    }
    core::StoredSnapshot s{row.id, row.tenant, row.finished_unix};
    // A trigger this version does not know is left alone (never expired).
    auto trigger = core::snapshot_trigger_from_string(row.trigger);
    if (!trigger) continue;
    s.trigger = *trigger;
    s.schedule_id = row.schedule_id;
    s.keep = row.keep;
    s.undo_possible = row.undo_possible;
    completed.push_back(std::move(s));
  }
  if (foreign > 0)
    guarded([&] {
      ereport(NOTICE,
              (errmsg("pg_tenant_backup: %lld stored snapshots whose files are not this database's "
                      "were left alone",
                      static_cast<long long>(foreign)),
               errdetail("Their rows were copied from another database (CREATE DATABASE ... "
                         "TEMPLATE, or a restored dump), or they are 0.1.0 files whose snapshot "
                         "does not name this database."),
               errhint("Prune them in the database that owns them; docs/operations.md, Storage, "
                       "says how.")));
    });
  auto expired = core::snapshots_to_expire(completed, policy, unix_now(), scope);
  if (expired.empty()) return 0;

  // Rows first, then files: a crash in between leaves a file without a
  // row (harmless), never a completed row without its file. Only the ids
  // expire_backups returns lose their files.
  expired = expire_backups(expired, only_group && only_group->has_value() ? **only_group : TextValue());
  for (auto id : expired) remove_file_quietly(files[id]);
  // Change segments only the expired snapshots could use go with them.
  if (!expired.empty()) (void)prune_change_segments();
  return static_cast<int64_t>(expired.size());
}

}  // namespace ptb::pg
