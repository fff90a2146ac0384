#include "pg/column_types.hpp"

#include "pg/guarded.hpp"

namespace ptb::pg {

namespace {

core::ValueEncoding encoding_of_base_type(Oid base) {
  switch (base) {
    case INT2OID:
    case INT4OID:
    case INT8OID: return core::ValueEncoding::Integer;
    case FLOAT4OID:
    case FLOAT8OID: return core::ValueEncoding::Float;
    case NUMERICOID: return core::ValueEncoding::Numeric;
    case BOOLOID: return core::ValueEncoding::Boolean;
    case JSONBOID: return core::ValueEncoding::Jsonb;
    case JSONOID: return core::ValueEncoding::Json;
    case BYTEAOID: return core::ValueEncoding::Bytea;
    default: return core::ValueEncoding::Text;
  }
}

}  // namespace

ColumnTypeFacts column_type_facts(Oid type) {
  Oid base = InvalidOid;
  guarded([&] { base = getBaseType(type); });
  return {encoding_of_base_type(base), base == OIDOID};
}

}  // namespace ptb::pg
