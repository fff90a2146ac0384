// The pg_tenant_backup.* settings (GUCs) and the per-call opts on top.
#pragma once

#include <string>
#include <vector>

#include "core/options.hpp"

namespace ptb::pg {

// Called once from _PG_init.
void define_settings();

// The snapshot options in force: settings, then opts (parsed by
// core::parse_opts; {}: none). `extra_keys` are the calling function's own
// options (see core::apply_options_json).
core::SnapshotOptions snapshot_options(const nlohmann::json& opts, const std::vector<std::string>& extra_keys = {});
// The settings alone (no opts).
core::SnapshotOptions settings_snapshot_options();

// The options of a stored snapshot (backup_create, a schedule's backups,
// pre_restore): as snapshot_options with backup_create's own keys, but a
// backup is complete by default: soft-deleted rows are in unless opts says
// "include_deleted": false.
core::SnapshotOptions stored_snapshot_options(const nlohmann::json& opts);

// Settings of stored snapshots (backup_create and friends).
struct StorageSettings {
  std::string storage_path;  // absolute; the default is under the data directory
  std::string compression;   // none | zstd
  bool verify_after_backup;
  int max_backups;     // default retention of schedules and backup_prune
  int retention_days;
  bool prune_manual;   // backup_create applies them to manual and pre_restore snapshots too
  std::string archive_command;  // empty: none
};
StorageSettings storage_settings();

// Settings of the scheduler (background worker).
struct ScheduleSettings {
  std::string database;  // the database the scheduler connects to
  int max_workers;       // scheduled jobs running at once
  std::string timezone;  // default time zone of new schedules
  bool catch_up_once;    // run a schedule missed while down once at start (else skip)
};
ScheduleSettings schedule_settings();

// Settings of backup_restore (both superuser only).
struct RestoreSettings {
  bool allow_restore;          // pg_tenant_backup.allow_restore
  std::string restore_window;  // pg_tenant_backup.restore_window: an interval; '0' = no limit
};
RestoreSettings restore_settings();

// Encryption at rest of stored snapshots (all superuser only; see
// docs/security.md). Key files are read when used, by pg/encryption.
struct EncryptionSettings {
  bool enabled;                            // pg_tenant_backup.encryption = aes-256-gcm
  std::string key_file;                    // pg_tenant_backup.encryption_key_file; "" = none
  std::vector<std::string> old_key_files;  // pg_tenant_backup.encryption_old_key_files
};
EncryptionSettings encryption_settings();

// Change capture (docs/pitr.md; both PGC_SIGHUP).
struct CaptureSettings {
  bool enabled;             // pg_tenant_backup.change_capture
  int max_retained_wal_mb;  // pg_tenant_backup.capture_max_retained_wal
};
CaptureSettings capture_settings();

}  // namespace ptb::pg
