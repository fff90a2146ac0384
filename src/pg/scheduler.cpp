#include "pg/scheduler.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/backup_log.hpp"
#include "pg/citus.hpp"
#include "pg/create_backup.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/owner_rights.hpp"
#include "pg/storage_directory.hpp"
#include "pg/settings.hpp"
#include "pg/spi.hpp"
#include "pg/tenancy.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/wait_event.h"
}

namespace ptb::pg {

namespace {

constexpr const char* kLibrary = "pg_tenant_backup";
constexpr long kTickMs = 1000;
constexpr long kRetryAfterErrorMs = 10000;
// The postmaster starts the scheduler again this many seconds after it
// exited with a non-zero code (exit code 0 would unregister it for good).
constexpr int kRestartSeconds = 10;

// --- Shared state: how many times the scheduler has connected since the
// server (or its shared memory, after a crash) was set up, so a scheduler
// started again after being stopped says so; whether a missing database
// was reported.

struct SchedulerShared {
  pg_atomic_uint32 starts;
  pg_atomic_uint32 missing_reported;
  pg_atomic_uint32 capture_stopped;  // the WAL limit stopped change capture
};
SchedulerShared* shared_state = nullptr;
shmem_request_hook_type previous_shmem_request = nullptr;
shmem_startup_hook_type previous_shmem_startup = nullptr;

void request_shared_state() {
  if (previous_shmem_request) previous_shmem_request();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SchedulerShared)));
}

void start_shared_state() {
  if (previous_shmem_startup) previous_shmem_startup();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  shared_state = static_cast<SchedulerShared*>(
      ShmemInitStruct("pg_tenant_backup scheduler", sizeof(SchedulerShared), &found));
  if (!found) {
    pg_atomic_init_u32(&shared_state->starts, 0);
    pg_atomic_init_u32(&shared_state->missing_reported, 0);
    pg_atomic_init_u32(&shared_state->capture_stopped, 0);
  }
  LWLockRelease(AddinShmemInitLock);
}

// --- The scheduler's database does not exist. Connecting raises FATAL
// 3D000, which no code can catch; a log hook sees it:
//   - missing since the server started (not created yet): the scheduler
//     tries again every kRestartSeconds until it exists, as before; the
//     first failure is logged with a hint, the next ones are not;
//   - dropped while the server ran (the scheduler had connected): it stops
//     for good, an exit callback turning the exit code into 0, so it does
//     not fail every kRestartSeconds for ever.

bool connecting = false;
bool stop_for_good = false;
emit_log_hook_type previous_emit_log = nullptr;

void note_missing_database(ErrorData* error) {
  if (connecting && error->elevel == FATAL && error->sqlerrcode == ERRCODE_UNDEFINED_DATABASE &&
      shared_state != nullptr) {
    if (pg_atomic_read_u32(&shared_state->starts) > 0) {
      stop_for_good = true;
      error->hint = pstrdup(
          "It was dropped while the server ran: the pg_tenant_backup scheduler stops and is not started "
          "again until the server restarts. Set pg_tenant_backup.database to the database whose schedules "
          "should run, or create that database, then restart the server.");
    } else if (pg_atomic_exchange_u32(&shared_state->missing_reported, 1) == 0) {
      error->hint = pstrdup(
          "The pg_tenant_backup scheduler tries again every 10 seconds until the database exists "
          "(this message is not repeated). Create it, or set pg_tenant_backup.database to the database "
          "whose schedules should run and restart the server.");
    } else {
      error->output_to_server = false;
    }
  }
  if (previous_emit_log) previous_emit_log(error);
}

void exit_without_restart_when_database_dropped(int, Datum) {
  // proc_exit would exit(1) after the callbacks; exit(0) tells the
  // postmaster not to start the scheduler again. The callbacks registered
  // before this one still run: exit() calls the server's atexit handler,
  // which carries on with them.
  if (stop_for_good) std::exit(0);
}

