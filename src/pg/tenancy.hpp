// Reads the catalog and plans a tenant's snapshot (which tables, which
// rows). Needs an open SPI connection.
#pragma once

#include <optional>
#include <string>

#include "core/tenancy.hpp"
#include "pg/server_types.hpp"

namespace ptb::pg {

struct TenantSnapshotPlan {
  core::TenancyPlan plan;
  std::optional<std::string> tenant;       // NULL: the whole database
  std::optional<std::string> tenant_name;  // from the tenant table, when known
};

// Plans the snapshot of `tenant` (a tenant id in column tenancy, a schema
// name in schema tenancy; nullopt for every scanned schema). Throws
// core::Error 42704 / 3F000 for an unknown tenant or schema; with
// `require_tenant` false, an unknown tenant of column tenancy is planned
// anyway (backup_import: the snapshot may bring the tenant's row back).
// With `require_complete`, a table that may hold the tenant's rows but has
// no place in the snapshot is core::Error 55000 (TenancyPlan::
// require_complete); backup_coverage plans without it to list such tables.
TenantSnapshotPlan plan_tenant_snapshot(const std::optional<std::string>& tenant,
                                        core::SnapshotOptions options,
                                        bool require_tenant = true,
                                        bool require_complete = true);

// Every tenant of the database, as text, sorted: the tenant table's keys
// (else the distinct values of the tenant column), or in schema tenancy the
// scanned schemas that exist. For '*' schedules. Needs SPI.
std::vector<std::string> list_tenants(core::SnapshotOptions options);

// `tenant` cast to `type` (as format_type() prints it), as text, in a
// subtransaction: a tenant that is not a value of the type ("abc" for an
// integer) is core::Error with the type's SQLSTATE (22P02, 22003, ...)
// naming `column` ("the tenant column \"id\" of public.tenants"), instead
// of the cast's error inside the extension's own SQL. plan_tenant_snapshot
// checks the tenant so against every column it is compared with. Needs SPI.
std::optional<std::string> tenant_as_type(const std::string& tenant, const std::string& type,
                                          const std::string& column);

// The parameters for the plan's membership queries.
std::vector<std::optional<std::string>> tenant_parameters(const TenantSnapshotPlan& snapshot);


// schema.table quoted only where needed (quote_identifier rules).
std::string display_name(const core::Table& table);

}  // namespace ptb::pg
