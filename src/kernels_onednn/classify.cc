// Which nodes the oneDNN backend runs natively, and which activations it keeps
// channels-last. Both are pure functions of the graph (see onednn_internal.h).
#include <algorithm>

#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

bool IsF32(const Graph& g, int t) { return t == kNoTensor || g.tensors[t].dtype == DType::kFloat32; }
bool IsConstant(const Graph& g, int t) { return t != kNoTensor && g.tensors[t].is_constant; }
size_t Rank(const Graph& g, int t) { return g.tensors[t].shape.size(); }
bool AllF32(const Graph& g, const Node& n) {
  for (int t : n.inputs)
    if (!IsF32(g, t)) return false;
  for (int t : n.outputs)
    if (!IsF32(g, t)) return false;
  return true;
}

// oneDNN's pooling counts padding past the explicit pads (ceil_mode's overhang)
// as padding; AveragePool with count_include_pad would then divide differently.
bool HasCeilOverhang(const Graph& g, const Node& n) {
  const Shape& x = g.tensors[n.inputs[0]].shape;
  const Shape& y = g.tensors[n.outputs[0]].shape;
  std::vector<int64_t> k = n.GetInts("kernel_shape"), s = n.GetInts("strides"), d = n.GetInts("dilations"),
                       p = n.GetInts("pads");
  for (size_t i = 0; i < 2; ++i) {
    const int64_t stride = s.size() == 2 ? s[i] : 1, dil = d.size() == 2 ? d[i] : 1;
    const int64_t pad_l = p.size() == 4 ? p[i] : 0, pad_r = p.size() == 4 ? p[i + 2] : 0;
    const int64_t reach = (y[2 + i] - 1) * stride + (k[i] - 1) * dil + 1 - x[2 + i] - pad_l;
    if (reach > pad_r) return true;
  }
  return false;
}

// Right-aligned broadcast of `b` onto `y`: each dim is 1 or equal.
bool BroadcastsOnto(const Shape& b, const Shape& y) {
  if (b.size() > y.size()) return false;
  for (size_t i = 0; i < b.size(); ++i) {
    const int64_t db = b[b.size() - 1 - i], dy = y[y.size() - 1 - i];
    if (db != 1 && db != dy) return false;
  }
  return true;
}

NativeKind ClassifyBinary(const Graph& g, const Node& n) {
  if (n.inputs.size() != 2 || n.inputs[0] == kNoTensor || n.inputs[1] == kNoTensor) return NativeKind::kNone;
  const Shape& a = g.tensors[n.inputs[0]].shape;
  const Shape& b = g.tensors[n.inputs[1]].shape;
  const Shape& y = g.tensors[n.outputs[0]].shape;
  if (y.empty() || y.size() > 6) return NativeKind::kNone;
  const bool commutative = n.op == OpType::kAdd || n.op == OpType::kMul;
  // oneDNN broadcasts src1 only: src0 must have the output's shape.
  if (a == y && BroadcastsOnto(b, y)) return NativeKind::kBinary;
  if (commutative && b == y && BroadcastsOnto(a, y)) return NativeKind::kBinary;
  return NativeKind::kNone;
}

bool AcceptsChannelsLast(NativeKind kind) {
  return kind != NativeKind::kNone && kind != NativeKind::kInnerProduct && kind != NativeKind::kInnerProductInt8;
}

// ReduceMean's axes (attribute; a negative axis counts from the end) are
// exactly {2, 3} of a rank-4 input.
bool ReducesPlaneOnly(const Graph& g, const Node& n) {
  const int64_t rank = static_cast<int64_t>(Rank(g, n.inputs[0]));
  bool h = false, w = false;
  for (int64_t a : n.GetInts("axes")) {
    const int64_t axis = a < 0 ? a + rank : a;
    if (axis == 2) h = true;
    else if (axis == 3) w = true;
    else return false;
  }
  return h && w && n.GetInts("axes").size() == 2;
}

