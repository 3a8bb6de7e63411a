// Internal helpers shared by the shape-inference files.
#pragma once

#include <string>

#include "edgesplit/graph.h"

namespace edgesplit::detail {

// The node being inferred, with error messages that name it.
class NodeContext {
 public:
  NodeContext(Graph& graph, int node_index) : graph_(graph), node_index_(node_index) {}
  Graph& graph() { return graph_; }
  Node& node() { return graph_.nodes[node_index_]; }
  const Node& node() const { return graph_.nodes[node_index_]; }

  // "node 'name' (Op): message"
  Status Error(const std::string& message) const;
  // The tensor at input `index`; an error when it is missing or has no shape yet.
  Result<const Tensor*> Input(int index);
  // Input `index` as int64 values; it must be a constant of dtype int64 or int32.
  Result<std::vector<int64_t>> ConstantInts(int index);
  // Writes output `index`'s shape and dtype after checking the shape's size.
  Status SetOutput(size_t index, Shape shape, DType dtype);

 private:
  Graph& graph_;
  int node_index_;
};

// "node 'name' (Op): message" as an InvalidArgument.
Status NodeError(const Node& node, const std::string& message);
// Numpy-style multidirectional broadcasting.
Result<Shape> BroadcastShapes(const Node& node, const Shape& a, const Shape& b);
// Maps axis in [-rank, rank) to [0, rank).
Result<int64_t> NormalizeAxis(const Node& node, int64_t axis, size_t rank);

// Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Slice, Split, Gather, Pad.
Status InferDataMovement(NodeContext& ctx);


}  // namespace edgesplit::detail
