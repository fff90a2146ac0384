// Change capture (docs/pitr.md): a background worker, started by the
// scheduler while pg_tenant_backup.change_capture is on, that reads the
// changes of its logical slot ptb_capture_<database oid> (plugin
// 'pg_tenant_backup', src/pg/capture_plugin.cpp) in batches, writes each
// batch as a zstd segment file under <storage folder>/changes, records it
// in backup_change_segments and only then advances the slot.
// The worker's entry point, ptb_capture_main, is declared in
// pg/scheduler.hpp with the other workers'.
#pragma once
