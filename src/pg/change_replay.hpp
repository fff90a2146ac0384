// Restore to a moment (docs/pitr.md): which snapshot a tenant's restore to a
// moment starts from, whether change capture covers the way from it to the
// moment, and the replay of the captured changes into the staged rows of
// that snapshot (the import does the rest, as for backup_restore).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/change_replay.hpp"
#include "pg/backup_log.hpp"

namespace ptb::pg {

// What backup_restore_to replays, decided before anything changes.
struct ReplayPlan {
  int64_t snapshot_id = 0;
  std::string target_utc;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  CaptureStretch stretch;
};

// Chooses the newest snapshot of the tenant finished at or before the
// target within the stretch of capture the target falls in, and makes
// sure capture has read every change up to the target (waiting a few
// seconds for it when it is close behind). Throws 22023 for a target in
// the future, 55000 when the moment cannot be restored (with why).
// Needs SPI and fix_output_settings.
ReplayPlan plan_replay(const std::optional<std::string>& tenant, int64_t target_unix_micros);

// The snapshot, once read, must have been taken after its stretch began
// (its xmax above the start's transaction id): 55000 otherwise.
void check_snapshot_in_stretch(const ReplayPlan& plan, const core::SnapshotTransactions& seen);

struct ReplayCounts {
  uint64_t segments = 0;
  uint64_t transactions = 0;       // replayed
  uint64_t transactions_seen = 0;  // in the snapshot already
  uint64_t changes = 0;
  std::string last_commit_at;      // of the last transaction replayed
  std::string last_lsn;
};

// Replays the changes into the stages (StageReplay::apply) and, after the
// import kept only the tenant's rows, checks that none of them lacks
// values the capture did not have (StageReplay::check).
// One row of backup_recovery_window: a stretch of uninterrupted change
// capture with a snapshot of the tenant to start from (timestamptz texts).
struct RecoveryWindow {
  std::string earliest;  // the first snapshot's finish
  std::string latest;    // the last captured change of a stopped stretch, else now
  std::string capture_started_at;
  std::optional<std::string> capture_stopped_at;
  int64_t snapshots = 0;
};
// Needs SPI and fix_output_settings.
std::vector<RecoveryWindow> recovery_windows(const std::optional<std::string>& tenant);

class ChangeReplayer {
 public:
  ChangeReplayer(const ReplayPlan& plan, core::SnapshotTransactions seen);
  void apply(const std::vector<core::ReplayStage>& stages);
  void check(const std::vector<core::ReplayStage>& stages) const;
  const ReplayCounts& counts() const { return counts_; }

 private:
  const ReplayPlan& plan_;
  core::SnapshotTransactions seen_;
  ReplayCounts counts_;
  // Per stage (index into the stages), keys of rows inserted without the
  // TOASTed values an update did not change.
  std::vector<std::vector<std::vector<std::optional<std::string>>>> incomplete_;
};

}  // namespace ptb::pg
