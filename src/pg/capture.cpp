#include "pg/capture.hpp"
#include "pg/scheduler.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/change_record.hpp"
#include "core/compression.hpp"
#include "core/encryption.hpp"
#include "core/json_writer.hpp"
#include "pg/backup_log.hpp"
#include "pg/guarded.hpp"
#include "pg/change_segments.hpp"
#include "pg/entry_point.hpp"
#include "pg/encryption.hpp"
#include "pg/owner_rights.hpp"
#include "pg/scheduler.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/file_io.hpp"
#include "pg/storage_directory.hpp"
#include "pg/strong_random.hpp"

extern "C" {
#include "access/xlog.h"
#include "pgstat.h"
#include "storage/standby.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/wait_event.h"
}

namespace ptb::pg {

namespace {

constexpr long kIdleMs = 1000;
constexpr long kRetryAfterErrorMs = 10000;
// Rows of one pg_logical_slot_peek_changes call (whole transactions: a
// batch may end a little above it).
constexpr int kBatchRows = 20000;
// Advisory lock keys: only one capture worker per database.
constexpr int kLockKey1 = 0x70746263;  // "ptbc"
constexpr const char* kSegmentSuffix = ".jsonl.zst";

std::string slot_name() { return "ptb_capture_" + std::to_string(MyDatabaseId); }

std::string hex16(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(v));
  return buf;
}

struct SlotState {
  bool exists = false;
  uint64_t confirmed_flush = 0;
  double retained_bytes = 0;
};

SlotState read_slot() {
  SlotState s;
  auto rows = Spi::query_latest(
      "SELECT s.confirmed_flush_lsn::pg_catalog.text,"
      " pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::pg_catalog.text"
      " FROM pg_catalog.pg_replication_slots s WHERE s.slot_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
      {slot_name()});
  if (rows.empty()) return s;
  s.exists = true;
  if (rows[0][0]) s.confirmed_flush = core::parse_lsn(*rows[0][0]);
  if (rows[0][1]) s.retained_bytes = std::stod(*rows[0][1]);
  return s;
}

// Segment files without a row (a crash between the file's fsync and the
// transaction's commit) and temporary files: removed at start, before the
// worker writes anything (only one capture worker runs: advisory lock).
void remove_unrecorded_files(const std::string& dir, const std::string& prefix) {
  const std::set<std::string> recorded = recorded_segment_files();
  for (const auto& name : list_files(dir)) {
    const bool segment = name.size() > strlen(kSegmentSuffix) &&
                         name.compare(name.size() - strlen(kSegmentSuffix), std::string::npos, kSegmentSuffix) == 0;
    const bool temporary = name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
    if ((segment && recorded.count(prefix + name) == 0) || temporary) {
      const std::string path = dir + "/" + name;
      if (remove_file_quietly(path)) {
        guarded([&] {
          ereport(LOG, (errmsg("pg_tenant_backup change capture: removed \"%s\", a segment file that was "
                               "never recorded (interrupted before its commit)",
                               path.c_str())));
        });
      }
    }
  }
}

// A capture log row (operation 'capture') marking where a stretch of
// uninterrupted capture starts or ends: backup_restore_to replays only
// within one (change_replay.cpp). `details` becomes its options.
void log_capture_event(const std::string& status, const std::string& notes, const std::string& details) {
  LogEntry entry;
  entry.operation = "capture";
  entry.trigger = "scheduled";
  entry.status = status;
  entry.finished = true;
  entry.notes = notes;
  entry.options = details;
  insert_log(entry);
}

void write_last_captured(core::JsonWriter& w, const LastCaptured& last) {
  w.key("last_captured_lsn");
  last.lsn ? w.string(*last.lsn) : w.null();
  w.key("last_captured_commit_at");
  last.commit_at ? w.string(*last.commit_at) : w.null();
}

// Turned off: the row that ends the stretch of capture.
void log_capture_stopped() {
  core::StringSink sink;
  core::JsonWriter w(sink);
  w.begin_object();
  w.key("event");
  w.string("stop");
  w.key("slot");
  w.string(slot_name());
  write_last_captured(w, last_captured_change());
  w.end_object();
  w.flush();
  log_capture_event("completed", "change capture stopped: pg_tenant_backup.change_capture is off", sink.data());
}

void create_slot() {
  auto created = Spi::query_latest(
      "SELECT lsn::pg_catalog.text FROM pg_catalog.pg_create_logical_replication_slot($1::pg_catalog.name, "
      "'pg_tenant_backup'::pg_catalog.name)",
      {slot_name()});
  // A transaction id taken now, after the slot is consistent: a snapshot
  // whose xmax is above it was taken later, so every transaction it did not
  // see commits after the slot's start and is captured.
  const std::string xid = *Spi::query_latest("SELECT pg_catalog.pg_current_xact_id()::pg_catalog.text").at(0)[0];
  core::StringSink sink;
  core::JsonWriter w(sink);
  w.begin_object();
  w.key("event");
  w.string("start");
  w.key("slot");
  w.string(slot_name());
  w.key("consistent_lsn");
  w.string(created.at(0)[0].value_or("0/0"));
  w.key("xid");
  w.string(xid);
  w.end_object();
  w.flush();
  log_capture_event("completed", "change capture started with slot " + slot_name(), sink.data());
  const std::string name = slot_name();
  guarded([&] {
    ereport(LOG, (errmsg("pg_tenant_backup change capture started with slot \"%s\"", name.c_str())));
  });
}

void drop_slot() {
  (void)Spi::query("SELECT pg_catalog.pg_drop_replication_slot($1::pg_catalog.name)", {slot_name()});
}

// The slot held back more WAL than allowed: drop it, record the gap in
// backup_logs and tell listeners.
void stop_for_wal_limit(const SlotState& slot, int limit_mb) {
  const LastCaptured last = last_captured_change();
  auto now = Spi::query_latest("SELECT pg_catalog.pg_current_wal_lsn()::pg_catalog.text");
  drop_slot();
  const long long held_mb = static_cast<long long>(slot.retained_bytes / (1024 * 1024));
  core::StringSink sink;
  core::JsonWriter w(sink);
  w.begin_object();
  w.key("message");
  w.string("change capture stopped: its slot held back " + std::to_string(held_mb) +
           " MB of WAL, more than pg_tenant_backup.capture_max_retained_wal (" + std::to_string(limit_mb) +
           " MB); the slot was dropped");
  w.key("sqlstate");
  w.string(core::sqlstate::kConfigurationLimitExceeded);
  w.key("detail");
  w.string("Changes committed after the last captured one are not captured: the gap begins after LSN " +
           last.lsn.value_or("(none captured)") + " and ends where capture starts again.");
  w.key("hint");
  w.string("Raise pg_tenant_backup.capture_max_retained_wal if needed and reload the configuration "
           "(SELECT pg_reload_conf()): capture starts again with a new slot.");
  w.key("slot");
  w.string(slot_name());
  write_last_captured(w, last);
  w.key("dropped_at_lsn");
  w.string(*now.at(0)[0]);
  w.key("retained_wal_bytes");
  w.integer(static_cast<int64_t>(slot.retained_bytes));
  w.end_object();
  w.flush();
  LogEntry entry;
  entry.operation = "capture";
  entry.trigger = "scheduled";
  entry.status = "failed";
  entry.finished = true;
  entry.error = sink.data();
  entry.options = R"({"event":"stop"})";
  insert_log(entry);
  Spi::execute("SELECT pg_catalog.pg_notify('pg_tenant_backup_capture', $1)", {sink.data()});
  const std::string message = "pg_tenant_backup change capture stopped: slot held back " +
                              std::to_string(held_mb) + " MB of WAL, above pg_tenant_backup.capture_max_retained_wal";
  guarded([&] {
    ereport(WARNING, (errmsg("%s", message.c_str()),
                      errdetail("The slot was dropped; changes from now on are not captured (recorded in backup_logs)."),
                      errhint("Reload the configuration (SELECT pg_reload_conf()) to start capture again.")));
  });
}

struct Step {
  bool more = false;      // a full batch: read again at once
  bool stopped = false;   // the WAL limit stopped capture
  bool uninstalled = false;  // the extension is gone from the database
  uint64_t advance_to = 0;
};

// One batch, in the caller's transaction: read, write the segment, record it.
Step capture_batch(const std::string& dir, const std::string& prefix) {
  Step step;
  const CaptureSettings settings = capture_settings();
  SlotState slot = read_slot();
  if (!change_segments_installed()) {
    // DROP EXTENSION: nothing to record into; the slot must not hold WAL.
    if (slot.exists) drop_slot();
    step.uninstalled = true;
    return step;
  }
  if (!slot.exists) {
    create_slot();
    step.more = true;
    return step;
  }
  if (slot.retained_bytes > static_cast<double>(settings.max_retained_wal_mb) * 1024 * 1024) {
    stop_for_wal_limit(slot, settings.max_retained_wal_mb);
    step.stopped = true;
    return step;
  }
  std::string upto = *Spi::query_latest("SELECT pg_catalog.pg_current_wal_flush_lsn()::pg_catalog.text").at(0)[0];
  const uint64_t floor = segments_recorded_through();
  // Nothing written since the slot's position: no decoding at all.
  if (core::parse_lsn(upto) <= slot.confirmed_flush && floor <= slot.confirmed_flush) return step;
  // A running-transactions record now, flushed, so decoding this batch
  // lets the slot's restart_lsn follow when it advances. Without it,
  // restart_lsn moves only at the server's own such records (every 15 s
  // or at checkpoints), and each batch would decode again everything
  // since then.
  guarded([] { XLogFlush(LogStandbySnapshot()); });
  upto = *Spi::query_latest("SELECT pg_catalog.pg_current_wal_flush_lsn()::pg_catalog.text").at(0)[0];
  // Values are written under the output settings of snapshots (DateStyle
  // ISO, ...), whatever postgresql.conf says: a restore reads them back.
  const int output_level = fix_output_settings();
  auto rows = Spi::query_latest("SELECT data FROM pg_catalog.pg_logical_slot_peek_changes($1::pg_catalog.name, "
                                "$2::pg_catalog.pg_lsn, $3::pg_catalog.int4)",
                                {slot_name(), upto, std::to_string(kBatchRows)});
  restore_output_settings(output_level);
  core::SegmentAssembler assembler(MyDatabaseId, floor);
  for (const auto& row : rows)
    if (row[0]) assembler.add(*row[0]);
  if (assembler.skipped_transactions() > 0) {
    const std::string note = std::to_string(assembler.skipped_transactions());
    guarded([&] {
      ereport(LOG, (errmsg("pg_tenant_backup change capture: %s transactions read again were already recorded "
                           "(left out: the slot had not advanced past them before a stop)",
                           note.c_str())));
    });
  }
  if (!assembler.empty()) {
    const std::string file_name = hex16(assembler.first_lsn()) + "-" + hex16(assembler.last_lsn()) + kSegmentSuffix;
    const std::string path = dir + "/" + file_name;
    const std::string temporary = path + "." + std::to_string(MyProcPid) + ".tmp";
    // A file of that name has no row (its range is above every recorded
    // one): a leftover of an interrupted attempt.
    (void)remove_file_quietly(path);
    (void)remove_file_quietly(temporary);
    // Encrypted as snapshots are when pg_tenant_backup.encryption is on
    // (the key first: without it no file is written, and the batch is
    // read again after the error).
    const std::optional<core::EncryptionKey> key = key_for_writing();
    FileSink file(temporary);
    std::optional<std::string> key_id;
    if (key) {
      core::EncryptingSink sealed(file, *key, strong_random_bytes(32, "an encrypted change segment"));
      core::CompressingSink zstd(sealed, core::Compression::Zstd);
      zstd.write(assembler.text());
      zstd.finish();
      sealed.finish();
      key_id = key->id();
    } else {
      core::CompressingSink zstd(file, core::Compression::Zstd);
      zstd.write(assembler.text());
      zstd.finish();
    }
    file.finish();
    const std::string checksum = file.sha256();
    install_new_file(temporary, path);
    SegmentRecord record;
    record.first_lsn = core::format_lsn(assembler.first_lsn());
    record.last_lsn = core::format_lsn(assembler.last_lsn());
    record.first_commit_at = assembler.first_commit_at();
    record.last_commit_at = assembler.last_commit_at();
    record.file_name = prefix + file_name;
    record.size_bytes = file.size();
    record.checksum = checksum;
    record.change_count = assembler.changes();
    record.transaction_count = assembler.transactions();
    record.min_xid = assembler.min_xid();
    record.max_xid = assembler.max_xid();
    record.encryption_key_id = key_id;
    record_segment(record);
  }
  // Whole batch read: decoding reached `upto`, every commit before it is
  // in the rows. A full batch: up to its last commit.
  step.more = static_cast<int>(rows.size()) >= kBatchRows;
  step.advance_to = std::max(assembler.last_seen_lsn(), floor);
  if (!step.more) step.advance_to = std::max(step.advance_to, core::parse_lsn(upto));
  if (step.advance_to <= slot.confirmed_flush) step.advance_to = 0;
  return step;
}

void advance_slot(uint64_t to) {
  (void)Spi::query("SELECT 1 FROM pg_catalog.pg_replication_slot_advance($1::pg_catalog.name, $2::pg_catalog.pg_lsn)",
                   {slot_name(), core::format_lsn(to)});
}

// Each decoding logs "starting logical decoding for slot" (LOG, which the
// server log shows by default): once a second here, so this worker's own
// are left out of the log.
emit_log_hook_type previous_emit_log = nullptr;

void quiet_decoding_start(ErrorData* error) {
  if (error->elevel == LOG && error->message_id != nullptr &&
      strncmp(error->message_id, "starting logical decoding for slot", 34) == 0)
    error->output_to_server = false;
  if (previous_emit_log) previous_emit_log(error);
}

}  // namespace

}  // namespace ptb::pg

