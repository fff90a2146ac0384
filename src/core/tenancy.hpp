// Tenancy discovery: which tables hold a tenant's rows (tenant and child
// tables), which shared tables they reference (master data), how each
// table's rows are selected, and in which order tables depend on each other.
// See docs/tenancy.md for the rules implemented here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"
#include "core/options.hpp"

namespace ptb::core {

enum class TableRole { Tenant, Child, Master };

std::string_view to_string(TableRole role);

struct PlannedTable {
  size_t table = 0;  // index into Catalog::tables
  TableRole role = TableRole::Tenant;
  // Child tables: the owning foreign keys (indices into
  // Catalog::foreign_keys), from this table up to a tenant table.
  std::vector<size_t> owning_chain;
};

// Where a table of the database stands for a snapshot (backup_coverage):
// in it with a role (tenant, child, master), left out by an option
// (excluded), holding nothing of the tenant (global), or holding rows that
// may be the tenant's without a way to select them (unplaced: the call
// fails unless an option settles it).
enum class Coverage { Tenant, Child, Master, Excluded, Global, Unplaced };

std::string_view to_string(Coverage coverage);

struct TableCoverage {
  std::string schema;
  std::string name;
  Coverage coverage = Coverage::Global;
  std::string reason;  // a sentence fragment: why it has this role
  std::string hint;    // unplaced only: which option settles it
  std::optional<size_t> table;  // index into Catalog::tables; unset for a partition
};

// A column of a snapshot table that may hold large object ids.
struct LargeObjectColumn {
  size_t table = 0;
  std::string column;
};

// The table the tenant column references (tenants, stores, ...): its row
// gives the tenant's name.
struct TenantTable {
  size_t table = 0;
  std::string key_column;   // the referenced column (the tenant id)
  std::string name_column;  // "name", else the first text column; may be empty
};

class TenancyPlan {
 public:
  // Column tenancy for one tenant: membership predicates compare the tenant
  // column with the parameter $1 (a text value cast to the column's type).
  // Otherwise (schema tenancy, or no tenant: the whole database) every table
  // in the scanned schemas belongs to the snapshot.
  static TenancyPlan build(Catalog catalog, SnapshotOptions options,
                           bool one_tenant_by_column);

  const Catalog& catalog() const { return catalog_; }
  const SnapshotOptions& options() const { return options_; }
  // The snapshot's tables after the tables / exclude_tables / audit options,
  // referenced tables before the tables that reference them.
  const std::vector<PlannedTable>& tables() const { return tables_; }
  const std::optional<TenantTable>& tenant_table() const { return tenant_table_; }
  bool uses_tenant_parameter() const { return by_column_; }
  // Every table and partition of the catalog with its place in the
  // snapshot and why, sorted by schema and name.
  const std::vector<TableCoverage>& coverage() const { return coverage_; }
  // Throws Error 55000 naming the first unplaced table (and counting the
  // others) with its hint; exporting, counting or replacing a tenant
  // calls it, backup_coverage does not.
  void require_complete() const;
  // Columns of the snapshot's tables that may hold large object ids.
  std::vector<LargeObjectColumn> large_object_columns() const;

  // The same plan, its SQL reading the tables given here (by index into
  // Catalog::tables) from other relations: a restore to a moment asks
  // which staged rows are the tenant's, the stages standing for the
  // tables (docs/pitr.md).
  TenancyPlan reading_from(std::vector<std::pair<size_t, std::string>> relations) const;

