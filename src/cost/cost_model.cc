// Op classification and the per-node / per-transfer time models.
#include <algorithm>
#include <cmath>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"

namespace edgesplit {

const char* OpClassName(OpClass c) {
  switch (c) {
    case OpClass::kConv: return "conv";
    case OpClass::kDepthwise: return "depthwise";
    case OpClass::kPointwise: return "pointwise";
    case OpClass::kFc: return "fc";
    case OpClass::kElementwise: return "elementwise";
    case OpClass::kPool: return "pool";
  }
  return "?";
}

namespace {

int64_t Product(const std::vector<int64_t>& v, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

}  // namespace

OpClass ClassifyNode(const Graph& graph, int node_index) {
  const Node& n = graph.nodes[node_index];
  switch (n.op) {
    case OpType::kConv:
    case OpType::kQLinearConv: {
      const size_t wi = n.op == OpType::kConv ? 1 : 3;
      if (!n.HasInput(wi)) return OpClass::kConv;
      const Shape& w = graph.tensors[n.inputs[wi]].shape;  // [C_out, C_in/group, kh, kw]
      const int64_t group = n.GetInt("group", 1);
      const Shape& x = graph.tensors[n.inputs[0]].shape;
      const int64_t c_in = x.size() > 1 ? x[1] : -1;
      if (w.size() >= 2 && group > 1 && group == c_in && group == w[0]) return OpClass::kDepthwise;
      if (w.size() >= 2 && Product(w, 2) == 1) return OpClass::kPointwise;
      return OpClass::kConv;
    }
    case OpType::kGemm:
    case OpType::kMatMul:
    case OpType::kQLinearMatMul: return OpClass::kFc;
    case OpType::kMaxPool:
    case OpType::kAveragePool:
    case OpType::kGlobalAveragePool:
    case OpType::kReduceMean: return OpClass::kPool;
    default: return OpClass::kElementwise;
  }
}

int64_t NodeWork(const Graph& graph, int node_index, const LayerStats& stats) {
  const Node& n = graph.nodes[node_index];
  switch (ClassifyNode(graph, node_index)) {
    case OpClass::kPool:
      if (stats.macs > 0) return stats.macs;  // average and global pools count their window sums
      return stats.output_elements * std::max<int64_t>(1, Product(n.GetInts("kernel_shape"), 0));
    case OpClass::kElementwise: return stats.output_elements;
    default: return stats.macs;
  }
}

double NodeSeconds(const DeviceProfile& device, const Graph& graph, int node_index, const LayerStats& stats) {
  const OpClass c = ClassifyNode(graph, node_index);
  const double rate = device.work_per_cycle[static_cast<int>(c)];
  const double work = static_cast<double>(NodeWork(graph, node_index, stats));
  double t = device.per_layer_overhead_s;
  if (work > 0 && rate > 0 && device.clock_hz > 0) t += device.scale * work / rate / device.clock_hz;
  return t;
}

double RangeSeconds(const DeviceProfile& device, const Graph& graph, int begin, int end) {
  double t = 0;
  for (int n = std::max(begin, 0); n < end && n < static_cast<int>(graph.nodes.size()); ++n) {
    const OpType op = graph.nodes[static_cast<size_t>(n)].op;
    if (op == OpType::kQuantizeLinear || op == OpType::kDequantizeLinear) continue;
    t += NodeSeconds(device, graph, n, ComputeLayerStats(graph, n));
  }
  return t;
}

double TransferSeconds(const LinkProfile& link, int64_t bytes) {
  if (bytes <= 0) return 0;
  const double frames = std::ceil(static_cast<double>(bytes) / static_cast<double>(link.payload_bytes));
  return link.per_message_s + (frames * link.per_frame_s + static_cast<double>(bytes) / link.bytes_per_s) / (1 - link.loss);
}

}  // namespace edgesplit
