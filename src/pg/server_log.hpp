// Messages to the server log and the client below ERROR, for logic files
// (an ERROR is a thrown core::Error; see pg/boundary.hpp).
#pragma once

#include <string>

namespace ptb::pg {

enum class LogLevel { Log, Notice, Warning };

struct LogMessage {
  LogLevel level = LogLevel::Log;
  std::string message;
  std::string detail;  // empty: none
  std::string hint;    // empty: none
};

// Reports `message` as the server does its own: the log for Log, the
// client too for Notice and Warning, as log_min_messages and
// client_min_messages say.
void report(const LogMessage& message);

}  // namespace ptb::pg
