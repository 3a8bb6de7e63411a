// Fused groups for the torchvision CNNs beyond ResNet and MobileNetV2
// (issue 14's sweep), found op by op against ONNX Runtime's profile:
// - a conv and the eltwise nodes that read its output alone, as oneDNN
//   post-ops: EfficientNet's SiLU (Sigmoid + Mul: eltwise_swish), the
//   squeeze-excitation Sigmoid, MobileNetV3's HardSwish and HardSigmoid;
// - a Pad that pads nothing (DenseNet's transitions export one before each
//   AveragePool) as a copy, and folded into the pooling after it;
// - DenseNet's Concat + pre-activation BatchNormalization(+Relu) as one pass
//   that normalizes each input straight into its channels of the output;
// - ShuffleNetV2's channel shuffle (and split) as one permutation pass
//   (shuffle.cc).
// - MobileNetV3's HardSwish as opset 13 exports it (HardSigmoid, then Mul by
//   its input) as one pass, after its conv or alone;
// - SqueezeNet's Winograd conv and the Concat after it (concat.cc).
// Each group gives the bytes of its nodes run one by one, so split runs stay
// bit-identical to whole runs; where that depends on oneDNN's choice of
// implementation it is checked at Prepare (else dnnl_unimplemented: the
// executor prepares the nodes one by one).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "int8_avx512.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

using dnnl::memory;

dnnl::error Unfusable(const char* why) { return dnnl::error(dnnl_unimplemented, why); }

bool Reads(const Node& n, int t) { return std::find(n.inputs.begin(), n.inputs.end(), t) != n.inputs.end(); }

// The eltwise post-ops that compute `n` (a Sigmoid, HardSwish or HardSigmoid
// Classify() runs natively) exactly as its own primitive does; false for
// other nodes.
bool EltwiseTail(const Node& n, dnnl::post_ops* ops) {
  switch (n.op) {
    case OpType::kSigmoid:
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
      return true;
    case OpType::kHardSwish:
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_hardswish, 0.0f, 0.0f);
      return true;
    case OpType::kHardSigmoid:  // BuildEltwise's two steps: linear, then clip to [0, 1]
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, n.GetFloat("alpha", 0.2f), n.GetFloat("beta", 0.5f));
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 1.0f);
      return true;
    default:
      return false;
  }
}

// A conv whose output t feeds only the rest of the group: [conv, eltwise] or
// [conv, Sigmoid(t), Mul(t, sigmoid)] (SiLU), all f32 on one layout.
bool MatchConvTail(const Graph& g, int first, int count, dnnl::post_ops* ops) {
  const Node& conv = g.nodes[first];
  if (Classify(g, first) != NativeKind::kConv) return false;
  const int t = conv.outputs[0];
  const Node& e = g.nodes[first + 1];
  if (Classify(g, first + 1) != NativeKind::kEltwise || e.inputs.size() != 1 || e.inputs[0] != t) return false;
  const int y = g.nodes[first + count - 1].outputs[0];
  if (g.tensors[y].shape != g.tensors[t].shape || KeepChannelsLast(g, t) != KeepChannelsLast(g, y)) return false;
  if (count == 2) return EltwiseTail(e, ops);
  const Node& mul = g.nodes[first + 2];
  if (e.op != OpType::kSigmoid || mul.op != OpType::kMul || mul.inputs.size() != 2 ||
      mul.activation.kind != ActivationKind::kNone || Classify(g, first + 2) != NativeKind::kBinary ||
      !Reads(mul, t) || !Reads(mul, e.outputs[0]))
    return false;
  // x * sigmoid(x): oneDNN's swish is the logistic of x times x, the same
  // float operations as the two primitives (docs/benchmarks.md, sweep pass).
  ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
  return true;
}

bool MatchPadPool(const Graph& g, int first) {
  const Node& pad = g.nodes[first];
  const Node& pool = g.nodes[first + 1];
  return Classify(g, first) == NativeKind::kCopy && Classify(g, first + 1) == NativeKind::kPool &&
         pool.inputs[0] == pad.outputs[0] && KeepChannelsLast(g, pad.inputs[0]) == KeepChannelsLast(g, pad.outputs[0]);
}

