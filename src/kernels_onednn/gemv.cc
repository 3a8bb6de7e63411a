// An f32 Gemm / MatMul with constant weights and few rows (a classifier at
// batch 1..kStreamingGemmMaxRows): memory-bound, since each weight is used
// once per input row. oneDNN 2.6's inner product streamed AlexNet's 234 MB of
// classifier weights at 38 GB/s on 2 threads, ONNX Runtime at 48
// (docs/benchmarks.md). This loop reads every weight exactly once for all
// rows: the weights are packed at Prepare into panels of kPanel output
// features, 16 inputs of each feature after another ([panel][block of 16
// inputs][feature][16], zero-padded), on 2 MiB pages, so each thread streams
// one contiguous run of panels (the threads split the panels); each input
// vector loaded serves kPanel features and each weight vector every row.
// Above 8 rows the loop turns FMA-bound and oneDNN's blocked GEMM is the
// faster (docs/benchmarks.md, "Weight-streaming Gemm pass").
//
// Numerics: every output is 16 lane sums, each a chain of fused multiply-adds
// in input order starting from 0, reduced in one fixed tree, then + bias and
// the fused activation. Nothing in that depends on the number of rows, on
// which rows share a pass or on the thread split, so a batch of N gives each
// image the bytes it gets alone (tests/onednn_gemv_test.cc).
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "int8_avx512.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

constexpr int kPanel = 3;     // output features streamed together
constexpr int kLanes = 16;    // inputs per block (one AVX-512 vector)
constexpr int kMaxGroup = 8;  // rows per pass: kPanel * kMaxGroup accumulators fit the 32 registers
// Software prefetch this far ahead in the stream: at 4+ rows the loop's own
// work leaves the hardware prefetchers behind (batch 8: 4.2 against 6.0 ms
// on AlexNet's first Gemm at 2 threads); neutral at 1 and 2 rows.
constexpr int kPrefetchBytes = 4096;

// PrimitiveState::custom_sizes of the kernel.
enum : size_t { kRows, kCols, kDepth, kBlocks, kBiasAt, kActivation, kSizeCount };
// custom_constants: the activation's min, max, alpha, then the bias (cols
// floats, when present). custom_buffer: the packed weights.
enum : size_t { kMin, kMax, kAlpha, kParams };

float Activate(float v, ActivationKind kind, const float* p) {
  switch (kind) {
    case ActivationKind::kNone:
      return v;
    case ActivationKind::kRelu:
      return v > 0.0f ? v : 0.0f;
    case ActivationKind::kLeakyRelu:
      return v > 0.0f ? v : v * p[kAlpha];
    case ActivationKind::kClip:
      return std::min(std::max(v, p[kMin]), p[kMax]);
  }
  return v;
}

ES_AVX512_BEGIN
// The sums of G rows of x (row stride `depth`) with one panel `w`: full
// blocks, then a masked one when depth % 16 != 0 (the panel's padding is 0).
template <int G>
void PanelSums(const float* w, int64_t full, __mmask16 tail, const float* x, int64_t depth, float* sums) {
  __m512 acc[G][kPanel];
  #pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
    #pragma GCC unroll 8
    for (int r = 0; r < kPanel; ++r) acc[g][r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < full; ++b) {
    const float* wb = w + b * kPanel * kLanes;
    __m512 wv[kPanel];
    #pragma GCC unroll 8
    for (int r = 0; r < kPanel; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(wb + r * kLanes) + kPrefetchBytes, _MM_HINT_T0);
      wv[r] = _mm512_load_ps(wb + r * kLanes);
    }
    #pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m512 xv = _mm512_loadu_ps(x + g * depth + b * kLanes);
      #pragma GCC unroll 8
      for (int r = 0; r < kPanel; ++r) acc[g][r] = _mm512_fmadd_ps(wv[r], xv, acc[g][r]);
    }
  }
  if (tail) {
    const float* wb = w + full * kPanel * kLanes;
    __m512 wv[kPanel];
    #pragma GCC unroll 8
    for (int r = 0; r < kPanel; ++r) wv[r] = _mm512_load_ps(wb + r * kLanes);
    #pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m512 xv = _mm512_maskz_loadu_ps(tail, x + g * depth + full * kLanes);
      #pragma GCC unroll 8
      for (int r = 0; r < kPanel; ++r) acc[g][r] = _mm512_fmadd_ps(wv[r], xv, acc[g][r]);
    }
  }
  #pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
    #pragma GCC unroll 8
    for (int r = 0; r < kPanel; ++r) sums[g * kPanel + r] = _mm512_reduce_add_ps(acc[g][r]);
}

