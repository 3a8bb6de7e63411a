// Per-layer cost, cut points, activation arenas and natural bottlenecks.
#include "edgesplit/analysis.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "edgesplit/suggest.h"
#include "liveness.h"

namespace edgesplit {
namespace {

enum class WeightRole { kNone, kWeight, kBias };

// Which constant inputs of a node are learned parameters, and how an int8
// deployment stores them (int8 weights, int32 biases, as TFLite does).
WeightRole RoleOfInput(const Node& node, size_t index) {
  switch (node.op) {
    case OpType::kConv:
    case OpType::kGemm:
      return index == 2 ? WeightRole::kBias : WeightRole::kWeight;
    case OpType::kQLinearConv:
      return index == 3 ? WeightRole::kWeight : index == 8 ? WeightRole::kBias : WeightRole::kNone;
    case OpType::kQLinearMatMul:
      return index == 0 || index == 3 ? WeightRole::kWeight : WeightRole::kNone;
    case OpType::kBatchNormalization:
      // Runs as scale and shift: two learned values per channel, as frameworks count them.
      return index == 1 || index == 2 ? WeightRole::kWeight : WeightRole::kNone;
    case OpType::kMatMul:
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kConcat:
      return WeightRole::kWeight;
    case OpType::kGather:
      return index == 0 ? WeightRole::kWeight : WeightRole::kNone;
    default:
      return WeightRole::kNone;
  }
}

int64_t KernelVolume(const Node& node) {
  int64_t v = 1;
  for (int64_t k : node.GetInts("kernel_shape")) v *= k;
  return v;
}

int64_t InputElements(const Graph& g, const Node& n, size_t i) {
  return n.HasInput(i) ? g.tensors[n.inputs[i]].num_elements() : 0;
}

int64_t Macs(const Graph& g, const Node& n) {
  const int64_t out = n.outputs.empty() ? 0 : g.tensors[n.outputs[0]].num_elements();
  switch (n.op) {
    case OpType::kConv:
    case OpType::kQLinearConv: {
      const Tensor& w = g.tensors[n.inputs[n.op == OpType::kConv ? 1 : 3]];
      return w.shape.size() < 2 ? 0 : out * w.shape[1] * KernelVolume(n);
    }
    case OpType::kGemm: {
      const Tensor& a = g.tensors[n.inputs[0]];
      const int64_t k = n.GetInt("transA", 0) ? a.shape[0] : a.shape[1];
      return out * k;
    }
    case OpType::kMatMul:
    case OpType::kQLinearMatMul: {
      const Tensor& a = g.tensors[n.inputs[0]];
      return a.shape.empty() ? 0 : out * a.shape.back();
    }
    case OpType::kAveragePool: return out * KernelVolume(n);
    case OpType::kGlobalAveragePool:
    case OpType::kReduceMean: return InputElements(g, n, 0);
    case OpType::kBatchNormalization: return out;
    default: return 0;
  }
}

}  // namespace

LayerStats ComputeLayerStats(const Graph& graph, int node_index) {
  const Node& node = graph.nodes[node_index];
  LayerStats s;
  s.macs = Macs(graph, node);
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (!node.HasInput(i)) continue;
    const Tensor& t = graph.tensors[node.inputs[i]];
    if (!t.is_constant || t.dtype == DType::kInt64) continue;
    const WeightRole role = RoleOfInput(node, i);
    if (role == WeightRole::kNone) continue;
    const int64_t n = t.num_elements();
    s.params += n;
    s.weight_bytes_f32 += n * 4;
    s.weight_bytes_int8 += n * (role == WeightRole::kBias || t.dtype == DType::kInt32 ? 4 : 1);
  }
  for (int t : node.outputs) s.output_elements += graph.tensors[t].num_elements();
  s.output_bytes_f32 = s.output_elements * 4;
  s.output_bytes_int8 = s.output_elements;
  return s;
}

