// backup_import (a jsonb document) and backup_import_stored (a stored
// snapshot): read the document, then run_import (docs/import.md).
#include <cstring>

#include "core/error.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/import.hpp"
#include "pg/import_calls.hpp"
#include "pg/spilled_rows.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/srf.hpp"
#include "pg/tenant_lock.hpp"

namespace ptb::pg {

namespace {

using nlohmann::json;

// backup_import and backup_import_stored, once the document is read into
// `spill`: applies it, then deletes the spill file.
ImportOutcome import_spilled(const core::SnapshotSummary& summary, SpilledRows& spill, core::ImportMode mode,
                             const core::ImportCallOptions& options, std::optional<std::string>* tenant) {
  ImportRequest request;
  request.spilled = &spill;
  request.summary = &summary;
  request.mode = mode;
  request.caller = options;
  request.tenant_out = tenant;
  ImportOutcome outcome = run_import(request);
  spill.close();
  return outcome;
}

json import_call(const Args& args) {
  Jsonb* doc = args.jsonb(0);
  if (doc == nullptr)
    throw core::Error(core::sqlstate::kNullValueNotAllowed, "the snapshot document must not be NULL");
  const core::ImportMode mode = core::import_mode_from_string(args.string(1).value_or("NULL"));
  const core::ImportCallOptions options = call_options(args.jsonb_text(2));

  const LogEntry base = call_log_entry("import");
  std::optional<std::string> tenant;
  int64_t log_id = 0;
  ImportOutcome outcome = logged(base, &tenant, !options.import.dry_run, &log_id, [&] {
    // The document's text, read as a stored file is: the same reader, the
    // same checks, its rows spilled for COPY.
    char* text = nullptr;
    guarded([&] { text = JsonbToCString(nullptr, &doc->root, VARSIZE(doc)); });
    progress::add_bytes_read(strlen(text));
    core::StringSource source(std::string_view(text, strlen(text)));
    SpilledRows spill;
    const core::SnapshotSummary summary = core::read_snapshot(source, spill);
    spill.finish();
    guarded([&] { pfree(text); });
    core::check_expected_tenant(options.import.expected_tenant, summary.tenant_id, "the snapshot");
    return import_spilled(summary, spill, mode, options, &tenant);
  });
  return log_completed(log_id, tenant, outcome);
}

// --- backup_import_stored: a stored snapshot, read as a stream -----------------

json import_stored_call(const Args& args) {
  const int64_t id = args.int8_required(0, "the backup id");
  const core::ImportMode mode = core::import_mode_from_string(args.string(1).value_or("NULL"));
  const core::ImportCallOptions options = call_options(args.jsonb_text(2));

  const LogEntry base = call_log_entry("import", id);
  std::optional<std::string> tenant;
  int64_t log_id = 0;
  ImportOutcome outcome = logged(base, &tenant, !options.import.dry_run, &log_id, [&] {
    Spi::connect();
    const int level = fix_output_settings();
    const StoredBackup b = find_stored_backup(id);
    restore_output_settings(level);
    Spi::finish();
    tenant = b.tenant;
    core::check_expected_tenant(options.import.expected_tenant, b.tenant, "backup " + std::to_string(id));
    SpilledRows spill;
    const core::SnapshotSummary summary = read_verified_snapshot(b, spill, "import another snapshot");
    spill.finish();
    return import_spilled(summary, spill, mode, options, &tenant);
  });

  json report = log_completed(log_id, tenant, outcome);
  report["source_id"] = id;
  return report;
}

}  // namespace
}  // namespace ptb::pg

PTB_SQL_FUNCTION(backup_import) { return ptb::pg::jsonb_result(ptb::pg::import_call(args)); }

PTB_SQL_FUNCTION(backup_import_stored) { return ptb::pg::jsonb_result(ptb::pg::import_stored_call(args)); }

PTB_SQL_FUNCTION(backup_tenant_busy) {
  const std::string tenant = args.string_required(0, "the tenant");
  ptb::pg::Spi::connect();
  const int level = ptb::pg::fix_output_settings();
  const bool busy = ptb::pg::tenant_busy(tenant, ptb::pg::settings_snapshot_options());
  ptb::pg::restore_output_settings(level);
  ptb::pg::Spi::finish();
  return BoolGetDatum(busy);
}
