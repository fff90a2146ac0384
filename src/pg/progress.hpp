// Progress of running backups, exports, imports and restores, for the
// backup_progress view (docs/reference.md, "backup_progress").
//
// One slot per backend in shared memory (requested while the library is
// preloaded; without it every call here does nothing). A backend writes
// only its own slot, without a lock: a change count, odd while it writes,
// lets readers copy a slot consistently, as the server does for
// pg_stat_activity. Updates happen at phase and table boundaries and every
// few hundred rows, so their cost does not show next to the work.
//
// Only the outermost operation of a backend reports: the pre_restore
// backup a restore takes shows as the restore's phase pre_restore.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/server_types.hpp"

namespace ptb::pg::progress {

// Names as in backup_logs.operation.
enum class Operation : uint8_t { Backup, Export, Import, Restore };

enum class Phase : uint8_t {
  Planning,    // reading the catalog, planning the tenant's tables
  Writing,     // streaming rows into the snapshot (file or jsonb value)
  Verifying,   // reading a new backup's file back
  Archiving,   // pg_tenant_backup.archive_command
  Pruning,     // retention after a backup
  Reading,     // reading (and verifying) the snapshot to import
  Staging,     // copying its rows into temporary tables
  Replaying,   // a restore to a moment: captured changes into the stages
  Validating,  // checks before and after the changes
  PreRestore,  // a restore's pre_restore backup
  Updating,    // rows that differ from the snapshot
  Deleting,    // a replace's rows the snapshot lacks
  Inserting,   // rows the snapshot has and the table lacks
};

const char* operation_name(Operation op);
const char* phase_name(Phase phase);

// Registers the shared memory request; call from _PG_init while preloading.
void register_shared_memory();

// Reports one operation in this backend's slot from construction to
// destruction (every exit path: the destructor only writes shared memory,
// it calls nothing that can raise). The slot is also cleared when the
// transaction aborts and when the backend exits, so no row outlives its
// operation.
class Scope {
 public:
  Scope(Operation op, const std::optional<std::string>& tenant, Phase phase, bool scheduled = false);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

// Updates of the outermost running operation; nothing without one.
void set_tenant(const std::optional<std::string>& tenant);
void set_log_id(int64_t id);
// A new phase: table and row counts start again. With tables_total the
// phase goes table by table; without it the table counts are NULL, and
// rows_done too unless `counts_rows`.
void set_phase(Phase phase, std::optional<int64_t> tables_total = std::nullopt, bool counts_rows = false);
void table_done();
void add_rows(int64_t rows);
// The phase's row count so far, and putting it back to such a value (rows
// counted for work that was rolled back and is done again).
int64_t rows_done();
void set_rows_done(int64_t rows);
void add_bytes_written(uint64_t bytes);
void add_bytes_read(uint64_t bytes);

// A consistent copy of one running operation's slot.
struct Entry {
  int pid = 0;
  Oid database = 0;  // InvalidOid
  Oid role = 0;      // the role that started it
  Operation operation = Operation::Backup;
  Phase phase = Phase::Planning;
  bool scheduled = false;
  std::optional<std::string> tenant;  // its first 255 bytes
  std::optional<int64_t> log_id;
  TimestampTz started_at = 0;
  std::optional<int64_t> tables_done, tables_total, rows_done;
  int64_t bytes_written = 0, bytes_read = 0;
};
// Every running operation of the server; empty without shared memory.
std::vector<Entry> running_operations();

}  // namespace ptb::pg::progress
