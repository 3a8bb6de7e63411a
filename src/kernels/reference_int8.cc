// Reference backend, int8 ops: TFLite Micro's integer arithmetic for the
// quantized graph defined in include/edgesplit/quant.h. Prepare validates the
// tensors' QuantParams and turns every real multiplier into a Q31 multiplier and
// shift, so Eval is integer-only: no float, no heap, no OS calls. Integer sums
// are exact, so results never depend on where a model is split.
#include <algorithm>
#include <cmath>
#include <string>

#include "edgesplit/fixed_point.h"
#include "reference_internal.h"

namespace edgesplit::reference {
namespace {

using fixed_point::MultiplyByQuantizedMultiplier;
using fixed_point::QuantizeMultiplier;

constexpr int32_t kQMin = -128, kQMax = 127;
constexpr int kAddLeftShift = 20;  // TFLite's int8 Add headroom

Status Fail(const Node& node, const std::string& message) {
  return Unsupported("node '" + node.name + "' (" + OpTypeName(node.op) + ", int8): " + message);
}

// A tensor's per-tensor int8 parameters, checked: one finite positive scale and
// a zero point in the int8 range.
Status PerTensor(const Node& node, const Tensor& t, float* scale, int32_t* zero_point) {
  if (t.dtype != DType::kInt8) return Fail(node, "tensor '" + t.name + "' is " + DTypeName(t.dtype) + ", not int8");
  if (t.quant.scales.size() != 1 || t.quant.zero_points.size() != 1)
    return Fail(node, "tensor '" + t.name + "' needs one scale and one zero point (per-tensor quantization)");
  const float s = t.quant.scales[0];
  const int32_t z = t.quant.zero_points[0];
  if (!(s > 0.0f) || !std::isfinite(s)) return Fail(node, "tensor '" + t.name + "' has scale " + std::to_string(s));
  if (z < kQMin || z > kQMax) return Fail(node, "tensor '" + t.name + "' has zero point " + std::to_string(z));
  *scale = s;
  *zero_point = z;
  return Status::Ok();
}

// Per-output-channel symmetric weight scales, checked against `channels`.
Status WeightScales(const Node& node, const Tensor& w, int axis, int64_t channels, std::vector<float>* scales) {
  if (w.dtype != DType::kInt8 || !w.is_constant)
    return Fail(node, "weight '" + w.name + "' must be an int8 constant");
  const QuantParams& q = w.quant;
  const bool per_tensor = q.scales.size() == 1;
  if (!per_tensor && (static_cast<int64_t>(q.scales.size()) != channels || q.axis != axis))
    return Fail(node, "weight '" + w.name + "' needs 1 or " + std::to_string(channels) + " scales along axis " +
                          std::to_string(axis));
  if (q.zero_points.size() != q.scales.size()) return Fail(node, "weight '" + w.name + "' has mismatched zero points");
  for (size_t i = 0; i < q.scales.size(); ++i) {
    if (q.zero_points[i] != 0) return Fail(node, "weight '" + w.name + "' must be symmetric (zero point 0)");
    if (!(q.scales[i] > 0.0f) || !std::isfinite(q.scales[i]))
      return Fail(node, "weight '" + w.name + "' has scale " + std::to_string(q.scales[i]));
  }
  scales->assign(static_cast<size_t>(channels), 0.0f);
  for (int64_t c = 0; c < channels; ++c) (*scales)[c] = q.scales[per_tensor ? 0 : c];
  return Status::Ok();
}

Status CheckBias(const Node& node, const Graph& graph, int index, int64_t channels) {
  if (!node.HasInput(static_cast<size_t>(index))) return Status::Ok();
  const Tensor& b = graph.tensors[node.inputs[index]];
  if (b.dtype != DType::kInt32 || !b.is_constant || b.num_elements() != channels)
    return Fail(node, "bias '" + b.name + "' must be an int32 constant of " + std::to_string(channels) + " values");
  return Status::Ok();
}

// The fused activation as a clamp in y's quantized domain (TFLite's
// CalculateActivationRangeQuantized).
Status ActivationRange(const Node& node, float y_scale, int32_t y_zp, int64_t* lo, int64_t* hi) {
  int32_t a = kQMin, b = kQMax;
  auto q = [&](float v) { return std::clamp<int64_t>(int64_t{y_zp} + fixed_point::RoundHalfAway(v / y_scale), kQMin, kQMax); };
  switch (node.activation.kind) {
    case ActivationKind::kNone: break;
    case ActivationKind::kRelu: a = std::max(kQMin, y_zp); break;
    case ActivationKind::kClip:
      a = static_cast<int32_t>(std::max<int64_t>(kQMin, q(node.activation.min)));
      b = static_cast<int32_t>(std::min<int64_t>(kQMax, q(node.activation.max)));
      break;
    case ActivationKind::kLeakyRelu: return Fail(node, "a fused LeakyRelu has no int8 form (run it in float)");
  }
  *lo = a;
  *hi = b;
  return Status::Ok();
}

void PushMultiplier(double real, std::vector<int64_t>* ints) {
  int32_t m = 0;
  int shift = 0;
  QuantizeMultiplier(real, &m, &shift);
  ints->push_back(m);
  ints->push_back(shift);
}

inline int8_t Clamp8(int32_t v, int64_t lo, int64_t hi) {
  return static_cast<int8_t>(v < lo ? lo : (v > hi ? hi : v));
}

// ---- Conv: ints = window layout (kWinCount) then kConvXZp, kConvYZp, lo, hi, has
// bias, pointwise, then per output channel (multiplier, shift), then for a
// pointwise conv per output channel -x_zp * sum(w) (every tap is inside the input).
enum ConvExtra { kConvXZp = kWinCount, kConvYZp, kConvLo, kConvHi, kConvHasBias, kConvPointwise, kConvTable };

// A 1x1 stride-1 conv without padding: whole-plane products.
bool IsPlainPointwise(const int64_t* p) {
  return IsPointwise(p) && p[kWinSD] == 1 && p[kWinSH] == 1 && p[kWinSW] == 1;
}

Status PrepareConv(const Graph& graph, const Node& node, PreparedKernel* k) {
  const TensorDesc& x = k->inputs[0];
  const TensorDesc& y = k->outputs[0];
  if (k->inputs.size() < 2 || !k->inputs[1].present) return Fail(node, "needs a weight");
  float xs = 0, ys = 0;
  int32_t xz = 0, yz = 0;
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.inputs[0]], &xs, &xz));
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.outputs[0]], &ys, &yz));
  const int64_t M = y.dims[1];
  std::vector<float> ws;
  ES_RETURN_IF_ERROR(WeightScales(node, graph.tensors[node.inputs[1]], 0, M, &ws));
  ES_RETURN_IF_ERROR(CheckBias(node, graph, 2, M));
  ES_RETURN_IF_ERROR(WindowLayout(node, x, y, &k->ints));
  k->ints[kWinGroup] = node.GetInt("group", 1);
  int64_t lo = 0, hi = 0;
  ES_RETURN_IF_ERROR(ActivationRange(node, ys, yz, &lo, &hi));
  const bool pointwise = IsPlainPointwise(k->ints.data());
  k->ints.insert(k->ints.end(), {xz, yz, lo, hi, node.HasInput(2) ? 1 : 0, pointwise ? 1 : 0});
  for (int64_t m = 0; m < M; ++m) PushMultiplier(static_cast<double>(xs) * ws[m] / ys, &k->ints);
  if (pointwise) {
    // sum (x - x_zp) * w = sum x * w - x_zp * sum w: the second term is a per-channel constant.
    const Tensor& w = graph.tensors[node.inputs[1]];
    const int64_t per_m = w.num_elements() / M;
    for (int64_t m = 0; m < M; ++m) {
      int64_t sum = 0;
      for (int64_t i = 0; i < per_m; ++i) sum += w.data_as<int8_t>()[m * per_m + i];
      k->ints.push_back(-int64_t{xz} * sum);
    }
  }
  k->scratch_bytes = (y.elements / std::max<int64_t>(1, y.dims[0] * M)) * 4;  // one int32 output plane
  return Status::Ok();
}

