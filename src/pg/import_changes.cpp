// Step 6 of an import (import_job.hpp): the changes, one set-based
// statement per table and step, in load order (referenced tables first):
// the rows that differ updated (merge, replace), the tenant's rows the
// snapshot lacks removed in one statement (replace), the missing rows
// inserted (a direct load copies its section then).
#include "core/import_refusals.hpp"
#include "pg/import_job.hpp"
#include "pg/progress.hpp"
#include "pg/session.hpp"

namespace ptb::pg {

void write_changes(ImportJob& job) {
  const core::TenancyPlan& plan = job.plan;
  const core::ImportSteps& steps = job.steps;
  const core::ImportOptions& io = job.io;
  const std::optional<std::string>& tenant = job.tenant;
  const std::vector<TextValue>& params = job.params;
  const bool by_column = job.by_column;
  const bool writes_citus = job.writes_citus;
  const auto& tables = job.tables;
  const auto& data_tables = job.data_tables;
  // Inserts and updates run with session_replication_role = replica unless
  // fire_triggers: user triggers and rules do not rewrite restored rows.
  // Foreign keys are not checked by the server then; step 7 checks them.
  // Each table in load order (referenced tables first): update the rows
  // that differ (merge, replace); replace: remove the tenant's rows the
  // snapshot lacks, in one statement; insert the rows that are missing.
  const char* write_role = io.fire_triggers ? "origin" : "replica";
  // The transactions the staged tables' updates and inserts wrote in (one,
  // the import's subtransaction, as they run today).
  std::set<std::string>& writers = job.writers;
  auto note_writer = [&](int64_t written) {
    if (written == 0) return;
    if (std::string xid = writing_transaction(); !xid.empty()) writers.insert(xid);
  };
  if (steps.updates) {
    progress::set_phase(progress::Phase::Updating, static_cast<int64_t>(data_tables.size()));
    const WriteRole role = set_write_role(write_role, writes_citus);
    for (auto* t : data_tables) {
      if (std::string sql = core::update_existing_sql(t->staged);
          !sql.empty() && !t->citus_reference_unchanged && !t->direct) {
        t->outcome.updated = static_cast<int64_t>(run(sql, params).processed);
        note_writer(t->outcome.updated);
      }
      progress::add_rows(t->outcome.updated);
      progress::table_done();
    }
    restore_write_role(role);
  }
  if (steps.deletes) {
    progress::set_phase(progress::Phase::Deleting, std::nullopt, true);
    // Deletes run as origin, so foreign keys and their actions apply.
    const WriteRole role = set_write_role("origin", writes_citus);
    // Rows a replace leaves alone although the snapshot lacks them
    // (docs/import.md, "Soft-deleted rows"): those whose key it records in
    // filtered_rows (its soft-delete filter left them out) or as reference
    // rows (its rows point at them). A snapshot that does not record its
    // filtered rows leaves every such row of the tables its filter reaches.
    std::map<size_t, std::vector<const core::StagedTable*>> spared;
    for (const auto& t : tables)
      if (!t.data && t.staged.has_key() &&
          (t.section->role == "reference" || t.section->part == "filtered_rows"))
        spared[t.catalog_index].push_back(&t.staged);
    if (!job.request.summary->records_filtered_rows && job.filters_soft_deleted)
      for (auto* t : data_tables) {
        // (A table without a key is replaced whole: keeping its rows
        // would double them.)
        t->unrecorded = t->staged.has_key() &&
                        job.owned_sql(*t, "ptb_t") != plan.membership_sql(t->catalog_index, "ptb_t");
      }
    auto doomed_of = [&](const LoadTable& t, const std::string& alias) -> std::string {
      if (t.unrecorded || t.direct) return "false";  // (a direct load's table has none of the tenant's rows)
      return core::doomed_sql(t.staged, alias, plan.membership_sql(t.catalog_index, alias),
                              spared[t.catalog_index]);
    };
    std::vector<std::string> doomed;
    for (auto* t : data_tables) {
      doomed.push_back(doomed_of(*t, "ptb_t"));
      if (t->direct) continue;
      auto count = [&](const std::string& where) {
        return first_int(
            run("SELECT pg_catalog.count(*) FROM " + t->staged.only_target() + " ptb_t WHERE " + where, params));
      };
      t->doomed = t->unrecorded ? 0 : count(doomed.back());
      if (!t->unrecorded && spared[t->catalog_index].empty()) continue;
      const int64_t kept =
          count(core::doomed_sql(t->staged, "ptb_t", plan.membership_sql(t->catalog_index, "ptb_t"))) - t->doomed;
      (t->unrecorded ? t->outcome.kept_unrecorded : t->outcome.kept_soft_deleted) = kept;
    }
    for (const auto& fk : job.data_foreign_keys) {
      LoadTable* to = job.data_table(fk.to_oid);
      LoadTable* from = job.data_table(fk.from_oid);
      if (to == nullptr || to->doomed == 0) continue;
      const std::string to_doomed = doomed_of(*to, "ptb_d");
      const std::string from_doomed = from ? doomed_of(*from, "ptb_x") : "false";
      core::ForeignKeyCheck check = fk.check;
      check.from_key = from ? describing_columns(from->staged) : primary_key_of(fk.from_oid);
      if (check.from_key.empty()) check.from_key = check.from_columns;
      const auto to_key = to->staged.has_key() ? to->staged.key : check.to_columns;
      auto blocked = run(core::blocked_delete_sql(check, to_doomed, to_key, from_doomed), params);
      if (!blocked.rows.empty())
        throw core::delete_blocked(to->staged.display, blocked.rows[0][1].value_or(""), tenant, check.from_display,
                                   blocked.rows[0][0].value_or(""), check.name);
    }
    std::vector<const core::StagedTable*> deleting;
    std::vector<std::string> predicates;
    std::vector<LoadTable*> deleted;
    for (size_t i = 0; i < data_tables.size(); ++i)
      if (data_tables[i]->doomed > 0) {
        deleting.push_back(&data_tables[i]->staged);
        predicates.push_back(doomed[i]);
        deleted.push_back(data_tables[i]);
      }
    if (!deleting.empty()) {
      auto counts = run(core::delete_doomed_sql(deleting, predicates), params);
      for (size_t i = 0; i < deleted.size(); ++i) {
        deleted[i]->outcome.deleted = first_int(counts, i);
        progress::add_rows(deleted[i]->outcome.deleted);
      }
    }
    restore_write_role(role);
  }
  {
    progress::set_phase(progress::Phase::Inserting, static_cast<int64_t>(data_tables.size()));
    const WriteRole role = set_write_role(write_role, writes_citus);
    for (auto* t : data_tables) {
      const int64_t rows_before = progress::rows_done();
      if (t->direct && load_directly(job, *t)) {
        progress::table_done();
        continue;
      }
      if (t->direct) {
        // The table refused the rows or a loaded row is not the tenant's:
        // staged and checked as any other section, for the exact error.
        // (The rows the feed counted were rolled back: not counted twice.)
        t->direct = false;
        stage(job, *t);
        progress::set_rows_done(rows_before);
        check_staged_keys(job, *t);
      }
      // No new key before the changes, and none since: a merge without
      // triggers (its updates never change a key, and no trigger or rule
      // runs) or insert_only (which changed nothing) has nothing to insert.
      // Nor when the update changed every staged row: each has its key in
      // the table (keys are unique in the stage, so each updated row is
      // one staged row), and without triggers or deletes none went since
      // (a replace's deletes run as origin: a user's DELETE trigger may
      // remove rows of another table). A restore to a moment's replay
      // changes its stages after COPY.
      const bool all_updated = steps.updates && !steps.deletes && !io.fire_triggers && t->staged.has_key() &&
                               job.request.replay == nullptr &&
                               t->outcome.updated == static_cast<int64_t>(t->staged_rows);
      const bool nothing_new = (t->new_rows == 0 && steps.inserts_only_counted_new_keys) || all_updated;
      if (!nothing_new) {
        t->outcome.inserted = static_cast<int64_t>(run(core::insert_missing_sql(t->staged), params).processed);
        note_writer(t->outcome.inserted);
      }
      progress::add_rows(t->outcome.inserted);
      progress::table_done();
    }
    restore_write_role(role);
  }
  if (steps.checks_then_drops_skipped) {
    // Rows insert_only skips are never written, but a snapshot that says
    // they belong elsewhere is refused as in the other modes.
    if (by_column)
      for (auto* t : data_tables) {
        if (t->direct) continue;
        auto stray = run(core::stray_staged_sql(t->staged, job.owned_sql(*t, "t0")), params);
        if (!stray.rows.empty()) not_the_tenants(*t, stray.rows[0][0].value_or(""), tenant);
      }
    for (auto* t : data_tables)
      if (!t->direct) run(core::drop_skipped_sql(t->staged), params);
  }
}

}  // namespace ptb::pg
