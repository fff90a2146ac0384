// What the snapshot needs to know of a column's type, from the server's
// type cache.
#pragma once

#include "core/value_encoding.hpp"
#include "pg/server_types.hpp"

namespace ptb::pg {

struct ColumnTypeFacts {
  core::ValueEncoding encoding;  // how its values are written (by the base type)
  bool large_object;             // an oid (a large object's, as lo columns are)
};

ColumnTypeFacts column_type_facts(Oid type);

}  // namespace ptb::pg