ModelSummary Summarize(const Graph& graph) {
  ModelSummary m;
  if (!graph.inputs.empty()) m.input_shape = graph.tensors[graph.inputs[0]].shape;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    m.layers.push_back(ComputeLayerStats(graph, static_cast<int>(i)));
    const LayerStats& s = m.layers.back();
    m.total_macs += s.macs;
    m.total_params += s.params;
    m.total_weight_bytes_f32 += s.weight_bytes_f32;
    m.total_weight_bytes_int8 += s.weight_bytes_int8;
  }
  return m;
}

// ---- Memory planning ----------------------------------------------------------

MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests, int64_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by first use, then by index, so plans are deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].size != requests[b].size) return requests[a].size > requests[b].size;
    return requests[a].first_use < requests[b].first_use;
  });
  auto align = [alignment](int64_t v) { return (v + alignment - 1) / alignment * alignment; };
  std::vector<size_t> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of time-overlapping placed buffers
  for (size_t r : order) {
    const BufferRequest& req = requests[r];
    busy.clear();
    for (size_t q : placed) {
      const BufferRequest& other = requests[q];
      if (other.first_use <= req.last_use && req.first_use <= other.last_use)
        busy.emplace_back(plan.offsets[q], plan.offsets[q] + other.size);
    }
    std::sort(busy.begin(), busy.end());
    int64_t candidate = 0;
    for (const auto& [start, stop] : busy) {
      if (candidate + req.size <= start) break;  // fits in the gap before this buffer
      candidate = std::max(candidate, align(stop));
    }
    plan.offsets[r] = candidate;
    plan.arena_bytes = std::max(plan.arena_bytes, candidate + req.size);
    placed.push_back(r);
  }
  plan.arena_bytes = align(plan.arena_bytes);
  return plan;
}

int64_t ActivationElementBytes(DType tensor_dtype, DType compute_dtype) {
  switch (tensor_dtype) {
    // Float tensors take the compute dtype's size (an f32 model estimated in
    // int8); 8-bit tensors are already quantized and take 1 byte in any mode.
    case DType::kFloat32: return static_cast<int64_t>(DTypeSize(compute_dtype));
    case DType::kInt8:
    case DType::kUInt8: return 1;
    default: return static_cast<int64_t>(DTypeSize(tensor_dtype));
  }
}

