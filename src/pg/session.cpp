#include "pg/session.hpp"

#include "pg/guarded.hpp"

namespace ptb::pg {

std::string current_role_name() {
  const char* role = nullptr;
  guarded([&] { role = GetUserNameFromId(GetUserId(), false); });
  return role;
}

int backend_pid() { return MyProcPid; }

Oid database_oid() { return MyDatabaseId; }

std::string data_directory() { return DataDir; }

}  // namespace ptb::pg