// How a transaction of in_transaction reads.
enum class Isolation {
  Default,
  // When Citus is installed in the database, a REPEATABLE READ
  // transaction block, as BEGIN ISOLATION LEVEL REPEATABLE READ would
  // make: only then does a backup see each worker in one snapshot
  // (pg/citus.hpp, require_one_snapshot). The server's default otherwise.
  OneSnapshotOnCitus,
};

// Runs `body` in a transaction of its own with SPI; on a server ERROR logs
// it, rolls back and returns false, so one bad row or a dropped extension
// never stops the worker.
template <typename Body>
bool in_transaction(const char* what, Body&& body, Isolation isolation = Isolation::Default) {
  volatile bool ok = true;
  MemoryContext context = CurrentMemoryContext;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  // The catalog lookup uses a catalog snapshot, not the transaction's.
  const bool block =
      isolation == Isolation::OneSnapshotOnCitus && citus_installed();
  if (block) {
    // What BEGIN ISOLATION LEVEL REPEATABLE READ does: the level before
    // the transaction's first snapshot, then the block, entered when the
    // "BEGIN statement" ends.
    XactIsoLevel = XACT_REPEATABLE_READ;
    BeginTransactionBlock();
    CommitTransactionCommand();
    StartTransactionCommand();
  }
  PushActiveSnapshot(GetTransactionSnapshot());
  PG_TRY();
  {
    // C++ errors inside become ERRORs here, never unwinding through PG_TRY.
    entry([&] {
      Spi::connect();
      body();
      Spi::finish();
    });
    PopActiveSnapshot();
    if (block) (void)EndTransactionBlock(false);  // COMMIT
    CommitTransactionCommand();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    ErrorData* error = CopyErrorData();
    FlushErrorState();
    ereport(LOG, (errmsg("pg_tenant_backup %s failed: %s", what, error->message)));
    FreeErrorData(error);
    if (block)
      AbortOutOfAnyTransaction();  // the block too, as ROLLBACK after the error
    else
      AbortCurrentTransaction();
    ok = false;
  }
  PG_END_TRY();
  MemoryContextSwitchTo(context);
  return ok;
}

std::string extension_schema_table(const char* table) {
  auto rows = Spi::query(
      "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
      "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
      " WHERE e.extname OPERATOR(pg_catalog.=) $1::pg_catalog.name",
      {std::string(kLibrary)});
  if (rows.empty()) return {};
  return *rows[0][0] + "." + table;
}

// The extension is installed in the scheduler's database (as of the last
// scheduling pass): without it the capture worker would only exit again.
bool extension_installed = false;

struct RunningJob {
  int64_t schedule_id;
  BackgroundWorkerHandle* handle;
};

// A worker of this library, connected to a database once recovery is over.
BackgroundWorker library_worker(const char* function, const std::string& name, const char* type,
                                int restart_time) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = restart_time;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "%s", kLibrary);
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name.c_str());
  snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
  return worker;
}

bool launch_job(int64_t schedule_id, const std::string& role, BackgroundWorkerHandle** handle) {
  BackgroundWorker worker =
      library_worker("ptb_job_main", "pg_tenant_backup job for schedule " + std::to_string(schedule_id),
                     "pg_tenant_backup job", BGW_NEVER_RESTART);
  worker.bgw_main_arg = Int64GetDatum(schedule_id);
  worker.bgw_notify_pid = MyProcPid;
  // bgw_extra: database and role, NUL-separated (each at most 63 bytes).
  std::string database = schedule_settings().database;
  memcpy(worker.bgw_extra, database.c_str(), database.size() + 1);
  memcpy(worker.bgw_extra + database.size() + 1, role.c_str(), role.size() + 1);
  // The handle outlives this transaction (the main loop polls and frees it
  // on later ticks): it must not be allocated in the transaction's memory.
  MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);
  const bool registered = RegisterDynamicBackgroundWorker(&worker, handle);
  MemoryContextSwitchTo(previous);
  return registered;
}

