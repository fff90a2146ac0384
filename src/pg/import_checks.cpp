// Step 5 of an import (import_job.hpp): what is checked before any change,
// so that a refused import changes nothing: what a migration leaves to the
// rows, the tenant, the stages' keys, the master and reference rows the
// tenant's rows point at, and (Citus) reference tables.
#include "core/error.hpp"
#include "pg/import_job.hpp"

namespace ptb::pg {

using core::quote_ident;

[[noreturn]] void not_the_tenants(const LoadTable& t, const std::string& row,
                                  const std::optional<std::string>& tenant) {
  throw core::Error(core::sqlstate::kInvalidParameterValue,
                    "row " + t.staged.display + " " + row + " of the snapshot would not belong to " +
                        quoted_tenant(tenant),
                    "Its tenant column or owning foreign key points at another tenant. Nothing "
                    "was changed.",
                    "A snapshot changes only its own tenant's rows: check that the document was "
                    "not edited, and that the tenancy options are those it was taken with.");
}

void check_staged_keys(ImportJob& job, LoadTable& table) {
  LoadTable* t = &table;
  const std::vector<TextValue>& params = job.params;
  const core::TenancyPlan& owner_plan = job.owner_plan;
  if (!t->staged.has_key()) return;
  auto dup = t->keys_unique ? SqlResult{} : run(core::duplicate_keys_sql(t->staged));
  if (!dup.rows.empty())
    throw core::Error(core::sqlstate::kUniqueViolation,
                      "the snapshot has more than one row of " + t->staged.display + " with " +
                          dup.rows[0][0].value_or(""),
                      t->section->where() + " repeats a key the rows are matched on.");
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
    throw core::Error(core::sqlstate::kUniqueViolation,
                      "row " + t->staged.display + " " + taken.rows[0][0].value_or("") +
                          " of the snapshot belongs to another tenant in this database",
                      "Its key is taken by a row that is not " + quoted_tenant(job.tenant) + "'s.",
                      "An import changes only its own tenant's rows: import a snapshot into the "
                      "database it was taken from.");
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
      if (inserted == 0)
        differences.push_back({t->staged.display, column, "column_added",
                               "added NOT NULL without a default; no row is inserted, so none needs a value", ""});
      else
        row_differences.push_back(core::needs_value_difference(
            t->staged.display, column,
            std::to_string(inserted) + (inserted == 1 ? " row the import inserts needs" : " rows the import inserts need")));
    }
    for (const auto& column : t->now_not_null) {
      const int64_t nulls = first_int(
          run("SELECT pg_catalog.count(*) FROM " + t->staged.stage + " WHERE " + quote_ident(column) + " IS NULL"));
      if (nulls != 0)
        row_differences.push_back({t->staged.display, column, "now_not_null",
                                   "NOT NULL now, and " + std::to_string(nulls) +
                                       (nulls == 1 ? " row of the snapshot has" : " rows of the snapshot have") +
                                       " NULL there",
                                   core::sqlstate::kNotNullViolation});
    }
  }
  core::refuse_schema_differences(row_differences);


  if (!job.tenant_exists) {
    bool brought = false;
    std::string where;
    if (const auto& tt = plan.tenant_table()) {
      where = "No row of " + table_display(catalog.tables[tt->table].schema, catalog.tables[tt->table].name) +
              " has " + tt->key_column + " = " + *tenant;
      if (LoadTable* t = job.data_table(tt->table);
          t != nullptr && std::find(t->staged.columns.begin(), t->staged.columns.end(), tt->key_column) !=
                              t->staged.columns.end()) {
        const core::Column* key = catalog.tables[tt->table].find_column(tt->key_column);
        std::string op = "OPERATOR(pg_catalog.=)";
        if (t->staged.key == std::vector<std::string>{tt->key_column}) op = t->staged.key_operators[0];
        brought = !run("SELECT 1 FROM " + t->staged.stage + " ptb_s WHERE ptb_s." + quote_ident(tt->key_column) +
                           " " + op + " CAST($1 AS " + key->type + ") LIMIT 1",
                       params)
                       .rows.empty();
      }
      where += brought ? "" : ", and the snapshot does not have that row.";
    } else {
      for (auto* t : data_tables) brought = brought || t->outcome.rows > 0;
      where = "No tenant table has a row with " + plan.options().tenant_column + " = " + *tenant +
              ", and the snapshot has no rows.";
    }
    if (!brought)
      throw core::Error(core::sqlstate::kUndefinedObject, "tenant \"" + *tenant + "\" does not exist",
                        where, "Import a snapshot into the database it was taken from, or create the tenant first.");
  }

  for (auto* t : data_tables)
    if (!t->direct) check_staged_keys(job, *t);
  for (auto& t : tables) {
    if (t.data || !t.staged.has_key() || t.section->part == "filtered_rows") continue;
    auto missing = run(core::missing_rows_sql(t.staged), params);
    const int64_t count = first_int(missing);
    if (count == 0) continue;
    const std::string first = missing.rows[0][1].value_or("");
    const bool reference = t.section->role == "reference";
    throw core::Error(
        core::sqlstate::kForeignKeyViolation,
        (reference ? "row " + t.staged.display + " " + first +
                         ", which the snapshot's rows reference, does not exist in this database"
                   : "master row " + t.staged.display + " " + first +
                         " of the snapshot does not exist in this database"),
        std::to_string(count) + (count == 1 ? " row" : " rows") + " of " + t.staged.display +
            (reference ? " (another tenant's, or outside the snapshot)" : "") +
            " that the tenant's rows reference " + (count == 1 ? "is" : "are") +
            " missing; the first is shown. Nothing was changed.",
        reference ? "Create the missing rows first: an import checks that the rows the tenant's "
                    "rows point at exist, it never creates them."
                  : "Create the missing master rows first: an import checks that the master data "
                    "the tenant's rows point at exists, it never creates it.");
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
      doomed = first_int(run("SELECT pg_catalog.count(*) FROM " + t->staged.only_target() + " ptb_t WHERE " +
                                 core::doomed_sql(t->staged, "ptb_t", plan.membership_sql(t->catalog_index, "ptb_t")),
                             params));
    if (differ == 0 && doomed == 0) {
      t->citus_reference_unchanged = true;
      continue;
    }
    throw core::Error(core::sqlstate::kFeatureNotSupported,
                      "the import would change rows of " + t->staged.display +
                          ", a Citus reference table, which Citus does not update from an import",
                      std::to_string(differ) + " of its rows differ from the snapshot's and " +
                          std::to_string(doomed) + " would be removed. Nothing was changed.",
                      "Give those rows the snapshot's values yourself (a reference table is shared by "
                      "every node), or import with mode insert_only; docs/citus.md.");
  }
}

}  // namespace ptb::pg
