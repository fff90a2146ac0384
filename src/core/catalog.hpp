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
};

struct Table {
  std::string schema;
  std::string name;
  bool in_scanned_schema = false;  // in one of the schemas option's schemas
  bool partitioned = false;        // a partitioned parent: rows come through it
  std::vector<Column> columns;
  std::vector<std::string> primary_key;

  const Column* find_column(std::string_view column) const;
};

struct ForeignKey {
  std::string name;  // constraint name
  size_t from = 0;   // index into Catalog::tables (the referencing table)
  size_t to = 0;     // the referenced table
  std::vector<std::string> from_columns;
  std::vector<std::string> to_columns;
};

struct Catalog {
  std::vector<Table> tables;
  std::vector<ForeignKey> foreign_keys;

  // True when every referencing column of fk is NOT NULL.
  bool is_mandatory(const ForeignKey& fk) const;
};

}  // namespace ptb::core
