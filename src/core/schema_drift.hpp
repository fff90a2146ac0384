// A snapshot taken before a migration, imported after it: how its tables
// and columns meet this database's (docs/import.md, "Restoring across
// migrations"). Every difference is found before any change and reported
// at once; those an import cannot get through refuse it together.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/names.hpp"

namespace ptb::core {

// What a column's change of type does to the snapshot's values, given the
// types as format_type() prints them ("numeric(12,2)", "integer[]").
enum class TypeChange {
  Same,
  Lossless,  // every value of the old type is kept exactly (int -> bigint, varchar(20) -> text)
  Lossy,     // a value may be rounded, cut or read differently, or not be accepted
};
TypeChange classify_type_change(std::string_view from, std::string_view to);

// opts.rename: the snapshot's names (left) for this database's (right).
//   {"tables": {"orders": "purchases"},
//    "columns": {"customers": {"mail": "email"}}}   // keyed by the snapshot's table
struct RenameMap {
  std::map<QualifiedName, QualifiedName> tables;
  std::map<QualifiedName, std::map<std::string, std::string>> columns;
  bool empty() const { return tables.empty() && columns.empty(); }
};
RenameMap parse_rename(const nlohmann::json& value);  // Error(22023) on a malformed value

// opts.column_defaults: per table of this database, per column the
// snapshot lacks, the value rows the import inserts get (text as the
// column's type reads it; nullopt: NULL).
using ColumnDefaults = std::map<QualifiedName, std::map<std::string, std::optional<std::string>>>;
ColumnDefaults parse_column_defaults(const nlohmann::json& value);

// One difference between the snapshot's schema and this database's.
struct SchemaDifference {
  std::string table;   // this database's name (schema.name), or the snapshot's when it has none
  std::string column;  // empty: the table as a whole
  std::string change;  // table_missing, table_renamed, table_skipped, column_renamed, column_added,
                       // column_dropped, type_changed, now_not_null
  std::string detail;  // what the import does about it, or why it cannot
  std::string sqlstate;  // empty: the import gets through; else the refusal's SQLSTATE
  bool refused() const { return !sqlstate.empty(); }
};

// [{"table", "column" (absent for a table), "change", "detail"}] of those
// the import gets through (the report's "schema_changes").
nlohmann::json schema_changes_json(const std::vector<SchemaDifference>& differences);

// Raises one Error listing every refused difference (the first one's
// SQLSTATE, one line each in the detail, the options that get through in
// the hint); returns when there is none.
void refuse_schema_differences(const std::vector<SchemaDifference>& differences);

}  // namespace ptb::core
