// Head and tail arenas of every cut point without planning each segment anew.
//
// Planning the two segments of every cut separately costs O(cuts x nodes x
// overlap): cubic on a long chain. This gives the same numbers as PlanMemory
// on each segment, in about linear time, by using two facts:
//  - the greedy places a buffer from the buffers placed before it (larger, or
//    equal and earlier) that overlap it in time, and nothing else;
//  - at a cut exactly one tensor (the "separator") is live, so the buffers
//    between two consecutive cuts (a "unit") overlap only each other and the
//    two separators around them.
// So for a segment running from cut k onward, everything after separator j is
// a function of the separator's offset alone: memoised per (unit, offset).
// Heads are tails of the reversed unit sequence (the order of the greedy is
// global, so reversing the walk changes nothing). Where the graph is not such
// a chain (dead nodes, a separator live past the next cut), it returns false
// and the caller plans each segment itself.
#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "edgesplit/analysis.h"
#include "liveness.h"

namespace edgesplit::detail {
namespace {

constexpr int64_t kAlign = 16;  // PlanMemory's default
int64_t Align(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

struct Buffer {
  int64_t size;
  int first, last;  // global steps (node indices) it is live at, inclusive
  int rank;         // position in the greedy's global order
};

using Placed = std::vector<std::pair<int64_t, int64_t>>;  // [offset, end)

// PlanMemory's first fit: the lowest aligned offset clear of every busy range.
int64_t FirstFit(int64_t size, Placed& busy) {
  std::sort(busy.begin(), busy.end());
  int64_t candidate = 0;
  for (const auto& [start, stop] : busy) {
    if (candidate + size <= start) break;
    candidate = std::max(candidate, Align(stop));
  }
  return candidate;
}

class ChainPlanner {
 public:
  // units[i]: buffers strictly between separators seps[i] and seps[i+1].
  ChainPlanner(const std::vector<Buffer>& buffers, std::vector<std::vector<int>> units, std::vector<int> seps)
      : b_(buffers), units_(std::move(units)), seps_(std::move(seps)), memo_(units_.size()) {
    const size_t k = units_.size();
    for (auto& u : units_) {
      u.push_back(-1);  // placeholders for the two separators, sorted in by rank below
      u.push_back(-2);
    }
    for (size_t i = 0; i < k; ++i) {
      auto& u = units_[i];
      u[u.size() - 2] = seps_[i];
      u[u.size() - 1] = seps_[i + 1];
      std::sort(u.begin(), u.end(), [&](int x, int y) { return b_[x].rank < b_[y].rank; });
    }
    // low_[i]: offsets of unit i's buffers (and the far separator) that the
    // greedy places before separator i; they do not depend on anything nearer.
    low_.resize(k + 1);
    for (size_t i = k; i-- > 0;) {
      const int near = seps_[i], far = seps_[i + 1];
      std::vector<std::pair<int, int64_t>>& out = low_[i];
      for (int r : units_[i]) {
        if (r == near || b_[r].rank > b_[near].rank) continue;
        Placed busy;
        for (const auto& [q, off] : out)
          if (Overlap(q, r)) busy.emplace_back(off, off + b_[q].size);
        if (r == far) AddFarBusy(i, r, busy);
        out.emplace_back(r, FirstFit(b_[r].size, busy));
      }
    }
  }

  // The arena of the segment that starts at separator k (k == units: empty).
  int64_t ArenaFrom(size_t k) {
    if (k >= units_.size()) return 0;
    const int s = seps_[k];
    Placed busy;
    for (const auto& [q, off] : low_[k])
      if (Overlap(q, s)) busy.emplace_back(off, off + b_[q].size);
    const int64_t x = FirstFit(b_[s].size, busy);
    return Align(std::max(x + b_[s].size, Walk(k, x)));
  }

 private:
  bool Overlap(int a, int c) const { return b_[a].first <= b_[c].last && b_[c].first <= b_[a].last; }

  void AddFarBusy(size_t i, int far, Placed& busy) const {
    for (const auto& [q, off] : low_[i + 1])
      if (Overlap(q, far)) busy.emplace_back(off, off + b_[q].size);
  }

  // Greedy over unit i with its near separator at x: {far separator's offset, high-water mark}.
  std::pair<int64_t, int64_t> Local(size_t i, int64_t x) {
    const int near = seps_[i], far = seps_[i + 1];
    placed_.clear();
    int64_t high = 0, far_offset = 0;
    for (int r : units_[i]) {
      int64_t off = x;
      if (r != near) {
        Placed busy;
        for (const auto& [q, qoff] : placed_)
          if (Overlap(q, r)) busy.emplace_back(qoff, qoff + b_[q].size);
        if (r == far) AddFarBusy(i, r, busy);
        off = FirstFit(b_[r].size, busy);
      }
      if (r == far) far_offset = off;
      placed_.emplace_back(r, off);
      high = std::max(high, off + b_[r].size);
    }
    return {far_offset, high};
  }

  // High-water mark of units i.. when separator i sits at x.
  int64_t Walk(size_t i, int64_t x) {
    struct Step {
      size_t unit;
      int64_t x, high;
    };
    std::vector<Step> path;
    int64_t result = 0;
    while (i < units_.size()) {
      auto hit = memo_[i].find(x);
      if (hit != memo_[i].end()) {
        result = hit->second;
        break;
      }
      auto [y, high] = Local(i, x);
      path.push_back({i, x, high});
      ++i;
      x = y;
    }
    for (size_t n = path.size(); n-- > 0;) {
      result = std::max(result, path[n].high);
      memo_[path[n].unit].emplace(path[n].x, result);
    }
    return result;
  }

  const std::vector<Buffer>& b_;
  std::vector<std::vector<int>> units_;
  std::vector<int> seps_;
  std::vector<std::vector<std::pair<int, int64_t>>> low_;
  std::vector<std::unordered_map<int64_t, int64_t>> memo_;
  std::vector<std::pair<int, int64_t>> placed_;
};

}  // namespace

bool CutArenas(const Graph& graph, const TensorLifetimes& lt, const std::vector<int>& positions,
               const std::vector<int>& cut_tensors, DType compute_dtype, std::vector<int64_t>* head,
               std::vector<int64_t>* tail) {
  const int num_nodes = static_cast<int>(graph.nodes.size());
  const size_t cuts = positions.size();
  if (num_nodes == 0 || cuts < 2 || positions.front() != 0 || positions.back() != num_nodes) return false;
  if (graph.inputs.size() != 1 || lt.first[graph.inputs[0]] != 0) return false;

  // Buffer 0 is the graph input, then every node output in order (PlanMemory's request order).
  std::vector<Buffer> buffers;
  std::vector<int> buffer_of(graph.tensors.size(), -1);
  std::vector<int> unit_of;  // the unit (between cuts) each buffer belongs to
  auto bytes = [&](int t) {
    return graph.tensors[t].num_elements() * ActivationElementBytes(graph.tensors[t].dtype, compute_dtype);
  };
  const int input = graph.inputs[0];
  buffer_of[input] = 0;
  buffers.push_back({bytes(input), 0, std::max(lt.last[input], 0), 0});
  unit_of.push_back(-1);
  size_t unit = 0;
  for (int n = 0; n < num_nodes; ++n) {
    while (unit + 1 < cuts && positions[unit + 1] <= n) ++unit;
    for (int t : graph.nodes[n].outputs) {
      if (t < 0 || buffer_of[t] >= 0) return false;
      buffer_of[t] = static_cast<int>(buffers.size());
      buffers.push_back({bytes(t), n, std::min(std::max(lt.last[t], n), num_nodes - 1), 0});
      unit_of.push_back(static_cast<int>(unit));
    }
  }
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int c) {
    if (buffers[a].size != buffers[c].size) return buffers[a].size > buffers[c].size;
    return buffers[a].first < buffers[c].first;
  });
  for (size_t r = 0; r < order.size(); ++r) buffers[order[r]].rank = static_cast<int>(r);

