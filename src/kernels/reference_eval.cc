// Reference backend, Eval: plain loops that define edgesplit's f32 numerics.
// No heap, no exceptions, no OS calls; accumulation order is fixed (documented
// per op), so results do not depend on where a model is split.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "reference_internal.h"

namespace edgesplit::reference {
namespace {

inline float Activate(float v, const FusedActivation& a) {
  switch (a.kind) {
    case ActivationKind::kNone: return v;
    case ActivationKind::kRelu: return v < 0.0f ? 0.0f : v;
    case ActivationKind::kClip: return v < a.min ? a.min : (v > a.max ? a.max : v);
    case ActivationKind::kLeakyRelu: return v < 0.0f ? v * a.alpha : v;
  }
  return v;
}

void ActivateAll(float* y, int64_t n, const FusedActivation& a) {
  if (a.kind == ActivationKind::kNone) return;
  for (int64_t i = 0; i < n; ++i) y[i] = Activate(y[i], a);
}

Status RuntimeError(const PreparedKernel& k, const char* message) {
  return InvalidArgument(std::string("node ") + std::to_string(k.node_index) + " (" + OpTypeName(k.op) + "): " + message);
}

// One (kd, kh) row of a KW=3 kernel: the three taps of each output element are
// added in kw order in one pass. Each element sees exactly the additions, in
// the same order, as three single-tap passes would make: the same bits, with a
// third of the loads and stores of the output row.
void Conv3Taps(const float* wr, const float* xin, float* out, int64_t kd, int64_t kh, const int64_t* p) {
  const int64_t W = p[kWinW], OW = p[kWinOW], SW = p[kWinSW], DW = p[kWinDW], PL = p[kWinPL];
  int64_t off[3], lo[3], hi[3];
  int64_t ilo = 0, ihi = OW;
  for (int kw = 0; kw < 3; ++kw) {
    off[kw] = kw * DW - PL;
    const TapColumns cols = InsideColumns(off[kw], SW, W, OW);
    lo[kw] = cols.lo;
    hi[kw] = cols.hi;
    if (lo[kw] > ilo) ilo = lo[kw];
    if (hi[kw] < ihi) ihi = hi[kw];
  }
  if (ihi < ilo) ihi = ilo;  // no interior: every column is an edge
  const float w0 = wr[0], w1 = wr[1], w2 = wr[2];
  ForEachTapRow(p, kd, kh, [=](int64_t in_row, int64_t out_row) {
    const float* __restrict row = xin + in_row;
    float* __restrict orow = out + out_row;
    auto edge = [&](int64_t ox) {
      float acc = orow[ox];
      for (int kw = 0; kw < 3; ++kw)
        if (ox >= lo[kw] && ox < hi[kw]) acc += wr[kw] * row[ox * SW + off[kw]];
      orow[ox] = acc;
    };
    for (int64_t ox = 0; ox < ilo; ++ox) edge(ox);
    if (SW == 1) {
      const float* r0 = row + off[0];
      const float* r1 = row + off[1];
      const float* r2 = row + off[2];
      for (int64_t ox = ilo; ox < ihi; ++ox) {
        float acc = orow[ox];
        acc += w0 * r0[ox];
        acc += w1 * r1[ox];
        acc += w2 * r2[ox];
        orow[ox] = acc;
      }
    } else {
      for (int64_t ox = ilo; ox < ihi; ++ox) {
        float acc = orow[ox];
        acc += w0 * row[ox * SW + off[0]];
        acc += w1 * row[ox * SW + off[1]];
        acc += w2 * row[ox * SW + off[2]];
        orow[ox] = acc;
      }
    }
    for (int64_t ox = ihi; ox < OW; ++ox) edge(ox);
  });
}

// Pointwise conv: out[m] = bias[m] + sum over ic (ascending) of w[m,ic] * x[ic], over
// whole planes, four output channels per pass over the input. The additions
// per element are those of the general loop, in the same order: the same bits.
void ConvPointwise(const PreparedKernel& k, const float* x, const float* w, const float* bias, float* y,
                   float* scratch) {
  const int64_t* p = k.ints.data();
  const int64_t N = p[kWinN], C = p[kWinC], D = p[kWinD], H = p[kWinH], W = p[kWinW], M = p[kWinM],
                OD = p[kWinOD], OH = p[kWinOH], OW = p[kWinOW], SD = p[kWinSD], SH = p[kWinSH], SW = p[kWinSW],
                G = p[kWinGroup];
  const int64_t Cg = C / G, Mg = M / G, plane = OD * OH * OW, in_plane = D * H * W;
  const bool strided = SD != 1 || SH != 1 || SW != 1;
  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x + n * C * in_plane;
    if (strided) {  // gather the sampled pixels: [C, plane]
      for (int64_t c = 0; c < C; ++c)
        for (int64_t od = 0; od < OD; ++od)
          for (int64_t oy = 0; oy < OH; ++oy) {
            const float* row = xn + c * in_plane + (od * SD * H + oy * SH) * W;
            float* dst = scratch + c * plane + (od * OH + oy) * OW;
            for (int64_t ox = 0; ox < OW; ++ox) dst[ox] = row[ox * SW];
          }
      xn = scratch;
    }
    for (int64_t m0 = 0; m0 < M; m0 += 4) {
      const int64_t g = m0 / Mg;
      const int64_t block = (m0 + 4 <= M && (m0 + 3) / Mg == g) ? 4 : 1;
      for (int64_t mb = 0; mb < block; ++mb) {
        float* out = y + (n * M + m0 + mb) * plane;
        const float b = bias ? bias[m0 + mb] : 0.0f;
        for (int64_t i = 0; i < plane; ++i) out[i] = b;
      }
      if (block == 4) {
        float* __restrict o0 = y + (n * M + m0) * plane;
        float* __restrict o1 = o0 + plane;
        float* __restrict o2 = o1 + plane;
        float* __restrict o3 = o2 + plane;
        for (int64_t ic = 0; ic < Cg; ++ic) {
          const float* __restrict xc = xn + (g * Cg + ic) * plane;
          const float w0 = w[m0 * Cg + ic], w1 = w[(m0 + 1) * Cg + ic], w2 = w[(m0 + 2) * Cg + ic],
                      w3 = w[(m0 + 3) * Cg + ic];
          for (int64_t i = 0; i < plane; ++i) {
            const float v = xc[i];
            o0[i] += w0 * v;
            o1[i] += w1 * v;
            o2[i] += w2 * v;
            o3[i] += w3 * v;
          }
        }
      } else {
        float* __restrict o = y + (n * M + m0) * plane;
        for (int64_t ic = 0; ic < Cg; ++ic) {
          const float* __restrict xc = xn + (g * Cg + ic) * plane;
          const float wv = w[m0 * Cg + ic];
          for (int64_t i = 0; i < plane; ++i) o[i] += wv * xc[i];
        }
        m0 -= 3;  // advance by one
      }
    }
    ActivateAll(y + n * M * plane, M * plane, k.activation);
  }
}

// ---- Conv: out[n,m] = bias[m] + sum over (ic, kd, kh, kw) in that order; then the activation.
void Conv(const PreparedKernel& k, const float* x, const float* w, const float* bias, float* y) {
  const int64_t* p = k.ints.data();
  const int64_t N = p[kWinN], C = p[kWinC], D = p[kWinD], H = p[kWinH], W = p[kWinW], M = p[kWinM],
                OD = p[kWinOD], OH = p[kWinOH], OW = p[kWinOW], KD = p[kWinKD], KH = p[kWinKH], KW = p[kWinKW],
                SW = p[kWinSW], DW = p[kWinDW], PL = p[kWinPL], G = p[kWinGroup];
  const int64_t Cg = C / G, Mg = M / G, plane = OD * OH * OW, in_plane = D * H * W;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg;
      float* out = y + (n * M + m) * plane;
      const float b = bias ? bias[m] : 0.0f;
      for (int64_t i = 0; i < plane; ++i) out[i] = b;
      for (int64_t ic = 0; ic < Cg; ++ic) {
        const float* xin = x + (n * C + g * Cg + ic) * in_plane;
        const float* wk = w + (m * Cg + ic) * KD * KH * KW;
        for (int64_t kd = 0; kd < KD; ++kd) {
          for (int64_t kh = 0; kh < KH; ++kh) {
            if (KW == 3) {
              Conv3Taps(wk + (kd * KH + kh) * 3, xin, out, kd, kh, p);
              continue;
            }
            for (int64_t kw = 0; kw < KW; ++kw) {
              const float wv = wk[(kd * KH + kh) * KW + kw];
              const int64_t off = kw * DW - PL;
              const TapColumns cols = InsideColumns(off, SW, W, OW);
              if (cols.lo >= cols.hi) continue;
              ForEachTapRow(p, kd, kh, [=](int64_t in_row, int64_t out_row) {
                const float* __restrict row = xin + in_row;
                float* __restrict orow = out + out_row;
                if (SW == 1) {
                  for (int64_t ox = cols.lo; ox < cols.hi; ++ox) orow[ox] += wv * row[ox + off];
                } else {
                  for (int64_t ox = cols.lo; ox < cols.hi; ++ox) orow[ox] += wv * row[ox * SW + off];
                }
              });
            }
          }
        }
      }
      ActivateAll(out, plane, k.activation);
    }
  }
}

