// What backup_import, backup_import_stored, backup_restore and
// backup_restore_to share: their backup_logs row, their opts, their jsonb
// result, and reading a stored snapshot that must pass verification.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/import_plan.hpp"
#include "core/snapshot_reader.hpp"
#include "pg/backup_log.hpp"
#include "pg/import.hpp"
#include "pg/progress.hpp"
#include "pg/session.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/stored_snapshot_reader.hpp"
#include "pg/subtransaction.hpp"

namespace ptb::pg {

// A row of backup_logs written in the caller's transaction (or, for a
// failure, autonomously), with the output settings pinned so no object of
// the caller's search_path stands in for a built-in one.
int64_t write_log(const LogEntry& entry, bool autonomous);

// The row an import or restore call starts with: its operation, started
// now (as backup_logs records the time), of stored snapshot `source_id`.
LogEntry call_log_entry(const char* operation, std::optional<int64_t> source_id = std::nullopt);

// Runs an import or restore. First its 'running' row is written
// autonomously (committed at once: a kill -9 or a crash leaves it, and the
// next recovery marks it failed, interrupted). On failure the row is
// finished as failed, autonomously (it stays after the caller's rollback),
// then the error is raised again; on success log_completed finishes it in
// the caller's transaction. `*log_id` is the row's id.
template <typename Body>
auto logged(LogEntry base, std::optional<std::string>* tenant, bool keep, int64_t* log_id, Body&& body) {
  progress::Scope progress(base.operation == "import" ? progress::Operation::Import : progress::Operation::Restore,
                           *tenant, progress::Phase::Reading);
  progress::set_phase(progress::Phase::Reading, std::nullopt, true);
  LogEntry running = base;
  running.status = "running";
  running.tenant = *tenant;
  running.options = nlohmann::json{{"transaction", caller_transaction()}}.dump();
  *log_id = write_log(running, true);
  progress::set_log_id(*log_id);
  try {
    return in_subtransaction(keep, body);
  } catch (...) {
    LogEntry failed;
    failed.status = "failed";
    failed.tenant = *tenant;
    failed.error = current_error_json();
    try {
      Spi::connect();
      const int level = fix_output_settings();
      finish_log_autonomously(*log_id, failed);
      restore_output_settings(level);
      Spi::finish();
    } catch (...) {
      // The original error matters more.
    }
    throw;
  }
}

// Reads opts (its JSON text; nullopt: none) once
// (core::read_import_call_options); its errors come before anything runs
// (and leave no row).
core::ImportCallOptions call_options(const std::optional<std::string>& opts);

// Finishes the row of an import or restore as completed in the caller's
// transaction, and returns its report. A rollback of the caller undoes
// that update with the changes: the row stays 'running' until the next
// recovery (mark_interrupted_rows) marks it failed, rolled back.
nlohmann::json log_completed(int64_t log_id, const std::optional<std::string>& tenant,
                             const ImportOutcome& outcome, const std::string& notes_suffix = {});

// Reads stored snapshot `b` as a stream, its rows into `rows` (the caller
// finishes the spill). It must pass verification (checksum,
// decompression, format, counts) and agree with its backup_logs row
// (tenant, row counts): else 55000, before any change.
core::SnapshotSummary read_verified_snapshot(const StoredBackup& b, core::RowVisitor& rows, const char* instead);

}  // namespace ptb::pg
