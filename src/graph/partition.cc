// Tensor liveness and segment extraction.
#include <algorithm>
#include <unordered_map>

#include "edgesplit/graph.h"
#include "liveness.h"

namespace edgesplit {
namespace detail {

TensorLifetimes ComputeLifetimes(const Graph& graph) {
  const size_t num_tensors = graph.tensors.size();
  const int end = static_cast<int>(graph.nodes.size());
  TensorLifetimes lt;
  lt.first.assign(num_tensors, -1);
  lt.last.assign(num_tensors, -1);
  for (int t : graph.inputs) lt.first[t] = 0;
  for (int n = 0; n < end; ++n)
    for (int t : graph.nodes[n].outputs) lt.first[t] = n + 1;
  for (int n = 0; n < end; ++n)
    for (int t : graph.nodes[n].inputs)
      if (t != kNoTensor) lt.last[t] = std::max(lt.last[t], n);
  for (int t : graph.outputs) lt.last[t] = end;
  for (size_t t = 0; t < num_tensors; ++t) {
    // A graph input is live while something still reads it; an unread tensor never is.
    if (graph.tensors[t].is_constant || lt.last[t] < 0) lt.first[t] = -1;
  }
  return lt;
}

std::vector<std::vector<int>> LiveTensorsByPosition(const Graph& graph, const TensorLifetimes& lt) {
  std::vector<std::vector<int>> live(graph.nodes.size() + 1);
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (lt.first[t] < 0) continue;
    for (int p = lt.first[t]; p <= lt.last[t]; ++p) live[p].push_back(static_cast<int>(t));
  }
  return live;
}

}  // namespace detail

Result<Graph> ExtractSegment(const Graph& graph, int begin, int end) {
  const int num_nodes = static_cast<int>(graph.nodes.size());
  if (begin < 0 || end > num_nodes || begin >= end)
    return InvalidArgument("segment [" + std::to_string(begin) + ", " + std::to_string(end) +
                           ") is not a non-empty range of the " + std::to_string(num_nodes) + " nodes");
  const detail::TensorLifetimes lt = detail::ComputeLifetimes(graph);
  auto single_live = [&](int position) -> int {
    int found = kNoTensor, count = 0;
    for (size_t t = 0; t < graph.tensors.size(); ++t)
      if (lt.live_at(static_cast<int>(t), position)) {
        found = static_cast<int>(t);
        ++count;
      }
    return count == 1 ? found : kNoTensor;
  };
  const int in = single_live(begin), out = single_live(end);
  if (in == kNoTensor) return InvalidArgument("position " + std::to_string(begin) + " is not a cut point");
  if (out == kNoTensor) return InvalidArgument("position " + std::to_string(end) + " is not a cut point");

  Graph seg;
  seg.name = graph.name + "[" + std::to_string(begin) + ":" + std::to_string(end) + "]";
  std::unordered_map<int, int> remap;
  auto map_tensor = [&](int t) {
    if (t == kNoTensor) return kNoTensor;
    auto it = remap.find(t);
    if (it != remap.end()) return it->second;
    int id = seg.AddTensor(graph.tensors[t]);
    remap.emplace(t, id);
    return id;
  };
  seg.inputs.push_back(map_tensor(in));
  for (int n = begin; n < end; ++n) {
    Node node = graph.nodes[n];
    for (int& t : node.inputs) t = map_tensor(t);
    for (int& t : node.outputs) t = map_tensor(t);
    seg.AddNode(std::move(node));
  }
  seg.outputs.push_back(map_tensor(out));
  ES_RETURN_IF_ERROR(seg.Validate().WithContext("extracted segment"));
  return seg;
}

}  // namespace edgesplit