bool IsInt8(const Graph& g, int t) { return t != kNoTensor && g.tensors[t].dtype == DType::kInt8; }
bool PerTensor(const Graph& g, int t) {
  const QuantParams& q = g.tensors[t].quant;
  return q.scales.size() == 1 && q.zero_points.size() == 1;
}
bool IsScalarConstant(const Graph& g, const Node& n, size_t i) {
  return n.HasInput(i) && IsConstant(g, n.inputs[i]) && g.tensors[n.inputs[i]].num_elements() == 1;
}

// The int8 ops of the quantized graph (quant.h) that run natively. Anything
// else (and any malformed parameters) goes to the reference kernel, which
// also reports the errors.
NativeKind ClassifyInt8(const Graph& g, const Node& n) {
  const int x = n.inputs[0], y = n.outputs[0];
  const bool plain = n.activation.kind == ActivationKind::kNone;
  if (n.op == OpType::kQuantizeLinear) {
    // A per-tensor QuantizeLinear of a 4-D f32 activation into int8.
    if (!IsF32(g, x) || !IsInt8(g, y) || Rank(g, x) != 4 || !IsScalarConstant(g, n, 1)) return NativeKind::kNone;
    if (n.HasInput(2) && (!IsScalarConstant(g, n, 2) || !IsInt8(g, n.inputs[2]))) return NativeKind::kNone;
    return g.tensors[n.inputs[1]].dtype == DType::kFloat32 ? NativeKind::kQuantizeInt8 : NativeKind::kNone;
  }
  if (!IsInt8(g, x) || !IsInt8(g, y) || g.tensors[x].quant.empty()) return NativeKind::kNone;
  switch (n.op) {
    case OpType::kConv:
      if (Rank(g, x) != 4 || n.inputs.size() < 2 || !IsInt8(g, n.inputs[1]) || !IsConstant(g, n.inputs[1]) ||
          Rank(g, n.inputs[1]) != 4 || n.GetInts("kernel_shape").size() != 2)
        return NativeKind::kNone;
      return n.activation.kind == ActivationKind::kLeakyRelu ? NativeKind::kNone : NativeKind::kConvInt8;
    case OpType::kGemm:
      if (Rank(g, x) != 2 || n.inputs.size() < 2 || !IsInt8(g, n.inputs[1]) || !IsConstant(g, n.inputs[1]) ||
          Rank(g, n.inputs[1]) != 2 || n.GetInt("transA", 0) != 0)
        return NativeKind::kNone;
      return n.activation.kind == ActivationKind::kLeakyRelu ? NativeKind::kNone : NativeKind::kInnerProductInt8;
    case OpType::kAdd: {
      // Same-shape operands only (the residual adds); broadcasting stays on the reference.
      const Shape& ys = g.tensors[y].shape;
      if (n.inputs.size() != 2 || !IsInt8(g, n.inputs[1]) || g.tensors[n.inputs[0]].shape != ys ||
          g.tensors[n.inputs[1]].shape != ys || n.activation.kind == ActivationKind::kLeakyRelu)
        return NativeKind::kNone;
      return PerTensor(g, x) && PerTensor(g, n.inputs[1]) && PerTensor(g, y) ? NativeKind::kAddInt8 : NativeKind::kNone;
    }
    case OpType::kGlobalAveragePool:
      if (Rank(g, x) != 4 || !plain || !PerTensor(g, x) || !PerTensor(g, y) || !(g.tensors[x].quant == g.tensors[y].quant))
        return NativeKind::kNone;
      return NativeKind::kGlobalPoolInt8;
    case OpType::kMaxPool:  // bytes move: oneDNN's s8 max pooling is exact
      if (Rank(g, x) != 4 || !plain || n.GetInts("kernel_shape").size() != 2 || n.GetInt("storage_order", 0) != 0 ||
          n.outputs.size() != 1)
        return NativeKind::kNone;
      return NativeKind::kPool;
    case OpType::kConcat: {
      const size_t rank = Rank(g, y);
      const int64_t axis = n.GetInt("axis", 0);
      if (!plain || rank == 0 || rank > 6 || axis < 0 || axis >= static_cast<int64_t>(rank)) return NativeKind::kNone;
      for (int t : n.inputs)
        if (!IsInt8(g, t) || Rank(g, t) != rank || g.tensors[t].num_elements() == 0) return NativeKind::kNone;
      return NativeKind::kConcat;
    }
    default:
      return NativeKind::kNone;
  }
}

}  // namespace