// One pass: start due schedules while worker slots allow.
void start_due_schedules(std::vector<RunningJob>& running) {
  const std::string schedules = extension_schema_table("backup_schedules");
  extension_installed = !schedules.empty();
  if (schedules.empty()) return;  // not installed in this database (yet)
  const int free_slots = schedule_settings().max_workers - static_cast<int>(running.size());
  if (free_slots <= 0) return;
  auto due = Spi::query(
      "SELECT s.id::pg_catalog.text, s.created_by::pg_catalog.text, r.oid IS NOT NULL FROM " +
      schedules + " s LEFT JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) s.created_by"
      " WHERE s.is_active AND s.next_run_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
      " ORDER BY s.next_run_at, s.id");
  int started = 0;
  for (const auto& row : due) {
    if (started >= free_slots) break;
    const int64_t id = std::stoll(*row[0]);
    bool already = false;
    for (const auto& job : running) already = already || job.schedule_id == id;
    if (already) continue;
    std::string status = "running";
    BackgroundWorkerHandle* handle = nullptr;
    if (*row[2] != "t") {
      // The owner is gone: record it once per fire time and move on.
      status = "failed: role " + *row[1] + " does not exist";
      LogEntry failed;
      failed.operation = "backup";
      failed.trigger = "scheduled";
      failed.status = "failed";
      failed.finished = true;
      failed.schedule_id = id;
      failed.error = nlohmann::json{{"message", "the schedule's owner, role " + *row[1] + ", no longer exists"},
                                    {"sqlstate", core::sqlstate::kUndefinedObject}}
                         .dump();
      insert_log(failed);
    } else {
      bool ok = false;
      guarded([&] { ok = launch_job(id, *row[1], &handle); });
      if (!ok) break;  // no free background worker slot now: try next tick
      running.push_back({id, handle});
      ++started;
    }
    Spi::execute("UPDATE " + schedules +
                     " SET last_run_at = pg_catalog.now(), last_status = $2,"
                     "     next_run_at = " + extension_schema_table("backup_schedule_next") +
                     "(schedule, timezone, pg_catalog.now(), pg_catalog.now())"
                     " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
                 {*row[0], status});
  }
}

// --- Change capture (docs/pitr.md): one capture worker while
// pg_tenant_backup.change_capture is on and wal_level is logical, started
// again a tick after it exits (a crash, a SIGTERM), but not after the WAL
// limit stopped it, until the configuration is reloaded. Turned off, the
// worker drops its slot and exits by itself (it reloads the configuration
// too).

BackgroundWorkerHandle* capture_handle = nullptr;
bool capture_wal_level_reported = false;

void keep_capture_running() {
  if (capture_handle != nullptr) {
    pid_t pid;
    if (GetBackgroundWorkerPid(capture_handle, &pid) != BGWH_STOPPED) return;
    pfree(capture_handle);
    capture_handle = nullptr;
  }
  if (!capture_settings().enabled || !extension_installed) return;
  if (shared_state != nullptr && pg_atomic_read_u32(&shared_state->capture_stopped) != 0) return;
  if (wal_level < WAL_LEVEL_LOGICAL) {
    if (!capture_wal_level_reported)
      ereport(WARNING, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("pg_tenant_backup.change_capture is on but wal_level is not logical: no change is captured"),
                        errhint("Set wal_level = logical and restart the server (docs/pitr.md).")));
    capture_wal_level_reported = true;
    return;
  }
  BackgroundWorker worker = library_worker("ptb_capture_main", "pg_tenant_backup capture",
                                           "pg_tenant_backup capture", BGW_NEVER_RESTART);
  worker.bgw_notify_pid = MyProcPid;
  std::string database = schedule_settings().database;
  memcpy(worker.bgw_extra, database.c_str(), std::min(database.size() + 1, sizeof worker.bgw_extra));
  MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);
  if (!RegisterDynamicBackgroundWorker(&worker, &capture_handle)) capture_handle = nullptr;
  MemoryContextSwitchTo(previous);
}

