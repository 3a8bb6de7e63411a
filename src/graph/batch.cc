// WithBatch: the same model at another batch size (see graph.h).
//
// The rule that makes this safe is checked, not assumed: in the source graph
// every activation carries the batch on axis 0, and after re-inference every
// activation has the same shape with axis 0 replaced. An op that mixes images
// (a softmax or concat over axis 0, a reshape that folds the batch into
// another axis...) breaks one of the two checks and is named in the error.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "edgesplit/graph.h"

namespace edgesplit {
namespace {

Status BatchError(const std::string& what) { return InvalidArgument("cannot change the batch size: " + what); }

// A Reshape whose shape constant spells the old batch at position 0 (as
// constant-folded `x.view(1, -1)` exports do) gets the new batch there.
Status RewriteReshapeConstants(Graph& out, const Graph& g, int64_t old_batch, int64_t n) {
  const std::vector<std::vector<int>> consumers = g.Consumers();
  std::vector<char> rewritten(g.tensors.size(), 0);
  for (const Node& node : g.nodes) {
    if (node.op != OpType::kReshape || !node.HasInput(1)) continue;
    const int shape_id = node.inputs[1];
    ES_ASSIGN_OR_RETURN(std::vector<int64_t> target, ConstantInts(g, node, 1));
    if (target.empty() || target[0] != old_batch || rewritten[shape_id]) continue;
    for (int c : consumers[shape_id]) {
      const Node& reader = g.nodes[c];
      if (reader.op != OpType::kReshape || reader.inputs.size() < 2 || reader.inputs[0] == shape_id)
        return BatchError("the shape constant '" + g.tensors[shape_id].name + "' of Reshape '" + node.name +
                          "' is also read by node '" + reader.name + "'");
    }
    Tensor& t = out.tensors[shape_id];
    std::vector<uint8_t> bytes(g.tensors[shape_id].bytes(), g.tensors[shape_id].bytes() + g.tensors[shape_id].byte_size());
    if (t.dtype == DType::kInt64) {
      std::memcpy(bytes.data(), &n, sizeof n);
    } else {
      const int32_t n32 = static_cast<int32_t>(n);
      std::memcpy(bytes.data(), &n32, sizeof n32);
    }
    t.data = std::move(bytes);
    t.external_data = nullptr;
    rewritten[shape_id] = 1;
  }
  return Status::Ok();
}

}  // namespace

Result<Graph> WithBatch(const Graph& g, int64_t n) {
  if (n < 1 || n > (int64_t{1} << 16)) return BatchError("batch " + std::to_string(n) + " is not in [1, 65536]");
  ES_RETURN_IF_ERROR(g.Validate());
  if (g.inputs.empty()) return BatchError("the model has no inputs");
  const int64_t old_batch = g.tensors[g.inputs[0]].shape.empty() ? -1 : g.tensors[g.inputs[0]].shape[0];
  if (old_batch < 1) return BatchError("the input '" + g.tensors[g.inputs[0]].name + "' has no batch axis");
  for (const Tensor& t : g.tensors) {
    if (t.is_constant) continue;
    if (t.shape.empty() || t.shape[0] != old_batch)
      return BatchError("activation '" + t.name + "' " + ShapeToString(t.shape) + " does not have the batch " +
                        std::to_string(old_batch) + " on axis 0");
  }
  // The one op whose shapes cannot show that it mixes images.
  for (const Node& node : g.nodes) {
    if (node.op != OpType::kSoftmax || !node.HasInput(0)) continue;
    const int64_t rank = static_cast<int64_t>(std::max<size_t>(1, g.tensors[node.inputs[0]].shape.size()));
    if (node.GetInt("axis", -1) % rank == 0)
      return BatchError("Softmax '" + node.name + "' normalises over the batch axis");
  }

  // Structure and small tensors are copied; weights are borrowed.
  Graph out;
  out.name = g.name;
  out.nodes = g.nodes;
  out.inputs = g.inputs;
  out.outputs = g.outputs;
  out.tensors.reserve(g.tensors.size());
  for (const Tensor& t : g.tensors) {
    Tensor copy;
    copy.name = t.name;
    copy.dtype = t.dtype;
    copy.shape = t.shape;
    copy.quant = t.quant;
    copy.is_constant = t.is_constant;
    if (t.is_constant) copy.external_data = t.bytes();
    out.tensors.push_back(std::move(copy));
  }
  ES_RETURN_IF_ERROR(RewriteReshapeConstants(out, g, old_batch, n));
  for (int id : out.inputs) out.tensors[id].shape[0] = n;
  ES_RETURN_IF_ERROR(InferShapes(out).WithContext("at batch " + std::to_string(n)));

  for (size_t id = 0; id < g.tensors.size(); ++id) {
    const Tensor& before = g.tensors[id];
    if (before.is_constant) continue;
    Shape expected = before.shape;
    expected[0] = n;
    if (out.tensors[id].shape != expected || out.tensors[id].dtype != before.dtype)
      return BatchError("activation '" + before.name + "' is " + ShapeToString(out.tensors[id].shape) + " at batch " +
                        std::to_string(n) + ", not " + ShapeToString(expected) +
                        " (an op mixes the batch with another axis)");
  }
  return out;
}

}  // namespace edgesplit
