// A text value read as a column type's input function reads it, in a
// subtransaction of its own, so a value that is not one of the type is a
// result to report (naming the column, without the internal statement in
// the error's context) rather than an error raised from inside SQL.
#pragma once

#include <optional>
#include <string>

namespace ptb::pg {

struct CastOutcome {
  std::optional<std::string> value;  // the value as the type prints it (nullopt: NULL)
  std::string sqlstate;              // empty: it is a value of the type
  std::string reason;                // the type's own message when it is not
  bool ok() const { return sqlstate.empty(); }
};

// `type` as format_type() prints it (safe to splice). A data exception
// (SQLSTATE class 22) is returned; any other error (a cancel, out of
// memory) is raised as it came.
CastOutcome cast_text(const std::optional<std::string>& text, const std::string& type);

}  // namespace ptb::pg
