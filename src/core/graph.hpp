// Small graph algorithms used to order tables by their foreign keys.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace ptb::core {

// A directed edge: `from` must come after `to` (a referencing table after
// the table it references).
struct Edge {
  size_t from;
  size_t to;
};

// Strongly connected components (Tarjan), each a list of node indices.
std::vector<std::vector<size_t>> strongly_connected_components(
    size_t node_count, const std::vector<Edge>& edges);

// Orders nodes so that every node comes after the nodes it depends on.
// Nodes on a cycle (one strongly connected component) are kept together;
// `before` breaks ties so the result is deterministic.
std::vector<size_t> dependency_order(size_t node_count, const std::vector<Edge>& edges,
                                     const std::function<bool(size_t, size_t)>& before);

}  // namespace ptb::core
