// backup_restore and backup_restore_to: an import in replace mode of a
// stored snapshot, allowed by a superuser, a pre_restore snapshot taken
// first (docs/import.md, docs/pitr.md).
#include <functional>

#include "core/error.hpp"
#include "core/options.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/change_replay.hpp"
#include "pg/create_backup.hpp"
#include "pg/import.hpp"
#include "pg/import_calls.hpp"
#include "pg/spilled_rows.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/srf.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace ptb::pg {

namespace {

using nlohmann::json;

// --- backup_restore -----------------------------------------------------------

struct RestoreResult {
  ImportOutcome outcome;
  std::optional<int64_t> pre_restore_id;
};

// backup_restore and backup_restore_to: refused unless a superuser allowed
// them, before anything else.
void require_restore_allowed() {
  if (!restore_settings().allow_restore)
    throw core::Error(core::sqlstate::kInsufficientPrivilege, "backup_restore is not allowed on this server",
                      "pg_tenant_backup.allow_restore is off.",
                      "A superuser can allow it: ALTER SYSTEM SET pg_tenant_backup.allow_restore = on "
                      "(or per database or role, or SET in a superuser's session).");
}

// `replay` and `on_read`: a restore to a moment (restore_to_call), which
// checks the snapshot once read and replays changes into its stages.
RestoreResult restore_backup(int64_t id, const core::ImportCallOptions& options, std::optional<std::string>* tenant,
                             const StageReplay* replay = nullptr,
                             const std::function<void(const core::SnapshotSummary&)>& on_read = {}) {
  const RestoreSettings settings = restore_settings();
  require_restore_allowed();
  Spi::connect();
  int level = fix_output_settings();
  StoredBackup b = find_stored_backup(id);
  *tenant = b.tenant;
  progress::set_tenant(b.tenant);
  const std::optional<std::string> finished_at = backup_finished_before(id, settings.restore_window);
  restore_output_settings(level);
  Spi::finish();
  // Before anything else that could refuse: the caller named another tenant.
  core::check_expected_tenant(options.import.expected_tenant, b.tenant, "backup " + std::to_string(id));
  if (finished_at)
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "backup " + std::to_string(id) + " is older than pg_tenant_backup.restore_window (" +
                          settings.restore_window + ")",
                      "It finished at " + *finished_at + ".",
                      "Restore a more recent snapshot, or have a superuser widen the window.");

  SpilledRows spill;
  const core::SnapshotSummary summary = read_verified_snapshot(b, spill, "restore another snapshot");
  spill.finish();
  if (on_read) on_read(summary);

  RestoreResult result;
  ImportRequest request;
  request.replay = replay;
  request.spilled = &spill;
  request.summary = &summary;
  request.mode = core::ImportMode::Replace;
  request.caller = options;
  request.tenant_out = tenant;
  request.before_changes = [&](const core::SnapshotOptions& snapshot_options, bool tenant_exists) {
    // A tenant that does not exist has nothing to keep: undoing the restore
    // of a deleted tenant is deleting it again.
    if (options.import.dry_run || !tenant_exists) return;
    progress::set_phase(progress::Phase::PreRestore);
    // Soft-deleted rows always: the restore may change them (a snapshot row
    // brings back a row soft-deleted since), and undoing it must put them
    // back as they were.
    core::SnapshotOptions complete = snapshot_options;
    complete.include_deleted = true;
    CreateRequest create;
    create.tenant = b.tenant;
    create.opts = core::recorded_options_as_opts(json::parse(core::options_to_json(complete)));
    create.notes = "taken before restoring backup " + std::to_string(id);
    // A pre_restore backup prunes nothing (it could expire the very snapshot
    // being restored), and no retention expires it while the restore can be
    // undone (core/retention.hpp).
    create.trigger = "pre_restore";
    result.pre_restore_id = create_backup(create);
  };
  result.outcome = run_import(request);
  spill.close();

  if (!options.import.dry_run) {
    Spi::connect();
    level = fix_output_settings();
    mark_backup_restored(id);
    restore_output_settings(level);
    Spi::finish();
  }
  return result;
}

json restore_call(const Args& args) {
  const int64_t id = args.int8_required(0, "the backup id");
  const core::ImportCallOptions options = call_options(args.jsonb_text(1));

  const LogEntry base = call_log_entry("restore", id);
  std::optional<std::string> tenant;
  int64_t log_id = 0;
  RestoreResult result = logged(base, &tenant, !options.import.dry_run, &log_id,
                                [&] { return restore_backup(id, options, &tenant); });

  json report = log_completed(
      log_id, tenant, result.outcome,
      result.pre_restore_id ? "; pre_restore snapshot " + std::to_string(*result.pre_restore_id)
      : options.import.dry_run ? std::string()
                               : "; no pre_restore snapshot: the tenant did not exist");
  report["source_id"] = id;
  report["pre_restore_id"] = result.pre_restore_id ? json(*result.pre_restore_id) : json(nullptr);
  return report;
}