// For each output channel: an int32 plane of bias + sum (x - x_zp) * w over the
// taps that fall inside the input, then requantized and clamped.
void EvalConv(const PreparedKernel& k, const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y, int32_t* acc) {
  const int64_t* p = k.ints.data();
  const int64_t N = p[kWinN], C = p[kWinC], D = p[kWinD], H = p[kWinH], W = p[kWinW], M = p[kWinM],
                OD = p[kWinOD], OH = p[kWinOH], OW = p[kWinOW], KD = p[kWinKD], KH = p[kWinKH], KW = p[kWinKW],
                SW = p[kWinSW], DW = p[kWinDW], PL = p[kWinPL], G = p[kWinGroup];
  const int32_t xz = static_cast<int32_t>(p[kConvXZp]), yz = static_cast<int32_t>(p[kConvYZp]);
  const int64_t lo = p[kConvLo], hi = p[kConvHi];
  const bool has_bias = p[kConvHasBias] != 0;
  const int64_t* table = p + kConvTable;
  const int64_t Cg = C / G, Mg = M / G, plane = OD * OH * OW, in_plane = D * H * W;
  const bool pointwise = p[kConvPointwise] != 0;
  const int64_t* zp_terms = table + 2 * M;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg;
      const int32_t b = has_bias ? bias[m] : 0;
      if (pointwise) {
        const int32_t start = b + static_cast<int32_t>(zp_terms[m]);
        for (int64_t i = 0; i < plane; ++i) acc[i] = start;
        for (int64_t ic = 0; ic < Cg; ++ic) {
          const int32_t wv = w[m * Cg + ic];
          if (wv == 0) continue;
          const int8_t* xc = x + (n * C + g * Cg + ic) * in_plane;
          for (int64_t i = 0; i < plane; ++i) acc[i] += xc[i] * wv;
        }
      }
      if (!pointwise) for (int64_t i = 0; i < plane; ++i) acc[i] = b;
      for (int64_t ic = 0; ic < Cg && !pointwise; ++ic) {
        const int8_t* xc = x + (n * C + g * Cg + ic) * in_plane;
        const int8_t* wc = w + (m * Cg + ic) * KD * KH * KW;
        for (int64_t kd = 0; kd < KD; ++kd)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int32_t wv = wc[(kd * KH + kh) * KW + kw];
              if (wv == 0) continue;
              const int64_t off = kw * DW - PL;
              const TapColumns cols = InsideColumns(off, SW, W, OW);
              ForEachTapRow(p, kd, kh, [=](int64_t in_row, int64_t out_row) {
                const int8_t* row = xc + in_row;
                int32_t* out = acc + out_row;
                if (SW == 1) {  // contiguous: the compiler vectorises the widening multiply-add
                  const int8_t* in = row + off;
                  for (int64_t ox = cols.lo; ox < cols.hi; ++ox) out[ox] += (in[ox] - xz) * wv;
                } else {
                  for (int64_t ox = cols.lo; ox < cols.hi; ++ox) out[ox] += (row[ox * SW + off] - xz) * wv;
                }
              });
            }
      }
      const int32_t mult = static_cast<int32_t>(table[2 * m]);
      const int shift = static_cast<int>(table[2 * m + 1]);
      int8_t* ym = y + (n * M + m) * plane;
      for (int64_t i = 0; i < plane; ++i) ym[i] = Clamp8(MultiplyByQuantizedMultiplier(acc[i], mult, shift) + yz, lo, hi);
    }
  }
}

