// Rows of the backup_logs catalog table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ptb::pg {

struct LogEntry {
  std::string operation;  // backup | restore | import | export | verify | delete | prune
  std::string trigger = "manual";
  std::optional<std::string> tenant;
  std::string status;        // running | completed | failed | ...
  std::string started_at;    // timestamptz text
  std::optional<int64_t> table_count;
  std::optional<int64_t> row_count;
  std::optional<std::string> table_counts;  // JSON
  std::optional<std::string> options;       // JSON
};

// Inserts a finished entry (finished_at = now) in the caller's transaction
// and returns its id. The row is written with the rights of the table's
// owner, so a role allowed to export need not be allowed to write the log;
// created_by records the calling role. Needs an open SPI connection.
int64_t insert_log(const LogEntry& entry);

// clock_timestamp() as ISO 8601 UTC text, for started_at.
std::string log_clock();

}  // namespace ptb::pg