NativeKind Classify(const Graph& g, int node_index) {
  const Node& n = g.nodes[node_index];
  // Every FusedActivation kind is expressible as a post-op, so only the op matters.
  if (n.inputs.empty() || n.inputs[0] == kNoTensor || n.outputs.size() != 1) return NativeKind::kNone;
  if (n.op == OpType::kPad) return ClassifyPad(g, n);  // its pads are int64
  if (n.op == OpType::kReshape || n.op == OpType::kSlice) return ClassifyShape(g, n);  // int64 shape, bounds
  if (!AllF32(g, n)) return ClassifyInt8(g, n);
  const int x = n.inputs[0];
  const bool no_activation = n.activation.kind == ActivationKind::kNone;
  switch (n.op) {
    case OpType::kConv: {
      if (Rank(g, x) != 4 || n.inputs.size() < 2 || !IsConstant(g, n.inputs[1]) || Rank(g, n.inputs[1]) != 4)
        return NativeKind::kNone;
      if (n.inputs.size() > 2 && n.inputs[2] != kNoTensor && !IsConstant(g, n.inputs[2])) return NativeKind::kNone;
      if (n.GetInts("kernel_shape").size() != 2) return NativeKind::kNone;
      return NativeKind::kConv;
    }
    case OpType::kGemm: {
      if (Rank(g, x) != 2 || n.inputs.size() < 2 || !IsConstant(g, n.inputs[1]) || Rank(g, n.inputs[1]) != 2)
        return NativeKind::kNone;
      if (n.GetInt("transA", 0) != 0 || n.GetFloat("alpha", 1.0f) != 1.0f) return NativeKind::kNone;
      if (n.inputs.size() > 2 && n.inputs[2] != kNoTensor) {
        const Tensor& c = g.tensors[n.inputs[2]];
        const int64_t cols = g.tensors[n.outputs[0]].shape[1];
        if (!c.is_constant || n.GetFloat("beta", 1.0f) != 1.0f || c.num_elements() != cols) return NativeKind::kNone;
        if (c.shape.size() == 2 && c.shape[0] != 1) return NativeKind::kNone;
      }
      return NativeKind::kInnerProduct;
    }
    case OpType::kMatMul:
      if (Rank(g, x) != 2 || n.inputs.size() != 2 || !IsConstant(g, n.inputs[1]) || Rank(g, n.inputs[1]) != 2)
        return NativeKind::kNone;
      return NativeKind::kInnerProduct;
    case OpType::kMaxPool:
    case OpType::kAveragePool:
      if (Rank(g, x) != 4 || !no_activation || n.GetInts("kernel_shape").size() != 2) return NativeKind::kNone;
      if (n.op == OpType::kMaxPool && n.GetInt("storage_order", 0) != 0) return NativeKind::kNone;
      if (n.op == OpType::kAveragePool && n.GetInt("count_include_pad", 0) != 0 && HasCeilOverhang(g, n))
        return NativeKind::kNone;
      return NativeKind::kPool;
    case OpType::kGlobalAveragePool:
      return Rank(g, x) == 4 && no_activation ? NativeKind::kGlobalPool : NativeKind::kNone;
    case OpType::kReduceMean:
      // A mean over H and W (MNASNet's `x.mean([2, 3])`) is a global average
      // pool; with keepdims=0 its [N, C] output has the bytes of [N, C, 1, 1].
      return Rank(g, x) == 4 && no_activation && n.inputs.size() == 1 && ReducesPlaneOnly(g, n) ? NativeKind::kGlobalPool
                                                                                                 : NativeKind::kNone;
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
      return ClassifyBinary(g, n);
    case OpType::kConcat: {
      const size_t rank = Rank(g, n.outputs[0]);
      const int64_t axis = n.GetInt("axis", 0);
      if (!no_activation || rank == 0 || rank > 6 || axis < 0 || axis >= static_cast<int64_t>(rank)) return NativeKind::kNone;
      for (int t : n.inputs)
        if (t == kNoTensor || Rank(g, t) != rank || g.tensors[t].num_elements() == 0) return NativeKind::kNone;
      return NativeKind::kConcat;
    }
    case OpType::kBatchNormalization: {
      // Inference with constant per-channel parameters (a BN that no conv
      // absorbed, e.g. DenseNet's pre-activation ones); Relu is oneDNN's
      // fuse_norm_relu, other fused activations stay on the reference.
      if (Rank(g, x) != 4 || n.inputs.size() != 5 || n.GetInt("training_mode", 0) != 0) return NativeKind::kNone;
      if (n.activation.kind != ActivationKind::kNone && n.activation.kind != ActivationKind::kRelu) return NativeKind::kNone;
      const int64_t c = g.tensors[x].shape[1];
      for (size_t i = 1; i < 5; ++i)
        if (!IsConstant(g, n.inputs[i]) || g.tensors[n.inputs[i]].num_elements() != c) return NativeKind::kNone;
      return NativeKind::kBatchNorm;
    }
    case OpType::kRelu:
    case OpType::kLeakyRelu:
    case OpType::kSigmoid:
    case OpType::kHardSwish:
    case OpType::kHardSigmoid:
      return no_activation && Rank(g, x) >= 1 && Rank(g, x) <= 6 ? NativeKind::kEltwise : NativeKind::kNone;
    case OpType::kClip:
      if (!no_activation || Rank(g, x) < 1 || Rank(g, x) > 6) return NativeKind::kNone;
      for (size_t i = 1; i < n.inputs.size(); ++i)
        if (n.inputs[i] != kNoTensor && (!IsConstant(g, n.inputs[i]) || g.tensors[n.inputs[i]].num_elements() != 1))
          return NativeKind::kNone;
      return NativeKind::kEltwise;
    default:
      return NativeKind::kNone;
  }
}

