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
