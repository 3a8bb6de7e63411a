// The int8 loops of the oneDNN backend (see int8.h), on the fixed-point
// primitives of include/edgesplit/fixed_point.h, which define the result.
// Requantization also has an AVX-512 version computing the same integers
// sixteen lanes at a time; Add looks its result up in a table of all 65,536
// operand pairs, filled by the portable arithmetic.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "edgesplit/fixed_point.h"
#include "int8.h"
#include "int8_avx512.h"

namespace edgesplit::onednn {
namespace {

using fixed_point::MultiplyByQuantizedMultiplier;
constexpr int kAddLeftShift = 20;  // TFLite's int8 Add headroom (as reference_int8.cc)
// Loops this long share the work across oneDNN's OpenMP threads. Whether a
// node uses the pool at all is the node-level rule (kSerialWork: a serial node
// runs with the cap at 1); this floor only keeps a pooled node's short loops
// (e.g. a requantization of 7x7 rows) inline.
constexpr int64_t kParallelMin = 1 << 15;

inline int8_t Clamp(int32_t v, int32_t lo, int32_t hi) { return static_cast<int8_t>(v < lo ? lo : (v > hi ? hi : v)); }
// Two's-complement wrap-around, as the reference's int32 accumulators.
inline int32_t WrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// ---- Portable loops.

void RequantPortable(const Int8Stage& s, const int32_t* acc, int8_t* y) {
  const Plane4& p = s.y;
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t i = 0; i < p.hw; ++i) {
        const int64_t at = p.At(b, c, i);
        const int32_t v = MultiplyByQuantizedMultiplier(WrapAdd(acc[at], s.bias[c]), s.multiplier[c], s.shift[c]);
        y[at] = Clamp(v + s.y_zp, s.lo, s.hi);
      }
}

inline int8_t AddOne(const Int8Stage& s, int32_t a, int32_t b) {
  const int32_t va = MultiplyByQuantizedMultiplier((a - s.a_zp) * (1 << kAddLeftShift), s.a_mult, s.a_shift);
  const int32_t vb = MultiplyByQuantizedMultiplier((b - s.b_zp) * (1 << kAddLeftShift), s.b_mult, s.b_shift);
  return Clamp(MultiplyByQuantizedMultiplier(va + vb, s.y_mult, s.y_shift) + s.y_zp, s.lo, s.hi);
}

bool SameLayout(const Int8Stage& s) {
  return s.a.channels_last == s.y.channels_last && s.b.channels_last == s.y.channels_last;
}

inline int8_t AddLookup(const int8_t* table, int8_t a, int8_t b) {
  return table[static_cast<uint8_t>(a) | static_cast<unsigned>(static_cast<uint8_t>(b)) << 8];
}

void AddTable(const Int8Stage& s, const int8_t* a, const int8_t* b, int8_t* y) {
  const int8_t* table = s.add_table.data();
  if (SameLayout(s)) {
    const int64_t n = s.y.elements();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = AddLookup(table, a[i], b[i]);
    return;
  }
  for (int64_t n = 0; n < s.y.n; ++n)  // operands in different layouts (a fallback neighbour)
    for (int64_t c = 0; c < s.y.c; ++c)
      for (int64_t i = 0; i < s.y.hw; ++i) y[s.y.At(n, c, i)] = AddLookup(table, a[s.a.At(n, c, i)], b[s.b.At(n, c, i)]);
}

// ---- AVX-512 (the fixed point lane by lane: int8_avx512.h).

// Compiled for AVX-512 (whatever the build's -march), run only when the CPU has it.
ES_AVX512_BEGIN
#define ES_AVX512
using avx512::Requant16;
using avx512::TailMask;

// Rows per run of RequantRunAvx512: about 16 KiB of sums, which stay in L1
// while the run's channel blocks pass down it.
inline int64_t RequantRun(int64_t channels) { return std::max<int64_t>(1, (16 << 10) / (4 * channels)); }

// `rows` channels-last rows of s.y.c sums, on the calling thread: a channel
// block at a time down the rows, its constants in registers (made once per
// block and run, not once per vector).
// kClamp 0: any clamp; 1: hi == 127 (saturating narrowing) with lo > -128;
// 2: the whole int8 range (the narrowing alone). The same integers.
template <int kClamp>
ES_AVX512 void RequantRunAvx512(const Int8Stage& s, const int32_t* acc, int8_t* y, int64_t rows) {
  const int64_t channels = s.y.c;
  for (int64_t c = 0; c < channels; c += 16) {
    const __mmask16 k = TailMask(channels - c);
    const __m512i bias = _mm512_maskz_loadu_epi32(k, s.bias.data() + c);
    const avx512::RequantLanes r = avx512::MakeRequant(_mm512_maskz_loadu_epi32(k, s.multiplier.data() + c),
                                                       _mm512_maskz_loadu_epi32(k, s.shift.data() + c), s.y_zp, s.lo, s.hi);
    for (int64_t row = 0; row < rows; ++row) {
      const __m512i x = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + row * channels + c), bias);
      const __m128i q = kClamp == 0 ? Requant16(x, r) : avx512::Requant16Saturating<kClamp == 1>(x, r);
      _mm_mask_storeu_epi8(y + row * channels + c, k, q);
    }
  }
}

