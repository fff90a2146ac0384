// The background worker: one scheduler per server (shared_preload_libraries)
// connected to pg_tenant_backup.database, which starts each due schedule as
// a dynamic background worker of its own ("job"), at most
// pg_tenant_backup.max_workers at once. See docs/scheduler.md.
#pragma once

#include "pg/server.hpp"

namespace ptb::pg {

// Registers the scheduler; call from _PG_init while preloading.
void register_scheduler();

}  // namespace ptb::pg

extern "C" {
PGDLLEXPORT void ptb_scheduler_main(Datum);
PGDLLEXPORT void ptb_job_main(Datum schedule_id);
}
