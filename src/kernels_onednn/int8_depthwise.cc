// edgesplit's own int8 depthwise conv (channels-last, one output channel per
// input channel). oneDNN's depthwise kernel can only write int32 sums here (its
// output scales round in float), which a second pass then reads back to
// requantize; this one keeps each pixel's sums in registers and requantizes
// them there, sixteen channels at a time. A tap outside the input reads x's
// zero point (whole zero-point rows above and below, a broadcast vector at the
// left and right edges), so with the bias folded as -x_zp * sum w the sums are
// the reference's over the inside taps, in int32 wrap-around, bit for bit.
// One OpenMP region per conv over (output row, channel block) items; small
// convs run on the calling thread (a fork-join costs more than they do).
#include <algorithm>
#include <string>

#include "edgesplit/fixed_point.h"
#include "int8_avx512.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

using Window = Int8Stage::Window;

constexpr int64_t kLanes = 16;      // channels per vector (int32 lanes of a zmm)
constexpr int64_t kMaxKernel = 7;   // larger windows go to oneDNN
// Convs with fewer multiply-adds than this run on the calling thread: the
// node-level rule (kSerialWork; a serial node runs with the OpenMP cap at 1).
// Every MobileNetV2 depthwise conv is above it: with the pool spinning through
// an inference (src/cli/openmp_env.cc) the 28x28 to 7x7 ones gain from a
// second thread too (they were kept serial at 2^21 when the pool slept).
constexpr int64_t kParallelMacs = kSerialWork;

inline int8_t Clamp(int32_t v, int32_t lo, int32_t hi) { return static_cast<int8_t>(v < lo ? lo : (v > hi ? hi : v)); }
inline int32_t WrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// The input rows the taps of output row (b, oy) read, top to bottom.
void TapRows(const Int8Stage& s, const int8_t* x, int64_t b, int64_t oy, const int8_t** rows) {
  const Window& w = s.win;
  for (int64_t ky = 0; ky < w.kh; ++ky) {
    const int64_t iy = oy * w.sh - w.pt + ky * w.dh;
    rows[ky] = iy >= 0 && iy < w.h ? x + (b * w.h + iy) * w.w * s.y.c : s.zp_row.data();
  }
}

// Channels [c0, c0 + n) of one output row, scalar.
void RowPortable(const Int8Stage& s, const int8_t* const* rows, int8_t* y, int64_t c0, int64_t n) {
  const Window& w = s.win;
  const int64_t channels = s.y.c;
  for (int64_t ox = 0; ox < w.ow; ++ox)
    for (int64_t c = c0; c < c0 + n; ++c) {
      int32_t acc = 0;
      for (int64_t ky = 0; ky < w.kh; ++ky)
        for (int64_t kx = 0; kx < w.kw; ++kx) {
          const int64_t ix = ox * w.sw - w.pl + kx * w.dw;
          const int32_t xv = ix >= 0 && ix < w.w ? rows[ky][ix * channels + c] : s.x_zp;
          acc += xv * s.taps[(ky * w.kw + kx) * s.tap_stride + c];
        }
      const int32_t v = fixed_point::MultiplyByQuantizedMultiplier(WrapAdd(acc, s.bias[c]), s.multiplier[c], s.shift[c]);
      y[ox * channels + c] = Clamp(v + s.y_zp, s.lo, s.hi);
    }
}

ES_AVX512_BEGIN

// One channel block (16 channels from c0, masked past y.c) of one output row:
// its lanes and requantization constants, held by value (the int8 stores may
// alias anything reached through a pointer, which the compiler would reload).
struct Block {
  const Int8Stage& s;
  int8_t* y;
  int64_t c0, channels, width;
  __mmask16 k;
  bool full;  // all sixteen lanes are channels (unmasked loads)
  __m512i bias, xz;
  avx512::RequantLanes r;

  Block(const Int8Stage& stage, int8_t* out, int64_t first)
      : s(stage), y(out), c0(first), channels(stage.y.c), width(stage.win.w), k(avx512::TailMask(channels - first)) {
    full = k == 0xFFFF;
    bias = _mm512_maskz_loadu_epi32(k, s.bias.data() + c0);
    xz = _mm512_set1_epi32(s.x_zp);
    r = avx512::MakeRequant(_mm512_maskz_loadu_epi32(k, s.multiplier.data() + c0),
                            _mm512_maskz_loadu_epi32(k, s.shift.data() + c0), s.y_zp, s.lo, s.hi);
  }
  // Tap t's weights, each in the low 16 bits of its lane (for Mul).
  __m512i Weight(int64_t t) const {
    return _mm512_and_si512(_mm512_loadu_si512(s.taps.data() + t * s.tap_stride + c0), _mm512_set1_epi32(0xFFFF));
  }
  // Input column ix of a tap row, or x's zero point left or right of the input.
  __m512i Load(const int8_t* row, int64_t ix) const {
    if (static_cast<uint64_t>(ix) >= static_cast<uint64_t>(width)) return xz;
    const int8_t* p = row + ix * channels + c0;
    return _mm512_cvtepi8_epi32(full ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)) : _mm_maskz_loadu_epi8(k, p));
  }
  // kClamp as RequantRunAvx512's (int8_loops.cc): 0 any clamp, 1 hi == 127, 2 none.
  template <int kClamp = 0>
  void Store(int64_t ox, __m512i acc) const {
    const __m512i x = _mm512_add_epi32(acc, bias);
    _mm_mask_storeu_epi8(y + ox * channels + c0, k,
                         kClamp == 0 ? avx512::Requant16(x, r) : avx512::Requant16Saturating<kClamp == 1>(x, r));
  }
};