ES_AVX512 void RequantRunAvx512(const Int8Stage& s, const int32_t* acc, int8_t* y, int64_t rows) {
  if (s.hi != 127) return RequantRunAvx512<0>(s, acc, y, rows);
  if (s.lo != -128) return RequantRunAvx512<1>(s, acc, y, rows);
  return RequantRunAvx512<2>(s, acc, y, rows);
}

ES_AVX512 void RequantRowsAvx512(const Int8Stage& s, const int32_t* acc, int8_t* y, int64_t rows) {
  const int64_t channels = s.y.c, run = RequantRun(channels);
  for (int64_t first = 0; first < rows; first += run)
    RequantRunAvx512(s, acc + first * channels, y + first * channels, std::min(run, rows - first));
}

ES_AVX512 void RequantAvx512(const Int8Stage& s, const int32_t* acc, int8_t* y) {
  const Plane4& p = s.y;
  if (p.channels_last) {
    const int64_t rows = p.n * p.hw, run = RequantRun(p.c), runs = (rows + run - 1) / run;
#pragma omp parallel for schedule(static) if (rows * p.c >= kParallelMin)
    for (int64_t i = 0; i < runs; ++i) {
      const int64_t first = i * run;
      RequantRunAvx512(s, acc + first * p.c, y + first * p.c, std::min(run, rows - first));
    }
    return;
  }
  const int64_t planes = p.n * p.c;
#pragma omp parallel for schedule(static) if (planes * p.hw >= kParallelMin)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const int64_t c = plane % p.c;
    const __m512i bias = _mm512_set1_epi32(s.bias[c]);
    const avx512::RequantLanes r = avx512::MakeRequant(_mm512_set1_epi32(s.multiplier[c]), _mm512_set1_epi32(s.shift[c]),
                                                       s.y_zp, s.lo, s.hi);
    for (int64_t i = 0; i < p.hw; i += 16) {
      const __mmask16 k = TailMask(p.hw - i);
      const __m512i x = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + plane * p.hw + i), bias);
      _mm_mask_storeu_epi8(y + plane * p.hw + i, k, Requant16(x, r));
    }
  }
}

// ONNX QuantizeLinear of sixteen values: x / scale rounded half to even
// (roundscale's nearest mode is exactly that), + zero point, saturated: the
// reference's float operations in the same order; int32 lanes.
ES_AVX512 inline __m512i Quantize16(__m512 x, __m512 scale, __m512 zp) {
  __m512 v = _mm512_div_ps(x, scale);
  v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
  return _mm512_cvttps_epi32(v);
}

// One contiguous run.
ES_AVX512 void QuantizeRunAvx512(const float* x, int64_t n, float scale, float zp, int8_t* y) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = TailMask(n - i);
    _mm_mask_storeu_epi8(y + i, k, _mm512_cvtepi32_epi8(Quantize16(_mm512_maskz_loadu_ps(k, x + i), s, z)));
  }
}

