// Graph rewrites of the canonical pipeline. Each keeps the model's function and
// the nodes' topological order.
#include <cmath>
#include <limits>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "edgesplit/graph.h"

namespace edgesplit {
namespace {

bool IsGraphOutput(const Graph& g, int t) {
  for (int o : g.outputs)
    if (o == t) return true;
  return false;
}
bool IsGraphInput(const Graph& g, int t) {
  for (int i : g.inputs)
    if (i == t) return true;
  return false;
}

void ReplaceUses(Graph& g, int from, int to) {
  for (Node& n : g.nodes)
    for (int& t : n.inputs)
      if (t == from) t = to;
}

void AbsorbNames(Node& into, const Node& absorbed) {
  into.aliases.push_back(absorbed.name);
  into.aliases.insert(into.aliases.end(), absorbed.aliases.begin(), absorbed.aliases.end());
}

// The only node reading `tensor`, or -1 when none or several do (or it is an output).
int SoleConsumer(const Graph& g, const std::vector<std::vector<int>>& consumers, int tensor) {
  if (IsGraphOutput(g, tensor) || consumers[tensor].size() != 1) return -1;
  const Node& c = g.nodes[consumers[tensor][0]];
  int uses = 0;
  for (int t : c.inputs) uses += t == tensor;
  return uses == 1 ? consumers[tensor][0] : -1;
}

void EraseNodes(Graph& g, const std::vector<char>& erase) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

Result<float> ScalarConstant(const Graph& g, const Node& n, size_t index, float fallback) {
  if (!n.HasInput(index)) return fallback;
  const Tensor& t = g.tensors[n.inputs[index]];
  if (!t.is_constant || t.dtype != DType::kFloat32 || t.num_elements() != 1)
    return Unsupported("node '" + n.name + "': input " + std::to_string(index) + " is not a float scalar constant");
  return t.data_as<float>()[0];
}

}  // namespace

Status SortTopologically(Graph& graph) {
  const size_t n = graph.nodes.size();
  std::vector<int> producer = graph.Producers();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    for (int t : graph.nodes[i].inputs) {
      if (t == kNoTensor) continue;
      if (t < 0 || static_cast<size_t>(t) >= graph.tensors.size())
        return InvalidArgument("node '" + graph.nodes[i].name + "' refers to tensor id " + std::to_string(t));
      if (producer[t] >= 0 && producer[t] != static_cast<int>(i)) {
        ++pending[i];
        dependents[producer[t]].push_back(static_cast<int>(i));
      }
    }
  }
  // Kahn's algorithm, always taking the earliest ready node: keeps the given order when it is valid.
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  std::vector<int> order;
  order.reserve(n);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int d : dependents[i])
      if (--pending[d] == 0) ready.push(d);
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i)
      if (pending[i] > 0)
        return InvalidArgument("the graph has a cycle through node '" + graph.nodes[i].name + "'");
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int i : order) sorted.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(sorted);
  return Status::Ok();
}

