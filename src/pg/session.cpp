#include "pg/session.hpp"

#include "pg/guarded.hpp"

extern "C" {
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "storage/procarray.h"
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

}  // namespace ptb::pg
