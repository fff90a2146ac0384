#include "core/value_encoding.hpp"

#include <array>
#include <utility>

namespace ptb::core {

namespace {
constexpr std::array<std::pair<ValueEncoding, std::string_view>, 8> kNames{{
    {ValueEncoding::Integer, "integer"},
    {ValueEncoding::Float, "float"},
    {ValueEncoding::Numeric, "numeric"},
    {ValueEncoding::Boolean, "boolean"},
    {ValueEncoding::Jsonb, "jsonb"},
    {ValueEncoding::Json, "json"},
    {ValueEncoding::Bytea, "bytea"},
    {ValueEncoding::Text, "text"},
}};
}  // namespace

std::string_view to_string(ValueEncoding encoding) {
  for (const auto& [e, name] : kNames)
    if (e == encoding) return name;
  return "text";
}

std::optional<ValueEncoding> encoding_from_string(std::string_view name) {
  for (const auto& [e, n] : kNames)
    if (n == name) return e;
  return std::nullopt;
}

void write_wrapped_jsonb(JsonWriter& writer, std::string_view json_text) {
  writer.begin_object();
  writer.key(kJsonbEscapeKey);
  writer.raw(json_text);
  writer.end_object();
}

void write_float(JsonWriter& writer, std::string_view text) {
  // JSON has no NaN or infinities, and a JSON -0 would come back as 0
  // through jsonb's numeric: these keep their text as a string.
  if (text == "NaN" || text == "Infinity" || text == "-Infinity" || text == "-0") {
    writer.string(text);
  } else {
    writer.raw(text);
  }
}

}  // namespace ptb::core