// At start: rows of operations interrupted by the stop are failed (and
// files of backups renamed into place removed), temporary files of
// backends that are gone are removed, and
// schedules missed while the server was down run once (or are skipped).
// After a stop of the scheduler alone (`again`), jobs it started may still
// run: their schedules keep last_status 'running' until they end.
void recover_after_start(bool again) {
  const std::string schedules = extension_schema_table("backup_schedules");
  if (schedules.empty()) return;
  mark_interrupted_rows();
  remove_stale_temporary_files();
  if (!schedule_settings().catch_up_once)
    Spi::execute("UPDATE " + schedules + " SET next_run_at = " +
                 extension_schema_table("backup_schedule_next") +
                 "(schedule, timezone, pg_catalog.now(), pg_catalog.now())"
                 " WHERE is_active AND next_run_at OPERATOR(pg_catalog.<) pg_catalog.now()");
  if (again) return;
  Spi::execute("UPDATE " + schedules +
               " SET last_status = 'failed: interrupted'"
               " WHERE last_status OPERATOR(pg_catalog.=) 'running'");
}

}  // namespace

bool run_in_transaction(const char* what, const std::function<void()>& body) {
  return in_transaction(what, [&] { body(); });
}

std::string extension_table(const char* table) { return extension_schema_table(table); }

void capture_stopped_until_reload() {
  if (shared_state != nullptr) pg_atomic_write_u32(&shared_state->capture_stopped, 1);
}

void register_scheduler() {
  previous_shmem_request = shmem_request_hook;
  shmem_request_hook = request_shared_state;
  previous_shmem_startup = shmem_startup_hook;
  shmem_startup_hook = start_shared_state;
  // Started again kRestartSeconds after it exits with a non-zero code: a
  // crash, or SIGTERM (pg_terminate_backend, DROP DATABASE ... WITH
  // (FORCE)); not after a server shutdown, which stops every worker.
  BackgroundWorker worker = library_worker("ptb_scheduler_main", "pg_tenant_backup scheduler",
                                           "pg_tenant_backup scheduler", kRestartSeconds);
  RegisterBackgroundWorker(&worker);
}

}  // namespace ptb::pg

using namespace ptb;
using namespace ptb::pg;

