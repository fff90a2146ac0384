// What the import and restore SQL functions share (import_calls.hpp).
#include "pg/import_calls.hpp"

#include "core/error.hpp"
#include "core/options.hpp"
#include "pg/encryption.hpp"
#include "pg/import_common.hpp"
#include "pg/settings.hpp"

namespace ptb::pg {

using nlohmann::json;

int64_t write_log(const LogEntry& entry, bool autonomous) {
  Spi::connect();
  const int level = fix_output_settings();
  const int64_t id = autonomous ? insert_log_autonomously(entry) : insert_log(entry);
  restore_output_settings(level);
  Spi::finish();
  return id;
}

LogEntry call_log_entry(const char* operation, std::optional<int64_t> source_id) {
  LogEntry entry;
  entry.operation = operation;
  Spi::connect();
  entry.started_at = log_clock();
  Spi::finish();
  entry.source_id = source_id;
  return entry;
}

core::ImportCallOptions call_options(const std::optional<std::string>& opts) {
  if (!opts) return {};
  return core::read_import_call_options(*opts, settings_snapshot_options());
}

json log_completed(int64_t log_id, const std::optional<std::string>& tenant,
                   const ImportOutcome& outcome, const std::string& notes_suffix) {
  LogEntry done;
  done.tenant = tenant;
  done.status = "completed";
  done.finished = true;
  done.notes = core::report_summary(outcome.report) + notes_suffix;
  done.table_count = static_cast<int64_t>(outcome.report.tables.size());
  done.row_count = outcome.total_rows;
  done.table_counts = outcome.table_counts.dump();
  done.options = outcome.options.dump();
  Spi::connect();
  const int level = fix_output_settings();
  finish_log(log_id, done);
  restore_output_settings(level);
  Spi::finish();
  return core::report_json(outcome.report);
}

core::SnapshotSummary read_verified_snapshot(const StoredBackup& b, core::RowVisitor& rows, const char* instead) {
  const std::string id = std::to_string(b.id);
  auto refuse = [&](const std::string& why, const std::string& detail) {
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState, "backup " + id + " does not pass verification: " + why, detail,
                      "Run backup_verify(" + id + ") for a report, and " + instead + ".");
  };
  core::SnapshotSummary summary;
  try {
    summary = read_stored_snapshot(b, rows);
  } catch (const KeyUnavailable&) {
    throw;  // not the file's fault: the key to name is in the message
  } catch (const core::Error& e) {
    refuse(e.what(), e.detail());
  } catch (const ServerError& e) {
    refuse(e.what(), e.detail());
  }
  for (const auto& t : summary.tables) {
    if (t.section != "data") continue;
    const std::string key = table_display(t.schema, t.name);
    if (b.table_counts.value(key, int64_t{-1}) != t.rows)
      refuse("row counts differ from those recorded in backup_logs",
             key + " has " + std::to_string(t.rows) + " rows.");
  }
  if (summary.tenant_id != b.tenant)
    refuse("its tenant is not the one recorded in backup_logs",
           "The file is of " + quoted_tenant(summary.tenant_id) + ", the row of " +
               quoted_tenant(b.tenant) + ".");
  return summary;
}

}  // namespace ptb::pg
