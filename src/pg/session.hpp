// Who and where the current call runs, for logic files (pg/server_types.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pg/server_types.hpp"

namespace ptb::pg {

std::string current_role_name();  // the role whose rights the call has now
int backend_pid();
Oid database_oid();  // the database this backend is connected to
std::string data_directory();  // the server's, absolute
uint64_t system_identifier();  // the cluster's (pg_control_system())
// Whether a server process with this PID is alive (a backend writing).
bool backend_alive(int pid);
// The name of database `oid`; nullopt when there is none (dropped).
std::optional<std::string> database_name(Oid oid);
// Whether row level security filters what the current role reads of
// `relation`, whatever its row_security setting says (false for a role
// that bypasses it: the owner, BYPASSRLS).
bool row_security_filters(Oid relation);
bool is_superuser();  // the current role
bool extension_installed(const char* name);  // in this database
// Whether the call runs in a transaction block (BEGIN ... COMMIT), and
// whether its transaction reads one snapshot throughout (REPEATABLE READ
// or SERIALIZABLE).
bool in_transaction_block();
bool transaction_keeps_one_snapshot();
// The caller's transaction (at its savepoint level, if any): the id that
// tells, once it has ended, whether what the call wrote committed.
std::string caller_transaction();
// The id of the (sub)transaction the current call writes in, as text; ""
// before it has written anything.
std::string writing_transaction();
// The memory a sort of the extension's own may take, in kB: work_mem, or
// maintenance_work_mem when that is lower (at least 1 MB).
int sort_memory_kb();
// maintenance_work_mem, in bytes.
uint64_t maintenance_memory_bytes();
// Whether `relation` is a plain table (not partitioned, a view, ...).
bool is_plain_table(Oid relation);
// Whether the current role may INSERT into `relation` (row security does
// not filter it): what COPY FROM into it asks. With row_security off, a
// table row security would filter is ERROR 42501, as a query of it is.
bool may_insert(Oid relation);

}  // namespace ptb::pg