// ---- Gemm: ints = M, N, K, transB, x_zp, y_zp, lo, hi, has C, then per column (multiplier, shift).
enum GemmIndex { kGemmM, kGemmN, kGemmK, kGemmTransB, kGemmXZp, kGemmYZp, kGemmLo, kGemmHi, kGemmHasC, kGemmTable };

Status PrepareGemm(const Graph& graph, const Node& node, PreparedKernel* k) {
  if (node.GetInt("transA", 0) != 0) return Fail(node, "transA is not supported");
  if (node.GetFloat("alpha", 1.0f) != 1.0f || node.GetFloat("beta", 1.0f) != 1.0f)
    return Fail(node, "alpha and beta must be 1");
  if (k->inputs.size() < 2 || !k->inputs[1].present || k->inputs[0].rank != 2 || k->inputs[1].rank != 2)
    return Fail(node, "needs 2-D A and B");
  const bool tb = node.GetInt("transB", 0) != 0;
  const int64_t M = k->outputs[0].dims[0], N = k->outputs[0].dims[1], K = k->inputs[0].dims[1];
  float xs = 0, ys = 0;
  int32_t xz = 0, yz = 0;
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.inputs[0]], &xs, &xz));
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.outputs[0]], &ys, &yz));
  std::vector<float> ws;
  ES_RETURN_IF_ERROR(WeightScales(node, graph.tensors[node.inputs[1]], tb ? 0 : 1, N, &ws));
  ES_RETURN_IF_ERROR(CheckBias(node, graph, 2, N));
  int64_t lo = 0, hi = 0;
  ES_RETURN_IF_ERROR(ActivationRange(node, ys, yz, &lo, &hi));
  k->ints = {M, N, K, tb, xz, yz, lo, hi, node.HasInput(2) ? 1 : 0};
  for (int64_t n = 0; n < N; ++n) PushMultiplier(static_cast<double>(xs) * ws[n] / ys, &k->ints);
  return Status::Ok();
}