  // SQL text, safe to execute: every identifier is quoted.
  // "ONLY "s"."t" t0" (no ONLY for a partitioned parent).
  std::string from_clause(size_t table, std::string_view alias) const;
  // A boolean expression true for the rows of `table` (aliased as `alias`)
  // that belong to the snapshot. May use $1.
  std::string membership_sql(size_t table, std::string_view alias) const;
  // Whether membership_sql(table) reads the row's own columns alone (a
  // tenant table in column tenancy): no subquery, so a join may evaluate it
  // once per joined row.
  bool membership_reads_only_the_row(size_t table) const;
  // In column tenancy, for a tenant or child table whose membership is its
  // tenant column, or its owning foreign key to a row whose membership is
  // (recursively): those keys (indexes into Catalog::foreign_keys), the
  // table's own first. Such a row stays the tenant's while it and the rows
  // up its chain keep their columns. Nothing for any other table
  // (polymorphic or following keys, master tables, no tenant column), or
  // when a table up the chain has a soft-delete test: a parent marked
  // deleted takes its children out.
  std::optional<std::vector<size_t>> membership_chain(size_t table) const;
  // For a child table with a membership_chain: one row when the tenant
  // has a row in the table, else none. A join down the chain from the
  // tenant's rows of the tenant table, so that the first row found ends
  // it: as EXISTS (membership_sql), the planner may gather every row up
  // the chain before it looks at one of the table. Empty for any other
  // table.
  std::string any_member_row_sql(size_t table) const;
  std::string count_sql(const PlannedTable& planned) const;
  // For a tenant or child table: a boolean expression true for its rows
  // that the snapshot's rows reference through keys that do not own them
  // (a rental of this tenant pointing at another store's stock) and that
  // are not in the snapshot themselves. Empty when no such key exists.
  std::string reference_sql(size_t table, std::string_view alias) const;
  // For a table whose rows follow polymorphic rows (blobs of attachments):
  // true for its rows that no row references through those keys (orphans,
  // nobody's), and for its children's rows, those of an orphan; an import
  // may take them over. Empty for other tables.
  std::string orphan_sql(size_t table, std::string_view alias) const;
  // Tables placed through a polymorphic reference: the table, its columns,
  // and the type values that select each target table.
  struct PolymorphicTarget {
    size_t table = 0;                 // index into Catalog::tables
    std::vector<std::string> values;  // sorted
  };
  struct PolymorphicPlacement {
    size_t table = 0;
    std::string type_column;
    std::string id_column;
    std::vector<PolymorphicTarget> targets;
  };
  const std::vector<PolymorphicPlacement>& polymorphic() const { return polymorphic_; }
  // One row with the tenant's name when the tenant exists; no row otherwise.
  // Without a tenant table, one row (NULL name) when any tenant table has a
  // row for the tenant.
  std::string tenant_lookup_sql() const;

  // The columns the tenant parameter is compared with (CAST($1 AS type)):
  // the tenant table's key, then the key column of every tenant table, one
  // per distinct type, in that order. Empty unless uses_tenant_parameter().
  // A tenant that is not a valid value of each type cannot be looked up.
  struct TenantKeyColumn {
    size_t table = 0;  // index into Catalog::tables
    std::string column;
    std::string type;  // as format_type() prints it, safe to splice
  };
  std::vector<TenantKeyColumn> tenant_key_columns() const;

 private:
  struct Membership {
    std::optional<TableRole> role;
    std::optional<size_t> owning_fk;              // child: the FK to its owner
    std::vector<size_t> referencing_fks;          // master: FKs that select its rows
    std::string tenant_key_column;                // tenant role, column mode
    std::optional<size_t> polymorphic;            // child: index into polymorphic_
    std::vector<size_t> following_fks;            // child: keys of polymorphic rows that select its rows
  };

  std::string render_membership(size_t table, std::string_view alias, int& next_alias) const;
  // EXISTS (a row of the table at the other end of `fk`, joined to the row
  // `alias`, that belongs to the snapshot). `referencing_side`: that table
  // holds the key (it references `alias`'s table); else `alias`'s does.
  std::string exists_member_row(const ForeignKey& fk, bool referencing_side,
                                std::string_view alias, int& next_alias) const;
  std::string render_orphan(size_t table, std::string_view alias, int& next_alias) const;
  std::string qualified(size_t table) const;

  Catalog catalog_;
  std::vector<std::pair<size_t, std::string>> relations_;  // reading_from
  SnapshotOptions options_;
  bool by_column_ = false;
  std::vector<Membership> membership_;
  std::optional<TenantTable> tenant_table_;
  std::vector<PlannedTable> tables_;
  std::vector<TableCoverage> coverage_;
  std::vector<PolymorphicPlacement> polymorphic_;
};

}  // namespace ptb::core
