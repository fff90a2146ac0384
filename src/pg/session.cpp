#include "pg/session.hpp"

#include <algorithm>

#include "pg/guarded.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/rls.h"
}

namespace ptb::pg {

std::string current_role_name() {
  const char* role = nullptr;
  guarded([&] { role = GetUserNameFromId(GetUserId(), false); });
  return role;
}

int backend_pid() { return MyProcPid; }

Oid database_oid() { return MyDatabaseId; }

std::string data_directory() { return DataDir; }

uint64_t system_identifier() { return GetSystemIdentifier(); }

bool backend_alive(int pid) {
  bool alive = false;
  guarded([&] { alive = BackendPidGetProc(pid) != nullptr; });
  return alive;
}

std::optional<std::string> database_name(Oid oid) {
  std::optional<std::string> name;
  guarded([&] {
    if (const char* found = get_database_name(oid)) name = found;
  });
  return name;
}

bool row_security_filters(Oid relation) {
  int rls = RLS_NONE;
  guarded([&] { rls = check_enable_rls(relation, InvalidOid, true); });
  return rls == RLS_ENABLED;
}

bool is_superuser() {
  bool super = false;
  guarded([&] { super = superuser(); });
  return super;
}

bool extension_installed(const char* name) {
  Oid oid = InvalidOid;
  guarded([&] { oid = get_extension_oid(name, true); });
  return oid != InvalidOid;
}

bool in_transaction_block() {
  bool block = false;
  guarded([&] { block = IsTransactionBlock(); });
  return block;
}

bool transaction_keeps_one_snapshot() { return IsolationUsesXactSnapshot(); }

std::string caller_transaction() {
  std::string id;
  guarded([&] { id = std::to_string(U64FromFullTransactionId(GetCurrentFullTransactionId())); });
  return id;
}

std::string writing_transaction() {
  TransactionId xid = InvalidTransactionId;
  guarded([&] { xid = GetCurrentTransactionIdIfAny(); });
  return xid == InvalidTransactionId ? std::string() : std::to_string(xid);
}

int sort_memory_kb() { return std::max(1024, std::min(work_mem, maintenance_work_mem)); }

uint64_t maintenance_memory_bytes() { return static_cast<uint64_t>(maintenance_work_mem) * 1024; }

bool is_plain_table(Oid relation) {
  bool plain = false;
  guarded([&] { plain = get_rel_relkind(relation) == RELKIND_RELATION; });
  return plain;
}

bool may_insert(Oid relation) {
  bool granted = false;
  bool filtered = false;
  guarded([&] {
    granted = pg_class_aclcheck(relation, GetUserId(), ACL_INSERT) == ACLCHECK_OK;
    // As the executor asks: with row_security off, a table row security
    // would filter is an error now (42501), not later.
    filtered = check_enable_rls(relation, InvalidOid, false) == RLS_ENABLED;
  });
  return granted && !filtered;
}

}  // namespace ptb::pg
