#include "pg/progress.hpp"

#include <cstring>

#include "pg/guarded.hpp"

extern "C" {
#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif
}

namespace ptb::pg::progress {

namespace {

constexpr size_t kTenantBytes = 256;
// Rows between two updates of the slot within a table.
constexpr int64_t kRowsPerPublish = 1000;

// What a slot holds: plain data, copied whole by writer and readers.
struct SlotData {
  int pid;  // 0: no operation
  Oid database;
  Oid role;
  uint8_t operation;
  uint8_t phase;
  bool scheduled;
  bool has_tenant;
  bool counts_tables;
  bool counts_rows;
  bool has_log_id;
  int64_t log_id;
  TimestampTz started_at;
  int64_t tables_done;
  int64_t tables_total;
  int64_t rows_done;
  int64_t bytes_written;
  int64_t bytes_read;
  char tenant[kTenantBytes];
};

struct Slot {
  // Odd while the owner writes; a reader copies until it sees the same
  // even value before and after its copy.
  volatile uint32 changecount;
  SlotData data;
};

struct Header {
  int slot_count;
};

Header* header = nullptr;
Slot* slots = nullptr;
shmem_request_hook_type previous_shmem_request = nullptr;
shmem_startup_hook_type previous_shmem_startup = nullptr;

// This backend's operation, as last written to its slot.
SlotData current{};
int depth = 0;  // nested operations (a restore's pre_restore backup)
int64_t rows_unpublished = 0;
bool callbacks_registered = false;

Size slot_offset() { return MAXALIGN(sizeof(Header)); }
Size shared_size() { return add_size(slot_offset(), mul_size(MaxBackends, sizeof(Slot))); }

void request_shared_memory() {
  if (previous_shmem_request) previous_shmem_request();
  RequestAddinShmemSpace(shared_size());
}

void start_shared_memory() {
  if (previous_shmem_startup) previous_shmem_startup();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  void* base = ShmemInitStruct("pg_tenant_backup progress", shared_size(), &found);
  header = static_cast<Header*>(base);
  slots = reinterpret_cast<Slot*>(static_cast<char*>(base) + slot_offset());
  if (!found) {
    memset(base, 0, shared_size());
    header->slot_count = MaxBackends;
  }
  LWLockRelease(AddinShmemInitLock);
}

// This backend's slot: by its proc number (backend id before 17), which
// regular backends and background workers have below MaxBackends.
Slot* own_slot() {
  if (slots == nullptr) return nullptr;
#if PG_VERSION_NUM >= 170000
  const int index = MyProcNumber;
#else
  const int index = MyBackendId - 1;
#endif
  if (index < 0 || index >= header->slot_count) return nullptr;
  return &slots[index];
}

void publish() {
  rows_unpublished = 0;
  Slot* slot = own_slot();
  if (slot == nullptr) return;
  slot->changecount = slot->changecount + 1;
  pg_write_barrier();
  memcpy(const_cast<SlotData*>(&slot->data), &current, sizeof(SlotData));
  pg_write_barrier();
  slot->changecount = slot->changecount + 1;
}

void clear() {
  depth = 0;
  if (current.pid == 0) return;
  current.pid = 0;
  publish();
}

void clear_at_exit(int, Datum) { clear(); }

void clear_on_abort(XactEvent event, void*) {
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) clear();
}

void copy_tenant(const std::optional<std::string>& tenant) {
  current.has_tenant = tenant.has_value();
  current.tenant[0] = '\0';
  if (!tenant) return;
  int length = static_cast<int>(std::min(tenant->size(), kTenantBytes - 1));
  // Cut on a character boundary.
  guarded([&] { length = pg_mbcliplen(tenant->data(), static_cast<int>(tenant->size()), length); });
  memcpy(current.tenant, tenant->data(), static_cast<size_t>(length));
  current.tenant[length] = '\0';
}

bool reporting() { return depth == 1 && current.pid != 0; }

}  // namespace

const char* operation_name(Operation op) {
  switch (op) {
    case Operation::Backup: return "backup";
    case Operation::Export: return "export";
    case Operation::Import: return "import";
    case Operation::Restore: return "restore";
  }
  return "?";
}

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::Planning: return "planning";
    case Phase::Writing: return "writing";
    case Phase::Verifying: return "verifying";
    case Phase::Archiving: return "archiving";
    case Phase::Pruning: return "pruning";
    case Phase::Reading: return "reading";
    case Phase::Staging: return "staging";
    case Phase::Replaying: return "replaying";
    case Phase::Validating: return "validating";
    case Phase::PreRestore: return "pre_restore";
    case Phase::Updating: return "updating";
    case Phase::Deleting: return "deleting";
    case Phase::Inserting: return "inserting";
  }
  return "?";
}

