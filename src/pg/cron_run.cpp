#include "pg/cron_run.hpp"

#include <cstring>

#include "pg/guarded.hpp"
#include "pg/owner_rights.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
}

namespace ptb::pg {

namespace {

// pg_cron's launcher records a worker's pid right after the worker starts;
// the worker can get here first. A bounded wait, only in such a worker.
constexpr long kPollMs = 10;
constexpr int kLauncherWaitMs = 5000;

// pg_cron's job tables are readable by `reader` and are pg_cron's own
// (members of the pg_cron extension: a look-alike "cron" schema made by
// someone else does not count); and whether `reader` sees every run
// (row-level security shows a role that is neither superuser nor
// BYPASSRLS only its own runs, and with row_security off is an error).
const char* const kReadableSql =
    "WITH reader AS (SELECT r.rolsuper OR r.rolbypassrls AS sees_all FROM pg_catalog.pg_roles r"
    "                 WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)"
    "SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE')"
    "   AND pg_catalog.has_table_privilege(r.oid, 'SELECT')"
    "   AND pg_catalog.has_table_privilege(j.oid, 'SELECT')"
    "   AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a"
    "         WHERE a.attrelid OPERATOR(pg_catalog.=) r.oid AND NOT a.attisdropped"
    "           AND a.attname OPERATOR(pg_catalog.=) ANY ('{runid,jobid,job_pid,status}'::pg_catalog.name[]))"
    "       OPERATOR(pg_catalog.=) 4"
    "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
    "                WHERE a.attrelid OPERATOR(pg_catalog.=) j.oid AND NOT a.attisdropped"
    "                  AND a.attname OPERATOR(pg_catalog.=) 'jobname')"
    "   AND (reader.sees_all OR NOT r.relrowsecurity"
    "        OR pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.<>) 'off'),"
    "       reader.sees_all OR NOT r.relrowsecurity"
    "  FROM reader, pg_catalog.pg_extension e"
    "  JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) 'cron'"
    "  JOIN pg_catalog.pg_class r ON r.relnamespace OPERATOR(pg_catalog.=) n.oid"
    "   AND r.relname OPERATOR(pg_catalog.=) 'job_run_details'"
    "  JOIN pg_catalog.pg_class j ON j.relnamespace OPERATOR(pg_catalog.=) n.oid"
    "   AND j.relname OPERATOR(pg_catalog.=) 'job'"
    " WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron'"
    "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
    "                WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
    "                  AND d.objid OPERATOR(pg_catalog.=) r.oid"
    "                  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
    "                  AND d.refobjid OPERATOR(pg_catalog.=) e.oid"
    "                  AND d.deptype OPERATOR(pg_catalog.=) 'e')";

// The run in progress whose backend is this one (statuses of pg_cron 1.3
// to 1.6 before a run ends).
const char* const kRunSql =
    "SELECT r.jobid::pg_catalog.text, j.jobname"
    "  FROM cron.job_run_details r"
    "  LEFT JOIN cron.job j ON j.jobid OPERATOR(pg_catalog.=) r.jobid"
    " WHERE r.job_pid OPERATOR(pg_catalog.=) $1::pg_catalog.int4"
    "   AND r.status OPERATOR(pg_catalog.=)"
    "       ANY ('{starting,connecting,sending,running}'::pg_catalog.text[])"
    " ORDER BY r.runid DESC LIMIT 1";

bool in_pg_cron_worker() {
  return std::strcmp(MyBgworkerEntry->bgw_library_name, "pg_cron") == 0 &&
         std::strcmp(MyBgworkerEntry->bgw_type, "pg_cron") == 0;
}

bool cron_log_run_on() {
  const char* value = nullptr;
  guarded([&] { value = GetConfigOption("cron.log_run", true, false); });
  return value != nullptr && std::strcmp(value, "on") == 0;
}

std::optional<CronRun> look_up(Oid reader) {
  const bool worker = MyBgworkerEntry != nullptr;
  // Another background worker (this extension's scheduler, its log writer,
  // a parallel worker) is never a pg_cron run.
  if (worker && !in_pg_cron_worker()) return std::nullopt;
  const std::optional<CronRun> unknown_job = worker ? std::optional<CronRun>(CronRun{}) : std::nullopt;
  return as_owner(reader, [&]() -> std::optional<CronRun> {
    const auto readable = Spi::query(kReadableSql);
    if (readable.empty() || readable[0][0] != "t") return unknown_job;
    // Waiting makes sense only where the launcher's row will be visible.
    const bool wait = worker && readable[0][1] == "t" && cron_log_run_on();
    for (int waited = 0;; waited += kPollMs) {
      const auto rows = Spi::query_latest(kRunSql, {std::to_string(MyProcPid)});
      if (!rows.empty()) return CronRun{std::stoll(*rows[0][0]), rows[0][1]};
      if (!wait || waited >= kLauncherWaitMs) return unknown_job;
      guarded([] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kPollMs,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
      });
    }
  });
}

}  // namespace

std::optional<CronRun> current_cron_run(Oid reader) {
  // A backend runs at most one pg_cron job run in its life (pg_cron starts
  // a worker or opens a connection per run), and an ordinary session never
  // becomes one: the answer holds for the backend's life.
  static std::optional<std::optional<CronRun>> known;
  if (!known) known = look_up(reader);
  return *known;
}

}  // namespace ptb::pg
