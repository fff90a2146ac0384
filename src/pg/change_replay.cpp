// backup_recovery_window, and what backup_restore_to (restore_functions.cpp) needs to
// replay captured changes: the stretch of capture and the snapshot a
// moment is restored from, and the replay itself (docs/pitr.md).
//
// Every statement on the extension's tables runs as their owner, with the
// output settings pinned (search_path pg_catalog, pg_temp) and only
// qualified names and operators.
#include "pg/change_replay.hpp"

#include <functional>
#include <map>
#include <set>

#include "core/compression.hpp"
#include "core/encryption.hpp"
#include "core/error.hpp"
#include "core/names.hpp"
#include "core/storage_names.hpp"
#include "pg/backup_log.hpp"
#include "pg/change_segments.hpp"
#include "pg/citus.hpp"
#include "pg/encryption.hpp"
#include "pg/file_io.hpp"
#include "pg/interrupts.hpp"
#include "pg/progress.hpp"
#include "pg/scheduler.hpp"
#include "pg/session.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

namespace {

// How long a restore waits for capture to read the WAL up to the call.
constexpr int kCatchUpWaitMs = 15000;
constexpr size_t kBatchRows = 2000;

// Reads the latest committed rows of the extension's tables as their owner.
std::vector<TextRow> owner_query(const std::string& sql, const std::vector<TextValue>& params = {}) {
  return query_latest_as_owner(find_log_table(), sql, params);
}

std::string quoted(const std::optional<std::string>& tenant) {
  return tenant ? "tenant \"" + *tenant + "\"" : std::string("the whole database");
}

const char* kWindowHint = "SELECT * FROM tenant_backup.backup_recovery_window(tenant) lists the moments that can be restored.";

// A new start row without a stop row before it: the last captured change
// of that stretch is its segments' newest.
// Whether this database's capture slot has read the WAL up to `lsn`.
bool slot_read_past(const std::string& lsn) {
  return owner_query(
             "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots s"
             "                WHERE s.slot_name OPERATOR(pg_catalog.=) ('ptb_capture_' OPERATOR(pg_catalog.||)"
             "                      (SELECT d.oid FROM pg_catalog.pg_database d"
             "                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())::pg_catalog.text)"
             "                  AND s.confirmed_flush_lsn OPERATOR(pg_catalog.>=) $1::pg_catalog.pg_lsn)::pg_catalog.text",
             {lsn})
             .at(0)[0] == "true";
}

void fill_unrecorded_end(CaptureStretch& c) {
  if (!c.stopped || c.last_captured_commit_at || !c.stopped_at) return;
  c.last_captured_commit_at = last_commit_recorded(c.consistent_lsn, *c.stopped_at);
}

// Reads a segment's file whole and checks it against its recorded SHA-256.
std::string read_segment(const std::string& file_name, const std::string& checksum) {
  const std::string path = segment_path(file_name);
  if (!file_exists(path))
    throw core::Error(core::sqlstate::kUndefinedFile, "change segment \"" + file_name + "\" is missing", {},
                      "Restore the file from a copy of the storage directory; without it the moments after it "
                      "cannot be restored.");
  FileSource file(path, true);
  std::string bytes;
  char buffer[65536];
  for (size_t n; (n = file.read(buffer, sizeof buffer)) > 0;) bytes.append(buffer, n);
  file.close();
  if (file.sha256() != checksum)
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "change segment \"" + file_name + "\" does not pass verification",
                      "Its SHA-256 is not the one recorded in backup_change_segments.",
                      "The file was changed or damaged: restore it from a copy of the storage directory.");
  return bytes;
}

}  // namespace

