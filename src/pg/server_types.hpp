// The server's value types that logic files pass along without looking
// inside, and its limits, named without the server's headers
// (pg/server.hpp checks that they are the server's own).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ptb::pg {

using Oid = unsigned int;  // a catalog object: a role, a relation, a type
using TimestampTz = int64_t;  // microseconds since 2000-01-01 00:00 UTC

// The largest value the server allocates at once (a jsonb value or text
// is at most this long): MaxAllocSize.
inline constexpr size_t kMaxAllocSize = 0x3fffffff;

}  // namespace ptb::pg
