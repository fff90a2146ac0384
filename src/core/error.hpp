// Errors raised by core code. They carry a PostgreSQL SQLSTATE so the
// server-side entry wrapper (src/pg/boundary) can report them faithfully,
// but this header knows nothing about the server.
#pragma once

#include <stdexcept>
#include <string>

namespace ptb::core {

// The SQLSTATE codes core code raises. Five characters, as in the SQL
// standard; src/pg turns them into ERRCODE values.
namespace sqlstate {
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kInvalidSchemaName = "3F000";
inline constexpr const char* kUndefinedTable = "42P01";
inline constexpr const char* kUndefinedColumn = "42703";
inline constexpr const char* kDatatypeMismatch = "42804";
inline constexpr const char* kNotNullViolation = "23502";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kInvalidTextRepresentation = "22P02";
inline constexpr const char* kDataException = "22000";
inline constexpr const char* kOutOfMemory = "53200";
inline constexpr const char* kInternalError = "XX000";
}  // namespace sqlstate

class Error : public std::runtime_error {
 public:
  Error(std::string sqlstate, std::string message, std::string detail = {},
        std::string hint = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}

  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string sqlstate_;
  std::string detail_;
  std::string hint_;
};

}  // namespace ptb::core
