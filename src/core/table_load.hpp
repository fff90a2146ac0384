// How one table's section of a snapshot loads (docs/import.md, "Modes" and
// "Restoring across migrations"): the columns it loads and where
// each one's values are in the rows, how they were written, the key rows
// are matched on, and what differs from the table as it was when the
// snapshot was taken. Pure: src/pg/import_tables.cpp reads the catalog
// facts and hands them in.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/catalog.hpp"
#include "core/import_plan.hpp"
#include "core/schema_drift.hpp"
#include "core/value_encoding.hpp"

namespace ptb::core {

// A column of the table here, as an import needs to know it.
struct ColumnInfo {
  bool generated = false;
  bool identity_always = false;
  bool not_null = false;
  bool has_default = false;  // a default or an identity
};

// A unique key usable by ON CONFLICT (not partial, not on expressions, not
// deferrable): its columns and, per column, the btree equality operator of
// its operator class, the class and the collation.
struct UniqueKey {
  std::string index;               // the index's name
  bool primary = false;
  bool replica_identity = false;   // REPLICA IDENTITY USING INDEX
  bool not_null = true;            // every column NOT NULL
  std::vector<std::string> columns;
  std::vector<std::string> operators;
  std::vector<std::string> opclasses;   // "schema"."opclass"
  std::vector<std::string> collations;  // "schema"."collation", "" for none
};

// Column names quoted and separated by ", " (SQL and messages).
std::string column_list(const std::vector<std::string>& columns);

// The key rows of a table without a primary key are matched on, as logical
// replication identifies rows: the replica identity index, else the unique
// index over NOT NULL columns with the fewest columns (ties: by name), so
// NULLs never make two rows look different. Sets `source` to say which.
std::optional<UniqueKey> identity_key(const std::vector<UniqueKey>& keys, std::string& source);

// What a snapshot records of a column (schema.tables): how its values were
// written (unset: by the column's type here), and its type and
// nullability when it was taken.
struct RecordedColumn {
  std::optional<ValueEncoding> encoding;
  std::string type;
  bool not_null = false;
};

// The table here.
struct TableHere {
  const Table* table = nullptr;  // from the tenancy plan's catalog
  std::string display;           // as messages name it
  std::map<std::string, ColumnInfo> columns;
  std::vector<UniqueKey> keys;   // the primary key first
  // Columns other rows' foreign keys reference (read for a data section
  // written without triggers).
  std::vector<std::string> referenced_columns;
};

// The section of the snapshot for it.
struct SectionHere {
  bool data = true;  // else master or reference rows, or filtered keys
  std::vector<std::string> columns;
  int64_t row_count = 0;
  const std::map<std::string, RecordedColumn>* recorded = nullptr;  // none: records no types
};

// Checks a value column_defaults gives for column `column` (type `type`;
// value nullopt: NULL) by the type's input function; throws Error.
using DefaultValueCheck =
    std::function<void(const std::optional<std::string>& value, const std::string& type, const std::string& column)>;

struct TableLoad {
  StagedTable staged;  // display, target, partitioned, columns, key, fixed columns, inserted values
  std::vector<int> positions;  // per loaded column, its index in the section's rows
  std::vector<ValueEncoding> encodings;
  std::string key_source;  // "primary key", "key_columns", "replica identity index ...", ...
  // Columns added NOT NULL without a default the snapshot has no values
  // for, and columns made NOT NULL since: the rows decide (step 5).
  std::vector<std::string> needs_value;
  std::vector<std::string> now_not_null;
};

// The options' names a plan used (each must name a table of the import).
struct UsedTableOptions {
  std::set<QualifiedName> key_columns;
  std::set<QualifiedName> column_defaults;
};

// How the section loads into the table. Differences the import gets
// through, and those it refuses, are added to `differences` (refused
// together by finish_table_loads). Thrown at once: Error(22023) for a key
// the section cannot be matched on, a keyless table in merge or
// insert_only, or column_defaults naming a column the snapshot has;
// Error(42703) for column_defaults naming a column the table lacks; and
// what `check_default` throws.
TableLoad plan_table_load(const TableHere& here, const SectionHere& section, const ImportOptions& io,
                          ImportMode mode, const DefaultValueCheck& check_default,
                          std::vector<SchemaDifference>& differences, UsedTableOptions& used);

// After every table is planned: key_columns or column_defaults naming no
// table of the import is Error(22023); the differences are refused
// together (refuse_schema_differences), a column that needs a value among
// them when any is refused.
void finish_table_loads(const std::vector<const TableLoad*>& loads, const ImportOptions& io,
                        const UsedTableOptions& used, std::vector<SchemaDifference>& differences);

// The difference a column added NOT NULL without a default makes: `rows`
// says which rows need a value ("rows inserted need", "3 rows the import
// inserts need").
SchemaDifference needs_value_difference(const std::string& table, const std::string& column,
                                        const std::string& rows);

}  // namespace ptb::core
