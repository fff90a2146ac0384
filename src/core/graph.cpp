#include "core/graph.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace ptb::core {

std::vector<std::vector<size_t>> strongly_connected_components(
    size_t n, const std::vector<Edge>& edges) {
  std::vector<std::vector<size_t>> out_edges(n);
  for (const auto& e : edges) out_edges[e.from].push_back(e.to);

  // Iterative Tarjan: catalogs can be large and recursion depth is not ours
  // to spend inside a server backend.
  constexpr size_t kUnvisited = std::numeric_limits<size_t>::max();
  std::vector<size_t> index(n, kUnvisited), low(n, 0);
  std::vector<bool> on_stack(n, false);
  std::vector<size_t> stack;
  std::vector<std::vector<size_t>> components;
  size_t next_index = 0;

  struct Frame {
    size_t node;
    size_t next_edge;
  };
  for (size_t root = 0; root < n; ++root) {
    if (index[root] != kUnvisited) continue;
    std::vector<Frame> frames{{root, 0}};
    index[root] = low[root] = next_index++;
    stack.push_back(root);
    on_stack[root] = true;
    while (!frames.empty()) {
      Frame& f = frames.back();
      if (f.next_edge < out_edges[f.node].size()) {
        size_t w = out_edges[f.node][f.next_edge++];
        if (index[w] == kUnvisited) {
          index[w] = low[w] = next_index++;
          stack.push_back(w);
          on_stack[w] = true;
          frames.push_back({w, 0});
        } else if (on_stack[w]) {
          low[f.node] = std::min(low[f.node], index[w]);
        }
        continue;
      }
      size_t v = f.node;
      frames.pop_back();
      if (!frames.empty()) low[frames.back().node] = std::min(low[frames.back().node], low[v]);
      if (low[v] == index[v]) {
        std::vector<size_t> component;
        size_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = false;
          component.push_back(w);
        } while (w != v);
        components.push_back(std::move(component));
      }
    }
  }
  return components;
}

std::vector<size_t> dependency_order(size_t n, const std::vector<Edge>& edges,
                                     const std::function<bool(size_t, size_t)>& before) {
  auto components = strongly_connected_components(n, edges);
  std::vector<size_t> component_of(n);
  for (size_t c = 0; c < components.size(); ++c) {
    std::sort(components[c].begin(), components[c].end(), before);
    for (size_t v : components[c]) component_of[v] = c;
  }
  // Kahn's algorithm on the condensed graph; the ready component whose first
  // member sorts first goes next.
  std::vector<std::set<size_t>> dependents(components.size());
  std::vector<size_t> pending(components.size(), 0);
  for (const auto& e : edges) {
    size_t from = component_of[e.from], to = component_of[e.to];
    if (from != to && dependents[to].insert(from).second) ++pending[from];
  }
  auto component_before = [&](size_t a, size_t b) {
    return before(components[a].front(), components[b].front());
  };
  std::vector<size_t> ready;
  for (size_t c = 0; c < components.size(); ++c)
    if (pending[c] == 0) ready.push_back(c);
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    auto best = std::min_element(ready.begin(), ready.end(), component_before);
    size_t c = *best;
    ready.erase(best);
    for (size_t v : components[c]) order.push_back(v);
    for (size_t d : dependents[c])
      if (--pending[d] == 0) ready.push_back(d);
  }
  return order;
}

}  // namespace ptb::core
