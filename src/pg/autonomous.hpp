// Statements that must commit whatever happens to the caller's transaction
// (the backup log's "running" and "failed" rows). Each runs in a short-lived
// dynamic background worker connected to the caller's database, in a
// transaction of its own.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg/server_types.hpp"

namespace ptb::pg {

// Runs `sql` with text parameters as `role` in its own transaction and
// returns the first column of the first row it returns, if any. Throws
// core::Error with the worker's SQLSTATE and message when the statement
// fails, and 53400 when no background worker slot is free
// (max_worker_processes).
std::optional<std::string> run_autonomously(const std::string& sql,
                                            const std::vector<std::optional<std::string>>& params,
                                            Oid role);

}  // namespace ptb::pg
