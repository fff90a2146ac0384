// Change capture (docs/pitr.md): a background worker, started by the
// scheduler while pg_tenant_backup.change_capture is on, that reads the
// changes of its logical slot ptb_capture_<database oid> (plugin
// 'pg_tenant_backup', src/pg/capture_plugin.cpp) in batches, writes each
// batch as a zstd segment file under <storage folder>/changes, records it
// in backup_change_segments and only then advances the slot.
// The worker's main, ptb_capture_main, is started by name (bgw_function_name)
// and declared with PTB_WORKER_MAIN (pg/entry_point.hpp).
#pragma once
