// Which activation tensors are live at each position of the topological order.
// Internal to the graph module (cuts, segments and the memory planner share it).
#pragma once

#include <vector>

#include "edgesplit/graph.h"

namespace edgesplit::detail {

// For each tensor id: the first position at which it holds a value (0 for graph
// inputs, producer index + 1 otherwise) and the last position at which it is
// still needed (its last consumer's index, or nodes.size() for graph outputs).
// Constants and tensors nobody needs get first = -1.
struct TensorLifetimes {
  std::vector<int> first;
  std::vector<int> last;
  bool live_at(int tensor, int position) const {
    return first[tensor] >= 0 && first[tensor] <= position && position <= last[tensor];
  }
};
TensorLifetimes ComputeLifetimes(const Graph& graph);

// The live tensors at every position 0..nodes.size().
std::vector<std::vector<int>> LiveTensorsByPosition(const Graph& graph, const TensorLifetimes& lifetimes);

// The head arena (nodes [0, p)) and tail arena (nodes [p, end)) of every cut
// position p in `positions` (ascending, from 0 to nodes.size(); cut_tensors[k]
// is the one tensor live at positions[k]), equal to PlanSegmentMemory's, in
// about linear time (cut_arenas.cc). False when the graph is not a chain of
// units between single live tensors; the caller then plans each segment.
bool CutArenas(const Graph& graph, const TensorLifetimes& lifetimes, const std::vector<int>& positions,
               const std::vector<int>& cut_tensors, DType compute_dtype, std::vector<int64_t>* head,
               std::vector<int64_t>* tail);

}  // namespace edgesplit::detail
