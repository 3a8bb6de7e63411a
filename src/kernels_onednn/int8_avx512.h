// Internal to the oneDNN backend's int8 loops: TFLite's fixed-point
// requantization sixteen int32 lanes at a time (the same integers as
// MultiplyByQuantizedMultiplier for shift <= 0), shared by the requantization
// pass (int8_loops.cc) and the depthwise kernel (int8_depthwise.cc). Compiled
// for AVX-512 whatever the build's -march; call only when Int8UsesAvx512().
#pragma once

#include <immintrin.h>

#include <cstdint>

// Code between ES_AVX512_BEGIN and ES_AVX512_END is compiled for AVX-512
// whatever the build's -march (GCC 12 warns on its own _mm512_undefined_*).
#define ES_AVX512_BEGIN                                              \
  _Pragma("GCC push_options")                                        \
  _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq\")")    \
  _Pragma("GCC diagnostic push")                                     \
  _Pragma("GCC diagnostic ignored \"-Wpsabi\"")                      \
  _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")              \
  _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define ES_AVX512_END _Pragma("GCC diagnostic pop") _Pragma("GCC pop_options")

ES_AVX512_BEGIN

namespace edgesplit::onednn::avx512 {

// The constants of Requant16 for sixteen lanes, derived once per block of
// channels: the Q31 multiplier (and its odd lanes moved down for the 64-bit
// products), the right shift e = -shift (0..31), 2^(e-1) (0 for e = 0), y's
// zero point and the activation clamp.
struct RequantLanes {
  __m512i m, m_odd, e, half, zp, lo, hi;
};

inline RequantLanes MakeRequant(__m512i multiplier, __m512i shift, int32_t zp, int32_t lo, int32_t hi) {
  RequantLanes r;
  r.m = multiplier;
  r.m_odd = _mm512_srli_epi64(multiplier, 32);
  r.e = _mm512_sub_epi32(_mm512_setzero_si512(), shift);
  r.half = _mm512_srli_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), r.e), 1);
  r.zp = _mm512_set1_epi32(zp);
  r.lo = _mm512_set1_epi32(lo);
  r.hi = _mm512_set1_epi32(hi);
  return r;
}

// SaturatingRoundingDoublingHighMul for m >= 2^30 or 0 (it never saturates).
// TFLite's (x*m + (x*m >= 0 ? 2^30 : 1 - 2^30)) / 2^31, truncated toward
// zero, equals floor((x*m + 2^30) / 2^31) for every x*m (for a negative one,
// ceil(n / d) = floor((n + d - 1) / d)): bits 31..62 of the 64-bit sum.
inline __m512i HighMul(__m512i x, const RequantLanes& r) {
  const __m512i half = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, r.m), half);  // the signed low 32 bits of each 64-bit lane
  const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), r.m_odd), half);
  return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
}

// RoundingDivideByPOT by e: to nearest, ties away from zero, which is
// sign(x) * ((|x| + 2^(e-1)) >> e) in unsigned arithmetic (|INT32_MIN| = 2^31
// and the sum stays below 2^32).
inline __m512i DividePot(__m512i x, const RequantLanes& r) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i q = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_abs_epi32(x), r.half), r.e);
  return _mm512_mask_sub_epi32(q, _mm512_cmplt_epi32_mask(x, zero), zero, q);
}

// x * M with M = m * 2^-e / 2^31, then + zp and clamped, as int8 in the low 16 bytes.
inline __m128i Requant16(__m512i x, const RequantLanes& r) {
  __m512i v = _mm512_add_epi32(DividePot(HighMul(x, r), r), r.zp);
  v = _mm512_min_epi32(_mm512_max_epi32(v, r.lo), r.hi);
  return _mm512_cvtepi32_epi8(v);
}

// Requant16 where the clamp's top is int8's (hi == 127): the saturating
// narrowing clamps above (and at -128 below), so only a lower bound above
// -128 (kLow: lo > -128, e.g. a ReLU's zero point) costs an instruction.
template <bool kLow>
inline __m128i Requant16Saturating(__m512i x, const RequantLanes& r) {
  __m512i v = _mm512_add_epi32(DividePot(HighMul(x, r), r), r.zp);
  if (kLow) v = _mm512_max_epi32(v, r.lo);
  return _mm512_cvtsepi32_epi8(v);
}

inline __mmask16 TailMask(int64_t left) { return left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1); }

}  // namespace edgesplit::onednn::avx512

ES_AVX512_END