// An RGB image's three row-major planes into channels-last bytes, pixels
// [p0, p0 + n) of one image: sixteen pixels of each plane quantized, then
// interleaved in registers (two lane permutes per 16 output bytes) and
// stored contiguously, instead of byte by byte at stride 3.
ES_AVX512 void QuantizeRgbAvx512(const float* x, int64_t hw, int64_t p0, int64_t n, float scale, float zp, int8_t* y) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp);
  // Output byte j of a 48-byte group is plane j % 3's pixel j / 3: first
  // planes 0 and 1 (index j / 3, or 16 + j / 3), then plane 2 over the rest.
  alignas(64) int32_t mix01[3][16], mix2[3][16];
  for (int v = 0; v < 3; ++v)
    for (int l = 0; l < 16; ++l) {
      const int j = 16 * v + l;
      mix01[v][l] = (j % 3 == 1 ? 16 : 0) + j / 3;
      mix2[v][l] = j % 3 == 2 ? 16 + j / 3 : l;
    }
  __m512i m01[3], m2[3];
  for (int v = 0; v < 3; ++v) {
    m01[v] = _mm512_load_si512(mix01[v]);
    m2[v] = _mm512_load_si512(mix2[v]);
  }
  for (int64_t i = p0; i < p0 + n; i += 16) {
    const int64_t left = p0 + n - i;
    const __mmask16 k = TailMask(left);
    const __m512i q0 = Quantize16(_mm512_maskz_loadu_ps(k, x + i), s, z);
    const __m512i q1 = Quantize16(_mm512_maskz_loadu_ps(k, x + hw + i), s, z);
    const __m512i q2 = Quantize16(_mm512_maskz_loadu_ps(k, x + 2 * hw + i), s, z);
    const int64_t bytes = 3 * std::min<int64_t>(left, 16);
#pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) {
      const __m512i mixed = _mm512_permutex2var_epi32(_mm512_permutex2var_epi32(q0, m01[v], q1), m2[v], q2);
      _mm_mask_storeu_epi8(y + 3 * i + 16 * v, TailMask(std::max<int64_t>(0, bytes - 16 * v)), _mm512_cvtepi32_epi8(mixed));
    }
  }
}

// `channels` int8 channels of `hw` channels-last pixels (`stride` bytes
// apart) summed per channel into int32, as the portable loop sums them.
ES_AVX512 void SumPixelsAvx512(const int8_t* x, int64_t hw, int64_t stride, int32_t* sum, int64_t channels) {
  for (int64_t c0 = 0; c0 < channels; c0 += 64) {
    __mmask16 k[4];
    __m512i acc[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      k[j] = TailMask(std::max<int64_t>(0, channels - c0 - 16 * j));
      acc[j] = _mm512_setzero_si512();
    }
    for (int64_t i = 0; i < hw; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        acc[j] = _mm512_add_epi32(acc[j], _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k[j], x + i * stride + c0 + 16 * j)));
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) _mm512_mask_storeu_epi32(sum + c0 + 16 * j, k[j], acc[j]);
  }
}

ES_AVX512_END
#undef ES_AVX512

bool CpuHasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
}

std::atomic<bool> g_avx512_allowed{true};

// ---- The loops without a vector version (cheap next to the convs).

void GlobalPool(const Int8Stage& s, const int8_t* x, int8_t* y) {
  const Plane4& in = s.a;
  const int32_t count = static_cast<int32_t>(in.hw);
  constexpr int64_t kBlock = 256;  // channels summed at once (contiguous when channels-last)
  const bool avx512 = in.channels_last && Int8UsesAvx512();
  for (int64_t b = 0; b < in.n; ++b)
    for (int64_t c0 = 0; c0 < in.c; c0 += kBlock) {
      const int64_t cn = std::min(kBlock, in.c - c0);
      int32_t sum[kBlock] = {};
      if (avx512) SumPixelsAvx512(x + b * in.hw * in.c + c0, in.hw, in.c, sum, cn);
      else
        for (int64_t i = 0; i < in.hw; ++i)
          for (int64_t c = 0; c < cn; ++c) sum[c] += x[in.At(b, c0 + c, i)];
      for (int64_t c = 0; c < cn; ++c)
        y[b * in.c + c0 + c] = Clamp(count > 0 ? fixed_point::RoundedAverage(sum[c], count) : 0, -128, 127);
    }
}

// ONNX QuantizeLinear (round half to even), as the reference computes it.
int8_t QuantizeOne(float x, float scale, float zp) {
  const float v = x / scale;
  float r = std::round(v);
  if (std::fabs(v - std::trunc(v)) == 0.5f) r = 2.0f * std::round(v * 0.5f);
  r += zp;
  return static_cast<int8_t>(r < -128.0f ? -128.0f : (r > 127.0f ? 127.0f : r));
}