// ---- Pooling: windows scanned in (kd, kh, kw) order; padding never contributes.
template <typename T>
void Pool(const PreparedKernel& k, const T* x, T* y) {
  const int64_t* p = k.ints.data();
  const int64_t N = p[kWinN], C = p[kWinC], D = p[kWinD], H = p[kWinH], W = p[kWinW], OD = p[kWinOD],
                OH = p[kWinOH], OW = p[kWinOW], KD = p[kWinKD], KH = p[kWinKH], KW = p[kWinKW], SD = p[kWinSD],
                SH = p[kWinSH], SW = p[kWinSW], DD = p[kWinDD], DH = p[kWinDH], DW = p[kWinDW], PF = p[kWinPF],
                PT = p[kWinPT], PL = p[kWinPL], PBk = p[kWinPBk], PB = p[kWinPB], PR = p[kWinPR];
  const bool is_max = k.op == OpType::kMaxPool;
  const bool include_pad = p[kWinGroup] != 0;
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const T* xin = x + nc * D * H * W;
    T* out = y + nc * OD * OH * OW;
    for (int64_t od = 0; od < OD; ++od) {
      for (int64_t oy = 0; oy < OH; ++oy) {
        for (int64_t ox = 0; ox < OW; ++ox) {
          float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
          T best = std::numeric_limits<T>::lowest();
          bool nan = false;
          int64_t valid = 0, padded = 0;
          for (int64_t kd = 0; kd < KD; ++kd) {
            const int64_t id = od * SD - PF + kd * DD;
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t iy = oy * SH - PT + kh * DH;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ix = ox * SW - PL + kw * DW;
                if (id >= -PF && id < D + PBk && iy >= -PT && iy < H + PB && ix >= -PL && ix < W + PR) ++padded;
                if (id < 0 || id >= D || iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const T v = xin[(id * H + iy) * W + ix];
                if (is_max) {
                  if (v > best) best = v;
                  if constexpr (std::is_floating_point_v<T>) nan |= std::isnan(v);
                } else {
                  acc += static_cast<float>(v);
                }
                ++valid;
              }
            }
          }
          T result;
          if (is_max) {
            result = nan ? std::numeric_limits<T>::quiet_NaN() : best;
            if constexpr (std::is_floating_point_v<T>) {
              if (valid == 0) result = -std::numeric_limits<T>::infinity();
            }
          } else {
            const int64_t count = include_pad ? padded : valid;
            result = static_cast<T>(count > 0 ? acc / static_cast<float>(count) : 0.0f);
          }
          out[(od * OH + oy) * OW + ox] = result;
        }
      }
    }
  }
}