// --- backup_restore_to ---------------------------------------------------------

json restore_to_call(const Args& args) {
  const TimestampTz target = args.timestamptz_required(1, "the target moment");
  std::optional<std::string> tenant = args.string(0);
  if (TIMESTAMP_NOT_FINITE(target))
    throw core::Error(core::sqlstate::kInvalidParameterValue, "the target moment must be a finite time");
  const int64_t target_unix = static_cast<int64_t>(target) + 946684800LL * 1000000;
  const core::ImportCallOptions options = call_options(args.jsonb_text(2));

  const LogEntry base = call_log_entry("restore");
  int64_t log_id = 0;
  ReplayPlan plan;
  std::optional<ChangeReplayer> replayer;
  RestoreResult result = logged(base, &tenant, !options.import.dry_run, &log_id, [&] {
    require_restore_allowed();
    Spi::connect();
    const int level = fix_output_settings();
    plan = plan_replay(tenant, target_unix);
    restore_output_settings(level);
    Spi::finish();
    StageReplay replay;
    replay.apply = [&](const std::vector<core::ReplayStage>& stages) { replayer->apply(stages); };
    replay.check = [&](const std::vector<core::ReplayStage>& stages) { replayer->check(stages); };
    const std::optional<std::string> asked = tenant;
    return restore_backup(plan.snapshot_id, options, &tenant, &replay, [&](const core::SnapshotSummary& summary) {
      auto transactions = summary.metadata.find("transactions");
      if (transactions == summary.metadata.end())
        throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                          "backup " + std::to_string(plan.snapshot_id) +
                              " does not record which transactions it saw",
                          "It was written by a release before change capture.",
                          "Take a new snapshot and restore to a moment after it.");
      const core::SnapshotTransactions seen = core::SnapshotTransactions::from_json(*transactions);
      check_snapshot_in_stretch(plan, seen);
      if (summary.tenant_id != asked)
        throw core::Error(core::sqlstate::kInternalError, "pg_tenant_backup: backup " + std::to_string(plan.snapshot_id) +
                                       " is not of the tenant asked for");
      replayer.emplace(plan, seen);
    });
  });

  const ReplayCounts& counts = replayer->counts();
  json report = log_completed(
      log_id, tenant, result.outcome,
      "; to " + plan.target_utc + ": backup " + std::to_string(plan.snapshot_id) + " and " +
          std::to_string(counts.transactions) + " transactions (" + std::to_string(counts.changes) +
          " row changes) captured after it" +
          (result.pre_restore_id ? "; pre_restore snapshot " + std::to_string(*result.pre_restore_id)
           : options.import.dry_run ? std::string()
                                    : "; no pre_restore snapshot: the tenant did not exist"));
  report["source_id"] = plan.snapshot_id;
  report["pre_restore_id"] = result.pre_restore_id ? json(*result.pre_restore_id) : json(nullptr);
  report["target"] = plan.target_utc;
  report["replayed"] = json{{"segments", counts.segments},
                            {"transactions", counts.transactions},
                            {"transactions_in_snapshot", counts.transactions_seen},
                            {"changes", counts.changes},
                            {"last_commit_at", counts.last_commit_at.empty() ? json(nullptr) : json(counts.last_commit_at)},
                            {"last_lsn", counts.last_lsn.empty() ? json(nullptr) : json(counts.last_lsn)}};
  return report;
}

}  // namespace
}  // namespace ptb::pg

PTB_SQL_FUNCTION(backup_restore_to) { return ptb::pg::jsonb_result(ptb::pg::restore_to_call(args)); }

PTB_SQL_FUNCTION(backup_restore) { return ptb::pg::jsonb_result(ptb::pg::restore_call(args)); }

// Timestamps come as the text SQL wrote them and are read back by the
// type's own input function, in the session's time zone as SQL would.
PTB_SQL_FUNCTION(backup_recovery_window) {
  using namespace ptb::pg;
  const std::optional<std::string> tenant = args.string(0);
  MaterializedResult result(args.call());
  Spi::connect();
  const int level = fix_output_settings();
  const std::vector<RecoveryWindow> windows = recovery_windows(tenant);
  restore_output_settings(level);
  Spi::finish();
  auto timestamp = [](const std::optional<std::string>& text) {
    if (!text) return SqlValue::null();
    TimestampTz t = 0;
    guarded([&] {
      t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text->c_str()),
                                                  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    });
    return SqlValue::timestamptz(t);
  };
  for (const RecoveryWindow& w : windows)
    result.add_row({timestamp(w.earliest), timestamp(w.latest), timestamp(w.capture_started_at),
                    timestamp(w.capture_stopped_at), SqlValue::int8(w.snapshots)});
  return args.void_result();
}
