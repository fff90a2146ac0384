#include "pg/backups.hpp"

#include <cstdlib>
#include <map>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "core/compression.hpp"
#include "core/error.hpp"
#include "core/retention.hpp"
#include "core/snapshot_reader.hpp"
#include "core/storage_names.hpp"
#include "pg/autonomous.hpp"
#include "pg/backup_log.hpp"
#include "pg/boundary.hpp"
#include "pg/encryption.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"
#include "pg/storage.hpp"

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

// Reads the file back as a restore would: decompress, parse, count, and
// compare with what was written.
void verify_written_file(const std::string& path, const std::string& checksum,
                         core::Compression compression, bool encrypted,
                         const ExportStatistics& written) {
  StoredSnapshotSource plain(path, compression, encrypted, true);
  core::SnapshotSummary summary = core::read_snapshot_summary(plain);
  plain.close();
  if (plain.sha256() != checksum)
    throw core::Error("XX001", "snapshot file changed while it was verified");
  std::vector<int64_t> counted;
  for (const auto& t : summary.tables)
    if (t.section == "data") counted.push_back(t.rows);
  std::vector<int64_t> expected;
  for (const auto& t : written.data_tables) expected.push_back(t.rows);
  if (counted != expected || summary.total_rows != written.total_rows)
    throw core::Error("XX001", "snapshot file does not read back as written",
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
  core::SnapshotOptions options = snapshot_options(request.opts, core::stored_snapshot_option_keys());
  core::StoredSnapshotOptions file_options{settings.compression, settings.verify_after_backup};
  if (request.opts != nullptr)
    file_options = core::apply_stored_snapshot_options(jsonb_text(request.opts), file_options);
  const core::Compression compression = *core::compression_from_string(file_options.compression);

  Spi::connect();
  mark_interrupted_rows();
  const std::string dir = prepare_storage_directory();
  const int level = fix_output_settings();
  // Invalid calls (unknown tenant, bad options) fail here, before any row.
  TenantSnapshotPlan snapshot = plan_tenant_snapshot(request.tenant, std::move(options));
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
  if (file_options.verify_after_backup)
    writer.check = [&](const std::string& path, const std::string& checksum) {
      verify_written_file(path, checksum, compression, writer.encrypt, stats);
    };
  const int64_t id = store_snapshot_file(start, dir, compression, writer, done, log_id);
  done.table_count = static_cast<int64_t>(stats.data_tables.size());
  done.row_count = stats.total_rows;
  done.table_counts = counts_json(stats.data_tables);
  done.status = "completed";
  if (!settings.archive_command.empty())
    done.archive_status =
        run_archive_command(settings.archive_command, dir + "/" + *done.file_name, *done.file_name);
  finish_log_autonomously(id, done);
  restore_output_settings(level);
  prune_backups(std::optional<std::optional<std::string>>(request.tenant),
                request.max_backups.value_or(settings.max_backups),
                request.retention_days.value_or(settings.retention_days));
  Spi::finish();
  return id;
}

int64_t store_snapshot_file(const LogEntry& start, const std::string& directory,
                            core::Compression compression, const StoredFileWriter& writer,
                            LogEntry& done, std::optional<int64_t>* log_id) {
  const int64_t id = insert_log_autonomously(start);
  if (log_id != nullptr) *log_id = id;
  const std::string file_name = core::snapshot_file_name(start.tenant, id, unix_now(), compression,
                                                          start.encryption.has_value());
  const std::string final_path = directory + "/" + file_name;
  const std::string temporary_path = final_path + "." + std::to_string(MyProcPid) + ".tmp";
  try {
    // The key first: without it no file, not even a temporary one, exists.
    std::optional<core::EncryptionKey> key;
    if (writer.encrypt) {
      key = key_for_writing();
      if (!key)
        throw core::Error("F0000", "pg_tenant_backup.encryption was turned off during the backup");
    }
    FileSink file(temporary_path);
    if (key) {
      // The salt makes the file's own AES key: from the server's strong
      // random source, which is reseeded in each backend after fork.
      std::string salt(32, '\0');
      if (!pg_strong_random(salt.data(), salt.size()))
        throw core::Error("XX000", "could not generate random bytes for an encrypted snapshot");
      core::EncryptingSink sealed(file, *key, salt);
      writer.write(sealed);
      sealed.finish();
      done.encryption_key_id = key->id();
    } else {
      writer.write(file);
    }
    file.finish();
    done.checksum = file.sha256();
    done.size_bytes = static_cast<int64_t>(file.size());
    if (writer.check) writer.check(temporary_path, *done.checksum);
    durable_rename_file(temporary_path, final_path);
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
                      std::optional<int64_t> max_backups, std::optional<int64_t> retention_days) {
  const StorageSettings settings = storage_settings();
  core::RetentionPolicy policy{max_backups ? max_backups : settings.max_backups,
                               retention_days ? retention_days : settings.retention_days};
  LogTable table = find_log_table();
  std::string sql =
      "SELECT id::pg_catalog.text, tenant,"
      "       pg_catalog.date_part('epoch', finished_at)::pg_catalog.int8::pg_catalog.text, file_name"
      "  FROM " + table.qualified_name +
      " WHERE operation OPERATOR(pg_catalog.=) 'backup'"
      "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
      "   AND file_name IS NOT NULL";
  std::vector<TextValue> params;
  if (only_group) {
    sql += only_group->has_value() ? " AND tenant OPERATOR(pg_catalog.=) $1" : " AND tenant IS NULL";
    if (only_group->has_value()) params.push_back(**only_group);
  }
  // A new snapshot: the rows the log writer just completed must be seen.
  auto rows = as_owner(table.owner, [&] { return Spi::query_latest(sql, params); });
  std::vector<core::StoredSnapshot> completed;
  std::map<int64_t, std::string> files;
  for (const auto& row : rows) {
    int64_t id = std::stoll(*row[0]);
    completed.push_back({id, row[1], std::stoll(*row[2])});
    files[id] = *row[3];
  }
  auto expired = core::snapshots_to_expire(completed, policy, unix_now());
  if (expired.empty()) return 0;

  nlohmann::json ids = expired;
  std::string id_list;
  for (auto id : expired) id_list += (id_list.empty() ? "" : ", ") + std::to_string(id);
  // Rows first, then files: a crash in between leaves a file without a
  // row (harmless), never a completed row without its file.
  run_autonomously(
      "WITH expired AS (UPDATE " + table.qualified_name +
          " SET status = 'expired'"
          " WHERE id OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.jsonb_array_elements_text("
          "                                          $1::pg_catalog.jsonb)::pg_catalog.int8)"
          "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
          " RETURNING id)"
          " INSERT INTO " + table.qualified_name +
          " (operation, status, tenant, started_at, finished_at, row_count, notes, created_by, pid)"
          " SELECT 'prune', 'completed', $2, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp(),"
          "        pg_catalog.count(*), 'expired snapshots: ' OPERATOR(pg_catalog.||) $3,"
          "        $4::pg_catalog.name, $5::pg_catalog.int4 FROM expired",
      {ids.dump(), only_group && only_group->has_value() ? **only_group : TextValue(), id_list,
       [] {
         std::string role;
         guarded([&] { role = GetUserNameFromId(GetUserId(), false); });
         return role;
       }(),
       std::to_string(MyProcPid)},
      table.owner);
  const std::string dir = settings.storage_path;
  for (auto id : expired)
    if (core::is_snapshot_file_name(files[id])) remove_file_quietly(dir + "/" + files[id]);
  return static_cast<int64_t>(expired.size());
}

}  // namespace ptb::pg