template <typename T>
void ClipT(const void* x, const void* lo_p, const void* hi_p, void* y, int64_t n) {
  const T* px = static_cast<const T*>(x);
  T* py = static_cast<T*>(y);
  const T lo = lo_p ? *static_cast<const T*>(lo_p) : std::numeric_limits<T>::lowest();
  const T hi = hi_p ? *static_cast<const T*>(hi_p) : std::numeric_limits<T>::max();
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] < lo ? lo : (px[i] > hi ? hi : px[i]);
}

// ---- Elementwise binary with numpy broadcasting (odometer over all but the last dim).
template <typename T, typename F>
void Broadcast(const int64_t* p, const T* a, const T* b, T* y, F f) {
  const int r = static_cast<int>(p[0]);
  const int64_t* dims = p + 1;
  const int64_t* sa = p + 1 + r;
  const int64_t* sb = p + 1 + 2 * r;
  int64_t idx[kMaxKernelRank] = {};
  int64_t outer = 1;
  for (int i = 0; i + 1 < r; ++i) outer *= dims[i];
  const int64_t inner = dims[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  if (inner == 0) return;
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const T* pa = a + oa;
    const T* pb = b + ob;
    if (ia == 1 && ib == 1) {
      for (int64_t i = 0; i < inner; ++i) y[i] = f(pa[i], pb[i]);
    } else if (ia == 1 && ib == 0) {
      const T vb = pb[0];
      for (int64_t i = 0; i < inner; ++i) y[i] = f(pa[i], vb);
    } else {
      for (int64_t i = 0; i < inner; ++i) y[i] = f(pa[i * ia], pb[i * ib]);
    }
    y += inner;
    for (int d = r - 2; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < dims[d]) break;
      oa -= sa[d] * dims[d];
      ob -= sb[d] * dims[d];
      idx[d] = 0;
    }
  }
}

