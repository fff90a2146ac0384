// Set-returning results (arguments are read through Args, pg/entry_point.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/server.hpp"

namespace ptb::pg {

// A value for one column of a result row.
struct SqlValue {
  enum class Kind { Null, Text, Int8, TimestampTz };
  Kind kind = Kind::Null;
  std::string text_value;
  int64_t int_value = 0;

  static SqlValue null() { return {}; }
  static SqlValue text(std::string s) { return {Kind::Text, std::move(s), 0}; }
  static SqlValue int8(int64_t v) { return {Kind::Int8, {}, v}; }
  static SqlValue timestamptz(int64_t microseconds_since_2000) {
    return {Kind::TimestampTz, {}, microseconds_since_2000};
  }
};

// A set-returning function's result in materialize mode (a tuplestore).
class MaterializedResult {
 public:
  explicit MaterializedResult(FunctionCallInfo fcinfo);
  void add_row(const std::vector<SqlValue>& values);

 private:
  Tuplestorestate* store_ = nullptr;
  TupleDesc desc_ = nullptr;
};

}  // namespace ptb::pg
