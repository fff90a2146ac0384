// Step 7 of an import (import_job.hpp): the checks after the changes. The
// server did not check foreign keys as the rows were written (no triggers
// ran, unless fire_triggers), so the rows the snapshot brought are checked
// here against what they reference, and every row written is checked to
// be the tenant's.
#include <algorithm>

#include "core/import_refusals.hpp"
#include "pg/import_job.hpp"
#include "pg/progress.hpp"

namespace ptb::pg {

namespace {

// The referenced table of a foreign key, as a stage-driven check reads it:
// empty (the table itself), or for a Citus table a subquery (the tenant's
// rows when the import writes that table, else the whole table).
std::string referenced_rows(const ForeignKey& fk, const std::vector<LoadTable>& tables,
                            const std::map<std::string, CitusTable>& citus) {
  if (!citus.count(fk.to_oid)) return {};
  for (const auto& t : tables)
    if (t.data && t.oid == fk.to_oid) return t.staged.target_rows();
  return "(SELECT * FROM " + std::string(fk.check.to_partitioned ? "" : "ONLY ") + fk.check.to_table +
         " ptb_c OFFSET 0)";
}

// Whether the rows of `to` that `to_columns` find are the ones they found
// before the changes (maybe more): columns of its key or fixed ones (a
// referenced column, step 3), which its update does not set.
bool keeps_referenced(const LoadTable* to, const std::vector<std::string>& to_columns) {
  if (to == nullptr || to->direct) return true;  // not updated
  if (to->staged.citus) return false;
  const auto& key = to->staged.key;
  const auto& fixed = to->staged.fixed_columns;
  return std::all_of(to_columns.begin(), to_columns.end(), [&](const std::string& c) {
    return std::find(key.begin(), key.end(), c) != key.end() ||
           std::find(fixed.begin(), fixed.end(), c) != fixed.end();
  });
}

// Whether the import's update or insert wrote a row of the staged table.
// Checks of only the written rows read a table that has none for nothing
// (a merge often changes a few of its tables).
bool wrote_rows(const LoadTable& t) { return t.outcome.updated > 0 || t.outcome.inserted > 0; }

}  // namespace

bool references_checked_on_written_rows(const ImportJob& job, const ForeignKey& fk) {
  const LoadTable* from = job.data_table(fk.from_oid);
  return from != nullptr && !from->direct && job.steps.checks_only_written_rows && !from->staged.citus &&
         keeps_referenced(job.data_table(fk.to_oid), fk.check.to_columns);
}

bool owner_checked_on_written_rows(const ImportJob& job, const LoadTable& t) {
  if (!job.steps.checks_only_written_rows || t.staged.citus || !t.staged.has_key() ||
      !job.owner_plan.orphan_sql(t.owner_index, "t0").empty())
    return false;
  // A row whose membership is its owning keys up to the tenant column
  // stays the tenant's while each row up that chain is found by the same
  // key and the rows the import wrote are the tenant's.
  const auto chain = job.owner_plan.membership_chain(t.owner_index);
  if (!chain) return false;
  for (size_t f : *chain) {
    const core::ForeignKey& fk = job.owner_plan.catalog().foreign_keys[f];
    const LoadTable* to = nullptr;
    for (const auto* d : job.data_tables)
      if (d->owner_index == fk.to) to = d;
    if (!keeps_referenced(to, fk.to_columns)) return false;
  }
  return true;
}

void check_after_changes(ImportJob& job) {
  const std::optional<std::string>& tenant = job.tenant;
  const std::vector<TextValue>& params = job.params;
  const bool by_column = job.by_column;
  const auto& tables = job.tables;
  const auto& data_tables = job.data_tables;
  progress::set_phase(progress::Phase::Validating);
  // After a merge without triggers, a staged row the import did not write
  // is as step 5 found it: the tenant's, its references checked by the
  // server when it was written. It stays so while the rows it depends on
  // keep the columns it depends on: nothing is deleted, and an update never
  // changes the key it matched on or a column other rows reference. So
  // where every row a row depends on is found through such columns (or in
  // a table the import did not update), the checks read only the rows the
  // import wrote (their xmin), not every staged row (docs/import.md, step 7).
  const bool only_written_changed = job.steps.checks_only_written_rows;
  std::vector<TextValue> written_params;  // params, then the writers' ids
  const int written_param = static_cast<int>(params.size()) + 1;
  if (only_written_changed) {
    std::string writer_ids;
    for (const auto& xid : job.writers) writer_ids += (writer_ids.empty() ? "" : ",") + xid;
    written_params = params;
    written_params.emplace_back("{" + writer_ids + "}");
  }
  if (job.steps.checks_foreign_keys) {
    for (const auto& fk : job.data_foreign_keys) {
      LoadTable* from = job.data_table(fk.from_oid);
      if (from == nullptr) continue;
      core::ForeignKeyCheck check = fk.check;
      check.to_rows = referenced_rows(fk, tables, job.citus);
      // A direct load's rows are read where they were written.
      std::vector<TextValue> check_params = params;
      std::string rows = from->staged.stage;
      if (references_checked_on_written_rows(job, fk)) {
        if (!wrote_rows(*from)) continue;  // no row to read by its xmin
        check_params = written_params;
        rows = core::written_rows_sql(from->staged, written_param);
      } else if (from->direct) {
        check_params.emplace_back(from->loaded_xid);
        rows = core::loaded_rows_sql(from->staged, by_column ? job.owned_sql(*from, "ptb_l") : std::string(),
                                     static_cast<int>(check_params.size()));
      }
      const std::string sql =
          core::dangling_reference_sql(check, rows, from->staged.columns, describing_columns(from->staged));
      if (sql.empty()) continue;
      auto dangling = run(sql, check_params);
      if (!dangling.rows.empty())
        throw core::dangling_reference(from->staged.display, dangling.rows[0][0].value_or(""), fk.check.to_display,
                                       dangling.rows[0][1].value_or(""), fk.check.name);
    }
  }
  if (by_column) {
    for (auto* t : data_tables) {
      if (t->direct) continue;  // counted as it was loaded
      const std::string owned = job.owned_sql(*t, "t0");
      const bool written_only = owner_checked_on_written_rows(job, *t);
      if (written_only && !wrote_rows(*t)) continue;
      auto stray = written_only ? run(core::written_not_owned_sql(t->staged, owned, written_param), written_params)
                                : run(core::not_owned_sql(t->staged, owned), params);
      if (!stray.rows.empty()) not_the_tenants(*t, stray.rows[0][0].value_or(""), tenant);
    }
  }
}

}  // namespace ptb::pg
