// The background worker: one scheduler per server (shared_preload_libraries)
// connected to pg_tenant_backup.database, which starts each due schedule as
// a dynamic background worker of its own ("job"), at most
// pg_tenant_backup.max_workers at once. See docs/scheduler.md.
#pragma once

#include <functional>
#include <string>


namespace ptb::pg {

// Registers the scheduler; call from _PG_init while preloading.
void register_scheduler();

// For the capture worker (pg/capture.cpp), which the scheduler starts
// while pg_tenant_backup.change_capture is on and wal_level is logical.
// Runs `body` in a transaction of its own with SPI; a server ERROR is
// logged and rolled back, and false returned.
bool run_in_transaction(const char* what, const std::function<void()>& body);
// "<schema>.<table>" of the extension's table, quoted; "" when the
// extension is not installed in this database.
std::string extension_table(const char* table);
// The WAL limit stopped capture: the scheduler does not start the capture
// worker again until the configuration is reloaded.
void capture_stopped_until_reload();

}  // namespace ptb::pg