void EvalGemm(const PreparedKernel& k, const int8_t* x, const int8_t* w, const int32_t* bias, int8_t* y) {
  const int64_t* p = k.ints.data();
  const int64_t M = p[kGemmM], N = p[kGemmN], K = p[kGemmK];
  const bool tb = p[kGemmTransB] != 0;
  const int32_t xz = static_cast<int32_t>(p[kGemmXZp]), yz = static_cast<int32_t>(p[kGemmYZp]);
  const int64_t* table = p + kGemmTable;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int32_t acc = p[kGemmHasC] ? bias[n] : 0;
      const int8_t* xr = x + m * K;
      if (tb) {
        const int8_t* wr = w + n * K;
        for (int64_t kk = 0; kk < K; ++kk) acc += (xr[kk] - xz) * wr[kk];
      } else {
        for (int64_t kk = 0; kk < K; ++kk) acc += (xr[kk] - xz) * w[kk * N + n];
      }
      const int32_t v = MultiplyByQuantizedMultiplier(acc, static_cast<int32_t>(table[2 * n]), static_cast<int>(table[2 * n + 1]));
      y[m * N + n] = Clamp8(v + yz, p[kGemmLo], p[kGemmHi]);
    }
}

// ---- Add: ints = rank r, out dims[r], a strides[r], b strides[r], then kAddParams entries.
enum AddParam { kAddAZp, kAddBZp, kAddYZp, kAddAMul, kAddAShift, kAddBMul, kAddBShift, kAddYMul, kAddYShift, kAddLo, kAddHi, kAddParams };

Status PrepareAdd(const Graph& graph, const Node& node, PreparedKernel* k) {
  if (k->inputs.size() != 2 || !k->inputs[1].present) return Fail(node, "needs two inputs");
  float as = 0, bs = 0, ys = 0;
  int32_t az = 0, bz = 0, yz = 0;
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.inputs[0]], &as, &az));
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.inputs[1]], &bs, &bz));
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.outputs[0]], &ys, &yz));
  const TensorDesc& y = k->outputs[0];
  const int r = std::max(1, y.rank);
  k->ints.assign(1 + 3 * r, 0);
  k->ints[0] = r;
  if (y.rank == 0) {
    k->ints[1] = 1;
  } else {
    BroadcastLayout(k->inputs[0], y, k->ints.data() + 1 + r);
    BroadcastLayout(k->inputs[1], y, k->ints.data() + 1 + 2 * r);
    for (int i = 0; i < r; ++i) k->ints[1 + i] = y.dims[i];
  }
  const double twice_max = 2.0 * std::max(as, bs);
  int64_t lo = 0, hi = 0;
  ES_RETURN_IF_ERROR(ActivationRange(node, ys, yz, &lo, &hi));
  k->ints.insert(k->ints.end(), {az, bz, yz});
  PushMultiplier(as / twice_max, &k->ints);
  PushMultiplier(bs / twice_max, &k->ints);
  PushMultiplier(twice_max / (static_cast<double>(1 << kAddLeftShift) * ys), &k->ints);
  k->ints.insert(k->ints.end(), {lo, hi});
  return Status::Ok();
}

