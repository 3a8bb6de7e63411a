// Internal to the oneDNN backend: the integer arithmetic of the quantized
// graph (include/edgesplit/quant.h) that edgesplit does itself around or
// instead of oneDNN primitives, so that results are the reference kernels'
// (src/kernels/reference_int8.cc) bit for bit:
//   * requantization: oneDNN's int8 conv / inner product write int32
//     accumulators (sum x*w, or sum (x - x_zp)*w with oneDNN's src zero point);
//     this adds the int32 bias (with -x_zp * sum w folded in where oneDNN had
//     no zero point) and applies TFLite's fixed-point multiplier, y's zero
//     point and the fused activation's clamp. oneDNN's own output scales
//     round in float, which differs from TFLite by 1 LSB now and then, and the
//     differences would compound through a deep net;
//   * Add (TFLite's left-shift-20 scheme), GlobalAveragePool and the leading
//     QuantizeLinear, which oneDNN 2.6 cannot express exactly.
// Requantization uses AVX-512 when the CPU has it (checked once) and the
// portable fixed-point primitives otherwise; both give the same integers.
// Eval-time functions allocate nothing.
#pragma once

#include <cstdint>
#include <vector>

namespace edgesplit::onednn {

// A 4-D activation as the loops see it: n images of c channels of hw pixels,
// channels-last (NHWC) or row-major (NCHW).
struct Plane4 {
  int64_t n = 1, c = 1, hw = 1;
  bool channels_last = false;
  int64_t elements() const { return n * c * hw; }
  // Offset of (image, channel, pixel).
  int64_t At(int64_t b, int64_t ch, int64_t p) const {
    return channels_last ? (b * hw + p) * c + ch : (b * c + ch) * hw + p;
  }
};

struct Int8Stage {
  enum class Op : uint8_t { kNone, kRequant, kAdd, kGlobalPool, kQuantize, kDepthwise };
  Op op = Op::kNone;
  Plane4 y;        // the output (every op)
  Plane4 a, b;     // Add's inputs; a is GlobalPool's / Quantize's input
  int32_t y_zp = 0, lo = -128, hi = 127;  // output zero point, activation clamp

  // kRequant: per output channel: bias (with the zero-point term), Q31
  // multiplier and shift; the int32 accumulators sit in scratch at acc_offset
  // in y's layout.
  std::vector<int32_t> bias, multiplier, shift;
  int64_t acc_offset = 0;
  bool left_shift = false;  // some multiplier > 1 (the portable path handles it)

  // kAdd: TFLite's parameters (multipliers as made by QuantizeMultiplier),
  // and y for every (a, b) pair, at [(uint8)a | (uint8)b << 8] (built by
  // BuildAddTable: one load per element instead of three multiplies).
  int32_t a_zp = 0, b_zp = 0;
  int32_t a_mult = 0, a_shift = 0, b_mult = 0, b_shift = 0, y_mult = 0, y_shift = 0;
  std::vector<int8_t> add_table;

  // kQuantize: y = saturate(round_half_even(x / scale) + zero point).
  float scale = 1.0f;

  // kDepthwise (int8_depthwise.cc): a channels-last depthwise conv (one
  // output channel per input channel, y.c of them) summed here and
  // requantized in registers with the kRequant constants. A tap outside the
  // input reads x's zero point, so the bias holds -x_zp * sum w (as for a
  // pointwise conv) and the sums equal the reference's over the inside taps.
  struct Window {
    int64_t h = 0, w = 0, oh = 0, ow = 0;  // input and output rows, columns
    int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  } win;
  int32_t x_zp = 0;
  int64_t tap_stride = 0;       // y.c rounded up to whole vectors
  std::vector<int32_t> taps;    // weights [tap][tap_stride] (zeros past y.c)
  std::vector<int8_t> zp_row;   // an input row of x_zp: what taps above or below the input read
};

// Fills stage.add_table from the kAdd parameters (the portable arithmetic).
void BuildAddTable(Int8Stage* stage);

// Computes the stage: `inputs`/`outputs` are the node's, `scratch` the kernel's.
void RunInt8Stage(const Int8Stage& stage, const void* const* inputs, void* const* outputs, void* scratch);

// Requantizes `rows` channels-last rows of s.y.c int32 sums (acc) into y, on
// the calling thread (a band of a pointwise conv, see int8_band.cc).
void RequantRows(const Int8Stage& stage, const int32_t* acc, int8_t* y, int64_t rows);

// The depthwise conv of a kDepthwise stage, x to y (int8_depthwise.cc).
void Depthwise(const Int8Stage& stage, const int8_t* x, int8_t* y);

// Whether the AVX-512 loops run on this CPU (for tests and profiling).
bool Int8UsesAvx512();
// Forces the portable loops (false) or back to the CPU's best (true); tests
// compare the two.
void SetInt8Avx512(bool allowed);

}  // namespace edgesplit::onednn
