#include "pg/create_backup.hpp"

#include <cstdlib>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "core/compression.hpp"
#include "core/encryption.hpp"
#include "core/error.hpp"
#include "core/retention.hpp"
#include "core/snapshot_reader.hpp"
#include "core/storage_names.hpp"
#include "pg/backup_log.hpp"
#include "pg/server_log.hpp"
#include "pg/citus.hpp"
#include "pg/encryption.hpp"
#include "pg/progress.hpp"
#include "pg/retention.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/storage_directory.hpp"
#include "pg/stored_snapshot_writer.hpp"

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
  fflush(nullptr);
  const int rc = system(command.c_str());
  if (rc == 0) return "archived";
  const std::string exit_code = std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : rc);
  report({LogLevel::Warning,
          "pg_tenant_backup.archive_command failed with exit code " + exit_code + " for \"" + file_name + "\"",
          "The failed archive command was: " + command,
          "The snapshot is stored; copy it off the host by hand or fix the command."});
  return "failed: exit code " + exit_code;
}

}  // namespace

int64_t create_backup(const CreateRequest& request, std::optional<int64_t>* log_id) {
  const StorageSettings settings = storage_settings();
  core::SnapshotOptions options = stored_snapshot_options(request.opts);
  core::StoredSnapshotOptions file_options{settings.compression, settings.verify_after_backup};
  file_options = core::apply_stored_snapshot_options(request.opts, file_options);
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

}  // namespace ptb::pg