  std::vector<int> seps(cuts);
  std::vector<char> is_sep(buffers.size(), 0);
  for (size_t k = 0; k < cuts; ++k) {
    seps[k] = cut_tensors[k] >= 0 ? buffer_of[cut_tensors[k]] : -1;
    if (seps[k] < 0 || is_sep[seps[k]]) return false;
    is_sep[seps[k]] = 1;
  }
  const int units = static_cast<int>(cuts) - 1;
  std::vector<std::vector<int>> members(units);
  for (size_t r = 1; r < buffers.size(); ++r) {
    if (is_sep[r]) continue;
    const int u = unit_of[r];
    // The chain property: a non-separator lives inside its unit.
    if (buffers[r].first < positions[u] || buffers[r].last > positions[u + 1] - 1) return false;
    members[u].push_back(static_cast<int>(r));
  }
  for (int k = 1; k < units; ++k) {  // a separator lives from its cut to before the next
    const Buffer& s = buffers[seps[k]];
    if (s.first != positions[k] - 1 || s.last > positions[k + 1] - 1) return false;
  }
  if (buffers[seps[0]].last > positions[1] - 1 || buffers[seps[units]].first < positions[units - 1] - 1) return false;

  ChainPlanner forward(buffers, members, seps);
  std::reverse(members.begin(), members.end());
  std::reverse(seps.begin(), seps.end());
  ChainPlanner backward(buffers, std::move(members), std::move(seps));
  head->assign(cuts, 0);
  tail->assign(cuts, 0);
  for (size_t k = 0; k < cuts; ++k) {
    (*tail)[k] = forward.ArenaFrom(k);
    (*head)[k] = backward.ArenaFrom(cuts - 1 - k);
  }
  return true;
}

}  // namespace edgesplit::detail