// Row by row of the (row-major) input: each row's results go through a small
// buffer to their channels-last places.
void Quantize(const Int8Stage& s, const float* x, int8_t* y) {
  const float z = static_cast<float>(s.y_zp);
  const int64_t planes = s.a.n * s.a.c;
  const bool avx512 = Int8UsesAvx512();
  if (avx512 && s.a.c == 3 && !s.a.channels_last && s.y.channels_last) {  // an RGB image: runs of pixels
    constexpr int64_t kPixels = 2048;
    const int64_t runs = (s.a.hw + kPixels - 1) / kPixels, items = s.a.n * runs;
#pragma omp parallel for schedule(static) if (s.a.elements() >= kParallelMin)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t b = item / runs, p0 = item % runs * kPixels;
      QuantizeRgbAvx512(x + b * 3 * s.a.hw, s.a.hw, p0, std::min(kPixels, s.a.hw - p0), s.scale, z, y + b * 3 * s.a.hw);
    }
    return;
  }
  // Items are runs of one plane (an image has only 3 planes: too few to share).
  constexpr int64_t kRun = 1024;
  const int64_t runs = (s.a.hw + kRun - 1) / kRun, items = planes * runs;
#pragma omp parallel for schedule(static) if (s.a.elements() >= kParallelMin)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t plane = item / runs, b = plane / s.a.c, c = plane % s.a.c, i0 = item % runs * kRun;
    int8_t run[kRun];
    const int64_t len = std::min(kRun, s.a.hw - i0);
    const float* xr = x + s.a.At(b, c, i0);  // the input is row-major: a run is contiguous
    if (avx512) QuantizeRunAvx512(xr, len, s.scale, z, run);
    else for (int64_t i = 0; i < len; ++i) run[i] = QuantizeOne(xr[i], s.scale, z);
    for (int64_t i = 0; i < len; ++i) y[s.y.At(b, c, i0 + i)] = run[i];
  }
}

}  // namespace

bool Int8UsesAvx512() {
  static const bool has = CpuHasAvx512();
  return has && g_avx512_allowed.load(std::memory_order_relaxed);
}

void SetInt8Avx512(bool allowed) { g_avx512_allowed.store(allowed, std::memory_order_relaxed); }

void BuildAddTable(Int8Stage* s) {
  s->add_table.resize(256 * 256);
  for (int a = -128; a < 128; ++a)
    for (int b = -128; b < 128; ++b)
      s->add_table[static_cast<uint8_t>(a) | static_cast<unsigned>(static_cast<uint8_t>(b)) << 8] = AddOne(*s, a, b);
}

void RequantRows(const Int8Stage& s, const int32_t* acc, int8_t* y, int64_t rows) {
  if (Int8UsesAvx512() && !s.left_shift) return RequantRowsAvx512(s, acc, y, rows);
  const int64_t channels = s.y.c;
  for (int64_t i = 0; i < rows * channels; ++i) {
    const int64_t c = i % channels;
    const int32_t v = MultiplyByQuantizedMultiplier(WrapAdd(acc[i], s.bias[c]), s.multiplier[c], s.shift[c]);
    y[i] = Clamp(v + s.y_zp, s.lo, s.hi);
  }
}

void RunInt8Stage(const Int8Stage& s, const void* const* inputs, void* const* outputs, void* scratch) {
  int8_t* y = static_cast<int8_t*>(outputs[0]);
  switch (s.op) {
    case Int8Stage::Op::kNone:
      return;
    case Int8Stage::Op::kRequant: {
      const int32_t* acc = reinterpret_cast<const int32_t*>(static_cast<unsigned char*>(scratch) + s.acc_offset);
      if (Int8UsesAvx512() && !s.left_shift) return RequantAvx512(s, acc, y);
      return RequantPortable(s, acc, y);
    }
    case Int8Stage::Op::kAdd: {
      const int8_t* a = static_cast<const int8_t*>(inputs[0]);
      const int8_t* b = static_cast<const int8_t*>(inputs[1]);
      return AddTable(s, a, b, y);
    }
    case Int8Stage::Op::kGlobalPool:
      return GlobalPool(s, static_cast<const int8_t*>(inputs[0]), y);
    case Int8Stage::Op::kQuantize:
      return Quantize(s, static_cast<const float*>(inputs[0]), y);
    case Int8Stage::Op::kDepthwise:
      return Depthwise(s, static_cast<const int8_t*>(inputs[0]), y);
  }
}

}  // namespace edgesplit::onednn
