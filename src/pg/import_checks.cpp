// Step 5 of an import (import_job.hpp): what is checked before any change,
// so that a refused import changes nothing: what a migration leaves to the
// rows, the tenant, the stages' keys, the master and reference rows the
// tenant's rows point at, and (Citus) reference tables.
#include <algorithm>

#include "core/import_refusals.hpp"
#include "pg/import_job.hpp"

namespace ptb::pg {

using core::quote_ident;

[[noreturn]] void not_the_tenants(const LoadTable& t, const std::string& row,
                                  const std::optional<std::string>& tenant) {
  throw core::row_not_the_tenants(t.staged.display, row, tenant);
}

void check_staged_keys(ImportJob& job, LoadTable& table) {
  LoadTable* t = &table;
  const std::vector<TextValue>& params = job.params;
  const core::TenancyPlan& owner_plan = job.owner_plan;
  if (!t->staged.has_key()) return;
  auto dup = t->keys_unique ? SqlResult{} : run(core::duplicate_keys_sql(t->staged));
  if (!dup.rows.empty())
    throw core::key_repeated_in_snapshot(t->staged.display, dup.rows[0][0].value_or(""), t->section->where());
  if (!job.by_column) return;
  const size_t index = t->owner_index;
  // Orphans (blobs no attachment references any more) are nobody's:
  // the snapshot may take them back.
  std::string owned = owner_plan.membership_sql(index, "t0");
  const std::string orphan = owner_plan.orphan_sql(index, "t0");
  if (!orphan.empty()) owned = "(" + owned + ") OR (" + orphan + ")";
  // A table Citus distributes by the tenant: its keys hold the
  // distribution column, so only a staged row of another tenant can
  // take another tenant's key. Checked on the stage alone, so the
  // import never reads the other tenants' shards.
  if (t->distributed_by_tenant) {
    auto stray = run(core::stray_staged_sql(t->staged, owner_plan.membership_sql(index, "t0")), params);
    if (!stray.rows.empty()) not_the_tenants(*t, stray.rows[0][0].value_or(""), job.tenant);
    return;
  }
  // For a table whose rows say whose they are, the same join counts the
  // rows an insert would add: none, and a merge skips its insert.
  const bool row_alone = owner_plan.membership_reads_only_the_row(index) && orphan.empty();
  const std::string owners = t->staged.citus || !row_alone ? std::string() : core::key_owners_sql(t->staged, owned);
  auto taken = run(owners.empty() ? core::foreign_owner_sql(t->staged, owned) : owners, params);
  if (!owners.empty()) {
    t->new_rows = first_int(taken, 1);
    if (!taken.rows.at(0).at(0)) taken.rows.clear();
  }
  if (!taken.rows.empty())
    throw core::key_of_another_tenant(t->staged.display, taken.rows[0][0].value_or(""), job.tenant);
}


void check_before_changes(ImportJob& job) {
  const core::TenancyPlan& plan = job.plan;
  const core::Catalog& catalog = plan.catalog();
  const core::ImportMode mode = job.mode;
  const std::optional<std::string>& tenant = job.tenant;
  const std::vector<TextValue>& params = job.params;
  auto& differences = job.differences;
  auto& tables = job.tables;
  const auto& data_tables = job.data_tables;
  // Across a migration, what the rows decide: a column added NOT NULL
  // without a default takes no inserted row, one made NOT NULL no NULL.
  std::vector<core::SchemaDifference> row_differences;
  for (auto* t : data_tables) {
    const int64_t inserted = t->needs_value.empty() ? 0 : first_int(run(core::count_missing_sql(t->staged), params));
    for (const auto& column : t->needs_value) {
      core::SchemaDifference d = core::column_added_for_inserts(t->staged.display, column, inserted);
      (d.refused() ? row_differences : differences).push_back(std::move(d));
    }
    for (const auto& column : t->now_not_null) {
      const int64_t nulls = first_int(
          run(core::count_staged_nulls_sql(t->staged, column)));
      if (nulls != 0) row_differences.push_back(core::now_not_null_with_nulls(t->staged.display, column, nulls));
    }
  }
  core::refuse_schema_differences(row_differences);


  if (!job.tenant_exists) {
    if (const auto& tt = plan.tenant_table()) {
      const LoadTable* t = job.data_table(tt->table);
      const core::Column* key = catalog.tables[tt->table].find_column(tt->key_column);
      const std::string brought = t ? core::staged_tenant_row_sql(t->staged, tt->key_column, key->type) : "";
      if (brought.empty() || run(brought, params).rows.empty())
        throw core::tenant_missing_in_tenant_table(
            *tenant, table_display(catalog.tables[tt->table].schema, catalog.tables[tt->table].name), tt->key_column);
    } else if (std::none_of(data_tables.begin(), data_tables.end(), [](const LoadTable* t) { return t->outcome.rows > 0; })) {
      throw core::tenant_missing_without_rows(*tenant, plan.options().tenant_column);
    }
  }

  for (auto* t : data_tables)
    if (!t->direct) check_staged_keys(job, *t);
  for (auto& t : tables) {
    if (t.data || !t.staged.has_key() || t.section->part == "filtered_rows") continue;
    auto missing = run(core::missing_rows_sql(t.staged), params);
    const int64_t count = first_int(missing);
    if (count == 0) continue;
    throw core::referenced_rows_missing(t.staged.display, missing.rows[0][1].value_or(""), count,
                                        t.section->role == "reference");
  }
  // Citus cannot update or delete rows of a reference table from the
  // staging tables: an import that would is refused before any change.
  for (auto* t : data_tables) {
    if (!t->citus_reference || mode == core::ImportMode::InsertOnly) continue;
    int64_t differ = 0;
    if (const std::string count = core::count_differing_sql(t->staged); !count.empty())
      differ = first_int(run(count, params));
    int64_t doomed = 0;
    if (mode == core::ImportMode::Replace && !t->unrecorded)
      doomed = first_int(run(core::count_doomed_sql(t->staged, plan.membership_sql(t->catalog_index, "ptb_t")), params));
    if (differ == 0 && doomed == 0) {
      t->citus_reference_unchanged = true;
      continue;
    }
    throw core::citus_reference_would_change(t->staged.display, differ, doomed);
  }
}

}  // namespace ptb::pg