void EvalAdd(const PreparedKernel& k, const int8_t* a, const int8_t* b, int8_t* y) {
  const int64_t* p = k.ints.data();
  const int r = static_cast<int>(p[0]);
  const int64_t* dims = p + 1;
  const int64_t* sa = dims + r;
  const int64_t* sb = dims + 2 * r;
  const int64_t* q = p + 1 + 3 * r;
  const int32_t am = static_cast<int32_t>(q[kAddAMul]), bm = static_cast<int32_t>(q[kAddBMul]),
                ym = static_cast<int32_t>(q[kAddYMul]);
  const int ash = static_cast<int>(q[kAddAShift]), bsh = static_cast<int>(q[kAddBShift]), ysh = static_cast<int>(q[kAddYShift]);
  const int32_t az = static_cast<int32_t>(q[kAddAZp]), bz = static_cast<int32_t>(q[kAddBZp]), yz = static_cast<int32_t>(q[kAddYZp]);
  int64_t n = 1;
  for (int i = 0; i < r; ++i) n *= dims[i];
  int64_t idx[kMaxKernelRank] = {};
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t va = MultiplyByQuantizedMultiplier((a[oa] - az) * (1 << kAddLeftShift), am, ash);
    const int32_t vb = MultiplyByQuantizedMultiplier((b[ob] - bz) * (1 << kAddLeftShift), bm, bsh);
    y[i] = Clamp8(MultiplyByQuantizedMultiplier(va + vb, ym, ysh) + yz, q[kAddLo], q[kAddHi]);
    for (int d = r - 1; d >= 0; --d) {  // odometer over the output index
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < dims[d]) break;
      oa -= sa[d] * dims[d];
      ob -= sb[d] * dims[d];
      idx[d] = 0;
    }
  }
}

// ---- AveragePool: ints = window layout (count_include_pad in kWinGroup), then x_zp.
// GlobalAveragePool: ints = planes, plane size.
Status PreparePool(const Graph& graph, const Node& node, PreparedKernel* k) {
  float xs = 0, ys = 0;
  int32_t xz = 0, yz = 0;
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.inputs[0]], &xs, &xz));
  ES_RETURN_IF_ERROR(PerTensor(node, graph.tensors[node.outputs[0]], &ys, &yz));
  if (xs != ys || xz != yz) return Fail(node, "input and output must share their quantization parameters");
  const TensorDesc& x = k->inputs[0];
  if (node.op == OpType::kGlobalAveragePool) {
    k->ints = {x.dims[0] * x.dims[1], x.elements / std::max<int64_t>(1, x.dims[0] * x.dims[1])};
    return Status::Ok();
  }
  if (node.outputs.size() != 1) return Fail(node, "extra outputs are not supported");
  ES_RETURN_IF_ERROR(WindowLayout(node, x, k->outputs[0], &k->ints));
  k->ints[kWinGroup] = node.GetInt("count_include_pad", 0);
  k->ints.push_back(xz);
  return Status::Ok();
}

