// Fixed-point primitives of TFLite (Micro)'s int8 kernels, written from their
// definitions (gemmlowp's fixedpoint.h semantics), so that a segment computed
// here gives the integers an ESP32-S3 running TFLite Micro would.
//
// A real multiplier M > 0 is held as a Q31 `multiplier` in [2^30, 2^31) and a
// power-of-two `shift`: M = multiplier / 2^31 * 2^shift. Applying it to an
// int32 accumulator x rounds like TFLite: a doubling high multiply rounding to
// nearest (ties toward +infinity), then a rounding right shift rounding to
// nearest (ties away from zero).
//
// Header-only, portable (no exceptions, no heap, no OS); every function is
// total: no input is undefined behaviour (TFLite's own left shift of x may
// overflow int32; here it saturates, the only place the two can differ).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace edgesplit::fixed_point {

// floor((a * b + 2^30) / 2^31): a * b / 2^31 to nearest, ties toward
// +infinity (gemmlowp's nudge then truncating division), saturating the one
// overflowing case (INT32_MIN * INT32_MIN).
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == std::numeric_limits<int32_t>::min() && b == std::numeric_limits<int32_t>::min())
    return std::numeric_limits<int32_t>::max();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  // Division truncates toward zero, as gemmlowp's definition requires.
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31].
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  if (exponent <= 0) return x;
  if (exponent > 31) exponent = 31;
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * M for the multiplier (Q31) and shift made by QuantizeMultiplier.
inline int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  int64_t shifted = static_cast<int64_t>(x) * (int64_t{1} << left_shift);
  if (shifted > std::numeric_limits<int32_t>::max()) shifted = std::numeric_limits<int32_t>::max();
  if (shifted < std::numeric_limits<int32_t>::min()) shifted = std::numeric_limits<int32_t>::min();
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(static_cast<int32_t>(shifted), multiplier), right_shift);
}

// Splits a real multiplier into (Q31 multiplier, shift) as TFLite's
// QuantizeMultiplier does: frexp, round the mantissa to 31 bits, carry a
// mantissa that rounds up to 1.0 into the exponent; multipliers too small to
// represent (shift < -31) become 0. Non-finite or negative input gives 0.
inline void QuantizeMultiplier(double real_multiplier, int32_t* multiplier, int* shift) {
  *multiplier = 0;
  *shift = 0;
  if (!(real_multiplier > 0.0) || !std::isfinite(real_multiplier)) return;
  int exponent = 0;
  const double q = std::frexp(real_multiplier, &exponent);  // q in [0.5, 1)
  int64_t q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
  if (q_fixed == (int64_t{1} << 31)) {
    q_fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) return;
  if (exponent > 30) {  // beyond what any int32 accumulator can use: saturate
    exponent = 30;
    q_fixed = (int64_t{1} << 31) - 1;
  }
  *multiplier = static_cast<int32_t>(q_fixed);
  *shift = exponent;
}

// TFLite's TfLiteRound: round half away from zero.
// Saturates to the int32 range (NaN gives 0).
inline int32_t RoundHalfAway(float v) {
  if (!(v == v)) return 0;
  if (v >= 2147483520.0f) return std::numeric_limits<int32_t>::max();
  if (v <= -2147483648.0f) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(std::round(v));
}

// The int32 average TFLite's int8 average pooling stores: sum / count rounded
// half away from zero. count > 0.
inline int32_t RoundedAverage(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

}  // namespace edgesplit::fixed_point