// Integer arithmetic wraps (computed unsigned: no signed-overflow UB).
template <typename T>
T Wrap(uint64_t v) {
  return static_cast<T>(static_cast<std::make_unsigned_t<T>>(v));
}
template <typename T>
T AddOp(T u, T v) {
  if constexpr (std::is_integral_v<T>) return Wrap<T>(static_cast<uint64_t>(u) + static_cast<uint64_t>(v));
  else return u + v;
}
template <typename T>
T SubOp(T u, T v) {
  if constexpr (std::is_integral_v<T>) return Wrap<T>(static_cast<uint64_t>(u) - static_cast<uint64_t>(v));
  else return u - v;
}
template <typename T>
T MulOp(T u, T v) {
  if constexpr (std::is_integral_v<T>) return Wrap<T>(static_cast<uint64_t>(u) * static_cast<uint64_t>(v));
  else return u * v;
}
template <typename T>
T DivOp(T u, T v) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    if (v == -1) return Wrap<T>(0 - static_cast<uint64_t>(u));  // INT_MIN / -1 wraps
  }
  return static_cast<T>(u / v);
}

template <typename T>
Status Binary(const PreparedKernel& k, const void* a, const void* b, void* y) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  T* py = static_cast<T*>(y);
  switch (k.op) {
    // Integer results wrap to T, as ONNX's reference does.
    case OpType::kAdd: Broadcast(k.ints.data(), pa, pb, py, [](T u, T v) { return AddOp(u, v); }); break;
    case OpType::kSub: Broadcast(k.ints.data(), pa, pb, py, [](T u, T v) { return SubOp(u, v); }); break;
    case OpType::kMul: Broadcast(k.ints.data(), pa, pb, py, [](T u, T v) { return MulOp(u, v); }); break;
    case OpType::kDiv:
      if constexpr (std::is_integral_v<T>) {
        for (int64_t i = 0; i < k.inputs[1].elements; ++i)
          if (pb[i] == 0) return RuntimeError(k, "integer division by zero");
      }
      Broadcast(k.ints.data(), pa, pb, py, [](T u, T v) { return DivOp(u, v); });
      break;
    default: break;
  }
  if constexpr (std::is_same_v<T, float>) ActivateAll(py, k.outputs[0].elements, k.activation);
  return Status::Ok();
}

