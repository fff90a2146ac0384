// Every function the server calls by name is declared through one of the
// two macros below, so none can skip entry() (boundary.hpp): a C++
// exception escaping one would end the server process, and an argument
// read outside guarded() could longjmp over live C++ objects.
//
//   PTB_SQL_FUNCTION(backup_keep) {
//     const int64_t id = args.int8_required(0, "the backup id");  // one at a time:
//     keep_backup(id, args.boolean_required(1, "keep"));          // C++ leaves the order open
//     return args.void_result();
//   }
//   PTB_WORKER_MAIN(ptb_job_main) { ... `argument` is bgw_main_arg ... }
//
// Callbacks the server reaches through pointers (GUC hooks, COPY's read
// callback, the output plugin's callbacks, _PG_init) call entry() directly.
// scripts/check-entry-points.sh fails the build on any other declaration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pg/guarded.hpp"

namespace ptb::pg {

// The arguments of one SQL call. Every read goes through guarded()
// (detoasting can raise). A required argument that is NULL raises 22004
// "<what> must not be NULL": STRICT functions never see one, but a
// definition changed by hand must not crash the backend.
class Args {
 public:
  explicit Args(FunctionCallInfo fcinfo) : fcinfo(fcinfo) {}

  // How many arguments the caller passed: an older SQL definition (before
  // ALTER EXTENSION ... UPDATE) may pass fewer than the library knows.
  int count() const;
  bool is_null(int argno) const;

  std::optional<std::string> string(int argno) const;
  std::string string_required(int argno, std::string_view what) const;
  std::optional<int32_t> int4(int argno) const;
  std::optional<int64_t> int8(int argno) const;
  int64_t int8_required(int argno, std::string_view what) const;
  bool boolean_required(int argno, std::string_view what) const;
  // Microseconds since 2000-01-01 00:00 UTC, as the server keeps them.
  std::optional<int64_t> timestamptz(int argno) const;
  int64_t timestamptz_required(int argno, std::string_view what) const;
  Jsonb* jsonb(int argno) const;  // nullptr for NULL
  std::optional<std::string> jsonb_text(int argno) const;  // its JSON text; nullopt for NULL
  // An opts argument parsed (core::parse_opts); an empty object for NULL.
  nlohmann::json opts(int argno) const;
  std::optional<std::string_view> bytes(int argno) const;  // valid until the call returns

  // For set-returning functions, which keep state in the call.
  FunctionCallInfo call() const { return fcinfo; }

  Datum null_result() const;
  Datum void_result() const { return static_cast<Datum>(0); }

 private:
  FunctionCallInfo fcinfo;  // named as the fmgr macros (PG_GETARG_*) expect
};

// jsonb as JSON text (for the core parsers), and an opts jsonb parsed as
// Args::opts does.
std::string jsonb_text(Jsonb* value);
nlohmann::json opts_document(Jsonb* opts);

// `value` (or JSON text) as the jsonb a SQL function returns.
Datum jsonb_result(const nlohmann::json& value);
Datum jsonb_result(const std::string& json_text);

}  // namespace ptb::pg

// A SQL-callable function `name`; the body that follows sees `args` and
// returns a Datum.
#define PTB_SQL_FUNCTION(name)                                                                   \
  static Datum name##_body(const ::ptb::pg::Args& args);                                         \
  extern "C" {                                                                                   \
  PG_FUNCTION_INFO_V1(name);                                                                     \
  }                                                                                              \
  Datum name(PG_FUNCTION_ARGS) {                                                                 \
    return ::ptb::pg::entry([&]() -> Datum { return name##_body(::ptb::pg::Args(fcinfo)); });    \
  }                                                                                              \
  static Datum name##_body(const ::ptb::pg::Args& args)

// A background worker's main function `name` (bgw_function_name); the body
// that follows sees `argument` (bgw_main_arg). A worker has no outer error
// handler, so the ERROR entry() raises ends it as FATAL, logged.
#define PTB_WORKER_MAIN(name)                                       \
  static void name##_body(Datum argument);                          \
  extern "C" PGDLLEXPORT void name(Datum argument);                 \
  void name(Datum argument) {                                       \
    ::ptb::pg::entry([&] { name##_body(argument); });               \
  }                                                                 \
  static void name##_body(Datum argument)
