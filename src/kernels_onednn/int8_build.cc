// Prepare-time half of the int8 support: the TFLite requantization constants
// of a conv / inner product and the parameters of the int8 loops (int8.h).
// The node was checked by the reference int8 Prepare first (PrepareOneDnn), so
// the quantization parameters are well-formed here; these functions derive
// the same constants from them as src/kernels/reference_int8.cc does.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "edgesplit/fixed_point.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

[[noreturn]] void Refuse(const char* why) { throw dnnl::error(dnnl_unimplemented, why); }

const QuantParams& PerTensorParams(const Tensor& t) {
  if (t.quant.scales.size() != 1 || t.quant.zero_points.size() != 1) Refuse("not per-tensor quantized");
  return t.quant;
}

void Multiplier(double real, int32_t* m, int32_t* shift) {
  int s = 0;
  fixed_point::QuantizeMultiplier(real, m, &s);
  *shift = s;
}

// The fused activation as a clamp in y's domain (TFLite's
// CalculateActivationRangeQuantized, as the reference).
void ActivationClamp(const FusedActivation& a, float y_scale, int32_t y_zp, Int8Stage* st) {
  auto q = [&](float v) {
    return static_cast<int32_t>(std::clamp<int64_t>(int64_t{y_zp} + fixed_point::RoundHalfAway(v / y_scale), -128, 127));
  };
  st->lo = -128;
  st->hi = 127;
  switch (a.kind) {
    case ActivationKind::kNone: break;
    case ActivationKind::kRelu: st->lo = std::max(-128, y_zp); break;
    case ActivationKind::kClip:
      st->lo = q(a.min);
      st->hi = q(a.max);
      break;
    case ActivationKind::kLeakyRelu: Refuse("a fused LeakyRelu has no int8 form");
  }
}

// A 4-D tensor (or a 2-D [rows, channels] matrix) as the loops see it.
Plane4 PlaneOf(const TensorDesc& d) {
  Plane4 p;
  if (d.rank == 2) {
    p.hw = d.dims[0];
    p.c = d.dims[1];
    p.channels_last = true;  // row-major [rows, channels]: the channel varies fastest
    return p;
  }
  if (d.rank != 4) {
    p.hw = d.elements;
    return p;
  }
  p.n = d.dims[0];
  p.c = d.dims[1];
  p.hw = d.dims[2] * d.dims[3];
  p.channels_last = d.layout == TensorLayout::kChannelsLast;
  return p;
}

void PrepareAdd(const Graph& g, const Node& n, const PreparedKernel& k, Int8Stage* st) {
  const QuantParams& a = PerTensorParams(g.tensors[n.inputs[0]]);
  const QuantParams& b = PerTensorParams(g.tensors[n.inputs[1]]);
  const QuantParams& y = PerTensorParams(g.tensors[n.outputs[0]]);
  st->op = Int8Stage::Op::kAdd;
  st->a = PlaneOf(k.inputs[0]);
  st->b = PlaneOf(k.inputs[1]);
  st->y = PlaneOf(k.outputs[0]);
  st->a_zp = a.zero_points[0];
  st->b_zp = b.zero_points[0];
  st->y_zp = y.zero_points[0];
  const double twice_max = 2.0 * std::max(a.scales[0], b.scales[0]);
  constexpr int kLeftShift = 20;
  Multiplier(a.scales[0] / twice_max, &st->a_mult, &st->a_shift);
  Multiplier(b.scales[0] / twice_max, &st->b_mult, &st->b_shift);
  Multiplier(twice_max / (static_cast<double>(1 << kLeftShift) * y.scales[0]), &st->y_mult, &st->y_shift);
  ActivationClamp(n.activation, y.scales[0], st->y_zp, st);
  BuildAddTable(st);
}

}  // namespace

void PrepareRequant(const Graph& g, const Node& n, const PreparedKernel& k, int weight_axis, bool fold_zero_point,
                    Int8Stage* st) {
  const QuantParams& x = PerTensorParams(g.tensors[n.inputs[0]]);
  const QuantParams& y = PerTensorParams(g.tensors[n.outputs[0]]);
  const Tensor& w = g.tensors[n.inputs[1]];
  st->op = Int8Stage::Op::kRequant;
  st->y = PlaneOf(k.outputs[0]);
  st->y_zp = y.zero_points[0];
  ActivationClamp(n.activation, y.scales[0], st->y_zp, st);
  const int64_t channels = st->y.c;
  const int64_t per_channel = w.num_elements() / channels;
  // Weight element (channel, i): axis 0 is [channels, per_channel], axis 1 is [per_channel, channels].
  const int8_t* wd = w.data_as<int8_t>();
  auto weight = [&](int64_t ch, int64_t i) { return weight_axis == 0 ? wd[ch * per_channel + i] : wd[i * channels + ch]; };
  const bool per_tensor_w = w.quant.scales.size() == 1;
  const int32_t* bias = n.HasInput(2) ? g.tensors[n.inputs[2]].data_as<int32_t>() : nullptr;
  st->bias.assign(static_cast<size_t>(channels), 0);
  st->multiplier.assign(static_cast<size_t>(channels), 0);
  st->shift.assign(static_cast<size_t>(channels), 0);
  st->left_shift = false;
  for (int64_t ch = 0; ch < channels; ++ch) {
    int64_t b = bias ? bias[ch] : 0;
    if (fold_zero_point) {
      // sum (x - x_zp) * w = sum x * w - x_zp * sum w (every tap is inside the input).
      int64_t sum = 0;
      for (int64_t i = 0; i < per_channel; ++i) sum += weight(ch, i);
      b -= int64_t{x.zero_points[0]} * sum;
    }
    st->bias[ch] = static_cast<int32_t>(static_cast<uint32_t>(b));  // int32 wrap-around, as the reference
    const float ws = w.quant.scales[per_tensor_w ? 0 : ch];
    Multiplier(static_cast<double>(x.scales[0]) * ws / y.scales[0], &st->multiplier[ch], &st->shift[ch]);
    st->left_shift |= st->shift[ch] > 0;
  }
}

void BuildInt8Loop(NativeKind kind, const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st) {
  Int8Stage& s = st->int8;
  switch (kind) {
    case NativeKind::kAddInt8:
      PrepareAdd(g, n, k, &s);
      st->implementation = "edgesplit:int8_add";
      return;
    case NativeKind::kGlobalPoolInt8:
      s.op = Int8Stage::Op::kGlobalPool;
      s.a = PlaneOf(k.inputs[0]);
      st->implementation = "edgesplit:int8_global_avg_pool";
      return;
    case NativeKind::kQuantizeInt8: {
      const Tensor& scale = g.tensors[n.inputs[1]];
      s.op = Int8Stage::Op::kQuantize;
      s.a = PlaneOf(k.inputs[0]);
      s.y = PlaneOf(k.outputs[0]);
      std::memcpy(&s.scale, scale.bytes(), sizeof s.scale);
      s.y_zp = n.HasInput(2) ? g.tensors[n.inputs[2]].data_as<int8_t>()[0] : 0;
      st->implementation = "edgesplit:quantize_linear";
      return;
    }
    default:
      Refuse("not an int8 loop");
  }
}

}  // namespace edgesplit::onednn