// ---- Gemm: Y = alpha * (A' B') + beta * C; the products accumulate over k in order.
void Gemm(const PreparedKernel& k, const float* a, const float* b, const float* c, float* y) {
  const int64_t M = k.ints[0], N = k.ints[1], K = k.ints[2];
  const bool ta = k.ints[3], tb = k.ints[4], has_c = k.ints[5];
  const int64_t cm = k.ints[6], cn = k.ints[7];
  const float alpha = k.floats[0], beta = k.floats[1];
  for (int64_t m = 0; m < M; ++m) {
    float* row = y + m * N;
    if (tb) {
      for (int64_t n = 0; n < N; ++n) {
        float acc = 0.0f;
        const float* bn = b + n * K;
        for (int64_t kk = 0; kk < K; ++kk) acc += (ta ? a[kk * M + m] : a[m * K + kk]) * bn[kk];
        row[n] = acc;
      }
    } else {
      for (int64_t n = 0; n < N; ++n) row[n] = 0.0f;
      for (int64_t kk = 0; kk < K; ++kk) {
        const float av = ta ? a[kk * M + m] : a[m * K + kk];
        const float* bk = b + kk * N;
        for (int64_t n = 0; n < N; ++n) row[n] += av * bk[n];
      }
    }
    for (int64_t n = 0; n < N; ++n) {
      float v = alpha * row[n];
      if (has_c) v += beta * c[m * cm + n * cn];
      row[n] = Activate(v, k.activation);
    }
  }
}

// ---- MatMul with broadcast batch dims.
void MatMul(const PreparedKernel& k, const float* a, const float* b, float* y) {
  const int64_t M = k.ints[0], K = k.ints[1], N = k.ints[2];
  const int br = static_cast<int>(k.ints[3]);
  const int64_t* dims = k.ints.data() + 4;
  const int64_t* sa = dims + br;
  const int64_t* sb = dims + 2 * br;
  int64_t batches = 1;
  for (int i = 0; i < br; ++i) batches *= dims[i];
  int64_t idx[kMaxKernelRank] = {};
  int64_t oa = 0, ob = 0;
  for (int64_t bt = 0; bt < batches; ++bt) {
    const float* pa = a + oa;
    const float* pb = b + ob;
    float* py = y + bt * M * N;
    for (int64_t m = 0; m < M; ++m) {
      float* row = py + m * N;
      for (int64_t n = 0; n < N; ++n) row[n] = 0.0f;
      for (int64_t kk = 0; kk < K; ++kk) {
        const float av = pa[m * K + kk];
        const float* bk = pb + kk * N;
        for (int64_t n = 0; n < N; ++n) row[n] += av * bk[n];
      }
      ActivateAll(row, N, k.activation);
    }
    for (int d = br - 1; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < dims[d]) break;
      oa -= sa[d] * dims[d];
      ob -= sb[d] * dims[d];
      idx[d] = 0;
    }
  }
}

// Copies one element of `esize` bytes.
inline void CopyElement(unsigned char* dst, const unsigned char* src, int64_t esize) {
  switch (esize) {
    case 1: *dst = *src; break;
    case 4: std::memcpy(dst, src, 4); break;
    case 8: std::memcpy(dst, src, 8); break;
    default: std::memcpy(dst, src, static_cast<size_t>(esize));
  }
}

// Odometer over `counts` reading src at sum(idx * strides) (element strides).
void StridedCopy(int rank, const int64_t* counts, const int64_t* strides, int64_t esize, const unsigned char* src,
                 unsigned char* dst) {
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) total *= counts[i];
  if (total == 0) return;
  if (rank == 0) {
    CopyElement(dst, src, esize);
    return;
  }
  int64_t idx[kMaxKernelRank] = {};
  int64_t off = 0;
  const int last = rank - 1;
  const int64_t inner = counts[last], istride = strides[last];
  for (int64_t o = 0; o < total; o += inner) {
    if (esize == 4 && istride == 1) {
      std::memcpy(dst, src + off * 4, static_cast<size_t>(inner * 4));
      dst += inner * 4;
    } else {
      for (int64_t i = 0; i < inner; ++i, dst += esize) CopyElement(dst, src + (off + i * istride) * esize, esize);
    }
    for (int d = last - 1; d >= 0; --d) {
      off += strides[d];
      if (++idx[d] < counts[d]) break;
      off -= strides[d] * counts[d];
      idx[d] = 0;
    }
  }
}