void RunStreamingGemm(const PrimitiveState& st, const void* const* inputs, void* const* outputs, void* /*scratch*/) {
  const int64_t* s = st.custom_sizes.data();
  const int64_t rows = s[kRows], cols = s[kCols], depth = s[kDepth], blocks = s[kBlocks];
  const float* params = st.custom_constants.data();
  const float* w = st.custom_buffer.get();
  const float* bias = s[kBiasAt] >= 0 ? params + s[kBiasAt] : nullptr;
  const auto kind = static_cast<ActivationKind>(s[kActivation]);
  const float* x = static_cast<const float*>(inputs[0]);
  float* y = static_cast<float*>(outputs[0]);
  const int64_t full = depth / kLanes;
  const __mmask16 tail = static_cast<__mmask16>((1u << (depth % kLanes)) - 1);
  const int64_t panels = (cols + kPanel - 1) / kPanel;
  const int64_t passes = (rows + kMaxGroup - 1) / kMaxGroup;
  // Runs of panels handed out as threads come free (8 per thread): a thread
  // that loses its core to another process (a loaded machine) leaves its
  // share to the others instead of holding up the whole pass; each run is
  // still one contiguous stream, and which thread computes a panel changes no bit.
  const int64_t run = std::max<int64_t>(1, panels / (8 * static_cast<int64_t>(omp_get_max_threads())));
#pragma omp parallel for schedule(dynamic, run) if (!st.serial)
  for (int64_t p = 0; p < panels; ++p) {
    const float* wp = w + p * blocks * kPanel * kLanes;
    const int64_t j0 = p * kPanel, n = std::min<int64_t>(kPanel, cols - j0);
    for (int64_t i = 0, m0 = 0; i < passes; ++i) {
      const int64_t g = (rows - m0) / (passes - i);  // balanced passes (one up to kMaxGroup rows)
      float sums[kMaxGroup * kPanel];
      const float* xm = x + m0 * depth;
      switch (g) {
        case 1: PanelSums<1>(wp, full, tail, xm, depth, sums); break;
        case 2: PanelSums<2>(wp, full, tail, xm, depth, sums); break;
        case 3: PanelSums<3>(wp, full, tail, xm, depth, sums); break;
        case 4: PanelSums<4>(wp, full, tail, xm, depth, sums); break;
        case 5: PanelSums<5>(wp, full, tail, xm, depth, sums); break;
        case 6: PanelSums<6>(wp, full, tail, xm, depth, sums); break;
        case 7: PanelSums<7>(wp, full, tail, xm, depth, sums); break;
        default: PanelSums<8>(wp, full, tail, xm, depth, sums); break;
      }
      for (int64_t m = 0; m < g; ++m)
        for (int64_t r = 0; r < n; ++r) {
          const float v = sums[m * kPanel + r];
          y[(m0 + m) * cols + j0 + r] = Activate(bias ? v + bias[j0 + r] : v, kind, params);
        }
      m0 += g;
    }
  }
}
ES_AVX512_END

}  // namespace

bool BuildStreamingGemm(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  if (!Int8UsesAvx512() || x.dtype != DType::kFloat32 || y.dtype != DType::kFloat32 || x.rank != 2 || y.rank != 2) return false;
  const int64_t rows = y.dims[0], cols = y.dims[1], depth = x.dims[1];
  if (rows < 1 || rows > kStreamingGemmMaxRows || cols < 1 || depth < 1) return false;
  const Tensor& b = g.tensors[n.inputs[1]];
  if (b.dtype != DType::kFloat32) return false;
  const bool trans_b = n.op == OpType::kGemm && n.GetInt("transB", 0) != 0;
  const bool has_bias = n.op == OpType::kGemm && n.HasInput(2);
  if (has_bias && g.tensors[n.inputs[2]].dtype != DType::kFloat32) return false;
  const int64_t blocks = (depth + kLanes - 1) / kLanes, panels = (cols + kPanel - 1) / kPanel;
  // The packed weights on 2 MiB pages where the kernel grants them (advised
  // before the first touch): the stream then crosses no 4 KiB page boundary,
  // where the hardware prefetchers stop, and needs 512x fewer TLB entries.
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t bytes = static_cast<size_t>(panels * blocks * kPanel * kLanes) * sizeof(float);
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  st->custom_buffer.reset(static_cast<float*>(std::aligned_alloc(kHuge, rounded)));
  if (!st->custom_buffer) throw std::bad_alloc();
  float* packed = st->custom_buffer.get();
  madvise(packed, rounded, MADV_HUGEPAGE);  // advice only: 4 KiB pages when refused
  std::memset(packed, 0, bytes);  // the padding (features past cols, inputs past depth) adds 0
  std::vector<float>& c = st->custom_constants;
  c.assign(kParams + (has_bias ? cols : 0), 0.0f);
  c[kMin] = n.activation.min;
  c[kMax] = n.activation.max;
  c[kAlpha] = n.activation.alpha;
  if (has_bias) std::memcpy(c.data() + kParams, g.tensors[n.inputs[2]].bytes(), static_cast<size_t>(cols) * 4);
  const float* src = reinterpret_cast<const float*>(b.bytes());
  for (int64_t j = 0; j < cols; ++j) {
    float* to = packed + (j / kPanel) * blocks * kPanel * kLanes + (j % kPanel) * kLanes;
    for (int64_t d = 0; d < depth; ++d)  // B is [cols, depth] with transB, else [depth, cols]
      to[(d / kLanes) * kPanel * kLanes + d % kLanes] = trans_b ? src[j * depth + d] : src[d * cols + j];
  }
  st->custom_sizes.assign(kSizeCount, 0);
  st->custom_sizes[kRows] = rows;
  st->custom_sizes[kCols] = cols;
  st->custom_sizes[kDepth] = depth;
  st->custom_sizes[kBlocks] = blocks;
  st->custom_sizes[kBiasAt] = has_bias ? static_cast<int64_t>(kParams) : -1;
  st->custom_sizes[kActivation] = static_cast<int64_t>(n.activation.kind);
  st->custom = RunStreamingGemm;
  st->implementation = "edgesplit streaming gemm";
  return true;
}

}  // namespace edgesplit::onednn