void EvalAveragePool(const PreparedKernel& k, const int8_t* x, int8_t* y) {
  const int64_t* p = k.ints.data();
  const int64_t N = p[kWinN], C = p[kWinC], D = p[kWinD], H = p[kWinH], W = p[kWinW], OD = p[kWinOD],
                OH = p[kWinOH], OW = p[kWinOW], KD = p[kWinKD], KH = p[kWinKH], KW = p[kWinKW], SD = p[kWinSD],
                SH = p[kWinSH], SW = p[kWinSW], PF = p[kWinPF], PT = p[kWinPT], PL = p[kWinPL], PBk = p[kWinPBk],
                PB = p[kWinPB], PR = p[kWinPR];
  const bool include_pad = p[kWinGroup] != 0;
  const int32_t xz = static_cast<int32_t>(p[kWinCount]);
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int8_t* xin = x + nc * D * H * W;
    int8_t* out = y + nc * OD * OH * OW;
    for (int64_t od = 0; od < OD; ++od)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          int32_t sum = 0, valid = 0, padded = 0;
          for (int64_t kd = 0; kd < KD; ++kd) {
            const int64_t id = od * SD - PF + kd;
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t iy = oy * SH - PT + kh;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ix = ox * SW - PL + kw;
                if (id >= -PF && id < D + PBk && iy >= -PT && iy < H + PB && ix >= -PL && ix < W + PR) ++padded;
                if (id < 0 || id >= D || iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                sum += xin[(id * H + iy) * W + ix];
                ++valid;
              }
            }
          }
          // A padded tap is real 0, which is x_zp in x's (= y's) quantized domain.
          if (include_pad) sum += (padded - valid) * xz;
          const int32_t count = include_pad ? padded : valid;
          out[(od * OH + oy) * OW + ox] = Clamp8(count > 0 ? fixed_point::RoundedAverage(sum, count) : xz, kQMin, kQMax);
        }
  }
}

void EvalGlobalAveragePool(const PreparedKernel& k, const int8_t* x, int8_t* y) {
  const int64_t planes = k.ints[0], size = k.ints[1];
  for (int64_t c = 0; c < planes; ++c) {
    int32_t sum = 0;
    for (int64_t i = 0; i < size; ++i) sum += x[c * size + i];
    y[c] = Clamp8(size > 0 ? fixed_point::RoundedAverage(sum, static_cast<int32_t>(size)) : 0, kQMin, kQMax);
  }
}

}  // namespace

bool IsQuantizedNode(const Graph& graph, const Node& node) {
  switch (node.op) {
    case OpType::kConv:
    case OpType::kGemm:
    case OpType::kAdd:
    case OpType::kAveragePool:
    case OpType::kGlobalAveragePool: break;
    default: return false;
  }
  if (node.inputs.empty() || node.inputs[0] == kNoTensor) return false;
  const Tensor& x = graph.tensors[node.inputs[0]];
  return x.dtype == DType::kInt8 && !x.quant.empty();
}

Status PrepareInt8(const Graph& graph, int node_index, PreparedKernel* k) {
  const Node& node = graph.nodes[node_index];
  k->quantized = true;
  if (k->outputs.size() != 1 || k->outputs[0].dtype != DType::kInt8) return Fail(node, "needs one int8 output");
  switch (node.op) {
    case OpType::kConv: return PrepareConv(graph, node, k);
    case OpType::kGemm: return PrepareGemm(graph, node, k);
    case OpType::kAdd: return PrepareAdd(graph, node, k);
    case OpType::kAveragePool:
    case OpType::kGlobalAveragePool:
      if (node.activation.kind != ActivationKind::kNone) return Fail(node, "a fused activation is not supported");
      return PreparePool(graph, node, k);
    default: return Fail(node, "has no int8 kernel");
  }
}

Status EvalInt8(const PreparedKernel& k, const void* const* inputs, void* const* outputs, void* scratch) {
  const int8_t* x = static_cast<const int8_t*>(inputs[0]);
  int8_t* y = static_cast<int8_t*>(outputs[0]);
  auto bias = [&](size_t i) { return i < k.inputs.size() ? static_cast<const int32_t*>(inputs[i]) : nullptr; };
  switch (k.op) {
    case OpType::kConv:
      EvalConv(k, x, static_cast<const int8_t*>(inputs[1]), bias(2), y, static_cast<int32_t*>(scratch));
      return Status::Ok();
    case OpType::kGemm: EvalGemm(k, x, static_cast<const int8_t*>(inputs[1]), bias(2), y); return Status::Ok();
    case OpType::kAdd: EvalAdd(k, x, static_cast<const int8_t*>(inputs[1]), y); return Status::Ok();
    case OpType::kAveragePool: EvalAveragePool(k, x, y); return Status::Ok();
    case OpType::kGlobalAveragePool: EvalGlobalAveragePool(k, x, y); return Status::Ok();
    default: return Internal(std::string("no int8 kernel for ") + OpTypeName(k.op));
  }
}

}  // namespace edgesplit::reference