// x * w per int32 lane: vpmaddwd on the low 16-bit halves (the weights'
// high halves are zero, so the other product vanishes): one instruction where
// vpmulld is two on many cores.
inline __m512i Mul(__m512i x, __m512i w16) { return _mm512_madd_epi16(x, w16); }

// Any window, a pixel at a time.
void RowAnyAvx512(const Int8Stage& s, const int8_t* const* rows, int8_t* y, int64_t c0) {
  const Window w = s.win;
  const Block b(s, y, c0);
  for (int64_t ox = 0; ox < w.ow; ++ox) {
    __m512i acc = _mm512_setzero_si512();
    for (int64_t ky = 0; ky < w.kh; ++ky)
      for (int64_t kx = 0; kx < w.kw; ++kx)
        acc = _mm512_add_epi32(acc, Mul(b.Load(rows[ky], ox * w.sw - w.pl + kx * w.dw), b.Weight(ky * w.kw + kx)));
    b.Store(ox, acc);
  }
}

// Two int8 lanes sign-extended to int32 as one pair of int16 halves, a in the
// low half and b in the high one: Mul then gives a * wa + b * wb per lane.
inline __m512i Pair(__m512i a, __m512i b) { return _mm512_mask_blend_epi16(0xAAAAAAAA, a, _mm512_slli_epi32(b, 16)); }

// A 3x3 window with stride S (no dilation) in blocks of U outputs: each input
// column loaded once per block and used by every output of the block that
// reads it, its top two rows paired into one multiply (six per output instead
// of nine), U independent sums in flight. A last partial block computes U
// outputs and stores those inside the row.
template <int S, int U, int kClamp>
void Row3x3Avx512(const Int8Stage& s, const int8_t* const* rows, int8_t* y, int64_t c0) {
  constexpr int kCols = (U - 1) * S + 3;  // the input columns a block reads
  const int64_t ow = s.win.ow, pl = s.win.pl;
  const int8_t* const row[3] = {rows[0], rows[1], rows[2]};
  const Block b(s, y, c0);
  __m512i top[3], bottom[3];  // per kx: rows 0 and 1 paired, row 2
#pragma GCC unroll 3
  for (int kx = 0; kx < 3; ++kx) {
    top[kx] = _mm512_or_si512(b.Weight(kx), _mm512_slli_epi32(b.Weight(3 + kx), 16));
    bottom[kx] = b.Weight(6 + kx);
  }
  for (int64_t ox = 0; ox < ow; ox += U) {
    const int64_t ix = ox * S - pl;
    __m512i acc[U];  // fully unrolled below: registers
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) acc[u] = _mm512_setzero_si512();
#pragma GCC unroll 24
    for (int j = 0; j < kCols; ++j) {
      const __m512i x01 = Pair(b.Load(row[0], ix + j), b.Load(row[1], ix + j)), x2 = b.Load(row[2], ix + j);
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) {
        const int kx = j - u * S;
        if (kx >= 0 && kx < 3)
          acc[u] = _mm512_add_epi32(acc[u], _mm512_add_epi32(Mul(x01, top[kx]), Mul(x2, bottom[kx])));
      }
    }
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u)
      if (ox + u < ow) b.Store<kClamp>(ox + u, acc[u]);
  }
}

// The 3x3 loop for stride S with the block size that wastes the fewest
// outputs on `ow` (MobileNet's rows are multiples of 7 or 8 wide).
template <int S, int kClamp>
void Row3x3(const Int8Stage& s, const int8_t* const* rows, int8_t* y, int64_t c0) {
  const int64_t ow = s.win.ow;
  const auto waste = [&](int64_t u) { return (ow + u - 1) / u * u - ow; };
  if (waste(8) <= waste(7) && waste(8) <= waste(6)) return Row3x3Avx512<S, 8, kClamp>(s, rows, y, c0);
  if (waste(7) <= waste(6)) return Row3x3Avx512<S, 7, kClamp>(s, rows, y, c0);
  return Row3x3Avx512<S, 6, kClamp>(s, rows, y, c0);
}

