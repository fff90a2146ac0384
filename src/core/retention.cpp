#include "core/retention.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

#include "core/error.hpp"

namespace ptb::core {

namespace {

constexpr int64_t kSecondsPerDay = 86400;

// now - finished_at > limit, without overflowing for any inputs.
bool older_than(int64_t finished_at, int64_t now, int64_t limit) {
  int64_t age;
  if (__builtin_sub_overflow(now, finished_at, &age))
    return now > finished_at;  // the true difference is beyond int64, in that direction
  return age > limit;
}

}  // namespace

std::optional<SnapshotTrigger> snapshot_trigger_from_string(std::string_view text) {
  // A pg_cron job's call is a manual call to retention: the extension does
  // not own pg_cron's schedules, so only prune_manual and backup_prune expire it.
  if (text == "manual" || text == "pg_cron") return SnapshotTrigger::Manual;
  if (text == "scheduled") return SnapshotTrigger::Scheduled;
  if (text == "pre_restore") return SnapshotTrigger::PreRestore;
  return std::nullopt;
}

bool in_retention_scope(const StoredSnapshot& s, const RetentionScope& scope) {
  if (s.keep) return false;
  if (s.trigger == SnapshotTrigger::PreRestore && s.undo_possible) return false;
  switch (scope.kind) {
    case RetentionScope::Kind::Schedule:
      return s.trigger == SnapshotTrigger::Scheduled && scope.schedule_id &&
             s.schedule_id == scope.schedule_id;
    case RetentionScope::Kind::Manual:
      return s.trigger == SnapshotTrigger::Manual || s.trigger == SnapshotTrigger::PreRestore;
    case RetentionScope::Kind::Prune:
      return true;
  }
  return false;
}

std::vector<int64_t> snapshots_to_expire(std::vector<StoredSnapshot> snapshots,
                                         const RetentionPolicy& policy, int64_t now,
                                         const RetentionScope& scope) {
  if (policy.max_backups && *policy.max_backups <= 0)
    throw Error(sqlstate::kInvalidParameterValue,
                "max_backups must be at least 1, not " + std::to_string(*policy.max_backups));
  if (policy.retention_days && *policy.retention_days < 0)
    throw Error(sqlstate::kInvalidParameterValue, "retention_days must not be negative, not " +
                                                      std::to_string(*policy.retention_days));

  // A limit of days too large to count in seconds expires nothing by age.
  std::optional<int64_t> max_age;
  if (policy.retention_days &&
      *policy.retention_days <= std::numeric_limits<int64_t>::max() / kSecondsPerDay)
    max_age = *policy.retention_days * kSecondsPerDay;

  std::vector<StoredSnapshot> completed;
  for (auto& s : snapshots)
    if (in_retention_scope(s, scope)) completed.push_back(std::move(s));

  // Groups together (whole-database first: nullopt sorts lowest), newest first inside.
  std::sort(
      completed.begin(), completed.end(), [](const StoredSnapshot& a, const StoredSnapshot& b) {
        return std::tie(a.tenant, b.finished_at, b.id) < std::tie(b.tenant, a.finished_at, a.id);
      });

  std::vector<int64_t> expired;
  std::vector<int64_t> newest;
  int64_t rank = 0;
  for (size_t i = 0; i < completed.size(); ++i) {
    const StoredSnapshot& s = completed[i];
    rank = (i > 0 && completed[i - 1].tenant == s.tenant) ? rank + 1 : 0;
    if (rank == 0) {  // the newest of its group stays
      newest.push_back(s.id);
      continue;
    }
    bool too_many = policy.max_backups && rank >= *policy.max_backups;
    bool too_old = max_age && older_than(s.finished_at, now, *max_age);
    if (too_many || too_old) expired.push_back(s.id);
  }
  std::sort(expired.begin(), expired.end());
  expired.erase(std::unique(expired.begin(), expired.end()), expired.end());
  // Ids are unique in practice; if one were listed twice, being some
  // group's newest still protects it.
  std::sort(newest.begin(), newest.end());
  std::erase_if(expired,
                [&](int64_t id) { return std::binary_search(newest.begin(), newest.end(), id); });
  return expired;
}

}  // namespace ptb::core
