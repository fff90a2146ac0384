// A server-independent picture of the tables and foreign keys that tenancy
// discovery works on. src/pg fills it from pg_catalog; unit tests build it
// by hand.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/value_encoding.hpp"

namespace ptb::core {

struct Column {
  std::string name;
  std::string type;        // as format_type() prints it, safe to splice
  bool not_null = false;
  bool generated = false;  // GENERATED ALWAYS AS (...) STORED
  bool is_text = false;    // string type category (text, varchar, ...)
  ValueEncoding encoding = ValueEncoding::Text;
  // Of type oid or a domain over it (the lo extension's lo): its values may
  // be large object ids, and large objects are not part of a snapshot.
  bool large_object = false;
};

struct Table {
  std::string schema;
  std::string name;
  std::string oid;  // its pg_class oid, as text (src/pg's reader; empty in unit tests)
  bool in_scanned_schema = false;  // in one of the schemas option's schemas
  bool partitioned = false;        // a partitioned parent: rows come through it
  std::vector<Column> columns;
  std::vector<std::string> primary_key;
  // Tables this one INHERITS from (inheritance, not partitioning): indices
  // into Catalog::tables. Foreign keys are not inherited.
  std::vector<size_t> inherits;

  const Column* find_column(std::string_view column) const;
};

struct ForeignKey {
  std::string name;  // constraint name
  size_t from = 0;   // index into Catalog::tables (the referencing table)
  size_t to = 0;     // the referenced table
  std::vector<std::string> from_columns;
  std::vector<std::string> to_columns;
  // Not declared on `from` (a partitioned table) but on each of its
  // partitions: the partitions' constraint names, sorted. `name` is the
  // first of them.
  std::vector<std::string> partition_constraints;

  bool declared_on_partitions() const { return !partition_constraints.empty(); }
};

// A partition of a partitioned table of Catalog::tables (at any depth).
// Its rows are read through that table, which alone is in a snapshot.
struct Partition {
  std::string schema;
  std::string name;
  size_t root = 0;    // the top partitioned table: index into Catalog::tables
  bool leaf = true;   // holds rows (not itself partitioned)
  // Leaf partitions: every foreign key the partition has (declared on it,
  // or inherited from a partition above it or from `root`; TenancyPlan
  // ignores those `root` declares itself). `from` is `root`, `to` the
  // referenced table (its top table when a partition is referenced).
  std::vector<ForeignKey> foreign_keys;
};

struct Catalog {
  std::vector<Table> tables;
  std::vector<ForeignKey> foreign_keys;
  std::vector<Partition> partitions;

  // True when every referencing column of fk is NOT NULL.
  bool is_mandatory(const ForeignKey& fk) const;
};

}  // namespace ptb::core