ReplayPlan plan_replay(const std::optional<std::string>& tenant, int64_t target_unix_micros) {
  // Capture decodes this node's WAL: on a Citus coordinator the rows of
  // distributed tables change on the workers, out of its sight, and a
  // replay would silently miss them.
  if (citus_installed())
    throw core::Error(core::sqlstate::kFeatureNotSupported,
                      "backup_restore_to is not supported on a Citus cluster",
                      "Change capture reads this node's WAL; the rows of distributed tables change on the "
                      "worker nodes.",
                      "Restore a snapshot with backup_restore instead (docs/citus.md).");
  ReplayPlan plan;
  plan.target_utc = core::utc_timestamp(target_unix_micros);
  require_change_segments();
  const auto now = owner_query("SELECT $1::pg_catalog.timestamptz OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp(),"
                               " pg_catalog.pg_current_wal_insert_lsn()::pg_catalog.text",
                               {plan.target_utc});
  if (now.at(0)[0] == "t")
    throw core::Error(core::sqlstate::kInvalidParameterValue,
                      "cannot restore " + quoted(tenant) + " to " + plan.target_utc + ": that moment is in the future",
                      {}, "Give a moment in the past.");
  const std::string wal_at_call = *now.at(0)[1];

  std::optional<CaptureStretch> stretch;
  // Times as fixed-width UTC text: compared as text, compared as times.
  for (auto& c : capture_stretches())
    if (c.started_at <= plan.target_utc) stretch = c;
  if (!stretch)
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "cannot restore " + quoted(tenant) + " to " + plan.target_utc +
                          ": change capture was not running then",
                      "No stretch of change capture began at or before that moment.",
                      "Turn on pg_tenant_backup.change_capture (docs/pitr.md): moments after the first snapshot "
                      "taken while it runs can be restored. " + std::string(kWindowHint));
  fill_unrecorded_end(*stretch);
  if (stretch->stopped &&
      (!stretch->last_captured_commit_at || *stretch->last_captured_commit_at < plan.target_utc))
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "cannot restore " + quoted(tenant) + " to " + plan.target_utc +
                          ": change capture stopped before that moment",
                      "Capture stopped at " + stretch->stopped_at.value_or("?") + "; the last change it captured " +
                          (stretch->last_captured_commit_at
                               ? "committed at " + *stretch->last_captured_commit_at
                               : std::string("was none")) +
                          ". Changes after it were not captured (backup_logs has the capture row).",
                      std::string("Restore to a moment before the gap, or after a snapshot taken since capture "
                                  "started again. ") + kWindowHint);
  plan.stretch = *stretch;

  const std::optional<int64_t> snapshot = newest_snapshot_between(tenant, stretch->started_at, plan.target_utc);
  if (!snapshot)
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "cannot restore " + quoted(tenant) + " to " + plan.target_utc +
                          ": no snapshot of it was taken between the start of change capture and that moment",
                      "Capture started at " + stretch->started_at + ".",
                      "Take snapshots (backup_create, or a schedule) while capture runs: a moment after one can be "
                      "restored. " + std::string(kWindowHint));
  plan.snapshot_id = *snapshot;

  if (stretch->stopped) return plan;
  // Every change up to the target is captured once capture has read the
  // WAL written before this call (a commit at or before the target is
  // in it), or has captured a commit after the target.
  for (int waited = 0;; waited += 200) {
    if (commit_recorded_after(stretch->consistent_lsn, plan.target_utc) || slot_read_past(wal_at_call)) break;
    if (waited >= kCatchUpWaitMs)
      throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                        "cannot restore " + quoted(tenant) + " to " + plan.target_utc +
                            ": change capture has not read the changes up to that moment yet",
                        "It did not catch up within " + std::to_string(kCatchUpWaitMs / 1000) + " seconds.",
                        "Try again shortly; SELECT * FROM tenant_backup.backup_capture_status() shows how far behind it is.");
    pause_interruptibly(200);
  }
  return plan;
}

void check_snapshot_in_stretch(const ReplayPlan& plan, const core::SnapshotTransactions& seen) {
  if (seen.xmax > plan.stretch.start_xid) return;
  throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                    "cannot restore to " + plan.target_utc + " from backup " + std::to_string(plan.snapshot_id) +
                        ": its snapshot was taken before change capture started",
                    "It saw the database as it was before the capture slot began (its transaction was older "
                    "than capture's start), so changes it did not see may not be captured.",
                    "Take a new snapshot and restore to a moment after it. " + std::string(kWindowHint));
}

