// Every statement on the backup_logs catalog table: its rows written, and
// typed reads and changes of them for the other modules (retention
// included: the modules that expire files ask here which rows, and change
// them here).
//
// Two ways to write: in the caller's transaction (exports, verifications)
// or autonomously, in a transaction of its own that commits at once
// (backups, deletions, pruning: their files exist or are gone whatever the
// caller's transaction does, so their rows must say so, and a failure must
// stay recorded after the caller rolls back).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/owner_rights.hpp"
#include "pg/server_types.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

struct LogEntry {
  std::string operation;  // backup | restore | import | export | verify | delete | prune
  std::string trigger = "manual";
  std::optional<std::string> tenant;
  std::optional<std::string> name;
  std::optional<std::string> notes;
  std::string status;                      // running | completed | failed | ...
  std::optional<std::string> started_at;   // ISO text; default now
  bool finished = false;                   // sets finished_at = now
  std::optional<std::string> file_name;
  std::optional<int64_t> size_bytes;
  std::optional<std::string> compression;
  std::optional<std::string> checksum;
  std::optional<int64_t> table_count;
  std::optional<int64_t> row_count;
  std::optional<std::string> table_counts;  // JSON
  std::optional<std::string> options;       // JSON
  std::optional<std::string> error;         // JSON {message, sqlstate, detail}
  std::optional<int64_t> source_id;
  std::optional<std::string> archive_status;
  std::optional<int64_t> schedule_id;
  std::optional<std::string> encryption;         // aes-256-gcm; unset: not encrypted
  std::optional<std::string> encryption_key_id;  // id of the key the file is encrypted with
  bool keep = false;  // a backup kept for good (only backup_delete removes it)
  std::optional<std::string> snapshot_xmin;  // a backup's snapshot xmin (finish only)
};

// The table and its owner (log rows are written with the owner's rights).
struct LogTable {
  std::string qualified_name;
  Oid owner;
  // Columns added by 0.2.0: false until ALTER EXTENSION ... UPDATE has run
  // (the library is new, the extension's tables still 0.1.0's).
  bool has_encryption_columns = false;
  bool has_keep_column = false;  // backup_logs.keep, also added by 0.2.0
  bool has_snapshot_xmin_column = false;  // backup_logs.snapshot_xmin, likewise
  bool has_cron_job_columns = false;  // cron_job_id, cron_job_name and trigger 'pg_cron', likewise
};
LogTable find_log_table();

// Who started the call, as its rows record it: `trigger` ('manual' becomes
// 'pg_cron' when a pg_cron job's run made the call; see pg/cron_run.hpp)
// and that job. Rows written without insert_log (delete, prune) use it too.
struct LogOrigin {
  std::string trigger;
  std::optional<int64_t> cron_job_id;
  std::optional<std::string> cron_job_name;
};
LogOrigin log_origin(const LogTable& table, const std::string& trigger);

// The origin of a manual call as a row written by a statement of its own
// records it: ", trigger, cron_job_id, cron_job_name" for the column list,
// the values as parameters numbered from `first_param`, and those
// parameters; all empty on 0.1.0's table, which has no such columns.
struct OriginColumns {
  std::string columns;
  std::string values;
  std::vector<TextValue> params;
};
OriginColumns manual_call_origin(const LogTable& table, int first_param);

// Inserts in the caller's transaction; returns the id.
int64_t insert_log(const LogEntry& entry);
// Inserts autonomously (committed before this returns); returns the id.
int64_t insert_log_autonomously(const LogEntry& entry);
// Finishes row `id` autonomously: status, finished_at = now and every field
// of `entry` that is set; then NOTIFY pg_tenant_backup with the id, the
// operation and the status.
void finish_log_autonomously(int64_t id, const LogEntry& entry);

// Finishes row `id` in the caller's transaction, as finish_log_autonomously
// does (notes, options and tenant too when set): a rollback of the caller undoes it.
void finish_log(int64_t id, const LogEntry& entry);

// The row of a backup (operation 'backup') as the functions on stored
// snapshots read it. encryption and encryption_key_id are unset on 0.1.0's
// table.
struct BackupRow {
  std::string status;
  std::optional<std::string> tenant;
  std::optional<std::string> file_name;
  std::optional<std::string> checksum;
  std::optional<int64_t> size_bytes;
  std::optional<std::string> compression;
  std::optional<std::string> table_counts;  // JSON
  std::optional<std::string> encryption;
  std::optional<std::string> encryption_key_id;
};
// Backup `id`'s row, read with the table owner's rights; 42704 when there
// is no such backup. Needs SPI.
BackupRow find_backup_row(int64_t id);

// When backup `id` finished (text), if that is longer ago than `window`
// (an interval; '0' never is). Needs SPI.
std::optional<std::string> backup_finished_before(int64_t id, const std::string& window);

