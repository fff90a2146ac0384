// The tenant's lock (tenant_lock.hpp): taking it, who holds it, and
// backup_tenant_busy.
#include "pg/tenant_lock.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/citus.hpp"
#include "pg/import_common.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/tenant_key.hpp"

namespace ptb::pg {

namespace {

constexpr const char* kLockKeys =
    "pg_catalog.hashtext('pg_tenant_backup:' OPERATOR(pg_catalog.||) "
    "pg_catalog.current_database()::pg_catalog.text), "
    "pg_catalog.hashtext(COALESCE('tenant:' OPERATOR(pg_catalog.||) $1, 'database'))";

// The processes holding the tenant's lock: those running an import or
// restore (exclusive), and those an application made wait for one by
// taking the same keys shared.
std::string holders_sql(const char* mode, bool others_only) {
  return std::string(
             "SELECT pg_catalog.string_agg(l.pid::pg_catalog.text, ', ' ORDER BY l.pid) "
             "  FROM pg_catalog.pg_locks l, (SELECT ") +
         kLockKeys +
         ") k(k1, k2)"
         " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.mode = '" + mode + "'"
         "   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d"
         "                      WHERE d.datname = pg_catalog.current_database())"
         "   AND l.classid = CAST(k.k1::pg_catalog.int8 OPERATOR(pg_catalog.&) 4294967295 AS pg_catalog.oid)"
         "   AND l.objid = CAST(k.k2::pg_catalog.int8 OPERATOR(pg_catalog.&) 4294967295 AS pg_catalog.oid)" +
         (others_only ? " AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()" : "");
}

}  // namespace

void lock_tenant(const std::optional<std::string>& tenant, const core::SnapshotOptions& options) {
  // On Citus the lock is the coordinator's: the one place every import
  // and restore of the cluster takes it.
  require_citus_coordinator("an import or restore");
  const std::optional<std::string> key = tenant_lock_key(tenant, options);
  auto got = run(std::string("SELECT pg_catalog.pg_try_advisory_xact_lock(") + kLockKeys + ")",
                 {key});
  if (!got.rows.empty() && got.rows[0][0] == "t") return;
  auto first = [](const SqlResult& r) { return r.rows.empty() ? std::string() : r.rows[0][0].value_or(""); };
  const std::string importer = first(run(holders_sql("ExclusiveLock", true), {key}));
  if (importer.empty())
    throw core::Error(core::sqlstate::kLockNotAvailable, quoted_tenant(tenant) + " is being written: its lock is held by writers",
                      "Server processes holding the tenant's lock shared: " +
                          first(run(holders_sql("ShareLock", true), {key})) + ".",
                      "Wait until their transactions end, then try again.");
  throw core::Error(core::sqlstate::kLockNotAvailable, "an import or restore of " + quoted_tenant(tenant) + " is already running",
                    "It is run by the server process " + importer + ".",
                    "Wait until it has finished (backup_tenant_busy tells when), then try again.");
}

bool tenant_busy(const std::optional<std::string>& tenant, const core::SnapshotOptions& options) {
  auto holders = run(holders_sql("ExclusiveLock", false), {tenant_lock_key(tenant, options)});
  return !holders.rows.empty() && holders.rows[0][0].has_value();
}

}  // namespace ptb::pg
