#include "core/retention.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "core/error.hpp"

using namespace ptb::core;

namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1'800'000'000;

StoredSnapshot snap(int64_t id, std::optional<std::string> tenant, int64_t finished_at) {
  return {id, std::move(tenant), finished_at};
}

// One snapshot per day for a tenant, newest `first_id`.
std::vector<StoredSnapshot> daily(std::optional<std::string> tenant, int64_t first_id, int count) {
  std::vector<StoredSnapshot> out;
  for (int i = 0; i < count; ++i) out.push_back(snap(first_id + i, tenant, kNow - i * kDay));
  return out;
}

void expect_invalid(const RetentionPolicy& policy) {
  try {
    snapshots_to_expire(daily("a", 1, 3), policy, kNow);
    ADD_FAILURE() << "accepted an invalid policy";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
  }
}

}  // namespace

TEST(Retention, NoPolicyExpiresNothing) {
  EXPECT_TRUE(snapshots_to_expire(daily("a", 1, 50), {}, kNow).empty());
  EXPECT_TRUE(snapshots_to_expire({}, {3, 7}, kNow).empty());
}

TEST(Retention, KeepsAtMostMaxBackupsPerTenant) {
  // ids 1..5, id 1 newest.
  EXPECT_EQ(snapshots_to_expire(daily("a", 1, 5), {2, std::nullopt}, kNow),
            (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(snapshots_to_expire(daily("a", 1, 5), {1, std::nullopt}, kNow),
            (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_TRUE(snapshots_to_expire(daily("a", 1, 5), {5, std::nullopt}, kNow).empty());
  EXPECT_TRUE(snapshots_to_expire(daily("a", 1, 5), {100, std::nullopt}, kNow).empty());
}

TEST(Retention, ExpiresOlderThanRetentionDays) {
  // Ages 0..4 days: with 2 days, ages 3 and 4 are out; exactly 2 days is kept.
  EXPECT_EQ(snapshots_to_expire(daily("a", 1, 5), {std::nullopt, 2}, kNow),
            (std::vector<int64_t>{4, 5}));
  auto group = daily("a", 1, 3);
  group[1].finished_at = kNow - 2 * kDay - 1;  // one second beyond
  EXPECT_EQ(snapshots_to_expire(group, {std::nullopt, 2}, kNow), (std::vector<int64_t>{2}));
}

TEST(Retention, ZeroRetentionDaysKeepsOnlyTheNewestAndTheCurrentSecond) {
  std::vector<StoredSnapshot> group = {snap(1, "a", kNow), snap(2, "a", kNow),
                                       snap(3, "a", kNow - 1)};
  EXPECT_EQ(snapshots_to_expire(group, {std::nullopt, 0}, kNow), (std::vector<int64_t>{3}));
}

TEST(Retention, BothLimitsApply) {
  // Count keeps 3 (ids 1..3), age keeps ages <= 1 day (ids 1, 2).
  EXPECT_EQ(snapshots_to_expire(daily("a", 1, 6), {3, 1}, kNow),
            (std::vector<int64_t>{3, 4, 5, 6}));
  // Count keeps 1, age keeps all: count wins.
  EXPECT_EQ(snapshots_to_expire(daily("a", 1, 3), {1, 30}, kNow), (std::vector<int64_t>{2, 3}));
}

TEST(Retention, NeverExpiresTheNewestOfAGroup) {
  // Every snapshot is a year old: the newest still stays.
  auto old = daily("a", 1, 4);
  for (auto& s : old) s.finished_at -= 365 * kDay;
  EXPECT_EQ(snapshots_to_expire(old, {std::nullopt, 1}, kNow), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(snapshots_to_expire({snap(9, "a", 0)}, {1, 0}, kNow).empty());
}

TEST(Retention, GroupsPerTenantWithTheWholeDatabaseApart) {
  std::vector<StoredSnapshot> all;
  for (auto& s : daily("a", 10, 3)) all.push_back(s);
  for (auto& s : daily("b", 20, 3)) all.push_back(s);
  for (auto& s : daily(std::nullopt, 30, 3)) all.push_back(s);
  // A tenant literally named "" is not the whole database.
  for (auto& s : daily("", 40, 3)) all.push_back(s);
  std::shuffle(all.begin(), all.end(), std::mt19937(7));
  EXPECT_EQ(snapshots_to_expire(all, {1, std::nullopt}, kNow),
            (std::vector<int64_t>{11, 12, 21, 22, 31, 32, 41, 42}));
}

TEST(Retention, TiesOnFinishTimeAreBrokenByHigherIdBeingNewer) {
  std::vector<StoredSnapshot> group = {snap(5, "a", kNow), snap(7, "a", kNow), snap(6, "a", kNow),
                                       snap(8, "a", kNow - 10)};
  EXPECT_EQ(snapshots_to_expire(group, {1, std::nullopt}, kNow), (std::vector<int64_t>{5, 6, 8}));
  EXPECT_EQ(snapshots_to_expire(group, {2, std::nullopt}, kNow), (std::vector<int64_t>{5, 8}));
  // Time wins over id: the highest id finished first.
  std::vector<StoredSnapshot> late = {snap(100, "a", kNow - 50), snap(1, "a", kNow)};
  EXPECT_EQ(snapshots_to_expire(late, {1, std::nullopt}, kNow), (std::vector<int64_t>{100}));
}

TEST(Retention, ResultIsSortedWhateverTheInputOrder) {
  auto group = daily("a", 1, 20);
  std::reverse(group.begin(), group.end());
  auto expired = snapshots_to_expire(group, {4, std::nullopt}, kNow);
  EXPECT_TRUE(std::is_sorted(expired.begin(), expired.end()));
  EXPECT_EQ(expired.size(), 16u);
  EXPECT_EQ(expired.front(), 5);
}

TEST(Retention, SnapshotsFromTheFutureAreNotOld) {
  // A clock step back: a snapshot "finished" after now is young.
  std::vector<StoredSnapshot> group = {snap(1, "a", kNow + 5 * kDay), snap(2, "a", kNow + kDay)};
  EXPECT_TRUE(snapshots_to_expire(group, {std::nullopt, 0}, kNow).empty());
}

TEST(Retention, ExtremeValuesDoNotOverflow) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  std::vector<StoredSnapshot> group = {snap(1, "a", kMax), snap(2, "a", kMin), snap(3, "a", 0)};
  // now - kMin overflows: the snapshot is older than any limit.
  EXPECT_EQ(snapshots_to_expire(group, {std::nullopt, 1}, kMax), (std::vector<int64_t>{2, 3}));
  // A day count too large to express in seconds expires nothing by age.
  EXPECT_TRUE(snapshots_to_expire(group, {std::nullopt, kMax}, kMax).empty());
  EXPECT_EQ(snapshots_to_expire(group, {kMax, std::nullopt}, 0), std::vector<int64_t>{});
  // now = kMin: nothing finished before it.
  EXPECT_TRUE(snapshots_to_expire(group, {std::nullopt, 0}, kMin).empty());
}

TEST(Retention, DuplicateIdsNeverExpireANewestSnapshot) {
  std::vector<StoredSnapshot> listed_twice = {snap(1, "a", kNow), snap(1, "a", kNow - kDay),
                                              snap(2, "a", kNow - 2 * kDay)};
  EXPECT_EQ(snapshots_to_expire(listed_twice, {1, std::nullopt}, kNow), (std::vector<int64_t>{2}));
}

TEST(Retention, RejectsInvalidPolicies) {
  expect_invalid({0, std::nullopt});
  expect_invalid({-1, std::nullopt});
  expect_invalid({std::numeric_limits<int64_t>::min(), 3});
  expect_invalid({std::nullopt, -1});
  expect_invalid({5, -30});
  // Zero days is a valid policy (keep only the newest, plus the current second).
  EXPECT_NO_THROW(snapshots_to_expire(daily("a", 1, 3), {std::nullopt, 0}, kNow));
}

// Random snapshot sets: checks the rules themselves, in both directions.
TEST(RetentionProperty, ExpiresExactlyWhatTheRulesSay) {
  std::mt19937_64 random(20261121);
  const std::vector<std::optional<std::string>> tenants = {std::nullopt, "a", "b", "c", ""};
  for (int round = 0; round < 2000; ++round) {
    std::vector<StoredSnapshot> snapshots;
    int count = static_cast<int>(random() % 30);
    for (int i = 0; i < count; ++i)
      // Few distinct times, so ties are common; unique ids.
      snapshots.push_back(snap(1000 + i, tenants[random() % tenants.size()],
                               kNow - static_cast<int64_t>(random() % 12) * kDay / 2 +
                                   static_cast<int64_t>(random() % 3)));
    RetentionPolicy policy;
    if (random() % 3 != 0) policy.max_backups = 1 + static_cast<int64_t>(random() % 5);
    if (random() % 3 != 0) policy.retention_days = static_cast<int64_t>(random() % 6);

    auto expired = snapshots_to_expire(snapshots, policy, kNow);
    ASSERT_TRUE(std::is_sorted(expired.begin(), expired.end()));
    std::set<int64_t> gone(expired.begin(), expired.end());
    ASSERT_EQ(gone.size(), expired.size());

    std::map<std::optional<std::string>, std::vector<StoredSnapshot>> groups;
    for (const auto& s : snapshots) groups[s.tenant].push_back(s);
    for (auto& [tenant, group] : groups) {
      std::sort(group.begin(), group.end(), [](const auto& x, const auto& y) {
        return std::pair(x.finished_at, x.id) > std::pair(y.finished_at, y.id);
      });
      int64_t kept = 0;
      for (size_t rank = 0; rank < group.size(); ++rank) {
        const auto& s = group[rank];
        bool too_old =
            policy.retention_days && kNow - s.finished_at > *policy.retention_days * kDay;
        bool too_many = policy.max_backups && static_cast<int64_t>(rank) >= *policy.max_backups;
        bool should_go = rank > 0 && (too_old || too_many);
        EXPECT_EQ(gone.count(s.id) == 1, should_go) << "round " << round << " id " << s.id;
        if (!gone.count(s.id)) {
          ++kept;
          // Nothing older than the retention kept but the newest.
          if (rank > 0 && policy.retention_days)
            EXPECT_LE(kNow - s.finished_at, *policy.retention_days * kDay);
        }
      }
      // The newest of each group is kept, and at most max_backups are.
      EXPECT_EQ(gone.count(group.front().id), 0u) << "round " << round;
      if (policy.max_backups) EXPECT_LE(kept, *policy.max_backups);
      EXPECT_GE(kept, 1);
    }
  }
}

// --- Ownership: what each kind of retention may remove.

namespace {

StoredSnapshot scheduled(int64_t id, std::optional<std::string> tenant, int64_t finished_at,
                         int64_t schedule_id) {
  StoredSnapshot s = snap(id, std::move(tenant), finished_at);
  s.trigger = SnapshotTrigger::Scheduled;
  s.schedule_id = schedule_id;
  return s;
}

StoredSnapshot pre_restore(int64_t id, std::optional<std::string> tenant, int64_t finished_at,
                           bool undo_possible) {
  StoredSnapshot s = snap(id, std::move(tenant), finished_at);
  s.trigger = SnapshotTrigger::PreRestore;
  s.undo_possible = undo_possible;
  return s;
}

StoredSnapshot kept(StoredSnapshot s) {
  s.keep = true;
  return s;
}

const RetentionScope kSchedule7{RetentionScope::Kind::Schedule, 7};
const RetentionScope kManual{RetentionScope::Kind::Manual, std::nullopt};
const RetentionScope kPrune{RetentionScope::Kind::Prune, std::nullopt};

// A tenant with every kind of snapshot: "a" has a manual one ("before
// migration"), a pinned one, a pre_restore one, two of schedule 8 and many
// of schedule 7.
std::vector<StoredSnapshot> mixed_tenant() {
  std::vector<StoredSnapshot> all = {
      snap(1, "a", kNow - 10 * kDay),                  // manual
      kept(snap(2, "a", kNow - 400 * kDay)),           // pinned, very old
      pre_restore(3, "a", kNow - 2 * kDay, true),      // its restore can be undone
      scheduled(4, "a", kNow - 3, 8),                  // another schedule
      scheduled(5, "a", kNow - 2, 8),
  };
  for (int i = 0; i < 5; ++i) all.push_back(scheduled(10 + i, "a", kNow - 100 + i, 7));
  return all;
}

}  // namespace

TEST(RetentionScope, TriggersReadFromTheLog) {
  EXPECT_EQ(snapshot_trigger_from_string("manual"), SnapshotTrigger::Manual);
  EXPECT_EQ(snapshot_trigger_from_string("scheduled"), SnapshotTrigger::Scheduled);
  EXPECT_EQ(snapshot_trigger_from_string("pre_restore"), SnapshotTrigger::PreRestore);
  // A pg_cron job's backup_create is a manual call: prune_manual expires it.
  EXPECT_EQ(snapshot_trigger_from_string("pg_cron"), SnapshotTrigger::Manual);
  EXPECT_EQ(snapshot_trigger_from_string("Manual"), std::nullopt);
  EXPECT_EQ(snapshot_trigger_from_string(""), std::nullopt);
}

TEST(RetentionScope, AScheduleCountsAndExpiresOnlyItsOwnSnapshots) {
  // max_backups 1: schedule 7 keeps its newest (14), nothing else is touched
  // however new the others are.
  EXPECT_EQ(snapshots_to_expire(mixed_tenant(), {1, std::nullopt}, kNow, kSchedule7),
            (std::vector<int64_t>{10, 11, 12, 13}));
  // By age as well: the manual snapshot (10 days) and the pinned one (400
  // days) stay under a 1-day retention; schedule 7's are all young.
  EXPECT_TRUE(snapshots_to_expire(mixed_tenant(), {std::nullopt, 1}, kNow, kSchedule7).empty());
  // Another schedule's snapshots do not take schedule 7's places: with
  // max_backups 5 all five of its own stay.
  EXPECT_TRUE(snapshots_to_expire(mixed_tenant(), {5, std::nullopt}, kNow, kSchedule7).empty());
}

TEST(RetentionScope, AScheduleWithoutAnIdOwnsNothing) {
  EXPECT_TRUE(snapshots_to_expire(mixed_tenant(), {1, 0},
                                  kNow, {RetentionScope::Kind::Schedule, std::nullopt})
                  .empty());
}

TEST(RetentionScope, AScheduleKeepsItsNewestPerTenant) {
  // A '*' schedule: one group per tenant, each keeps its newest.
  std::vector<StoredSnapshot> all = {scheduled(1, "a", kNow - 2, 7), scheduled(2, "a", kNow - 1, 7),
                                     scheduled(3, "b", kNow - 2, 7), scheduled(4, "b", kNow - 1, 7),
                                     snap(5, "b", kNow)};
  EXPECT_EQ(snapshots_to_expire(all, {1, std::nullopt}, kNow, kSchedule7),
            (std::vector<int64_t>{1, 3}));
}

TEST(RetentionScope, ManualRetentionSeesManualAndPreRestoreSnapshotsOnly) {
  std::vector<StoredSnapshot> all = {
      snap(1, "a", kNow - 3 * kDay),  snap(2, "a", kNow - 2 * kDay), snap(3, "a", kNow - kDay),
      pre_restore(4, "a", kNow - 5 * kDay, false),  // its restore can no longer be undone
      pre_restore(5, "a", kNow - 6 * kDay, true),   // it can
      scheduled(6, "a", kNow - 9 * kDay, 7),        // a schedule's: not manual retention's
      kept(snap(7, "a", kNow - 9 * kDay)),
  };
  EXPECT_EQ(snapshots_to_expire(all, {1, std::nullopt}, kNow, kManual),
            (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(snapshots_to_expire(all, {std::nullopt, 4}, kNow, kManual), (std::vector<int64_t>{4}));
}

TEST(RetentionScope, PruneSeesEveryKindButKeptAndUndoableSnapshots) {
  auto all = mixed_tenant();
  all.push_back(pre_restore(20, "a", kNow - 30 * kDay, false));
  // One group over every kind: its newest is 5 (schedule 8, two seconds old);
  // the pinned 2 and the undoable pre_restore 3 are left out.
  EXPECT_EQ(snapshots_to_expire(all, {1, std::nullopt}, kNow, kPrune),
            (std::vector<int64_t>{1, 4, 10, 11, 12, 13, 14, 20}));
  // The default scope is the explicit prune.
  EXPECT_EQ(snapshots_to_expire(all, {1, std::nullopt}, kNow),
            snapshots_to_expire(all, {1, std::nullopt}, kNow, kPrune));
}

TEST(RetentionScope, KeptSnapshotsAreNeitherCountedNorExpired) {
  // Three pinned snapshots newer than the two unpinned ones: with
  // max_backups 2 nothing goes, the pinned ones take no place.
  std::vector<StoredSnapshot> all = {kept(snap(1, "a", kNow)), kept(snap(2, "a", kNow - 1)),
                                     kept(snap(3, "a", kNow - 2)), snap(4, "a", kNow - 3),
                                     snap(5, "a", kNow - 4)};
  for (const auto& scope : {kManual, kPrune})
    EXPECT_TRUE(snapshots_to_expire(all, {2, std::nullopt}, kNow, scope).empty());
  // Every limit at its tightest: the unpinned older one goes, pinned ones stay.
  EXPECT_EQ(snapshots_to_expire(all, {1, 0}, kNow, kPrune), (std::vector<int64_t>{5}));
  // A pinned scheduled snapshot is out of its schedule's retention too.
  std::vector<StoredSnapshot> own = {kept(scheduled(1, "a", kNow - 9, 7)), scheduled(2, "a", kNow - 1, 7)};
  EXPECT_TRUE(snapshots_to_expire(own, {1, 0}, kNow, kSchedule7).empty());
}

TEST(RetentionScope, APreRestoreSnapshotStaysWhileItsRestoreCanBeUndone) {
  for (const auto& scope : {kSchedule7, kManual, kPrune}) {
    std::vector<StoredSnapshot> all = {snap(1, "a", kNow), pre_restore(2, "a", kNow - 999 * kDay, true)};
    EXPECT_TRUE(snapshots_to_expire(all, {1, 0}, kNow, scope).empty());
  }
  // Once it cannot be undone, the explicit prune may take it.
  std::vector<StoredSnapshot> all = {snap(1, "a", kNow), pre_restore(2, "a", kNow - kDay, false)};
  EXPECT_EQ(snapshots_to_expire(all, {1, std::nullopt}, kNow, kPrune), (std::vector<int64_t>{2}));
  // undo_possible means nothing for other triggers.
  StoredSnapshot manual = snap(3, "a", kNow - kDay);
  manual.undo_possible = true;
  EXPECT_TRUE(in_retention_scope(manual, kPrune));
}

// Random sets: whatever the policy, no scope expires what it does not own.
TEST(RetentionScopeProperty, NothingOutsideTheScopeIsEverExpired) {
  std::mt19937_64 random(20261201);
  for (int round = 0; round < 2000; ++round) {
    std::vector<StoredSnapshot> all;
    const int count = static_cast<int>(random() % 25);
    for (int i = 0; i < count; ++i) {
      StoredSnapshot s = snap(100 + i, random() % 2 ? std::optional<std::string>("a") : std::nullopt,
                              kNow - static_cast<int64_t>(random() % 10) * kDay);
      switch (random() % 3) {
        case 0: break;
        case 1:
          s.trigger = SnapshotTrigger::Scheduled;
          s.schedule_id = 7 + static_cast<int64_t>(random() % 2);
          break;
        default:
          s.trigger = SnapshotTrigger::PreRestore;
          s.undo_possible = random() % 2;
      }
      s.keep = random() % 5 == 0;
      all.push_back(s);
    }
    const RetentionPolicy policy{1 + static_cast<int64_t>(random() % 3),
                                 static_cast<int64_t>(random() % 4)};
    for (const auto& scope : {kSchedule7, kManual, kPrune}) {
      auto expired = snapshots_to_expire(all, policy, kNow, scope);
      std::set<int64_t> gone(expired.begin(), expired.end());
      for (const auto& s : all) {
        if (!gone.count(s.id)) continue;
        EXPECT_FALSE(s.keep) << "round " << round;
        EXPECT_FALSE(s.trigger == SnapshotTrigger::PreRestore && s.undo_possible) << "round " << round;
        if (scope.kind == RetentionScope::Kind::Schedule)
          EXPECT_TRUE(s.trigger == SnapshotTrigger::Scheduled && s.schedule_id == 7);
        if (scope.kind == RetentionScope::Kind::Manual)
          EXPECT_NE(s.trigger, SnapshotTrigger::Scheduled);
      }
      // And within the scope it is the plain policy over the scope's own.
      std::vector<StoredSnapshot> own;
      for (const auto& s : all)
        if (in_retention_scope(s, scope)) {
          StoredSnapshot plain = snap(s.id, s.tenant, s.finished_at);
          own.push_back(plain);
        }
      EXPECT_EQ(expired, snapshots_to_expire(own, policy, kNow)) << "round " << round;
    }
  }
}
