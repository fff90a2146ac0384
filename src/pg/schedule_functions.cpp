// SQL helpers over the schedule engine (src/core/schedule): validation, the
// next run of a schedule, and previews. The schedule table's functions are
// PL/pgSQL (sql/) on top of these.
#include <chrono>

#include "core/error.hpp"
#include "core/schedule.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
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

std::string zone_name(const pg::Args& args, int argno) {
  return args.string(argno).value_or(pg::schedule_settings().timezone);
}

}  // namespace

// backup_schedule_next(schedule, timezone, last_run, now) -> timestamptz:
// when the schedule is next due (NULL: never again).
PTB_SQL_FUNCTION(backup_schedule_next) {
  auto schedule = core::Schedule::parse(args.string_required(0, "schedule"));
  auto zone = core::TimeZone::load(zone_name(args, 1));
  std::optional<sys_seconds> last_run;
  if (auto t = args.timestamptz(2)) last_run = to_sys(*t);
  sys_seconds now = to_sys(args.timestamptz(3).value_or(GetCurrentTimestamp()));
  auto next = core::next_run(schedule, last_run, now, zone);
  if (!next) return args.null_result();
  return TimestampTzGetDatum(to_timestamptz(*next));
}

// backup_schedule_preview(schedule, n, timezone) -> SETOF timestamptz.
PTB_SQL_FUNCTION(backup_schedule_preview) {
  auto schedule = core::Schedule::parse(args.string_required(0, "schedule"));
  int n = args.int4(1).value_or(5);
  auto zone = core::TimeZone::load(zone_name(args, 2));
  auto times = core::preview(schedule, to_sys(GetCurrentTimestamp()), n, zone);
  pg::MaterializedResult result(args.call());
  for (auto t : times) result.add_row({pg::SqlValue::timestamptz(to_timestamptz(t))});
  return args.void_result();
}

// backup_check_options(opts): raises what backup_create would for them.
PTB_SQL_FUNCTION(backup_check_options) {
  if (args.jsonb(0) == nullptr) return args.void_result();  // no options: backup_create's defaults
  const nlohmann::json doc = args.opts(0);
  (void)pg::snapshot_options(doc, core::stored_snapshot_option_keys());
  (void)core::apply_stored_snapshot_options(doc, {});
  return args.void_result();
}

// backup_check_tenant(tenant, opts): raises what backup_create would for a
// tenant that does not exist (42704; 3F000 for a schema in schema
// tenancy), or is not a value of the tenant column's type (22P02), with
// the same lookup, as the caller. NULL (the whole database) and '*' (every
// tenant at each run) always pass. A caller who may not read the tables
// the tenant is looked up in is 42501: a job of its schedule would fail.
PTB_SQL_FUNCTION(backup_check_tenant) {
  const std::optional<std::string> tenant = args.string(0);
  if (!tenant || *tenant == "*") return args.void_result();
  core::SnapshotOptions options = pg::snapshot_options(args.opts(1), core::stored_snapshot_option_keys());
  pg::Spi::connect();
  // The lookup reads the catalog and the tenant tables as every entry
  // point does: search_path and output settings pinned.
  const int level = pg::fix_output_settings();
  try {
    (void)pg::plan_tenant_snapshot(*tenant, std::move(options), true, false);
  } catch (const pg::ServerError& e) {
    if (std::strcmp(e.sqlstate(), core::sqlstate::kInsufficientPrivilege) != 0) throw;
    const char* role = nullptr;
    pg::guarded([&] { role = GetUserNameFromId(GetUserId(), false); });
    throw core::Error(core::sqlstate::kInsufficientPrivilege,
                      "role \"" + std::string(role) + "\" cannot look up tenant \"" + *tenant +
                          "\": " + e.what(),
                      {},
                      "A scheduled backup runs as the schedule's owner: grant the role SELECT on the "
                      "tenant's tables (docs/scheduler.md), then create the schedule.");
  }
  pg::restore_output_settings(level);
  pg::Spi::finish();
  return args.void_result();
}

// backup_scheduler_pid() -> int: the scheduler's PID, NULL when none runs.
// Reads the backend status array directly: pg_stat_activity hides other
// roles' backend details from unprivileged callers.
PTB_SQL_FUNCTION(backup_scheduler_pid) {
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
  if (found == 0) return args.null_result();
  return Int32GetDatum(found);
}