// Concat on channels of channels-last f32 inputs, each a whole number of
// 16-lane vectors, read only by a BatchNormalization (+Relu) on the same layout.
bool MatchConcatNorm(const Graph& g, int first) {
  const Node& cat = g.nodes[first];
  const Node& bn = g.nodes[first + 1];
  if (Classify(g, first) != NativeKind::kConcat || Classify(g, first + 1) != NativeKind::kBatchNorm) return false;
  const int t = cat.outputs[0];
  if (bn.inputs[0] != t || g.tensors[t].dtype != DType::kFloat32 || g.tensors[t].shape.size() != 4 ||
      cat.GetInt("axis", 0) != 1 || !KeepChannelsLast(g, t) || !KeepChannelsLast(g, bn.outputs[0]))
    return false;
  for (int x : cat.inputs)
    if (!KeepChannelsLast(g, x) || g.tensors[x].shape[1] % 16 != 0) return false;
  return true;
}

// The fused Concat + BatchNormalization: for each pixel and each input, its
// channels c of the output get fma(x - mean[c], scale[c] / sqrt(var[c] + eps),
// shift[c]) (then max(., 0) with Relu): the float operations of oneDNN 2.6's
// bnorm_jit:avx512_core in that order, which Build checks is the
// implementation the BatchNormalization alone gets. Constants: [a | mean |
// shift] per output channel; sizes: [pixels, relu, channels of each input...].
ES_AVX512_BEGIN
void RunConcatNorm(const PrimitiveState& st, const void* const* inputs, void* const* outputs, void* /*scratch*/) {
  const int64_t pixels = st.custom_sizes[0], total = st.custom_sizes.size() - 2;
  const bool relu = st.custom_sizes[1] != 0;
  const int64_t c_out = st.custom_constants.size() / 3;
  const float* a = st.custom_constants.data();
  const float* mean = a + c_out;
  const float* shift = mean + c_out;
  float* y = static_cast<float*>(outputs[0]);
  const __m512 zero = _mm512_setzero_ps();
#pragma omp parallel for schedule(static) if (!st.serial)
  for (int64_t p = 0; p < pixels; ++p) {
    float* yp = y + p * c_out;
    int64_t c0 = 0;
    for (int64_t i = 0; i < total; ++i) {
      const int64_t c = st.custom_sizes[2 + i];
      const float* xp = static_cast<const float*>(inputs[i]) + p * c;
      for (int64_t j = 0; j < c; j += 16) {
        const int64_t k = c0 + j;
        __m512 v = _mm512_sub_ps(_mm512_loadu_ps(xp + j), _mm512_loadu_ps(mean + k));
        v = _mm512_fmadd_ps(v, _mm512_loadu_ps(a + k), _mm512_loadu_ps(shift + k));
        if (relu) v = _mm512_max_ps(v, zero);
        _mm512_storeu_ps(yp + k, v);
      }
      c0 += c;
    }
  }
}
ES_AVX512_END

void BuildConcatNorm(const Graph& g, const Node& cat, const Node& bn, const PreparedKernel& k, PrimitiveState* st) {
  // The BatchNormalization alone must get the implementation whose float
  // operations RunConcatNorm repeats.
  PreparedKernel alone;
  alone.inputs.assign(5, TensorDesc());
  alone.inputs[0] = k.outputs[0];  // the concat's output: the BN's shape and layout
  alone.outputs = k.outputs;
  PrimitiveState probe;
  BuildPrimitive(NativeKind::kBatchNorm, g, bn, alone, &probe);
  if (probe.implementation != "bnorm_jit:avx512_core") throw Unfusable("the BatchNormalization is not bnorm_jit:avx512_core");
  const int64_t c_out = g.tensors[bn.inputs[0]].shape[1];
  const float eps = bn.GetFloat("epsilon", 1e-5f);
  const auto values = [&](int input) { return reinterpret_cast<const float*>(g.tensors[bn.inputs[input]].bytes()); };
  const float *scale = values(1), *shift = values(2), *mean = values(3), *var = values(4);
  st->custom_constants.resize(3 * c_out);
  for (int64_t c = 0; c < c_out; ++c) {
    st->custom_constants[c] = scale[c] / std::sqrt(var[c] + eps);
    st->custom_constants[c_out + c] = mean[c];
    st->custom_constants[2 * c_out + c] = shift[c];
  }
  const Shape& y = g.tensors[bn.outputs[0]].shape;
  st->custom_sizes = {y[0] * y[2] * y[3], bn.activation.kind == ActivationKind::kRelu ? 1 : 0};
  for (int x : cat.inputs) st->custom_sizes.push_back(g.tensors[x].shape[1]);
  st->custom = RunConcatNorm;
  st->implementation = "edgesplit concat + " + probe.implementation;
}

