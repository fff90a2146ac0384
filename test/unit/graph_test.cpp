#include <gtest/gtest.h>

#include <algorithm>

#include "core/graph.hpp"

using namespace ptb::core;

namespace {
size_t position(const std::vector<size_t>& order, size_t node) {
  return static_cast<size_t>(std::find(order.begin(), order.end(), node) - order.begin());
}
auto by_index = [](size_t a, size_t b) { return a < b; };
}  // namespace

TEST(StronglyConnectedComponents, FindsCyclesAndSingletons) {
  // 0 <-> 1, 2 -> 0, 3 self loop, 4 alone
  auto comps = strongly_connected_components(5, {{0, 1}, {1, 0}, {2, 0}, {3, 3}});
  ASSERT_EQ(comps.size(), 4u);
  bool pair_found = std::any_of(comps.begin(), comps.end(),
                                [](const auto& c) { return c.size() == 2; });
  EXPECT_TRUE(pair_found);
}

TEST(DependencyOrder, ReferencedBeforeReferencing) {
  // 2 references 1 references 0; 3 references 0.
  auto order = dependency_order(4, {{2, 1}, {1, 0}, {3, 0}}, by_index);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_LT(position(order, 0), position(order, 1));
  EXPECT_LT(position(order, 1), position(order, 2));
  EXPECT_LT(position(order, 0), position(order, 3));
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(DependencyOrder, CyclesStayTogetherAfterTheirDependencies) {
  // 1 <-> 2 both reference 0; 3 references 2.
  auto order = dependency_order(4, {{1, 2}, {2, 1}, {1, 0}, {3, 2}}, by_index);
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(DependencyOrder, TieBreakIsTheGivenOrder) {
  auto order = dependency_order(3, {}, [](size_t a, size_t b) { return a > b; });
  EXPECT_EQ(order, (std::vector<size_t>{2, 1, 0}));
}

TEST(DependencyOrder, LongChainDoesNotRecurse) {
  const size_t n = 200000;
  std::vector<Edge> edges;
  for (size_t i = 1; i < n; ++i) edges.push_back({i, i - 1});
  auto order = dependency_order(n, edges, by_index);
  ASSERT_EQ(order.size(), n);
  EXPECT_EQ(order.front(), 0u);
  EXPECT_EQ(order.back(), n - 1);
}
