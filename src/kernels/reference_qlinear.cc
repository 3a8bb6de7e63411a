// Reference backend, ONNX's own quantized ops (QuantizeLinear, DequantizeLinear,
// QLinearMatMul, QLinearConv) with ONNX semantics: float requantization, round
// half to even, saturate. The int8 graph edgesplit's quantizer makes uses the
// TFLite fixed-point scheme instead (reference_int8.cc).
#include <cmath>
#include <cstring>

#include "reference_internal.h"

namespace edgesplit::reference {
namespace {

inline float RoundHalfEven(float v) {
  const float r = std::round(v);
  if (std::fabs(v - std::trunc(v)) == 0.5f) return 2.0f * std::round(v * 0.5f);
  return r;
}

inline int32_t LoadQ(const void* p, bool is_signed, int64_t i) {
  return is_signed ? static_cast<const int8_t*>(p)[i] : static_cast<const uint8_t*>(p)[i];
}

inline int32_t LoadAny(const void* p, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DType::kInt32: return static_cast<const int32_t*>(p)[i];
    default: return 0;
  }
}

inline void StoreQ(void* p, bool is_signed, int64_t i, float v) {
  const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  v = v < lo ? lo : (v > hi ? hi : v);
  if (is_signed) static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
  else static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
}

}  // namespace

void QuantizeDequantize(const PreparedKernel& k, const void* const* inputs, void* y) {
  const int64_t outer = k.ints[0], dim = k.ints[1], inner = k.ints[2];
  const DType data = static_cast<DType>(k.ints[3]), zp_dtype = static_cast<DType>(k.ints[4]);
  const float* scale = static_cast<const float*>(inputs[1]);
  const void* zp = k.inputs.size() > 2 ? inputs[2] : nullptr;
  const bool quantize = k.op == OpType::kQuantizeLinear;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < dim; ++c) {
      const float s = scale[c];
      const int32_t z = zp ? LoadAny(zp, zp_dtype, c) : 0;
      const int64_t base = (o * dim + c) * inner;
      for (int64_t i = base; i < base + inner; ++i) {
        if (quantize) {
          StoreQ(y, data == DType::kInt8, i, RoundHalfEven(static_cast<const float*>(inputs[0])[i] / s) + static_cast<float>(z));
        } else {
          static_cast<float*>(y)[i] = static_cast<float>(LoadAny(inputs[0], data, i) - z) * s;
        }
      }
    }
}

void QLinearMatMul(const PreparedKernel& k, const void* const* in, void* y) {
  const bool per_col = k.ints[0], sa = k.ints[1], sb = k.ints[2], sy = k.ints[3];
  const int64_t* mm = k.ints.data() + 4;
  const int64_t M = mm[0], K = mm[1], N = mm[2];
  const int br = static_cast<int>(mm[3]);
  const int64_t* dims = mm + 4;
  const int64_t* stride_a = dims + br;
  const int64_t* stride_b = dims + 2 * br;
  const float a_s = *static_cast<const float*>(in[1]), y_s = *static_cast<const float*>(in[6]);
  const int32_t a_z = LoadQ(in[2], sa, 0), y_z = LoadQ(in[7], sy, 0);
  const float* b_s = static_cast<const float*>(in[4]);
  int64_t batches = 1;
  for (int i = 0; i < br; ++i) batches *= dims[i];
  int64_t idx[kMaxKernelRank] = {};
  int64_t oa = 0, ob = 0;
  for (int64_t bt = 0; bt < batches; ++bt) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const int64_t q = per_col ? n : 0;
        const int32_t b_z = LoadQ(in[5], sb, q);
        int32_t acc = 0;
        for (int64_t kk = 0; kk < K; ++kk)
          acc += (LoadQ(in[0], sa, oa + m * K + kk) - a_z) * (LoadQ(in[3], sb, ob + kk * N + n) - b_z);
        const float mult = a_s * b_s[q] / y_s;
        StoreQ(y, sy, (bt * M + m) * N + n,
               RoundHalfEven(static_cast<float>(static_cast<double>(acc) * mult)) + static_cast<float>(y_z));
      }
    for (int d = br - 1; d >= 0; --d) {
      oa += stride_a[d];
      ob += stride_b[d];
      if (++idx[d] < dims[d]) break;
      oa -= stride_a[d] * dims[d];
      ob -= stride_b[d] * dims[d];
      idx[d] = 0;
    }
  }
}

// QLinearConv: int32 accumulation of (x - x_zp) * (w - w_zp) in Conv's order, plus the
// int32 bias, then requantized per output channel. Padding adds nothing.
void QLinearConv(const PreparedKernel& k, const void* const* in, void* y, int32_t* acc) {
  const int64_t* p = k.ints.data();
  const int64_t N = p[kWinN], C = p[kWinC], D = p[kWinD], H = p[kWinH], W = p[kWinW], M = p[kWinM],
                OD = p[kWinOD], OH = p[kWinOH], OW = p[kWinOW], KD = p[kWinKD], KH = p[kWinKH], KW = p[kWinKW],
                SW = p[kWinSW], DW = p[kWinDW], PL = p[kWinPL], G = p[kWinGroup];
  const bool per_scale = p[kWinCount], per_zp = p[kWinCount + 1], sx = p[kWinCount + 2], sw = p[kWinCount + 3],
             sy = p[kWinCount + 4];
  const float x_s = *static_cast<const float*>(in[1]), y_s = *static_cast<const float*>(in[6]);
  const float* w_s = static_cast<const float*>(in[4]);
  const int32_t x_z = LoadQ(in[2], sx, 0), y_z = LoadQ(in[7], sy, 0);
  const int32_t* bias = k.inputs.size() > 8 ? static_cast<const int32_t*>(in[8]) : nullptr;
  const int64_t Cg = C / G, Mg = M / G, plane = OD * OH * OW, in_plane = D * H * W;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg;
      const int32_t w_z = LoadQ(in[5], sw, per_zp ? m : 0);
      for (int64_t i = 0; i < plane; ++i) acc[i] = bias ? bias[m] : 0;
      for (int64_t ic = 0; ic < Cg; ++ic) {
        const int64_t xbase = (n * C + g * Cg + ic) * in_plane;
        const int64_t wbase = (m * Cg + ic) * KD * KH * KW;
        for (int64_t kd = 0; kd < KD; ++kd)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int32_t wv = LoadQ(in[3], sw, wbase + (kd * KH + kh) * KW + kw) - w_z;
              const int64_t off = kw * DW - PL;
              const TapColumns cols = InsideColumns(off, SW, W, OW);
              ForEachTapRow(p, kd, kh, [&](int64_t in_row, int64_t out_row) {
                for (int64_t ox = cols.lo; ox < cols.hi; ++ox)
                  acc[out_row + ox] += (LoadQ(in[0], sx, xbase + in_row + ox * SW + off) - x_z) * wv;
              });
            }
      }
      const float mult = x_s * w_s[per_scale ? m : 0] / y_s;
      for (int64_t i = 0; i < plane; ++i)
        StoreQ(y, sy, (n * M + m) * plane + i,
               RoundHalfEven(static_cast<float>(static_cast<double>(acc[i]) * mult)) + static_cast<float>(y_z));
    }
  }
}

}  // namespace edgesplit::reference
