// Which completed snapshots a retention policy expires. Pure: the server
// side lists the snapshots and deletes what this returns.
//
// Ownership (docs/operations.md, "Retention"): automatic retention removes
// only what it created. A schedule's retention sees that schedule's own
// snapshots; the settings applied after a manual backup (only when a
// superuser turned pg_tenant_backup.prune_manual on) see manual and
// pre_restore snapshots; an explicit backup_prune sees every kind. No
// scope ever expires a kept (pinned) snapshot, nor a pre_restore snapshot
// whose restore can still be undone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ptb::core {

// backup_logs.trigger of a snapshot.
enum class SnapshotTrigger { Manual, Scheduled, PreRestore };

// "manual" (and "pg_cron", a manual call made by a pg_cron job), "scheduled",
// "pre_restore"; anything else is nullopt.
std::optional<SnapshotTrigger> snapshot_trigger_from_string(std::string_view text);

struct StoredSnapshot {
  int64_t id;
  std::optional<std::string> tenant;  // nullopt: a whole-database snapshot
  int64_t finished_at;                // unix seconds
  SnapshotTrigger trigger = SnapshotTrigger::Manual;
  std::optional<int64_t> schedule_id;  // the schedule that took it (trigger scheduled)
  bool keep = false;                   // pinned: only backup_delete removes it
  // For a pre_restore snapshot: the restore it protects can still be undone
  // (the snapshot is within pg_tenant_backup.restore_window, or there is no
  // window). Ignored for the other triggers.
  bool undo_possible = true;
};

struct RetentionPolicy {
  std::optional<int64_t> max_backups;     // keep at most this many per tenant (>= 1)
  std::optional<int64_t> retention_days;  // expire those older than this (>= 0)
};

// Which snapshots a retention run looks at.
struct RetentionScope {
  enum class Kind {
    Schedule,  // after a scheduled backup: that schedule's own snapshots
    Manual,    // after a manual backup, with prune_manual on: manual and pre_restore snapshots
    Prune,     // an explicit backup_prune: every kind
  };
  Kind kind = Kind::Prune;
  std::optional<int64_t> schedule_id;  // Kind::Schedule: the schedule
};

// Whether a run of `scope` may count and expire `s` at all: never a kept
// snapshot, never a pre_restore snapshot whose restore can still be undone,
// and otherwise only what the scope owns (see above).
bool in_retention_scope(const StoredSnapshot& s, const RetentionScope& scope);

// The ids to expire, ascending. Snapshots outside the scope are left out
// first: they are neither counted nor expired. The rest are grouped per
// tenant (the whole-database ones form their own group) and ranked newest
// first (finished_at, then id, descending). In each group a snapshot
// expires when it ranks beyond max_backups or finished more than
// retention_days * 86400 seconds before now; the newest of a group never
// expires, so a policy can never leave a tenant without a snapshot of the
// scope. A policy with neither limit expires nothing. max_backups <= 0 or
// retention_days < 0 throws Error(22023).
std::vector<int64_t> snapshots_to_expire(std::vector<StoredSnapshot> snapshots,
                                         const RetentionPolicy& policy, int64_t now,
                                         const RetentionScope& scope = {});

}  // namespace ptb::core
