// Op classification and the per-node / per-transfer time models.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

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


// ---- Secure links ----------------------------------------------------------------

SealCost DeviceSealCost(const DeviceProfile& d) {
  SealCost c;
  if (!d.has_security) return c;
  c.known = true;
  if (d.clock_hz > 0) {
    c.aead_s_per_byte = d.aead_cycles_per_byte / d.clock_hz;
    c.aead_s_per_frame = d.aead_cycles_per_message / d.clock_hz;
  }
  c.handshake_s = d.handshake_s;
  return c;
}

namespace {

bool IsStream(const LinkProfile& link) { return link.transport == "tcp"; }

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::string SealedLinkProblem(const LinkProfile& link) {
  if (IsStream(link) || link.payload_bytes > kSealedFrameOverheadBytes) return "";
  return "link '" + link.name + "' carries " + std::to_string(link.payload_bytes) + "-byte frames: a sealed frame needs more than the " +
         std::to_string(kSealedFrameOverheadBytes) + "-byte envelope (give --insecure for plain frames)";
}

int64_t FramePayloadBytes(const LinkProfile& link, bool sealed) {
  return sealed && !IsStream(link) ? link.payload_bytes - kSealedFrameOverheadBytes : link.payload_bytes;
}

LinkLoad TransferLoad(const LinkProfile& link, int64_t bytes, const Sealing& sealing) {
  LinkLoad load;
  if (bytes <= 0) return load;
  const int64_t payload = std::max<int64_t>(1, link.payload_bytes);
  if (!sealing.sealed) {
    load.frames = CeilDiv(bytes, payload);
    load.wire_bytes = bytes;
    return load;
  }
  if (IsStream(link)) {
    load.wire_bytes = bytes + kSealedFrameOverheadBytes;
    load.frames = CeilDiv(load.wire_bytes, payload);
    load.sealed_frames = 1;
  } else {
    const int64_t carried = FramePayloadBytes(link, true);
    if (carried < 1) {
      load.frames = -1;
      return load;
    }
    load.frames = CeilDiv(bytes, carried);
    load.wire_bytes = bytes + kSealedFrameOverheadBytes * load.frames;
    load.sealed_frames = load.frames;
  }
  const SealCost &s = sealing.sender, &r = sealing.receiver;
  load.aead_s = (s.aead_s_per_byte + r.aead_s_per_byte) * static_cast<double>(bytes) +
                (s.aead_s_per_frame + r.aead_s_per_frame) * static_cast<double>(load.sealed_frames);
  return load;
}

double TransferSeconds(const LinkProfile& link, int64_t bytes, const Sealing& sealing) {
  if (bytes <= 0) return 0;
  const LinkLoad load = TransferLoad(link, bytes, sealing);
  if (load.frames < 0) return std::numeric_limits<double>::infinity();
  return link.per_message_s +
         (static_cast<double>(load.frames) * link.per_frame_s + static_cast<double>(load.wire_bytes) / link.bytes_per_s) / (1 - link.loss) +
         load.aead_s;
}

double HandshakeSeconds(const LinkProfile& link, const SealCost& initiator, const SealCost& responder) {
  double t = initiator.handshake_s + responder.handshake_s;
  for (int64_t b : kHandshakeEnvelopeBytes) t += TransferSeconds(link, b);
  return t;
}

double TransferSeconds(const LinkProfile& link, int64_t bytes) { return TransferSeconds(link, bytes, Sealing{}); }

}  // namespace edgesplit