// HardSigmoid(x) then Mul of x by it (opset 13's export of HardSwish), f32,
// full shapes on one layout, the Mul plain. A conv before it keeps x: no
// oneDNN post-op chain can multiply by its own input (2.6's hardswish takes
// no alpha and rounds x + 3 and / 6 apart), so the pair is one pass of
// edgesplit's loop, after the conv (in place on its output) or alone.
bool MatchHardSwish(const Graph& g, int first, int x) {
  const Node& hs = g.nodes[first];
  const Node& mul = g.nodes[first + 1];
  if (hs.op != OpType::kHardSigmoid || Classify(g, first) != NativeKind::kEltwise || hs.inputs.size() != 1 ||
      hs.inputs[0] != x || mul.op != OpType::kMul || Classify(g, first + 1) != NativeKind::kBinary ||
      mul.activation.kind != ActivationKind::kNone || mul.inputs.size() != 2)
    return false;
  const int h = hs.outputs[0], y = mul.outputs[0];
  if (!(mul.inputs[0] == x && mul.inputs[1] == h) && !(mul.inputs[0] == h && mul.inputs[1] == x)) return false;
  const Shape& s = g.tensors[x].shape;
  const bool last = KeepChannelsLast(g, x);
  return g.tensors[h].shape == s && g.tensors[y].shape == s && KeepChannelsLast(g, h) == last &&
         KeepChannelsLast(g, y) == last;
}

// x * min(max(fma(x, alpha, beta), 0), 1): the float operations of the two
// nodes run apart on oneDNN 2.6's jit kernels (eltwise linear is one
// vfmadd213ps, clip a vmaxps then a vminps, the binary mul src0 * src1, whose
// operand order `x_first` keeps), which BuildHardSwish checks they get.
// Sizes: [elements, x_first]; constants: [alpha, beta].
ES_AVX512_BEGIN
void HardSwishLoop(const PrimitiveState& st, const float* x, float* y) {
  const int64_t n = st.custom_sizes[0];
  const bool x_first = st.custom_sizes[1] != 0;
  const __m512 alpha = _mm512_set1_ps(st.custom_constants[0]), beta = _mm512_set1_ps(st.custom_constants[1]);
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  const int64_t vectors = (n + 15) / 16;
#pragma omp parallel for schedule(static) if (!st.serial)
  for (int64_t i = 0; i < vectors; ++i) {
    const __mmask16 m = avx512::TailMask(n - i * 16);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i * 16);
    const __m512 h = _mm512_min_ps(_mm512_max_ps(_mm512_fmadd_ps(v, alpha, beta), zero), one);
    _mm512_mask_storeu_ps(y + i * 16, m, x_first ? _mm512_mul_ps(v, h) : _mm512_mul_ps(h, v));
  }
}
ES_AVX512_END

void HardSwishAfterConv(const PrimitiveState& st, const void* const* /*inputs*/, void* const* outputs) {
  HardSwishLoop(st, static_cast<const float*>(outputs[0]), static_cast<float*>(outputs[0]));
}
void HardSwishAlone(const PrimitiveState& st, const void* const* inputs, void* const* outputs, void* /*scratch*/) {
  HardSwishLoop(st, static_cast<const float*>(inputs[0]), static_cast<float*>(outputs[0]));
}

bool IsJit(const std::string& implementation) { return implementation.compare(0, 3, "jit") == 0; }

// The pair's loop constants, where the two nodes alone get the jit kernels
// whose float operations HardSwishLoop repeats (else dnnl_unimplemented).
void BuildHardSwish(const Graph& g, int first, const TensorDesc& y, PrimitiveState* st) {
  const Node& hs = g.nodes[first];
  const Node& mul = g.nodes[first + 1];
  PreparedKernel one, two;
  one.inputs = one.outputs = two.outputs = {y};
  two.inputs = {y, y};
  PrimitiveState hs_alone, mul_alone;
  BuildPrimitive(NativeKind::kEltwise, g, hs, one, &hs_alone);
  BuildPrimitive(NativeKind::kBinary, g, mul, two, &mul_alone);
  const dnnl::eltwise_forward::primitive_desc clip(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_clip, ActivationDesc(y), 0.0f, 1.0f),
      Engine());
  if (!Int8UsesAvx512() || !IsJit(hs_alone.implementation) || hs_alone.after.size() != 1 ||
      !IsJit(mul_alone.implementation) || !IsJit(clip.impl_info_str()))
    throw Unfusable("HardSigmoid and Mul alone do not run the jit kernels the loop repeats");
  st->custom_constants = {hs.GetFloat("alpha", 0.2f), hs.GetFloat("beta", 0.5f)};
  st->custom_sizes = {y.elements, mul.inputs[0] == hs.inputs[0] ? 1 : 0};
}

}  // namespace