using namespace ptb;
using namespace ptb::pg;

PTB_WORKER_MAIN(ptb_capture_main) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, nullptr, 0);
  pin_worker_search_path();
  pgstat_report_appname("pg_tenant_backup capture");
  previous_emit_log = emit_log_hook;
  emit_log_hook = quiet_decoding_start;

  // dir: <storage_path>/<folder>/changes; prefix: "<folder>/changes/",
  // how backup_change_segments.file_name names a file (as backup_logs
  // does, relative to storage_path).
  std::string dir, prefix;
  bool installed = false;
  bool locked = false;
  run_in_transaction("change capture start", [&] {
    locked = *Spi::query("SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int4, $2::pg_catalog.int4)::pg_catalog.text",
                         {std::to_string(kLockKey1), std::to_string(static_cast<int32>(MyDatabaseId))})
                  .at(0)[0] == "true";
    if (!locked) return;
    // Servers whose output_plugin_libraries lists the libraries a slot may
    // name (15.20 and later minors): this worker's session adds its own,
    // nobody else's changes.
    (void)Spi::query(
        "SELECT pg_catalog.set_config('output_plugin_libraries',"
        " pg_catalog.current_setting('output_plugin_libraries') OPERATOR(pg_catalog.||) ', pg_tenant_backup', false)"
        " WHERE pg_catalog.current_setting('output_plugin_libraries', true) IS NOT NULL");
    installed = change_segments_installed();
    if (!installed) return;
    const StorageFolder folder = prepare_changes_directory();
    dir = folder.path() + "/changes";
    prefix = folder.name + "/changes/";
    remove_unrecorded_files(dir, prefix);
  });
  if (!locked || !installed || dir.empty()) proc_exit(0);  // another runs, or not installed (yet)
  ereport(LOG, (errmsg("pg_tenant_backup change capture worker started")));

  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    if (!capture_settings().enabled) {
      // Turned off: what was committed until now is captured first, so the
      // stretch ends at the stop (a failure here only ends it earlier).
      Step last;
      if (run_in_transaction("change capture drain",
                             [&] {
                               if (read_slot().exists) last = capture_batch(dir, prefix);
                             }) &&
          last.advance_to != 0)
        (void)run_in_transaction("change capture slot advance", [&] { advance_slot(last.advance_to); });
      // Then the slot goes, so it holds back no WAL.
      run_in_transaction("change capture stop", [&] {
        if (!read_slot().exists) return;
        drop_slot();
        log_capture_stopped();
      });
      ereport(LOG, (errmsg("pg_tenant_backup change capture stopped: pg_tenant_backup.change_capture is off; "
                           "its slot was dropped")));
      proc_exit(0);
    }
    Step step;
    pgstat_report_activity(STATE_RUNNING, "capturing changes");
    bool ok = run_in_transaction("change capture", [&] { step = capture_batch(dir, prefix); });
    // Only after the segment's row is committed does the slot move on.
    if (ok && step.advance_to != 0)
      ok = run_in_transaction("change capture slot advance", [&] { advance_slot(step.advance_to); });
    pgstat_report_activity(STATE_IDLE, nullptr);
    if (ok && step.uninstalled) {
      ereport(LOG, (errmsg("pg_tenant_backup change capture stopped: the extension is not installed in this "
                           "database; its slot was dropped")));
      proc_exit(0);
    }
    if (ok && step.stopped) {
      capture_stopped_until_reload();
      proc_exit(0);
    }
    if (ok && step.more) {
      CHECK_FOR_INTERRUPTS();
      continue;
    }
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ok ? kIdleMs : kRetryAfterErrorMs,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  proc_exit(0);
}
