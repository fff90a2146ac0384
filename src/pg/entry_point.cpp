#include "pg/entry_point.hpp"

#include "core/error.hpp"
#include "core/options.hpp"
#include "pg/guarded.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace ptb::pg {

namespace {

[[noreturn]] void null_argument(std::string_view what, const char* hint = nullptr) {
  throw core::Error(core::sqlstate::kNullValueNotAllowed, std::string(what) + " must not be NULL", {},
                    hint ? hint : "");
}

}  // namespace

int Args::count() const { return PG_NARGS(); }

bool Args::is_null(int argno) const { return argno >= PG_NARGS() || PG_ARGISNULL(argno); }

std::optional<std::string> Args::string(int argno) const {
  if (is_null(argno)) return std::nullopt;
  char* value = nullptr;
  guarded([&] { value = text_to_cstring(PG_GETARG_TEXT_PP(argno)); });
  std::string copy(value);
  guarded([&] { pfree(value); });
  return copy;
}

std::string Args::string_required(int argno, std::string_view what) const {
  auto value = string(argno);
  if (!value) null_argument(what);
  return *value;
}

std::optional<int32_t> Args::int4(int argno) const {
  if (is_null(argno)) return std::nullopt;
  return PG_GETARG_INT32(argno);
}

std::optional<int64_t> Args::int8(int argno) const {
  if (is_null(argno)) return std::nullopt;
  int64_t value = 0;
  guarded([&] { value = PG_GETARG_INT64(argno); });  // by reference where Datum is 4 bytes
  return value;
}

int64_t Args::int8_required(int argno, std::string_view what) const {
  auto value = int8(argno);
  if (!value) null_argument(what);
  return *value;
}

bool Args::boolean_required(int argno, std::string_view what) const {
  if (is_null(argno)) null_argument(what, "Pass true or false.");
  return PG_GETARG_BOOL(argno);
}

std::optional<int64_t> Args::timestamptz(int argno) const {
  if (is_null(argno)) return std::nullopt;
  int64_t value = 0;
  guarded([&] { value = PG_GETARG_TIMESTAMPTZ(argno); });
  return value;
}

int64_t Args::timestamptz_required(int argno, std::string_view what) const {
  auto value = timestamptz(argno);
  if (!value) null_argument(what);
  return *value;
}

Jsonb* Args::jsonb(int argno) const {
  if (is_null(argno)) return nullptr;
  Jsonb* value = nullptr;
  guarded([&] { value = PG_GETARG_JSONB_P(argno); });
  return value;
}

std::optional<std::string> Args::jsonb_text(int argno) const {
  Jsonb* value = jsonb(argno);
  if (value == nullptr) return std::nullopt;
  return ptb::pg::jsonb_text(value);
}

nlohmann::json Args::opts(int argno) const { return opts_document(jsonb(argno)); }

Datum jsonb_result(const nlohmann::json& value) { return jsonb_result(value.dump()); }

Datum jsonb_result(const std::string& json_text) {
  return guarded_value([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json_text.c_str())); });
}

std::string jsonb_text(Jsonb* value) {
  char* text = nullptr;
  guarded([&] { text = JsonbToCString(nullptr, &value->root, VARSIZE(value)); });
  return text;
}

nlohmann::json opts_document(Jsonb* opts) {
  return opts != nullptr ? core::parse_opts(jsonb_text(opts)) : nlohmann::json::object();
}

std::optional<std::string_view> Args::bytes(int argno) const {
  if (is_null(argno)) return std::nullopt;
  bytea* value = nullptr;
  guarded([&] { value = PG_GETARG_BYTEA_PP(argno); });
  return std::string_view(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

Datum Args::null_result() const {
  fcinfo->isnull = true;
  return static_cast<Datum>(0);
}

}  // namespace ptb::pg
