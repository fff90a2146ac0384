// run_import: a snapshot document applied to its tenant (docs/import.md),
// step by step; each step is a file of its own (import_job.hpp). The SQL
// functions that call it are in import_functions.cpp (backup_import,
// backup_import_stored) and restore_functions.cpp (backup_restore,
// backup_restore_to).
//
// The flow of one import, all in a subtransaction of the caller's
// transaction (rolled back for a dry run, or when anything fails):
//   1. (by the caller) read and check the document (format, version, shape)
//      as a stream, the text of a jsonb argument as a stored file; its rows
//      are spilled to a temporary file (spilled_rows.hpp)
//   2. take the tenant's lock (55P03 when taken; tenant_lock.cpp), plan the
//      tenant as the snapshot was taken (the document's options)
//   3. match the document's sections with the tables and columns here
//      (opts.rename: import_renames.cpp; catalog reads: catalog_reader.cpp)
//   4. stage every section in a temporary table through COPY
//      (copy_section.cpp; a merge leaves out the rows the table has as
//      they are: import_unchanged.cpp); for a restore to a moment, replay
//      the captured changes into the stages
//   5. check before any change: the tenant, duplicate keys, master and
//      reference rows, keys owned by another tenant
//   6. change: one set-based statement per table and step (a table holding
//      none of the tenant's rows: its section copied straight into it)
//   7. check after: foreign keys of the written rows, ownership
//   8. advance sequences
#include "pg/import.hpp"

#include <chrono>

#include "core/options.hpp"
#include "pg/import_job.hpp"
#include "pg/progress.hpp"
#include "pg/setting_levels.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/tenancy.hpp"
#include "pg/tenant_lock.hpp"

namespace ptb::pg {

using nlohmann::json;

ImportOutcome run_import(const ImportRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  const core::SnapshotSummary* summary = request.summary;
  const std::optional<std::string> tenant = summary->tenant_id;
  if (request.tenant_out != nullptr) *request.tenant_out = tenant;
  progress::set_tenant(tenant);

  // Options: the settings and the caller's; the snapshot's own only narrow
  // them (core::import_snapshot_options). Keys a later release of format 1
  // may add are ignored.
  const auto recorded = summary->metadata.find("options");
  core::SnapshotOptions options = core::import_snapshot_options(
      settings_snapshot_options(), recorded != summary->metadata.end() ? *recorded : json::object(),
      request.caller.opts);

  Spi::connect();
  const int output_level = fix_output_settings();
  lock_tenant(tenant, options);
  TenantSnapshotPlan snapshot = plan_tenant_snapshot(tenant, options, false);
  const core::TenancyPlan& plan = snapshot.plan;
  // Which rows are the tenant's whatever their soft-delete column says:
  // a snapshot row may bring back a row soft-deleted since. (In schema
  // tenancy too: a replace compares it with the plan, step 6.)
  std::optional<TenantSnapshotPlan> owner_snapshot;
  if (!plan.options().include_deleted && !plan.options().soft_delete_column.empty()) {
    core::SnapshotOptions owner_options = plan.options();
    owner_options.include_deleted = true;
    owner_snapshot = plan_tenant_snapshot(tenant, owner_options, false);
  }
  ImportJob job(request, plan, owner_snapshot ? owner_snapshot->plan : plan);
  job.filters_soft_deleted = owner_snapshot.has_value();
  job.mode = request.mode;
  job.io = request.caller.import;
  job.tenant = tenant;
  job.params = tenant_parameters(snapshot);
  job.by_column = plan.uses_tenant_parameter();

  // --- 3. Sections and tables.
  match_sections(job);
  job.triggers = decide_triggers(job);
  job.io.fire_triggers = job.triggers.fired;
  job.steps = core::import_steps(job.mode, job.io.fire_triggers, job.io.dry_run);
  // Citus refuses a write to a reference table after a parallel write to
  // the distributed tables that reference it in one transaction (a
  // whole-database import): its writes run one shard at a time then. A
  // tenant's writes go to one shard group anyway.
  const int citus_mode_level = job.writes_citus ? set_setting("citus.multi_shard_modify_mode", "sequential") : -1;
  plan_columns_and_keys(job);

  // Lookups of one row by the tenant (Spi::probe says why sequential
  // scans are off, and JIT with them).
  const int probe_level = set_settings({{"enable_seqscan", "off"}, {"jit", "off"}});
  // The tenant exists here, or (checked once staged) the snapshot brings its
  // row back.
  job.tenant_exists = !job.by_column || !run(plan.tenant_lookup_sql(), job.params).rows.empty();
  choose_direct_loads(job);
  undo_settings(probe_level);

  // The tables' foreign keys and statistics (catalog reads, which need
  // nested loops; the statistics are read again once staged, as a direct
  // load changes them).
  for (auto& t : job.tables)
    if (t.data) job.data_tables.push_back(&t);
  std::vector<std::string> data_oids;
  for (auto* t : job.data_tables) data_oids.push_back(t->oid);
  job.data_foreign_keys = foreign_keys(data_oids);
  std::vector<std::string> table_oids;
  for (const auto& t : job.tables) table_oids.push_back(t.oid);
  job.statistics_stale = statistics_are_stale(table_oids);

  // --- 4. Stage.
  stage_sections(job);

  // --- 5. Checks before any change.
  progress::set_phase(progress::Phase::Validating);
  // Statistics autovacuum has not caught up with (a tenant emptied or
  // restored moments ago: they say it has no rows) plan the checks' joins
  // as nested loops that read the tenant's rows once per staged row, hours
  // for a large tenant (docs/performance.md, "A plan from stale
  // statistics"). Then steps 5 to 7 run without nested loops: hash and
  // merge joins, whose cost follows the rows, whatever their estimates.
  // (Catalog reads come before: they need nested loops.)
  const int join_level = statistics_are_stale(table_oids) ? set_setting("enable_nestloop", "off") : -1;
  check_before_changes(job);
  if (request.before_changes) request.before_changes(plan.options(), job.tenant_exists);

  // --- 6. Changes.
  write_changes(job);

  // --- 7. Checks after the changes.
  check_after_changes(job);
  if (join_level >= 0) undo_settings(join_level);

  // --- 8. Sequences (not rolled back: none in a dry run).
  if (job.steps.advances_sequences)
    for (auto* t : job.data_tables) advance_sequences(*t);

  std::string drop;
  for (const auto& t : job.tables)
    if (!t.staged.stage.empty()) drop += (drop.empty() ? "" : ", ") + t.staged.stage;
  if (!drop.empty()) run("DROP TABLE " + drop);

  ImportOutcome outcome;
  outcome.report.mode = job.mode;
  outcome.report.dry_run = job.io.dry_run;
  outcome.report.triggers = job.triggers;
  outcome.report.tenant = tenant;
  outcome.report.schema_differences = job.differences;
  for (auto* t : job.data_tables) {
    outcome.report.tables.push_back(t->outcome);
    outcome.table_counts[t->staged.display] = t->outcome.rows;
    outcome.total_rows += t->outcome.rows;
  }
  outcome.options = json::parse(core::options_to_json(plan.options()));
  outcome.options.update(core::import_options_json(job.mode, job.io));
  if (citus_mode_level >= 0) undo_settings(citus_mode_level);
  restore_output_settings(output_level);
  Spi::finish();
  outcome.report.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return outcome;
}

}  // namespace ptb::pg