void register_shared_memory() {
  previous_shmem_request = shmem_request_hook;
  shmem_request_hook = request_shared_memory;
  previous_shmem_startup = shmem_startup_hook;
  shmem_startup_hook = start_shared_memory;
}

Scope::Scope(Operation op, const std::optional<std::string>& tenant, Phase phase, bool scheduled) {
  if (depth++ > 0 || own_slot() == nullptr) return;
  if (!callbacks_registered) {
    guarded([] {
      before_shmem_exit(clear_at_exit, 0);
      RegisterXactCallback(clear_on_abort, nullptr);
    });
    callbacks_registered = true;
  }
  current = SlotData{};
  current.pid = MyProcPid;
  current.database = MyDatabaseId;
  current.role = GetUserId();
  current.operation = static_cast<uint8_t>(op);
  current.phase = static_cast<uint8_t>(phase);
  current.scheduled = scheduled;
  current.started_at = GetCurrentTimestamp();
  copy_tenant(tenant);
  publish();
}

Scope::~Scope() {
  if (depth == 0) return;  // cleared already (the transaction aborted)
  if (--depth == 0) clear();
}

void set_tenant(const std::optional<std::string>& tenant) {
  if (!reporting()) return;
  copy_tenant(tenant);
  publish();
}

void set_log_id(int64_t id) {
  if (!reporting()) return;
  current.has_log_id = true;
  current.log_id = id;
  publish();
}

void set_phase(Phase phase, std::optional<int64_t> tables_total, bool counts_rows) {
  if (!reporting()) return;
  current.phase = static_cast<uint8_t>(phase);
  current.counts_tables = tables_total.has_value();
  current.counts_rows = counts_rows || tables_total.has_value();
  current.tables_total = tables_total.value_or(0);
  current.tables_done = 0;
  current.rows_done = 0;
  publish();
}

void table_done() {
  if (!reporting()) return;
  ++current.tables_done;
  publish();
}

void add_rows(int64_t rows) {
  if (!reporting()) return;
  current.rows_done += rows;
  rows_unpublished += rows;
  if (rows_unpublished >= kRowsPerPublish) publish();
}

int64_t rows_done() { return reporting() ? current.rows_done : 0; }

void set_rows_done(int64_t rows) {
  if (!reporting()) return;
  current.rows_done = rows;
  publish();
}

void add_bytes_written(uint64_t bytes) {
  if (!reporting()) return;
  current.bytes_written += static_cast<int64_t>(bytes);
  publish();
}

void add_bytes_read(uint64_t bytes) {
  if (!reporting()) return;
  current.bytes_read += static_cast<int64_t>(bytes);
  publish();
}

std::vector<Entry> running_operations() {
  std::vector<Entry> out;
  if (slots == nullptr) return out;
  const int count = header->slot_count;
  std::vector<SlotData> copies(static_cast<size_t>(count));
  guarded([&] {
    for (int i = 0; i < count; ++i) {
      Slot* slot = &slots[i];
      for (;;) {
        const uint32 before = slot->changecount;
        pg_read_barrier();
        memcpy(&copies[static_cast<size_t>(i)], const_cast<SlotData*>(&slot->data), sizeof(SlotData));
        pg_read_barrier();
        if (before == slot->changecount && (before & 1) == 0) break;
        CHECK_FOR_INTERRUPTS();
      }
    }
  });
  for (const SlotData& d : copies) {
    if (d.pid == 0) continue;
    Entry e;
    e.pid = d.pid;
    e.database = d.database;
    e.role = d.role;
    e.operation = static_cast<Operation>(d.operation);
    e.phase = static_cast<Phase>(d.phase);
    e.scheduled = d.scheduled;
    if (d.has_tenant) e.tenant = std::string(d.tenant, strnlen(d.tenant, kTenantBytes));
    if (d.has_log_id) e.log_id = d.log_id;
    e.started_at = d.started_at;
    if (d.counts_tables) {
      e.tables_done = d.tables_done;
      e.tables_total = d.tables_total;
    }
    if (d.counts_rows) e.rows_done = d.rows_done;
    e.bytes_written = d.bytes_written;
    e.bytes_read = d.bytes_read;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace ptb::pg::progress