namespace {

SegmentMemory PlanWithLifetimes(const Graph& graph, const detail::TensorLifetimes& lt, int begin, int end,
                                DType compute_dtype, const std::vector<std::pair<int, int>>& in_place = {},
                                const std::vector<std::pair<int, int>>& held_from = {},
                                const std::vector<int>& unplaced = {}) {
  SegmentMemory mem;
  if (begin >= end) return mem;
  std::vector<BufferRequest> requests;
  auto last_step = [&](int t, int first_step) {
    // Still needed after the segment (its output) or last read inside it.
    return lt.last[t] >= end ? end - 1 - begin : std::max(lt.last[t] - begin, first_step);
  };
  std::vector<int> request_of(graph.tensors.size(), -1);  // a chain of in-place tensors shares one request
  std::vector<int> entry_request;                          // per mem.tensor_ids entry
  auto add = [&](int t, int first_step) {
    BufferRequest r;
    r.size = graph.tensors[t].num_elements() * ActivationElementBytes(graph.tensors[t].dtype, compute_dtype);
    r.first_use = first_step;
    r.last_use = last_step(t, first_step);
    request_of[t] = static_cast<int>(requests.size());
    mem.tensor_ids.push_back(t);
    entry_request.push_back(request_of[t]);
    requests.push_back(r);
  };
  for (size_t t = 0; t < graph.tensors.size(); ++t)
    if (lt.live_at(static_cast<int>(t), begin) && lt.first[t] <= begin) add(static_cast<int>(t), 0);
  for (int n = begin; n < end; ++n)
    for (int t : graph.nodes[n].outputs) {
      if (std::find(unplaced.begin(), unplaced.end(), t) != unplaced.end()) continue;
      int over = -1;
      for (const auto& [tensor, o] : in_place)
        if (tensor == t) over = request_of[o];
      if (over < 0) {
        int from = n;
        for (const auto& [tensor, node] : held_from)
          if (tensor == t) from = std::clamp(node, begin, n);
        add(t, from - begin);
        continue;
      }
      request_of[t] = over;
      requests[over].last_use = std::max(requests[over].last_use, last_step(t, n - begin));
      requests[over].size = std::max(requests[over].size, graph.tensors[t].num_elements() *
                                                              ActivationElementBytes(graph.tensors[t].dtype, compute_dtype));
      mem.tensor_ids.push_back(t);
      entry_request.push_back(over);
    }
  const MemoryPlan plan = PlanMemory(requests);
  for (int r : entry_request) mem.offsets.push_back(plan.offsets[r]);
  mem.arena_bytes = plan.arena_bytes;
  return mem;
}

// Head and tail arenas per cut: the linear-time chain walk where the graph is a
// chain of units between cuts, else one plan per segment (cubic on long chains).
void FillArenas(const Graph& graph, const detail::TensorLifetimes& lt, std::vector<CutPoint>& cuts) {
  const int num_nodes = static_cast<int>(graph.nodes.size());
  std::vector<int> positions, tensors;
  for (const CutPoint& c : cuts) {
    positions.push_back(c.position);
    tensors.push_back(c.tensor);
  }
  for (DType dtype : {DType::kFloat32, DType::kInt8}) {
    std::vector<int64_t> head, tail;
    const bool fast = detail::CutArenas(graph, lt, positions, tensors, dtype, &head, &tail);
    for (size_t k = 0; k < cuts.size(); ++k) {
      const int p = cuts[k].position;
      const int64_t h = fast ? head[k] : PlanWithLifetimes(graph, lt, 0, p, dtype).arena_bytes;
      const int64_t t = fast ? tail[k] : PlanWithLifetimes(graph, lt, p, num_nodes, dtype).arena_bytes;
      (dtype == DType::kInt8 ? cuts[k].head_arena_bytes_int8 : cuts[k].head_arena_bytes_f32) = h;
      (dtype == DType::kInt8 ? cuts[k].tail_arena_bytes_int8 : cuts[k].tail_arena_bytes_f32) = t;
    }
  }
}

}  // namespace

Result<SegmentMemory> PlanSegmentMemory(const Graph& graph, int begin, int end, DType compute_dtype) {
  return PlanSegmentMemory(graph, begin, end, compute_dtype, {});
}

Result<SegmentMemory> PlanSegmentMemory(const Graph& graph, int begin, int end, DType compute_dtype,
                                        const std::vector<std::pair<int, int>>& in_place,
                                        const std::vector<std::pair<int, int>>& held_from,
                                        const std::vector<int>& unplaced) {
  if (begin < 0 || end > static_cast<int>(graph.nodes.size()) || begin > end)
    return InvalidArgument("segment [" + std::to_string(begin) + ", " + std::to_string(end) + ") is out of range");
  return PlanWithLifetimes(graph, detail::ComputeLifetimes(graph), begin, end, compute_dtype, in_place, held_from, unplaced);
}

// ---- Cut points -------------------------------------------------------------------

