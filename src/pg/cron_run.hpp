// Whether the running call was started by a pg_cron job, and which job
// (docs/scheduler.md, "pg_cron's runs in backup_logs").
//
// The proof is what pg_cron itself writes, never what the caller sets (an
// application_name of "pg_cron" proves nothing):
//   - a background worker that pg_cron's library registered as type
//     "pg_cron" runs a job (cron.use_background_workers = on);
//   - a row of cron.job_run_details, written by pg_cron's launcher, that
//     names this backend's pid as a run in progress (job_pid, status
//     starting | connecting | sending | running, started no earlier than
//     this backend) names the job; with cron.use_background_workers off it
//     is also the only proof, as the backend is then an ordinary client.
// The row exists only while cron.log_run is on, and only in the database
// where pg_cron is installed (cron.database_name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pg/server_types.hpp"

namespace ptb::pg {

struct CronRun {
  std::optional<int64_t> job_id;         // cron.job.jobid; unset: not known
  std::optional<std::string> job_name;   // cron.job.jobname, if the job has one
};

// The pg_cron run this backend executes, or nullopt. Reads pg_cron's tables
// with the rights of `reader` (the owner of backup_logs) and the pinned
// search_path; pg_cron missing, or its tables unreadable by `reader`, is
// simply not a run. Needs an SPI connection; looked up once per backend.
std::optional<CronRun> current_cron_run(Oid reader);

}  // namespace ptb::pg
