#include "pg/autonomous.hpp"

#include <cstring>

#include "core/error.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/owner_rights.hpp"

extern "C" {
#include "access/xact.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/dsm.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
}

namespace {

// The task in shared memory: fixed header, then the statement and the
// parameters as NUL-terminated strings (each parameter preceded by a
// one-byte NULL flag).
struct AutonomousTask {
  Oid database;
  Oid role;
  int nparams;
  bool finished;
  bool failed;
  bool has_result;
  char sqlstate[6];
  char result[256 * 1024];  // prune returns the ids it expired
  char error[4096];
  Size text_size;
  char text[FLEXIBLE_ARRAY_MEMBER];
};

}  // namespace

namespace ptb::pg {

std::optional<std::string> run_autonomously(const std::string& sql,
                                            const std::vector<std::optional<std::string>>& params,
                                            Oid role) {
  std::string text = sql;
  text.push_back('\0');
  for (const auto& p : params) {
    text.push_back(p ? 'v' : 'n');
    if (p) text += *p;
    text.push_back('\0');
  }
  dsm_segment* segment = nullptr;
  AutonomousTask* task = nullptr;
  BackgroundWorkerHandle* handle = nullptr;
  bool started = false;
  guarded([&] {
    segment = dsm_create(offsetof(AutonomousTask, text) + text.size(), 0);
    task = static_cast<AutonomousTask*>(dsm_segment_address(segment));
    memset(task, 0, offsetof(AutonomousTask, text));
    task->database = MyDatabaseId;
    task->role = role;
    task->nparams = static_cast<int>(params.size());
    task->text_size = text.size();
    memcpy(task->text, text.data(), text.size());

    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_tenant_backup");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "ptb_autonomous_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "pg_tenant_backup log writer for PID %d", MyProcPid);
    snprintf(worker.bgw_type, BGW_MAXLEN, "pg_tenant_backup log writer");
    worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(segment));
    worker.bgw_notify_pid = MyProcPid;
    started = RegisterDynamicBackgroundWorker(&worker, &handle);
    if (started) (void)WaitForBackgroundWorkerShutdown(handle);
  });
  // Copy the outcome out before the segment goes.
  const bool finished = task->finished;
  const bool failed = task->failed;
  std::optional<std::string> result;
  if (task->has_result) result = std::string(task->result);
  std::string error = task->error;
  std::string sqlstate = task->sqlstate;
  guarded([&] { dsm_detach(segment); });

  if (!started)
    throw core::Error(core::sqlstate::kConfigurationLimitExceeded, "no background worker slot is free to write the backup log",
                      {}, "Raise max_worker_processes (restart needed).");
  if (failed)
    throw core::Error(sqlstate.size() == 5 ? sqlstate : core::sqlstate::kInternalError,
                      "could not write the backup log: " + error);
  if (!finished)
    throw core::Error(core::sqlstate::kInternalError, "the backup log writer stopped before finishing", {},
                      "See the server log for the worker's error.");
  return result;
}

}  // namespace ptb::pg

PTB_WORKER_MAIN(ptb_autonomous_main) {
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  dsm_segment* segment = dsm_attach(DatumGetUInt32(argument));
  if (segment == nullptr) return;  // the caller gave up before we started
  auto* task = static_cast<AutonomousTask*>(dsm_segment_address(segment));
  BackgroundWorkerInitializeConnectionByOid(task->database, task->role, 0);

  // Parameters, straight from the segment.
  const char* sql = task->text;
  const char* cursor = sql + strlen(sql) + 1;
  const int n = task->nparams;
  Oid* types = static_cast<Oid*>(palloc0(sizeof(Oid) * (n + 1)));
  Datum* values = static_cast<Datum*>(palloc0(sizeof(Datum) * (n + 1)));
  char* nulls = static_cast<char*>(palloc0(n + 1));
  for (int i = 0; i < n; ++i) {
    types[i] = TEXTOID;
    nulls[i] = *cursor == 'v' ? ' ' : 'n';
    if (*cursor == 'v') values[i] = CStringGetTextDatum(cursor + 1);
    cursor += strlen(cursor + 1) + 2;
  }

  // The role's and database's settings came with the connection: none
  // of them may choose what the statement's names resolve to.
  ptb::pg::pin_worker_search_path();
  ptb::pg::guarded([&] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    pgstat_report_activity(STATE_RUNNING, sql);
    // Never wait long on a lock the caller may hold.
    SetConfigOption("lock_timeout", "10s", PGC_USERSET, PGC_S_SESSION);
  });
  try {
    ptb::pg::as_owner(task->role, [&] {
      ptb::pg::guarded([&] {
        SPI_connect();
        PushActiveSnapshot(GetTransactionSnapshot());
        int rc = SPI_execute_with_args(sql, n, types, values, nulls, false, 0);
        if (rc < 0) elog(ERROR, "SPI_execute_with_args returned %d", rc);
        if (SPI_tuptable != nullptr && SPI_processed > 0) {
          char* first = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
          if (first != nullptr) {
            if (strlen(first) >= sizeof task->result)
              elog(ERROR, "the statement's result does not fit the log writer's buffer");
            strlcpy(task->result, first, sizeof task->result);
            task->has_result = true;
          }
        }
        SPI_finish();
        PopActiveSnapshot();
      });
      return 0;
    });
    ptb::pg::guarded([] { CommitTransactionCommand(); });
    task->finished = true;
  } catch (const std::exception& e) {
    // The message and SQLSTATE travel back through the segment.
    const auto* server = dynamic_cast<const ptb::pg::ServerError*>(&e);
    const auto* ours = dynamic_cast<const ptb::core::Error*>(&e);
    strlcpy(task->error, e.what(), sizeof task->error);
    strlcpy(task->sqlstate, server ? server->sqlstate() : ours ? ours->sqlstate().c_str() : ptb::core::sqlstate::kInternalError,
            sizeof task->sqlstate);
    task->failed = true;
    task->finished = true;
    ptb::pg::guarded([] { AbortCurrentTransaction(); });
  } catch (...) {
    strlcpy(task->error, "unknown error", sizeof task->error);
    strlcpy(task->sqlstate, ptb::core::sqlstate::kInternalError, sizeof task->sqlstate);
    task->failed = true;
    task->finished = true;
    ptb::pg::guarded([] { AbortCurrentTransaction(); });
  }
  pgstat_report_activity(STATE_IDLE, nullptr);
  dsm_detach(segment);
  proc_exit(0);
}
