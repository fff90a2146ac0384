// Who and where the current call runs, for logic files (pg/server_types.hpp).
#pragma once

#include <string>

#include "pg/server_types.hpp"

namespace ptb::pg {

std::string current_role_name();  // the role whose rights the call has now
int backend_pid();
Oid database_oid();  // the database this backend is connected to
std::string data_directory();  // the server's, absolute

}  // namespace ptb::pg
