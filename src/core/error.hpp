// Errors raised by core code. They carry a PostgreSQL SQLSTATE so the
// server-side entry wrapper (src/pg/boundary) can report them faithfully,
// but this header knows nothing about the server.
#pragma once

#include <stdexcept>
#include <string>

#include "core/sqlstate.hpp"

namespace ptb::core {

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