ChangeReplayer::ChangeReplayer(const ReplayPlan& plan, core::SnapshotTransactions seen)
    : plan_(plan), seen_(std::move(seen)) {}

namespace {

std::string values_text(const std::vector<std::optional<std::string>>& values) {
  std::string text;
  for (const auto& v : values) text += (v ? "v" + *v : std::string("n")) + '\x1f';
  return text;
}

std::vector<std::optional<std::string>> key_of(const core::ReplayStage& stage,
                                               const std::vector<core::ChangeColumn>& columns) {
  std::vector<std::optional<std::string>> key;
  for (const auto& k : stage.key)
    for (const auto& c : columns)
      if (c.name == k) key.push_back(c.value);
  return key;
}

}  // namespace

void ChangeReplayer::apply(const std::vector<core::ReplayStage>& stages) {
  std::map<std::pair<std::string, std::string>, size_t> by_table;
  std::vector<core::ReplayBatcher> batchers;
  batchers.reserve(stages.size());
  for (size_t i = 0; i < stages.size(); ++i) {
    by_table[{stages[i].schema, stages[i].name}] = i;
    batchers.emplace_back(stages[i], kBatchRows);
  }
  incomplete_.assign(stages.size(), {});
  // Updates and deletes find their rows by key through the index every
  // keyed stage has (core::stage_key_index_sql): without it each batch
  // would read the whole stage (bench/restore_to.sh, 1M updates: 85% of
  // the time).
  // Keys (values_text) of rows inserted without all their values, per stage.
  std::vector<std::map<std::string, std::vector<std::optional<std::string>>>> incomplete(stages.size());

  auto flush = [&](size_t i) {
    core::ReplayBatcher& b = batchers[i];
    if (b.empty()) return;
    const core::ReplayStatement s = b.statement();
    const Spi::Result result = Spi::execute_returning(s.sql, s.params);
    if (b.kind() == core::ReplayBatcher::Kind::Update) {
      std::set<size_t> found;
      for (const auto& row : result.rows)
        if (row[0]) found.insert(std::stoull(*row[0]));
      std::vector<std::vector<std::optional<std::string>>> partial;
      if (auto insert = b.insert_missing(found, &partial)) (void)Spi::execute_returning(insert->sql, insert->params);
      for (auto& key : partial) incomplete[i][values_text(key)] = key;
    }
    b.clear();
  };

  core::ReplaySelection selection(seen_, plan_.target_utc);
  auto replay = [&](const core::ChangeRecord& change, const core::ChangeRecord& commit) {
    auto it = by_table.find({change.schema, change.table});
    if (it == by_table.end()) return;  // not a table of the tenant's snapshot
    const size_t i = it->second;
    progress::add_rows(1);
    if (change.op == core::ChangeOp::Truncate) {
      flush(i);
      (void)Spi::execute_returning("DELETE FROM " + stages[i].stage);
      incomplete[i].clear();
      return;
    }
    core::ReplayBatcher& b = batchers[i];
    if (!b.accepts(change)) flush(i);
    b.add(change, commit.commit_at);
    // A later change giving a row all its values again.
    if (incomplete[i].empty()) return;
    if (change.op == core::ChangeOp::Update && change.key) {
      const std::string old_key = values_text(key_of(stages[i], *change.key));
      const std::string new_key = values_text(key_of(stages[i], change.row));
      auto was = incomplete[i].find(old_key);
      if (change.row.size() == stages[i].columns.size()) {
        if (was != incomplete[i].end()) incomplete[i].erase(was);
      } else if (was != incomplete[i].end() && new_key != old_key) {
        incomplete[i][new_key] = key_of(stages[i], change.row);
        incomplete[i].erase(old_key);
      }
    } else if (change.op == core::ChangeOp::Delete && change.key) {
      incomplete[i].erase(values_text(key_of(stages[i], *change.key)));
    } else if (change.op == core::ChangeOp::Insert) {
      incomplete[i].erase(values_text(key_of(stages[i], change.row)));
    }
  };

  const std::vector<SegmentFile> files = segments_to_replay(plan_.stretch.consistent_lsn, seen_.xmin);
  // Each segment twice (ReplaySelection): its lines are decompressed as a
  // stream both times, so a large transaction is never held in memory.
  auto each_line = [&](const std::string& bytes, bool encrypted, const std::function<void(std::string_view)>& take) {
    core::StringSource stored(bytes);
    std::optional<core::DecryptingSource> decrypted;
    if (encrypted) decrypted.emplace(stored, key_lookup());
    core::DecompressingSource text(decrypted ? static_cast<core::Source&>(*decrypted) : stored,
                                   core::Compression::Zstd);
    std::string pending;
    bool header = true;
    char buffer[65536];
    auto line = [&](std::string_view l) {
      if (header) {
        core::check_change_segment_header(l, database_oid());
        header = false;
      } else if (!l.empty()) {
        take(l);
      }
    };
    for (size_t n; (n = text.read(buffer, sizeof buffer)) > 0;) {
      pending.append(buffer, n);
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
        line(std::string_view(pending).substr(start, nl - start));
      pending.erase(0, start);
    }
    if (!pending.empty()) line(pending);
  };
  for (const auto& f : files) {
    const std::string bytes = read_segment(f.file_name, f.checksum);
    const bool encrypted = f.encrypted;
    ++counts_.segments;
    each_line(bytes, encrypted, [&](std::string_view l) { selection.scan(l); });
    each_line(bytes, encrypted, [&](std::string_view l) { selection.replay(l, replay); });
    if (selection.end_segment()) break;
  }
  for (size_t i = 0; i < stages.size(); ++i) flush(i);
  for (size_t i = 0; i < stages.size(); ++i)
    for (auto& [text, key] : incomplete[i]) incomplete_[i].push_back(key);
  counts_.transactions = selection.transactions_replayed();
  counts_.transactions_seen = selection.transactions_seen();
  counts_.changes = selection.changes_replayed();
  counts_.last_commit_at = selection.last_commit_at();
  counts_.last_lsn = selection.last_lsn();
}

