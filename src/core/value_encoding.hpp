// How a column's values are written in a snapshot (docs/format.md,
// "Value encoding"). The encoding is chosen from the column's base type and
// recorded per column in the snapshot's schema section.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/json_writer.hpp"

namespace ptb::core {

enum class ValueEncoding {
  Integer,  // int2, int4, int8: JSON number
  Float,    // float4, float8: JSON number of the shortest exact text; NaN,
            // Infinity, -Infinity and -0 as strings
  Numeric,  // numeric: string (exact, and NaN / Infinity fit)
  Boolean,  // true / false
  Jsonb,    // the value itself, embedded; a JSON null, or an object whose
            // only key is "$jsonb", is wrapped as {"$jsonb": value}
  Json,     // string holding the exact text (whitespace, key order, duplicates)
  Bytea,    // string, base64
  Text,     // string: the type's canonical text output (text, dates, arrays, ...)
};

std::string_view to_string(ValueEncoding encoding);
std::optional<ValueEncoding> encoding_from_string(std::string_view name);

// One value of a snapshot row as the document holds it.
enum class CellKind {
  Null,     // JSON null: SQL NULL
  String,   // a JSON string: its characters, unescaped
  Literal,  // a JSON number or true / false: its JSON text
  Json,     // a JSON object or array (or a jsonb value unwrapped from
            // {"$jsonb": v}): its JSON text
};

struct CopyCell {
  CellKind kind = CellKind::Null;
  const char* data = nullptr;
  size_t size = 0;

  std::string_view text() const { return {data, size}; }
};

inline constexpr const char* kJsonbEscapeKey = "$jsonb";

// Writes {"$jsonb": json_text}: the escape for jsonb values that would
// otherwise read back as something else.
void write_wrapped_jsonb(JsonWriter& writer, std::string_view json_text);

// Writes a float4/float8 output text (from float8out with
// extra_float_digits >= 1, so shortest exact) as its snapshot value.
void write_float(JsonWriter& writer, std::string_view text);

}  // namespace ptb::core