PTB_WORKER_MAIN(ptb_scheduler_main) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  const std::string database = schedule_settings().database;
  on_proc_exit(exit_without_restart_when_database_dropped, 0);
  previous_emit_log = emit_log_hook;
  emit_log_hook = note_missing_database;
  connecting = true;
  BackgroundWorkerInitializeConnection(database.c_str(), nullptr, 0);
  connecting = false;
  emit_log_hook = previous_emit_log;
  pin_worker_search_path();
  pgstat_report_appname("pg_tenant_backup scheduler");
  const uint32 earlier_starts = shared_state ? pg_atomic_fetch_add_u32(&shared_state->starts, 1) : 0;
  if (earlier_starts == 0)
    ereport(LOG, (errmsg("pg_tenant_backup scheduler started in database \"%s\"", database.c_str())));
  else
    ereport(LOG, (errmsg("pg_tenant_backup scheduler started again in database \"%s\" after it was stopped",
                         database.c_str()),
                  errdetail("Starts since the server started: %u.", earlier_starts + 1)));

  std::vector<RunningJob> running;
  bool recovered = false;
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
      // A reload starts capture again after the WAL limit stopped it.
      if (shared_state != nullptr) pg_atomic_write_u32(&shared_state->capture_stopped, 0);
      capture_wal_level_reported = false;
    }
    keep_capture_running();
    // Forget jobs that have ended.
    for (size_t i = 0; i < running.size();) {
      pid_t pid;
      if (GetBackgroundWorkerPid(running[i].handle, &pid) == BGWH_STOPPED) {
        pfree(running[i].handle);
        running.erase(running.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    bool ok = true;
    if (!recovered)
      ok = recovered = in_transaction("recovery at start", [&] { recover_after_start(earlier_starts > 0); });
    if (ok) {
      pgstat_report_activity(STATE_RUNNING, "checking due schedules");
      ok = in_transaction("scheduling", [&] { start_due_schedules(running); });
      pgstat_report_activity(STATE_IDLE, nullptr);
    }
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                    ok ? kTickMs : kRetryAfterErrorMs, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  // A non-zero exit code: the postmaster starts the scheduler again, unless
  // the server is shutting down (then it starts no worker). Jobs running
  // now go on to their end.
  ereport(LOG, (errmsg("pg_tenant_backup scheduler stopping on SIGTERM; it is started again in %d seconds "
                       "unless the server is shutting down",
                       kRestartSeconds)));
  proc_exit(1);
}

PTB_WORKER_MAIN(ptb_job_main) {
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  const int64_t schedule_id = DatumGetInt64(argument);
  const char* database = MyBgworkerEntry->bgw_extra;
  const char* role = database + strlen(database) + 1;
  // The schedule's owner: the backup runs with its privileges.
  BackgroundWorkerInitializeConnection(database, role, 0);
  // Before anything runs: the owner's role settings (ALTER ROLE ... SET
  // search_path) must not reach the extension's statements.
  pin_worker_search_path();
  pgstat_report_appname("pg_tenant_backup job");

  struct Schedule {
    std::string name;
    std::optional<std::string> tenant;
    std::string options;
    std::optional<int64_t> max_backups, retention_days;
  };
  std::optional<Schedule> schedule;
  std::vector<std::optional<std::string>> tenants;
  std::string schedules_table;
  in_transaction("reading a schedule", [&] {
    schedules_table = extension_schema_table("backup_schedules");
    auto rows = Spi::query("SELECT name, tenant, options::pg_catalog.text, max_backups::pg_catalog.text,"
                           "       retention_days::pg_catalog.text FROM " +
                               schedules_table + " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
                           {std::to_string(schedule_id)});
    if (rows.empty()) return;
    const auto& r = rows[0];
    schedule = Schedule{*r[0], r[1], *r[2],
                        r[3] ? std::optional<int64_t>(std::stoll(*r[3])) : std::nullopt,
                        r[4] ? std::optional<int64_t>(std::stoll(*r[4])) : std::nullopt};
    if (schedule->tenant && *schedule->tenant == "*") {
      for (auto& t : list_tenants(snapshot_options(core::parse_opts(schedule->options), core::stored_snapshot_option_keys())))
        tenants.emplace_back(t);
    } else {
      tenants.push_back(schedule->tenant);
    }
  });
  if (!schedule) proc_exit(0);

  int failures = 0;
  for (const auto& tenant : tenants) {
    if (ShutdownRequestPending) break;
    const std::string activity = "schedule " + schedule->name + ": backup of " +
                                 (tenant ? "tenant " + *tenant : std::string("the whole database"));
    pgstat_report_activity(STATE_RUNNING, activity.c_str());
    bool ok = in_transaction(activity.c_str(), [&] {
      CreateRequest request;
      request.tenant = tenant;
      request.trigger = "scheduled";
      request.schedule_id = schedule_id;
      request.max_backups = schedule->max_backups;
      request.retention_days = schedule->retention_days;
      request.opts = core::parse_opts(schedule->options);
      std::optional<int64_t> log_id;
      try {
        create_backup(request, &log_id);
      } catch (...) {
        if (log_id) throw;  // create_backup recorded the failure itself
        // Refused before a row was written (the tenant is gone, bad
        // options): record it, so the failure is seen in backup_logs.
        LogEntry failed;
        failed.operation = "backup";
        failed.trigger = "scheduled";
        failed.tenant = tenant;
        failed.status = "failed";
        failed.finished = true;
        failed.schedule_id = schedule_id;
        failed.error = current_error_json();
        insert_log_autonomously(failed);
        throw;
      }
    }, Isolation::OneSnapshotOnCitus);
    if (!ok) ++failures;
  }
  in_transaction("recording a schedule's result", [&] {
    Spi::execute("UPDATE " + schedules_table +
                     " SET last_status = $2 WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
                 {std::to_string(schedule_id),
                  failures == 0 ? std::string("completed")
                                : "failed: " + std::to_string(failures) + " of " +
                                      std::to_string(tenants.size()) + " backups"});
  });
  pgstat_report_activity(STATE_IDLE, nullptr);
  proc_exit(0);
}
