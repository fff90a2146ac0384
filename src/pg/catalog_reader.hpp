// The catalog tenancy and the import plan with, read in one place: the
// tenancy catalog (core::Catalog: tables with their oids, columns, primary
// keys, foreign keys, inheritance, partitions) that tenancy plans a
// snapshot with, for export and import alike, and what an import reads of
// each table it loads (its columns' facts, unique keys with their
// operators, foreign keys with theirs, owned sequences, statistics).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/catalog.hpp"
#include "core/import_plan.hpp"
#include "core/table_load.hpp"

namespace ptb::pg {

// The tables of the database outside the system schemas (partitions, this
// extension's tables and Citus shards left out), with their columns, keys,
// inheritance and partitions. `schemas`: the schemas tenancy scans (each
// table's in_scanned_schema).
core::Catalog read_catalog(const std::vector<std::string>& schemas);

using core::ColumnInfo;
using core::UniqueKey;

// The columns of the table whose pg_class oid is `oid`, by name.
std::map<std::string, ColumnInfo> table_columns(const std::string& oid);

// The table's unique keys usable by ON CONFLICT (core::UniqueKey), the
// primary key first.
std::vector<UniqueKey> unique_keys(const std::string& oid);

// Whether any of the tables (pg_class oids) changed, since its statistics
// were taken, by more rows than make autovacuum analyze it
// (autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x its
// rows): a tenant emptied or restored moments ago, whose statistics still
// say it has no rows.
bool statistics_are_stale(const std::vector<std::string>& oids);


// Columns of the table other tables' foreign keys reference.
std::vector<std::string> referenced_columns(const std::string& oid);

// The sequences the table's columns own (serial and identity), by column.
struct OwnedSequence {
  std::string column;
  std::string sequence;   // its name, as regclass prints it
  std::string increment;  // seqincrement, as text
};
std::vector<OwnedSequence> owned_sequences(const std::string& oid);

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