Result<std::vector<CutPoint>> FindCutPoints(const Graph& graph) {
  if (graph.inputs.size() != 1 || graph.outputs.size() != 1)
    return Unsupported("split analysis needs a model with exactly one input and one output (this one has " +
                       std::to_string(graph.inputs.size()) + " and " + std::to_string(graph.outputs.size()) + ")");
  const detail::TensorLifetimes lt = detail::ComputeLifetimes(graph);
  const auto live = detail::LiveTensorsByPosition(graph, lt);
  const int num_nodes = static_cast<int>(graph.nodes.size());

  std::vector<CutPoint> cuts;
  int64_t head_macs = 0, head_w_f32 = 0, head_w_int8 = 0;
  const int64_t input_elements = graph.tensors[graph.inputs[0]].num_elements();
  for (int p = 0; p <= num_nodes; ++p) {
    if (p > 0) {
      LayerStats s = ComputeLayerStats(graph, p - 1);
      head_macs += s.macs;
      head_w_f32 += s.weight_bytes_f32;
      head_w_int8 += s.weight_bytes_int8;
    }
    const bool boundary = p == 0 || p == num_nodes;
    if (live[p].size() != 1 && !boundary) continue;
    CutPoint c;
    c.index = static_cast<int>(cuts.size());
    c.position = p;
    c.tensor = p == 0 ? graph.inputs[0] : p == num_nodes ? graph.outputs[0] : live[p][0];
    if (p == 0) {
      c.after = "input";
    } else {
      c.after = graph.nodes[p - 1].name;
      c.aliases = graph.nodes[p - 1].aliases;
    }
    c.shape = graph.tensors[c.tensor].shape;
    c.elements = NumElements(c.shape);
    c.bytes_f32 = c.elements * 4;
    c.bytes_int8 = c.elements;
    c.head_macs = head_macs;
    c.head_weight_bytes_f32 = head_w_f32;
    c.head_weight_bytes_int8 = head_w_int8;
    cuts.push_back(std::move(c));
  }
  FillArenas(graph, lt, cuts);
  // Natural bottlenecks (dynamic split computing): interior cuts only, since the
  // two ends are the "all on the server" and "all on the device" options.
  int64_t smallest_strict = input_elements;
  for (size_t i = 1; i + 1 < cuts.size(); ++i) {
    CutPoint& c = cuts[i];
    c.bottleneck_loose = c.elements < input_elements;
    if (c.elements < smallest_strict) {
      c.bottleneck_strict = true;
      smallest_strict = c.elements;
    }
  }
  return cuts;
}

Result<int> ResolveCut(const std::vector<CutPoint>& cuts, const std::string& spec) {
  if (cuts.empty()) return NotFound("the model has no cut points");
  if (!spec.empty() && std::all_of(spec.begin(), spec.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
    if (spec.size() > 9 || std::stoll(spec) >= static_cast<long long>(cuts.size()))
      return NotFound("cut index " + spec + " is out of range: the model has cuts 0.." +
                      std::to_string(cuts.size() - 1));
    return std::stoi(spec);
  }
  if (spec == "input") return 0;
  if (spec == "output") return static_cast<int>(cuts.size()) - 1;
  for (const CutPoint& c : cuts) {
    if (c.after == spec) return c.index;
    for (const std::string& a : c.aliases)
      if (a == spec) return c.index;
  }
  std::vector<std::string> names;
  for (const CutPoint& c : cuts) {
    names.push_back(c.after);
    names.insert(names.end(), c.aliases.begin(), c.aliases.end());
  }
  return NotFound("'" + spec + "' names no cut point." + DidYouMean(spec, names) + " A cut is an index 0.." + std::to_string(cuts.size() - 1) +
                  ", 'input', 'output', or the name (or alias) of the layer just before it; layers inside a "
                  "residual block are not cut points (list them with `edgesplit inspect`)");
}

Result<int> ResolveCut(const Graph& graph, const std::vector<CutPoint>& cuts, const std::string& spec) {
  Result<int> found = ResolveCut(cuts, spec);
  const int node = found.ok() ? -1 : graph.FindNode(spec);
  if (node < 0) return found;
  // The layer exists but no cut follows it: point at the cuts around it.
  const CutPoint* before = &cuts.front();
  const CutPoint* after = &cuts.back();
  for (const CutPoint& c : cuts) {
    if (c.position <= node) before = &c;
    if (c.position > node) {
      after = &c;
      break;
    }
  }
  auto describe = [](const CutPoint& c) {
    const std::string& name = c.aliases.empty() ? c.after : c.aliases.back();
    return "'" + name + "' (cut " + std::to_string(c.index) + ")";
  };
  return NotFound("layer '" + spec + "' is not followed by a cut point (more than one tensor is live after it, as " +
                  "inside a residual block); the nearest cuts are " + describe(*before) + " before it and " +
                  describe(*after) + " after it");
}

}  // namespace edgesplit