Status RemoveIdentities(Graph& graph) {
  std::vector<char> erase(graph.nodes.size(), 0);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& node = graph.nodes[i];
    if (node.op != OpType::kIdentity && node.op != OpType::kDropout) continue;
    if (node.op == OpType::kDropout && node.HasInput(2)) {
      const Tensor& mode = graph.tensors[node.inputs[2]];
      if (!mode.is_constant || mode.data.empty() || mode.data[0] != 0)
        return Unsupported("node '" + node.name + "': Dropout in training mode is not supported");
    }
    if (node.inputs.empty() || node.inputs[0] == kNoTensor || node.outputs.size() != 1)
      return InvalidArgument("node '" + node.name + "': needs one input and one output");
    const int x = node.inputs[0], y = node.outputs[0];
    if (IsGraphOutput(graph, y)) {
      // A graph output keeps its name; an input passed straight through keeps the node.
      if (IsGraphInput(graph, x) || IsGraphOutput(graph, x) || graph.tensors[x].is_constant) continue;
      graph.tensors[x].name = graph.tensors[y].name;
      graph.tensors[y].name += "#removed";
      for (int& o : graph.outputs)
        if (o == y) o = x;
    }
    ReplaceUses(graph, y, x);
    erase[i] = 1;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

Status FoldBatchNormIntoConv(Graph& graph) {
  std::unordered_set<std::string> names;
  for (const Tensor& t : graph.tensors) names.insert(t.name);
  auto fresh_name = [&names](std::string name) {
    while (!names.insert(name).second) name += "_";
    return name;
  };
  auto consumers = graph.Consumers();
  std::vector<int> producer = graph.Producers();
  std::vector<char> erase(graph.nodes.size(), 0);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& bn = graph.nodes[i];
    if (bn.op != OpType::kBatchNormalization || bn.inputs.size() < 5 || bn.outputs.size() != 1) continue;
    const int x = bn.inputs[0];
    const int p = producer[x];
    if (p < 0 || SoleConsumer(graph, consumers, x) != static_cast<int>(i)) continue;
    Node& conv = graph.nodes[p];
    if (conv.op != OpType::kConv || conv.activation.kind != ActivationKind::kNone || conv.outputs.size() != 1) continue;
    bool constant_params = true;
    for (int k = 1; k <= 4; ++k) {
      const Tensor& t = graph.tensors[bn.inputs[k]];
      constant_params &= t.is_constant && t.dtype == DType::kFloat32;
    }
    const Tensor& w = graph.tensors[conv.inputs[1]];
    if (!constant_params || !w.is_constant || w.dtype != DType::kFloat32 || w.shape.empty()) continue;
    const int64_t out_channels = w.shape[0];
    if (graph.tensors[bn.inputs[1]].num_elements() != out_channels) continue;
    if (conv.HasInput(2) && !graph.tensors[conv.inputs[2]].is_constant) continue;

    const float eps = bn.GetFloat("epsilon", 1e-5f);
    const float* gamma = graph.tensors[bn.inputs[1]].data_as<float>();
    const float* beta = graph.tensors[bn.inputs[2]].data_as<float>();
    const float* mean = graph.tensors[bn.inputs[3]].data_as<float>();
    const float* var = graph.tensors[bn.inputs[4]].data_as<float>();
    // New weights and bias as fresh constants: the originals may be shared.
    Tensor new_w = w;
    new_w.name = fresh_name(conv.name + ".weight_bn_folded");
    const int64_t per_channel = w.num_elements() / std::max<int64_t>(out_channels, 1);
    std::vector<float> bias(static_cast<size_t>(out_channels), 0.0f);
    if (conv.HasInput(2)) {
      const Tensor& b = graph.tensors[conv.inputs[2]];
      for (int64_t c = 0; c < out_channels; ++c) bias[c] = b.data_as<float>()[c];
    }
    for (int64_t c = 0; c < out_channels; ++c) {
      const float scale = gamma[c] / std::sqrt(var[c] + eps);
      float* wc = new_w.mutable_data_as<float>() + c * per_channel;
      for (int64_t k = 0; k < per_channel; ++k) wc[k] *= scale;
      bias[c] = (bias[c] - mean[c]) * scale + beta[c];
    }
    const int w_id = graph.AddTensor(std::move(new_w));
    const std::string bias_name = fresh_name(conv.name + ".bias_bn_folded");
    const int b_id = graph.AddConstant(bias_name, DType::kFloat32, Shape{out_channels}, bias.data());
    Node& conv_ref = graph.nodes[p];  // AddTensor does not move nodes, but keep the reference fresh
    conv_ref.inputs.resize(3, kNoTensor);
    conv_ref.inputs[1] = w_id;
    conv_ref.inputs[2] = b_id;
    conv_ref.outputs = bn.outputs;
    AbsorbNames(conv_ref, bn);
    producer[bn.outputs[0]] = p;
    erase[i] = 1;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

Status FuseActivations(Graph& graph) {
  auto consumers = graph.Consumers();
  std::vector<int> producer = graph.Producers();
  std::vector<char> erase(graph.nodes.size(), 0);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& act = graph.nodes[i];
    FusedActivation fused;
    switch (act.op) {
      case OpType::kRelu: fused.kind = ActivationKind::kRelu; break;
      case OpType::kLeakyRelu:
        fused.kind = ActivationKind::kLeakyRelu;
        fused.alpha = act.GetFloat("alpha", 0.01f);
        break;
      case OpType::kClip: {
        fused.kind = ActivationKind::kClip;
        auto lo = ScalarConstant(graph, act, 1, std::numeric_limits<float>::lowest());
        auto hi = ScalarConstant(graph, act, 2, std::numeric_limits<float>::max());
        if (!lo.ok() || !hi.ok()) continue;  // run-time bounds: keep the node
        fused.min = *lo;
        fused.max = *hi;
        break;
      }
      default: continue;
    }
    if (act.inputs.empty() || act.inputs[0] == kNoTensor || act.outputs.size() != 1) continue;
    const int x = act.inputs[0];
    const int p = producer[x];
    if (p < 0 || SoleConsumer(graph, consumers, x) != static_cast<int>(i)) continue;
    Node& target = graph.nodes[p];
    const bool fusable = target.op == OpType::kConv || target.op == OpType::kGemm || target.op == OpType::kMatMul ||
                         target.op == OpType::kAdd || target.op == OpType::kBatchNormalization;
    if (!fusable || target.activation.kind != ActivationKind::kNone || target.outputs.size() != 1) continue;
    if (graph.tensors[x].dtype != DType::kFloat32) continue;
    target.activation = fused;
    target.outputs = act.outputs;
    AbsorbNames(target, act);
    producer[act.outputs[0]] = p;
    erase[i] = 1;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

namespace {

// The H and W pads [h_begin, w_begin, h_end, w_end] of a Pad node that adds
// zeros around the plane of a rank-4 f32 tensor and nothing else, or empty.
std::vector<int64_t> ZeroPlanePads(const Graph& g, const Node& pad) {
  if (pad.inputs.empty() || pad.inputs[0] == kNoTensor || pad.outputs.size() != 1 || pad.inputs.size() > 3) return {};
  const Tensor& x = g.tensors[pad.inputs[0]];
  if (x.dtype != DType::kFloat32 || x.shape.size() != 4 || pad.GetString("mode", "constant") != "constant") return {};
  std::vector<int64_t> pads = pad.GetInts("pads");  // opset < 11: attributes
  float value = pad.GetFloat("value", 0.0f);
  if (pad.HasInput(1)) {
    const Tensor& p = g.tensors[pad.inputs[1]];
    if (!p.is_constant || p.dtype != DType::kInt64 || p.num_elements() != 8) return {};
    pads.assign(p.data_as<int64_t>(), p.data_as<int64_t>() + 8);
  }
  if (pad.HasInput(2)) {
    auto v = ScalarConstant(g, pad, 2, 0.0f);
    if (!v.ok()) return {};
    value = *v;
  }
  if (pads.size() != 8 || value != 0.0f || std::signbit(value)) return {};
  for (int64_t v : pads)
    if (v < 0) return {};
  if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0) return {};
  if (pads[2] == 0 && pads[3] == 0 && pads[6] == 0 && pads[7] == 0) return {};  // pads nothing: left to the backends
  return {pads[2], pads[3], pads[6], pads[7]};
}

}  // namespace

// torchvision's avg_pool2d(padding=p) (count_include_pad) exports as a zero
// Pad and an AveragePool without pads (Inception v3: 8.6 ms of 39 on the
// reference Pad kernel). That pair is the pool with the pads and
// count_include_pad=1: the padded zeros are averaged in either way, and
// adding a zero leaves a float sum unchanged. Only where the Pad's output
// goes to that pool alone, whose own pads (if any) count too.
Status FoldPadIntoAveragePool(Graph& graph) {
  auto consumers = graph.Consumers();
  std::vector<char> erase(graph.nodes.size(), 0);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& pad = graph.nodes[i];
    if (pad.op != OpType::kPad) continue;
    const std::vector<int64_t> plane = ZeroPlanePads(graph, pad);
    if (plane.empty()) continue;
    const int c = SoleConsumer(graph, consumers, pad.outputs[0]);
    if (c < 0) continue;
    Node& pool = graph.nodes[c];
    if (pool.op != OpType::kAveragePool || pool.inputs[0] != pad.outputs[0] || pool.GetInt("ceil_mode", 0) != 0 ||
        pool.GetString("auto_pad", "NOTSET") != "NOTSET" || pool.GetInts("kernel_shape").size() != 2)
      continue;
    std::vector<int64_t> pads = pool.GetInts("pads");
    if (pads.empty()) pads.assign(4, 0);
    if (pads.size() != 4) continue;
    const bool own_pads = pads != std::vector<int64_t>(4, 0);
    if (own_pads && pool.GetInt("count_include_pad", 0) == 0) continue;  // its pads are not averaged in: not the same
    for (size_t k = 0; k < 4; ++k) pads[k] += plane[k];
    pool.SetInts("pads", pads);
    pool.SetInt("count_include_pad", 1);
    pool.inputs[0] = pad.inputs[0];
    AbsorbNames(pool, pad);
    erase[i] = 1;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

Status RemoveUnused(Graph& graph) {
  // Backward sweep: a node stays if any output is read by a kept node or is a graph output.
  std::vector<char> needed(graph.tensors.size(), 0);
  for (int t : graph.outputs) needed[t] = 1;
  std::vector<char> erase(graph.nodes.size(), 1);
  for (size_t k = graph.nodes.size(); k-- > 0;) {
    const Node& n = graph.nodes[k];
    bool keep = false;
    for (int t : n.outputs) keep |= needed[t] != 0;
    if (!keep) continue;
    erase[k] = 0;
    for (int t : n.inputs)
      if (t != kNoTensor) needed[t] = 1;
  }
  EraseNodes(graph, erase);
  // Renumber the tensors still referenced.
  std::vector<char> referenced(graph.tensors.size(), 0);
  for (int t : graph.inputs) referenced[t] = 1;
  for (int t : graph.outputs) referenced[t] = 1;
  for (const Node& n : graph.nodes) {
    for (int t : n.inputs)
      if (t != kNoTensor) referenced[t] = 1;
    for (int t : n.outputs) referenced[t] = 1;
  }
  std::vector<int> remap(graph.tensors.size(), kNoTensor);
  std::vector<Tensor> kept;
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (!referenced[t]) continue;
    remap[t] = static_cast<int>(kept.size());
    kept.push_back(std::move(graph.tensors[t]));
  }
  graph.tensors = std::move(kept);
  auto apply = [&](std::vector<int>& ids) {
    for (int& t : ids)
      if (t != kNoTensor) t = remap[t];
  };
  apply(graph.inputs);
  apply(graph.outputs);
  for (Node& n : graph.nodes) {
    apply(n.inputs);
    apply(n.outputs);
  }
  return Status::Ok();
}

Status Canonicalize(Graph& graph) {
  ES_RETURN_IF_ERROR(SortTopologically(graph));
  ES_RETURN_IF_ERROR(graph.Validate());
  // Dead nodes first: a reader nobody needs must not block a fusion, or a
  // second Canonicalize (after export drops it) would fuse what the first kept.
  ES_RETURN_IF_ERROR(RemoveUnused(graph));
  ES_RETURN_IF_ERROR(RemoveIdentities(graph));
  ES_RETURN_IF_ERROR(InferShapes(graph));
  ES_RETURN_IF_ERROR(FoldBatchNormIntoConv(graph));
  ES_RETURN_IF_ERROR(FuseActivations(graph));
  ES_RETURN_IF_ERROR(FoldPadIntoAveragePool(graph));
  ES_RETURN_IF_ERROR(RemoveUnused(graph));
  return InferShapes(graph);
}

}  // namespace edgesplit