NativeKind ClassifyPad(const Graph& g, const Node& n) {
  // Opset 11+ (pads an input; opset 2's attribute form stays on the reference);
  // any mode and constant value pads nothing when every pad is 0.
  if (!n.HasInput(0) || !n.HasInput(1) || n.HasInput(3) || n.outputs.size() != 1 ||
      n.activation.kind != ActivationKind::kNone)
    return NativeKind::kNone;
  const Tensor& x = g.tensors[n.inputs[0]];
  const Tensor& pads = g.tensors[n.inputs[1]];
  const Tensor& y = g.tensors[n.outputs[0]];
  if (x.dtype != DType::kFloat32 || y.dtype != DType::kFloat32 || x.shape.size() != 4 || !pads.is_constant ||
      pads.dtype != DType::kInt64 || y.shape != x.shape)
    return NativeKind::kNone;
  std::vector<int64_t> v(static_cast<size_t>(pads.num_elements()));
  std::memcpy(v.data(), pads.bytes(), v.size() * sizeof(int64_t));
  return std::all_of(v.begin(), v.end(), [](int64_t p) { return p == 0; }) ? NativeKind::kCopy : NativeKind::kNone;
}

void BuildCopy(const PreparedKernel& k, PrimitiveState* st) {
  BuildReorderBetween(ActivationDesc(k.inputs[0]), ActivationDesc(k.outputs[0]), st);
}

GroupKind MatchGroup(const Graph& g, int first, int count) {
  if (count < 2 || first + count > static_cast<int>(g.nodes.size())) return GroupKind::kNone;
  if (MatchShuffle(g, first, count)) return GroupKind::kShuffle;  // 4 or 6 nodes
  if (count > 3) return GroupKind::kNone;
  dnnl::post_ops ops;
  if (MatchConvTail(g, first, count, &ops)) return GroupKind::kConvTail;
  if (count == 3 && Classify(g, first) == NativeKind::kConv && MatchHardSwish(g, first + 1, g.nodes[first].outputs[0]))
    return GroupKind::kConvHardSwish;
  if (count == 2 && MatchHardSwish(g, first, g.nodes[first].inputs[0])) return GroupKind::kHardSwish;
  // A Concat that Concat + BatchNormalization would take stays with its BN
  // (a pass saved, against half a copy).
  const bool concat_norm = first + 2 < static_cast<int>(g.nodes.size()) && MatchConcatNorm(g, first + 1);
  if (count == 2 && !concat_norm && MatchConvIntoConcat(g, first)) return GroupKind::kConvIntoConcat;
  if (count == 2 && MatchPadPool(g, first)) return GroupKind::kPadPool;
  if (count == 2 && MatchConcatNorm(g, first)) return GroupKind::kConcatNorm;
  return GroupKind::kNone;
}

void BuildGroup(GroupKind kind, const Graph& g, int first, int count, const PreparedKernel& k, PrimitiveState* st) {
  switch (kind) {
    case GroupKind::kConvTail: {
      MatchConvTail(g, first, count, &st->tail);
      BuildPrimitive(NativeKind::kConv, g, g.nodes[first], k, st);
      return;
    }
    case GroupKind::kPadPool:  // the pooling reads the Pad's input: the same bytes
      return BuildPrimitive(NativeKind::kPool, g, g.nodes[first + 1], k, st);
    case GroupKind::kConcatNorm:
      return BuildConcatNorm(g, g.nodes[first], g.nodes[first + 1], k, st);
    case GroupKind::kShuffle:
      return BuildShuffle(g, first, count, k, st);
    case GroupKind::kConvHardSwish:  // the conv writes x into y, the loop finishes y in place
      BuildHardSwish(g, first + 1, k.outputs[0], st);
      BuildPrimitive(NativeKind::kConv, g, g.nodes[first], k, st);
      st->then = HardSwishAfterConv;
      st->implementation += " + HardSigmoid * x (edgesplit pass)";
      return;
    case GroupKind::kHardSwish:
      BuildHardSwish(g, first, k.outputs[0], st);
      st->custom = HardSwishAlone;
      st->implementation = "edgesplit HardSigmoid * x";
      return;
    case GroupKind::kConvIntoConcat:
      return BuildConvIntoConcat(g, first, k, st);
    case GroupKind::kNone:
      break;
  }
  throw Unfusable("not a group this backend fuses");
}

}  // namespace edgesplit::onednn
