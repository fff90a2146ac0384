// SQL helpers over the schedule engine (src/core/schedule): validation, the
// next run of a schedule, and previews. The schedule table's functions are
// PL/pgSQL (sql/) on top of these.
#include <chrono>

#include "core/error.hpp"
#include "core/schedule.hpp"
#include "pg/boundary.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/tenancy.hpp"
#include "pg/srf.hpp"

#include <cstring>

extern "C" {
#include "postmaster/bgworker.h"
#include "utils/backend_status.h"
#include "utils/timestamp.h"
}

namespace {

using namespace ptb;
using std::chrono::seconds;
using std::chrono::sys_seconds;

// TimestampTz counts microseconds from 2000-01-01 00:00 UTC.
constexpr int64_t kUnixEpochToPostgresEpoch = 946684800;

sys_seconds to_sys(TimestampTz t) {
  return sys_seconds(seconds(t / USECS_PER_SEC + kUnixEpochToPostgresEpoch));
}

TimestampTz to_timestamptz(sys_seconds t) {
  return (static_cast<int64_t>(t.time_since_epoch().count()) - kUnixEpochToPostgresEpoch) *
         USECS_PER_SEC;
}

std::string zone_name(FunctionCallInfo fcinfo, int argno) {
  if (PG_ARGISNULL(argno)) return pg::schedule_settings().timezone;
  return pg::text_arg(fcinfo, argno);
}

}  // namespace

extern "C" {

// backup_schedule_next(schedule, timezone, last_run, now) -> timestamptz:
// when the schedule is next due (NULL: never again).
PG_FUNCTION_INFO_V1(backup_schedule_next);
Datum backup_schedule_next(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    if (PG_ARGISNULL(0)) throw core::Error(core::sqlstate::kNullValueNotAllowed, "schedule must not be NULL");
    auto schedule = core::Schedule::parse(pg::text_arg(fcinfo, 0));
    auto zone = core::TimeZone::load(zone_name(fcinfo, 1));
    std::optional<sys_seconds> last_run;
    if (!PG_ARGISNULL(2)) last_run = to_sys(PG_GETARG_TIMESTAMPTZ(2));
    sys_seconds now = to_sys(PG_ARGISNULL(3) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(3));
    auto next = core::next_run(schedule, last_run, now, zone);
    if (!next) PG_RETURN_NULL();
    return TimestampTzGetDatum(to_timestamptz(*next));
  });
}

// backup_schedule_preview(schedule, n, timezone) -> SETOF timestamptz.
PG_FUNCTION_INFO_V1(backup_schedule_preview);
Datum backup_schedule_preview(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    if (PG_ARGISNULL(0)) throw core::Error(core::sqlstate::kNullValueNotAllowed, "schedule must not be NULL");
    auto schedule = core::Schedule::parse(pg::text_arg(fcinfo, 0));
    int n = PG_ARGISNULL(1) ? 5 : PG_GETARG_INT32(1);
    auto zone = core::TimeZone::load(zone_name(fcinfo, 2));
    auto times = core::preview(schedule, to_sys(GetCurrentTimestamp()), n, zone);
    pg::MaterializedResult result(fcinfo);
    for (auto t : times) result.add_row({pg::SqlValue::timestamptz(to_timestamptz(t))});
    return (Datum)0;
  });
}
}

extern "C" {
// backup_check_options(opts): raises what backup_create would for them.
PG_FUNCTION_INFO_V1(backup_check_options);
Datum backup_check_options(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    Jsonb* opts = PG_GETARG_JSONB_P(0);
    (void)pg::snapshot_options(opts, core::stored_snapshot_option_keys());
    (void)core::apply_stored_snapshot_options(pg::jsonb_text(opts), {});
    PG_RETURN_VOID();
  });
}
}

extern "C" {
// backup_check_tenant(tenant, opts): raises what backup_create would for a
// tenant that does not exist (42704; 3F000 for a schema in schema
// tenancy), or is not a value of the tenant column's type (22P02), with
// the same lookup, as the caller. NULL (the whole database) and '*' (every
// tenant at each run) always pass. A caller who may not read the tables
// the tenant is looked up in is 42501: a job of its schedule would fail.
PG_FUNCTION_INFO_V1(backup_check_tenant);
Datum backup_check_tenant(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    if (PG_ARGISNULL(0)) PG_RETURN_VOID();
    const std::string tenant = pg::text_arg(fcinfo, 0);
    if (tenant == "*") PG_RETURN_VOID();
    Jsonb* opts = nullptr;
    if (!PG_ARGISNULL(1)) pg::guarded([&] { opts = PG_GETARG_JSONB_P(1); });
    core::SnapshotOptions options = pg::snapshot_options(opts, core::stored_snapshot_option_keys());
    pg::Spi::connect();
    // The lookup reads the catalog and the tenant tables as every entry
    // point does: search_path and output settings pinned.
    const int level = pg::fix_output_settings();
    try {
      (void)pg::plan_tenant_snapshot(tenant, std::move(options), true, false);
    } catch (const pg::ServerError& e) {
      if (std::strcmp(e.sqlstate(), core::sqlstate::kInsufficientPrivilege) != 0) throw;
      const char* role = nullptr;
      pg::guarded([&] { role = GetUserNameFromId(GetUserId(), false); });
      throw core::Error(core::sqlstate::kInsufficientPrivilege,
                        "role \"" + std::string(role) + "\" cannot look up tenant \"" + tenant +
                            "\": " + e.what(),
                        {},
                        "A scheduled backup runs as the schedule's owner: grant the role SELECT on the "
                        "tenant's tables (docs/scheduler.md), then create the schedule.");
    }
    pg::restore_output_settings(level);
    pg::Spi::finish();
    PG_RETURN_VOID();
  });
}

// backup_scheduler_pid() -> int: the scheduler's PID, NULL when none runs.
// Reads the backend status array directly: pg_stat_activity hides other
// roles' backend details from unprivileged callers.
PG_FUNCTION_INFO_V1(backup_scheduler_pid);
Datum backup_scheduler_pid(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    int found = 0;
    pg::guarded([&] {
      const int backends = pgstat_fetch_stat_numbackends();
      for (int i = 1; i <= backends && found == 0; ++i) {
        LocalPgBackendStatus* local = pg::local_backend_status(i);
        if (local == nullptr || local->backendStatus.st_backendType != B_BG_WORKER) continue;
        const char* type = GetBackgroundWorkerTypeByPid(local->backendStatus.st_procpid);
        if (type != nullptr && strcmp(type, "pg_tenant_backup scheduler") == 0)
          found = local->backendStatus.st_procpid;
      }
    });
    if (found == 0) PG_RETURN_NULL();
    PG_RETURN_INT32(found);
  });
}
}
