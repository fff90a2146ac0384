// What the import reads from the catalog about a table it loads: its
// columns, its unique keys, the foreign keys on and to it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/import_plan.hpp"

namespace ptb::pg {

// What the import needs to know of a column of a table it loads.
struct ColumnInfo {
  bool generated = false;
  bool identity_always = false;
  bool not_null = false;
  bool has_default = false;  // a default or an identity
};

// The columns of the table whose pg_class oid is `oid`, by name.
std::map<std::string, ColumnInfo> table_columns(const std::string& oid);

// Unique keys usable by ON CONFLICT (not partial, not on expressions, not
// deferrable): per index, its columns and the btree equality operator of
// each column's operator class. The primary key comes first.
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

std::vector<UniqueKey> unique_keys(const std::string& oid);

// Whether any of the tables (pg_class oids) changed, since its statistics
// were taken, by more rows than make autovacuum analyze it
// (autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x its
// rows): a tenant emptied or restored moments ago, whose statistics still
// say it has no rows.
bool statistics_are_stale(const std::vector<std::string>& oids);

// The key rows of a table without a primary key are matched on, as logical
// replication identifies rows: the replica identity index, else the unique
// index over NOT NULL columns with the fewest columns (ties: by name), so
// NULLs never make two rows look different. Sets `source` to say which.
std::optional<UniqueKey> identity_key(const std::vector<UniqueKey>& keys, std::string& source);

// The primary key's columns; empty when the table has none.
std::vector<std::string> primary_key_of(const std::string& oid);

// Foreign keys whose referencing or referenced table is one of `oids`.
struct ForeignKey {
  core::ForeignKeyCheck check;
  std::string from_oid;
  std::string to_oid;
};

// A key declared on a partition counts as its top table's (from_oid), so
// a replace knows those rows are the tenant's too (docs/tenancy.md).
std::vector<ForeignKey> foreign_keys(const std::vector<std::string>& oids);

}  // namespace ptb::pg