// The clamp's form (see Block::Store) picked once per row.
template <int S>
void Row3x3(const Int8Stage& s, const int8_t* const* rows, int8_t* y, int64_t c0) {
  if (s.hi != 127) return Row3x3<S, 0>(s, rows, y, c0);
  if (s.lo != -128) return Row3x3<S, 1>(s, rows, y, c0);
  return Row3x3<S, 2>(s, rows, y, c0);
}

ES_AVX512_END

int64_t AttrOr(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return i < v.size() ? v[i] : fallback; }

}  // namespace

void Depthwise(const Int8Stage& s, const int8_t* x, int8_t* y) {
  const Window& w = s.win;
  const int64_t channels = s.y.c, blocks = (channels + kLanes - 1) / kLanes, rows = s.y.n * w.oh;
  const int64_t items = rows * blocks;
  const bool avx512 = Int8UsesAvx512() && !s.left_shift;
  // The blocked 3x3 loops for strides 1 and 2 (MobileNet's); other windows a pixel at a time.
  const int blocked = w.kh == 3 && w.kw == 3 && w.dw == 1 && (w.sw == 1 || w.sw == 2) ? static_cast<int>(w.sw) : 0;
  const bool parallel = items > 1 && rows * w.ow * channels * w.kh * w.kw >= kParallelMacs;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t row = item / blocks, block = item % blocks;
    const int8_t* taps_rows[kMaxKernel];
    TapRows(s, x, row / w.oh, row % w.oh, taps_rows);
    int8_t* out = y + row * w.ow * channels;
    const int64_t c0 = block * kLanes;
    if (!avx512) RowPortable(s, taps_rows, out, c0, std::min(kLanes, channels - c0));
    else if (blocked == 1) Row3x3<1>(s, taps_rows, out, c0);
    else if (blocked == 2) Row3x3<2>(s, taps_rows, out, c0);
    else RowAnyAvx512(s, taps_rows, out, c0);
  }
}

bool BuildDepthwiseInt8(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  if (x.rank != 4 || y.rank != 4 || x.layout != TensorLayout::kChannelsLast || y.layout != TensorLayout::kChannelsLast)
    return false;
  const Tensor& wt = g.tensors[n.inputs[1]];
  const int64_t c = x.dims[1];
  if (n.GetInt("group", 1) != c || y.dims[1] != c || x.dims[0] != y.dims[0] || wt.shape.size() != 4 ||
      wt.shape[0] != c || wt.shape[1] != 1)
    return false;
  Window w;
  w.h = x.dims[2], w.w = x.dims[3], w.oh = y.dims[2], w.ow = y.dims[3], w.kh = wt.shape[2], w.kw = wt.shape[3];
  const std::vector<int64_t> s = n.GetInts("strides"), d = n.GetInts("dilations"), p = n.GetInts("pads");
  if (s.size() > 2 || d.size() > 2 || (p.size() != 0 && p.size() != 4)) return false;
  w.sh = AttrOr(s, 0, 1), w.sw = AttrOr(s, 1, 1), w.dh = AttrOr(d, 0, 1), w.dw = AttrOr(d, 1, 1);
  w.pt = AttrOr(p, 0, 0), w.pl = AttrOr(p, 1, 0);
  const int64_t pb = AttrOr(p, 2, 0), pr = AttrOr(p, 3, 0);
  if (w.kh < 1 || w.kw < 1 || w.kh > kMaxKernel || w.kw > kMaxKernel || w.sh < 1 || w.sw < 1 || w.dh < 1 || w.dw < 1 ||
      w.pt < 0 || w.pl < 0 || pb < 0 || pr < 0)
    return false;
  // The output size the window gives must be the graph's (else leave it to oneDNN, which checks).
  const int64_t span_h = w.h + w.pt + pb - (w.kh - 1) * w.dh - 1, span_w = w.w + w.pl + pr - (w.kw - 1) * w.dw - 1;
  if (span_h < 0 || span_w < 0 || span_h / w.sh + 1 != w.oh || span_w / w.sw + 1 != w.ow) return false;

  Int8Stage& stage = st->int8;
  PrepareRequant(g, n, k, 0, true, &stage);  // bias - x_zp * sum w: an outside tap reads x_zp
  stage.op = Int8Stage::Op::kDepthwise;
  stage.win = w;
  stage.x_zp = g.tensors[n.inputs[0]].quant.zero_points[0];
  stage.tap_stride = (c + kLanes - 1) / kLanes * kLanes;
  const int64_t taps = w.kh * w.kw;
  stage.taps.assign(static_cast<size_t>(taps * stage.tap_stride), 0);
  const int8_t* wd = wt.data_as<int8_t>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < taps; ++t) stage.taps[t * stage.tap_stride + ch] = wd[ch * taps + t];
  stage.zp_row.assign(static_cast<size_t>(w.w * c), static_cast<int8_t>(stage.x_zp));
  st->implementation = "edgesplit:int8_depthwise " + std::to_string(w.kh) + "x" + std::to_string(w.kw);
  st->scratchpad_bytes = 0;
  return true;
}

}  // namespace edgesplit::onednn
