// The server's value types that logic files pass along without looking
// inside, named without the server's headers (pg/server.hpp checks that
// they are the server's own).
#pragma once

#include <cstdint>

namespace ptb::pg {

using Oid = unsigned int;  // a catalog object: a role, a relation, a type
using TimestampTz = int64_t;  // microseconds since 2000-01-01 00:00 UTC

}  // namespace ptb::pg
