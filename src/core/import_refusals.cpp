// The errors an import's checks raise (import_refusals.hpp).
#include "core/import_refusals.hpp"

#include "core/table_load.hpp"

namespace ptb::core {

namespace {

// "1 row", "3 rows"
std::string rows_text(int64_t count) { return std::to_string(count) + (count == 1 ? " row" : " rows"); }

}  // namespace

std::string quoted_tenant(const std::optional<std::string>& tenant) {
  return tenant ? "tenant \"" + *tenant + "\"" : "the whole database";
}

Error row_not_the_tenants(const std::string& table, const std::string& row, const std::optional<std::string>& tenant) {
  return Error(sqlstate::kInvalidParameterValue,
               "row " + table + " " + row + " of the snapshot would not belong to " + quoted_tenant(tenant),
               "Its tenant column or owning foreign key points at another tenant. Nothing was changed.",
               "A snapshot changes only its own tenant's rows: check that the document was not edited, and "
               "that the tenancy options are those it was taken with.");
}

Error key_repeated_in_snapshot(const std::string& table, const std::string& key, const std::string& where) {
  return Error(sqlstate::kUniqueViolation, "the snapshot has more than one row of " + table + " with " + key,
               where + " repeats a key the rows are matched on.");
}

Error key_of_another_tenant(const std::string& table, const std::string& row, const std::optional<std::string>& tenant) {
  return Error(sqlstate::kUniqueViolation,
               "row " + table + " " + row + " of the snapshot belongs to another tenant in this database",
               "Its key is taken by a row that is not " + quoted_tenant(tenant) + "'s.",
               "An import changes only its own tenant's rows: import a snapshot into the database it was "
               "taken from.");
}

namespace {

Error tenant_missing(const std::string& tenant, const std::string& detail) {
  return Error(sqlstate::kUndefinedObject, "tenant \"" + tenant + "\" does not exist", detail,
               "Import a snapshot into the database it was taken from, or create the tenant first.");
}

}  // namespace

Error tenant_missing_in_tenant_table(const std::string& tenant, const std::string& tenant_table,
                                     const std::string& key_column) {
  return tenant_missing(tenant, "No row of " + tenant_table + " has " + key_column + " = " + tenant +
                                    ", and the snapshot does not have that row.");
}

Error tenant_missing_without_rows(const std::string& tenant, const std::string& tenant_column) {
  return tenant_missing(tenant, "No tenant table has a row with " + tenant_column + " = " + tenant +
                                    ", and the snapshot has no rows.");
}

Error referenced_rows_missing(const std::string& table, const std::string& first, int64_t count, bool reference) {
  return Error(sqlstate::kForeignKeyViolation,
               reference ? "row " + table + " " + first +
                               ", which the snapshot's rows reference, does not exist in this database"
                         : "master row " + table + " " + first + " of the snapshot does not exist in this database",
               rows_text(count) + " of " + table + (reference ? " (another tenant's, or outside the snapshot)" : "") +
                   " that the tenant's rows reference " + (count == 1 ? "is" : "are") +
                   " missing; the first is shown. Nothing was changed.",
               reference ? "Create the missing rows first: an import checks that the rows the tenant's rows "
                           "point at exist, it never creates them."
                         : "Create the missing master rows first: an import checks that the master data the "
                           "tenant's rows point at exists, it never creates it.");
}

Error citus_reference_would_change(const std::string& table, int64_t differ, int64_t doomed) {
  return Error(sqlstate::kFeatureNotSupported,
               "the import would change rows of " + table +
                   ", a Citus reference table, which Citus does not update from an import",
               std::to_string(differ) + " of its rows differ from the snapshot's and " + std::to_string(doomed) +
                   " would be removed. Nothing was changed.",
               "Give those rows the snapshot's values yourself (a reference table is shared by every node), "
               "or import with mode insert_only; docs/citus.md.");
}

Error delete_blocked(const std::string& to_table, const std::string& to_row, const std::optional<std::string>& tenant,
                     const std::string& from_table, const std::string& from_row, const std::string& foreign_key) {
  return Error(sqlstate::kForeignKeyViolation,
               "cannot remove row " + to_table + " " + to_row + " of " + quoted_tenant(tenant) + ": row " +
                   from_table + " " + from_row + " still references it",
               "A replace removes the tenant's rows that the snapshot does not have; the row of " + from_table +
                   " stays (it is outside the tenant or the snapshot) and references it through foreign key " +
                   foreign_key + ". Nothing was changed.",
               "Delete or change that row first (if it belongs to another tenant, that tenant's row must go "
               "first), then run the import again.");
}

Error dangling_reference(const std::string& from_table, const std::string& from_row, const std::string& to_table,
                         const std::string& to_row, const std::string& foreign_key) {
  return Error(sqlstate::kForeignKeyViolation,
               "row " + from_table + " " + from_row + " of the snapshot references " + to_table + " " + to_row +
                   ", which does not exist",
               "Foreign key " + foreign_key + ". Nothing was changed.",
               "Create the missing row first (or import a snapshot that has it).");
}

SchemaDifference column_added_for_inserts(const std::string& table, const std::string& column, int64_t inserted) {
  if (inserted == 0)
    return {table, column, "column_added", "added NOT NULL without a default; no row is inserted, so none needs a value",
            ""};
  return needs_value_difference(table, column,
                                rows_text(inserted) + (inserted == 1 ? " the import inserts needs" : " the import inserts need"));
}

SchemaDifference now_not_null_with_nulls(const std::string& table, const std::string& column, int64_t nulls) {
  return {table, column, "now_not_null",
          "NOT NULL now, and " + rows_text(nulls) + " of the snapshot " + (nulls == 1 ? "has" : "have") + " NULL there",
          sqlstate::kNotNullViolation};
}

}  // namespace ptb::core
