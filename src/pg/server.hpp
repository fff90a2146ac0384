// PostgreSQL's C headers, wrapped for C++, and the one place that knows
// how server versions differ. Only the server files (the Makefile's
// PG_SERVER_SRCS) include it, some with server headers of their own; the
// build keeps it from the logic files (docs/architecture.md).
#pragma once

// A server built without --enable-nls makes c.h define gettext() and
// friends as macros; <locale> (pulled in by nlohmann/json, <filesystem>)
// would then include libintl.h after them and fail. Declared first, the
// real functions are already there, and the header is not read again.
#include <libintl.h>
#include <type_traits>

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
}

// port.h renames the printf family to PostgreSQL's own implementations,
// which breaks C++ headers that use std::snprintf. Our C++ code uses the C
// library's; the server's headers above have already been expanded.
#undef snprintf
#undef vsnprintf
#undef sprintf
#undef vsprintf
#undef fprintf
#undef vfprintf
#undef printf
#undef vprintf

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#warning "pg_tenant_backup supports PostgreSQL 15 to 18; this server version is untested"
#endif

// --- Differences between server versions -----------------------------------
namespace ptb::pg {

// The local copy of a backend's status, by 1-based index (17 renamed it).
inline LocalPgBackendStatus* local_backend_status(int index) {
#if PG_VERSION_NUM >= 170000
  return pgstat_get_local_beentry_by_index(index);
#else
  return pgstat_fetch_stat_local_beentry(index);
#endif
}

}  // namespace ptb::pg

// pg/server_types.hpp names these types for files that do not see the
// server's headers.
#include "pg/server_types.hpp"
static_assert(std::is_same_v<::Oid, ptb::pg::Oid>, "pg/server_types.hpp: Oid is not the server's");
static_assert(std::is_same_v<::TimestampTz, ptb::pg::TimestampTz>,
              "pg/server_types.hpp: TimestampTz is not the server's");
static_assert(ptb::pg::kMaxAllocSize == MaxAllocSize, "pg/server_types.hpp: kMaxAllocSize is not the server's");
