// The one place src/pg includes PostgreSQL's C headers, wrapped for C++.
#pragma once

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
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

#if PG_VERSION_NUM < 140000 || PG_VERSION_NUM >= 180000
#warning "pg_tenant_backup is developed on PostgreSQL 15 and aims at 14 to 17; this server version is untested"
#endif