// Backup `id`, completed or restored, becomes 'restored', in the caller's
// transaction. Needs SPI.
void mark_backup_restored(int64_t id);

// Backup `id` becomes 'deleted' and a completed 'delete' row records it,
// by this caller and its origin (manual_call_origin); autonomously.
void record_backup_deleted(int64_t id);

// Pins (keep = true) or unpins completed or restored backup `id`,
// autonomously; false when no such row was changed. 55000 on 0.1.0's
// table, which has no keep column.
bool set_backup_keep(int64_t id, bool keep);

// A stretch of uninterrupted change capture: from a 'capture' start row of
// backup_logs to the next stop row (none: capture still runs).
struct CaptureStretch {
  int64_t start_id = 0;
  std::string started_at;      // the start row's finished_at (timestamptz text)
  uint64_t start_xid = 0;      // taken after the slot was consistent
  std::string consistent_lsn;  // the slot's start
  bool stopped = false;
  std::optional<std::string> stopped_at;
  std::optional<std::string> last_captured_commit_at;  // of a stopped stretch (UTC ISO)
};

// The stretches of capture, oldest first: start rows and the stop row
// (failed at the WAL limit, or turned off) that ends each. Reads the latest
// committed rows. Needs SPI.
std::vector<CaptureStretch> capture_stretches();

// The newest stored snapshot of `tenant` (unset: the whole database) that
// finished at or before `moment` and began after `after`. Reads the latest
// committed rows. Needs SPI.
std::optional<int64_t> newest_snapshot_between(const std::optional<std::string>& tenant,
                                               const std::string& after, const std::string& moment);

// The stored snapshots of `tenant` a restore to a moment can start from in
// stretch `c`: begun after it started and, if it stopped, finished by its
// last captured change. Times as timestamptz text.
struct StretchSnapshots {
  std::optional<std::string> first_finished_at;  // unset: none
  int64_t count = 0;
  std::string until;  // the last captured change of a stopped stretch, else now
  std::string since;  // the stretch's start
  std::optional<std::string> stopped_at;
};
StretchSnapshots snapshots_in_stretch(const std::optional<std::string>& tenant, const CaptureStretch& c);

// Marks rows left 'running' by a backend that no longer exists as failed
// ("interrupted", 57P01), and the 'running' rows of imports and restores
// whose transaction (options.transaction) rolled back while their backend
// lives on as failed ("rolled back", 40000). Runs in the caller's
// transaction.
void mark_interrupted_rows();

// A stored snapshot as retention judges it: a completed or restored backup
// with a file.
struct RetentionCandidate {
  int64_t id = 0;
  std::optional<std::string> tenant;
  int64_t finished_unix = 0;  // finished_at, seconds since the epoch
  std::string file_name;
  std::string trigger;  // as recorded ("" when NULL)
  std::optional<int64_t> schedule_id;
  bool keep = false;           // false on 0.1.0's table, which has no keep column
  bool undo_possible = false;  // a restore it protects can still be undone (restore_window)
  std::string compression;     // "none" when NULL
};

// The candidates of `only_group` (a tenant; nullopt inside: whole-database
// snapshots; nullopt: every group), read in a new snapshot as the table
// owner, so that rows the log writer just completed are seen.
// `restore_window` is pg_tenant_backup.restore_window (an interval). Needs SPI.
std::vector<RetentionCandidate> retention_candidates(const std::optional<std::optional<std::string>>& only_group,
                                                     const std::string& restore_window);

// Marks the backups `ids` expired and records a completed 'prune' row
// (tenant `group_tenant`, by this caller and its origin), autonomously, in
// one statement. A row pinned, deleted or expired meanwhile by another
// session is left as it is (the UPDATE waits for that session and reads
// the row again). Returns the ids it expired: only their files may go.
std::vector<int64_t> expire_backups(const std::vector<int64_t>& ids,
                                    const std::optional<std::string>& group_tenant);

// The oldest snapshot_xmin (xid8 text) of the completed or restored backups
// that record one; nothing on 0.1.0's table or when none does. Reads the
// latest committed rows as the table owner. Needs SPI.
std::optional<std::string> oldest_kept_snapshot_xmin();

// Runs read-only `sql` in a new snapshot (Spi::query_latest: sees what the
// log writer or the capture worker committed since the call began) with
// the rights of `table`'s owner, who owns the extension's other tables too,
// under as_owner (pg/owner_rights.hpp). Needs SPI.
std::vector<TextRow> query_latest_as_owner(const LogTable& table, const std::string& sql,
                                           const std::vector<TextValue>& params = {});

// {"message": ..., "sqlstate": ..., "detail": ...} of the exception being
// handled (call inside a catch block).
std::string current_error_json() noexcept;

// clock_timestamp() as ISO 8601 UTC text, for started_at.
std::string log_clock();

}  // namespace ptb::pg