void Pad(const PreparedKernel& k, const unsigned char* x, const unsigned char* value, unsigned char* y) {
  const int r = static_cast<int>(k.ints[0]);
  const int64_t esize = k.ints[1], mode = k.ints[2];
  const int64_t* in_dims = k.ints.data() + 3;
  const int64_t* out_dims = in_dims + r;
  const int64_t* begin = out_dims + r;
  int64_t total = 1;
  for (int i = 0; i < r; ++i) total *= out_dims[i];
  const unsigned char zero[8] = {};
  if (!value) value = zero;
  int64_t idx[kMaxKernelRank] = {};
  for (int64_t o = 0; o < total; ++o, y += esize) {
    int64_t src = 0;
    bool inside = true;
    for (int d = 0; d < r; ++d) {
      int64_t i = idx[d] - begin[d];
      const int64_t n = in_dims[d];
      if (i < 0 || i >= n) {
        if (mode == 0 || n == 0) {
          inside = false;
          break;
        }
        if (mode == 2) {
          i = i < 0 ? 0 : n - 1;
        } else if (n == 1) {
          i = 0;
        } else {
          const int64_t period = 2 * (n - 1);
          i = i % period;
          if (i < 0) i += period;
          if (i >= n) i = period - i;
        }
      }
      src = src * n + i;
    }
    CopyElement(y, inside ? x + src * esize : value, esize);
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[d] < out_dims[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

Status Eval(const PreparedKernel& k, const void* const* inputs, void* const* outputs, void* scratch) {
  if (k.quantized) return EvalInt8(k, inputs, outputs, scratch);
  const float* x = static_cast<const float*>(inputs[0]);
  float* y = static_cast<float*>(outputs[0]);
  const int64_t n = k.outputs[0].elements;
  auto in = [&](size_t i) -> const void* { return i < k.inputs.size() ? inputs[i] : nullptr; };
  switch (k.op) {
    case OpType::kConv:
      if (IsPointwise(k.ints.data()))
        ConvPointwise(k, x, static_cast<const float*>(inputs[1]), static_cast<const float*>(in(2)), y,
                      static_cast<float*>(scratch));
      else
        Conv(k, x, static_cast<const float*>(inputs[1]), static_cast<const float*>(in(2)), y);
      return Status::Ok();
    case OpType::kMaxPool:
    case OpType::kAveragePool:
      switch (k.outputs[0].dtype) {
        case DType::kInt8: Pool(k, static_cast<const int8_t*>(inputs[0]), static_cast<int8_t*>(outputs[0])); break;
        case DType::kUInt8: Pool(k, static_cast<const uint8_t*>(inputs[0]), static_cast<uint8_t*>(outputs[0])); break;
        default: Pool(k, x, y);
      }
      return Status::Ok();
    case OpType::kGlobalAveragePool: {
      const int64_t planes = k.ints[0], size = k.ints[1];
      for (int64_t c = 0; c < planes; ++c) {
        float acc = 0.0f;
        const float* xc = x + c * size;
        for (int64_t i = 0; i < size; ++i) acc += xc[i];
        y[c] = size > 0 ? acc / static_cast<float>(size) : 0.0f;
      }
      return Status::Ok();
    }
    case OpType::kBatchNormalization: {
      const float* scale = static_cast<const float*>(inputs[1]);
      const float* bias = static_cast<const float*>(inputs[2]);
      const float* mean = static_cast<const float*>(inputs[3]);
      const float* var = static_cast<const float*>(inputs[4]);
      const int64_t N = k.ints[0], C = k.ints[1], S = k.ints[2];
      const float eps = k.floats[0];
      for (int64_t c = 0; c < C; ++c) {
        const float a = scale[c] / std::sqrt(var[c] + eps);
        const float b = bias[c] - mean[c] * a;
        for (int64_t b_i = 0; b_i < N; ++b_i) {
          const float* xc = x + (b_i * C + c) * S;
          float* yc = y + (b_i * C + c) * S;
          for (int64_t i = 0; i < S; ++i) yc[i] = Activate(xc[i] * a + b, k.activation);
        }
      }
      return Status::Ok();
    }
    case OpType::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
      return Status::Ok();
    case OpType::kLeakyRelu: {
      const float alpha = k.floats[0];
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? x[i] * alpha : x[i];
      return Status::Ok();
    }
    case OpType::kClip:
      switch (k.outputs[0].dtype) {
        case DType::kInt8: ClipT<int8_t>(inputs[0], in(1), in(2), outputs[0], n); break;
        case DType::kUInt8: ClipT<uint8_t>(inputs[0], in(1), in(2), outputs[0], n); break;
        case DType::kInt32: ClipT<int32_t>(inputs[0], in(1), in(2), outputs[0], n); break;
        default: ClipT<float>(inputs[0], in(1), in(2), outputs[0], n);
      }
      return Status::Ok();
    case OpType::kSigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
      return Status::Ok();
    case OpType::kHardSigmoid: {
      const float alpha = k.floats[0], beta = k.floats[1];
      for (int64_t i = 0; i < n; ++i) y[i] = std::fmax(0.0f, std::fmin(1.0f, alpha * x[i] + beta));
      return Status::Ok();
    }
    case OpType::kHardSwish:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * std::fmax(0.0f, std::fmin(1.0f, x[i] / 6.0f + 0.5f));
      return Status::Ok();
    case OpType::kIdentity:
    case OpType::kDropout:
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
      if (k.ints[0] > 0) std::memcpy(outputs[0], inputs[0], static_cast<size_t>(k.ints[0]));
      return Status::Ok();
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
      switch (k.outputs[0].dtype) {
        case DType::kFloat32: return Binary<float>(k, inputs[0], inputs[1], outputs[0]);
        case DType::kInt32: return Binary<int32_t>(k, inputs[0], inputs[1], outputs[0]);
        case DType::kInt64: return Binary<int64_t>(k, inputs[0], inputs[1], outputs[0]);
        case DType::kInt8: return Binary<int8_t>(k, inputs[0], inputs[1], outputs[0]);
        case DType::kUInt8: return Binary<uint8_t>(k, inputs[0], inputs[1], outputs[0]);
        default: return RuntimeError(k, "unsupported dtype");
      }
    case OpType::kConcat: {
      const int64_t outer = k.ints[0];
      unsigned char* dst = static_cast<unsigned char*>(outputs[0]);
      for (int64_t o = 0; o < outer; ++o) {
        for (size_t i = 0; i < k.inputs.size(); ++i) {
          const int64_t bytes = k.ints[2 + i];
          if (bytes > 0) std::memcpy(dst, static_cast<const unsigned char*>(inputs[i]) + o * bytes, static_cast<size_t>(bytes));
          dst += bytes;
        }
      }
      return Status::Ok();
    }
    case OpType::kSplit: {
      const int64_t outer = k.ints[0], row = k.ints[1];
      const unsigned char* src = static_cast<const unsigned char*>(inputs[0]);
      for (int64_t o = 0; o < outer; ++o) {
        const unsigned char* s = src + o * row;
        for (size_t i = 0; i < k.outputs.size(); ++i) {
          const int64_t bytes = k.ints[2 + i];
          if (bytes > 0) std::memcpy(static_cast<unsigned char*>(outputs[i]) + o * bytes, s, static_cast<size_t>(bytes));
          s += bytes;
        }
      }
      return Status::Ok();
    }
    case OpType::kReduceMean: {
      const int r = static_cast<int>(k.ints[0]);
      const int64_t* dims = k.ints.data() + 1;
      const int64_t* ostr = dims + r;
      const int64_t count = ostr[r];
      for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
      const int64_t total = k.inputs[0].elements;
      int64_t idx[kMaxKernelRank] = {};
      int64_t off = 0;
      for (int64_t i = 0; i < total; ++i) {
        y[off] += x[i];
        for (int d = r - 1; d >= 0; --d) {
          off += ostr[d];
          if (++idx[d] < dims[d]) break;
          off -= ostr[d] * dims[d];
          idx[d] = 0;
        }
      }
      if (count > 0)
        for (int64_t i = 0; i < n; ++i) y[i] /= static_cast<float>(count);
      return Status::Ok();
    }
    case OpType::kSoftmax: {
      const int64_t outer = k.ints[0], axis = k.ints[1], inner = k.ints[2];
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const float* xs = x + o * axis * inner + i;
          float* ys = y + o * axis * inner + i;
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t a = 0; a < axis; ++a) mx = xs[a * inner] > mx ? xs[a * inner] : mx;
          float sum = 0.0f;
          for (int64_t a = 0; a < axis; ++a) {
            ys[a * inner] = std::exp(xs[a * inner] - mx);
            sum += ys[a * inner];
          }
          for (int64_t a = 0; a < axis; ++a) ys[a * inner] /= sum;
        }
      }
      return Status::Ok();
    }
    case OpType::kTranspose: {
      const int r = static_cast<int>(k.ints[0]);
      StridedCopy(r, k.ints.data() + 2, k.ints.data() + 2 + r, k.ints[1], static_cast<const unsigned char*>(inputs[0]),
                  static_cast<unsigned char*>(outputs[0]));
      return Status::Ok();
    }
    case OpType::kSlice: {
      const int r = static_cast<int>(k.ints[0]);
      const int64_t esize = k.ints[1];
      StridedCopy(r, k.ints.data() + 3, k.ints.data() + 3 + r, esize,
                  static_cast<const unsigned char*>(inputs[0]) + k.ints[2] * esize, static_cast<unsigned char*>(outputs[0]));
      return Status::Ok();
    }
    case OpType::kGather: {
      const int64_t outer = k.ints[0], axis_dim = k.ints[1], inner = k.ints[2], count = k.ints[3], esize = k.ints[4];
      const bool i64 = k.ints[5] == 8;
      const unsigned char* src = static_cast<const unsigned char*>(inputs[0]);
      unsigned char* dst = static_cast<unsigned char*>(outputs[0]);
      const size_t row = static_cast<size_t>(inner * esize);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < count; ++i) {
          int64_t j = i64 ? static_cast<const int64_t*>(inputs[1])[i] : static_cast<const int32_t*>(inputs[1])[i];
          if (j < 0) j += axis_dim;
          if (j < 0 || j >= axis_dim) return RuntimeError(k, "index out of range");
          if (row) std::memcpy(dst, src + (o * axis_dim + j) * inner * esize, row);
          dst += row;
        }
      }
      return Status::Ok();
    }
    case OpType::kGemm:
      Gemm(k, x, static_cast<const float*>(inputs[1]), static_cast<const float*>(in(2)), y);
      return Status::Ok();
    case OpType::kMatMul: MatMul(k, x, static_cast<const float*>(inputs[1]), y); return Status::Ok();
    case OpType::kPad:
      Pad(k, static_cast<const unsigned char*>(inputs[0]), static_cast<const unsigned char*>(in(2)),
          static_cast<unsigned char*>(outputs[0]));
      return Status::Ok();
    case OpType::kQuantizeLinear:
    case OpType::kDequantizeLinear: QuantizeDequantize(k, inputs, outputs[0]); return Status::Ok();
    case OpType::kQLinearMatMul: QLinearMatMul(k, inputs, outputs[0]); return Status::Ok();
    case OpType::kQLinearConv: QLinearConv(k, inputs, outputs[0], static_cast<int32_t*>(scratch)); return Status::Ok();
    default: return RuntimeError(k, "is not implemented by the reference backend");
  }
}

}  // namespace edgesplit::reference