int64_t NodeWork(const Graph& g, const Node& n) {
  const int64_t out = g.tensors[n.outputs[0]].num_elements();
  switch (n.op) {
    case OpType::kConv:
    case OpType::kGemm:
    case OpType::kMatMul: {
      // Multiply-accumulates: each output sums over one output channel's weights.
      const Tensor& w = g.tensors[n.inputs[1]];
      const int64_t per_output = n.op == OpType::kConv ? w.num_elements() / std::max<int64_t>(1, w.shape[0])
                                                       : g.tensors[n.inputs[0]].shape.back();
      return out * per_output;
    }
    default: {
      // Memory-bound ops: the elements read and written.
      int64_t elements = out;
      for (int t : n.inputs)
        if (t != kNoTensor && !g.tensors[t].is_constant) elements += g.tensors[t].num_elements();
      return elements;
    }
  }
}

bool KeepChannelsLast(const Graph& g, int tensor) {
  const Tensor& t = g.tensors[tensor];
  if (t.is_constant || (t.dtype != DType::kFloat32 && t.dtype != DType::kInt8) || t.shape.size() != 4 ||
      t.shape[2] * t.shape[3] <= 1)
    return false;
  if (std::find(g.outputs.begin(), g.outputs.end(), tensor) != g.outputs.end()) return false;
  bool produced = std::find(g.inputs.begin(), g.inputs.end(), tensor) != g.inputs.end();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const bool writes = std::find(n.outputs.begin(), n.outputs.end(), tensor) != n.outputs.end();
    const bool reads = std::find(n.inputs.begin(), n.inputs.end(), tensor) != n.inputs.end();
    if (!writes && !reads) continue;
    const NativeKind kind = Classify(g, static_cast<int>(i));
    if (!AcceptsChannelsLast(kind)) return false;
    if (reads && kind == NativeKind::kQuantizeInt8) return false;  // it reads f32 row-major
    // A weight-like operand (e.g. a conv's W or a binary's broadcast side) is never an activation here.
    if (reads && n.op == OpType::kConv && n.inputs[0] != tensor) return false;
    produced |= writes;
  }
  return produced;
}

}  // namespace edgesplit::onednn