void ChangeReplayer::check(const std::vector<core::ReplayStage>& stages) const {
  for (size_t i = 0; i < stages.size() && i < incomplete_.size(); ++i) {
    if (incomplete_[i].empty()) continue;
    core::ReplayBatcher b(stages[i], kBatchRows);
    for (size_t from = 0; from < incomplete_[i].size(); from += kBatchRows) {
      const std::vector<std::vector<std::optional<std::string>>> chunk(
          incomplete_[i].begin() + static_cast<std::ptrdiff_t>(from),
          incomplete_[i].begin() + static_cast<std::ptrdiff_t>(std::min(from + kBatchRows, incomplete_[i].size())));
      const core::ReplayStatement s = b.find_keys(chunk);
      if (Spi::execute_returning(s.sql, s.params).rows.empty()) continue;
      throw core::Error(core::sqlstate::kFeatureNotSupported,
                        "cannot restore to " + plan_.target_utc + ": a row of " + stages[i].display +
                            " that became the tenant's in an update lacks values change capture does not have",
                        "An update records the large (TOASTed) values it did not change only as unchanged; the "
                        "row was not in the snapshot, so those values are not known.",
                        "Restore to a moment before that update, or from a snapshot taken after it.");
    }
  }
}

// --- backup_recovery_window ----------------------------------------------

std::vector<RecoveryWindow> recovery_windows(const std::optional<std::string>& tenant) {
  std::vector<RecoveryWindow> windows;
  if (!change_segments_installed()) return windows;
  for (auto& c : capture_stretches()) {
    fill_unrecorded_end(c);
    const StretchSnapshots w = snapshots_in_stretch(tenant, c);
    if (!w.first_finished_at || w.count == 0) continue;
    windows.push_back({*w.first_finished_at, w.until, w.since, c.stopped ? w.stopped_at : std::nullopt, w.count});
  }
  return windows;
}

}  // namespace ptb::pg
