// The one way the extension runs SQL with other rights than the caller's
// (docs/security.md, "Threat model"): statements on its own tables
// (backup_logs, backup_schedules, backup_change_segments) run as the tables' owner so that a caller
// needs no right on them and cannot forge rows.
//
// While such a statement runs:
//   - search_path is "pg_catalog, pg_temp" at a GUC nesting level of its
//     own. pg_temp is named, and last: unnamed, it would be searched FIRST
//     for relations and types, so a temporary type called "text" would
//     stand in for pg_catalog.text.
//   - the security context is restricted (no user code may change it).
// The SQL itself names every relation, function, operator and type with
// its schema; the pinned path is the second line of defence, and keeps the
// caller's settings (search_path, role and database settings) out.
#pragma once

#include "pg/server_types.hpp"

namespace ptb::pg {

inline constexpr const char* kPinnedSearchPath = "pg_catalog, pg_temp";

struct OwnerRights {
  Oid caller = 0;  // InvalidOid
  int security_context = 0;
  int guc_level = 0;
};

// Switches to `owner` with search_path pinned; leave_owner_rights() undoes
// both (also on an error path, before the error travels on).
OwnerRights enter_owner_rights(Oid owner);
void leave_owner_rights(const OwnerRights& saved);

// Runs `call` with the rights of `owner` as described above; the caller's
// identity and settings come back even when `call` throws.
template <typename Call>
auto as_owner(Oid owner, Call&& call) {
  const OwnerRights saved = enter_owner_rights(owner);
  try {
    auto result = call();
    leave_owner_rights(saved);
    return result;
  } catch (...) {
    leave_owner_rights(saved);
    throw;
  }
}

// Background workers (scheduler, scheduled jobs, the autonomous log
// writer) call this right after connecting, before any SQL: role and
// database settings of the role they connect as (ALTER ROLE ... SET
// search_path) must not choose the objects their statements use.
void pin_worker_search_path();

}  // namespace ptb::pg
