// f32 3x3 stride-1 convs on channels-last tensors as Winograd F(4x4, 3x3)
// (AVX-512): each 4x4 block of outputs ("tile") comes from a 6x6 block of
// inputs through 36 products per channel pair instead of 144, so a dense 3x3
// does a quarter of the direct conv's multiply-adds (a third where 4 does not
// divide the image). oneDNN 2.6 runs ResNet50's 3x3s at 14x14 and 56x56 as
// its F(2x2, 3x3) (a 2.25x cut at most) and took 0.57-0.74 ms for each of
// those 115.6 M multiply-adds on one core (docs/benchmarks.md, "Own Winograd
// pass"); grouped convs (ResNeXt's 32 channels a group) it has no Winograd for.
//
// The work runs in blocks of tiles sized so that a thread's transformed
// inputs V ([36 points][tiles][channels of a group]) and one slice of output
// channels' products M ([36][tiles][16, 32 or 64 channels]) stay in its L2:
//   1. V = B^T d B for each tile and 16 channels at a time;
//   2. for each of the 36 points, M = V x U, U = G w G^T the weights
//      transformed at Prepare ([group][channel slice][point][in][out]);
//   3. y = A^T M A + bias, then the fused activation, stored where the tile
//      lies in the image.
// Numerics: every product sum runs over the group's input channels in order
// from 0, one chain of fused multiply-adds per output lane, and the
// transforms are fixed sequences of vector operations, so no output depends
// on the block size, on which thread computes it or on the batch (split and
// whole runs, 1 and 2 threads and batch N give the same bytes). Against the
// direct conv they differ by rounding, within the f32 tolerance the parity
// tests hold against PyTorch (tests/onednn_winograd_test.cc measures it).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "int8_avx512.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

constexpr int kPoints = 36;  // a 6x6 input block per 4x4 output tile
constexpr int kLanes = 16;
// A thread's V and M slabs, within Zen 5's and most server cores' 1 MiB L2.
constexpr int64_t kSlabBudgetBytes = 768 * 1024;
constexpr int64_t kL2Bytes = 896 * 1024, kMinSlabBytes = 256 * 1024;
constexpr int64_t kManyTiles = 1024;

// Where this loop beats oneDNN 2.6's kernels for the conv (its direct conv or
// its own Winograd), per conv inside the torchvision models at 1 and 2
// threads (docs/benchmarks.md, "Own Winograd pass"). It loses where:
// - the image is below 14x14 or 4 divides it badly (over 40% of the outputs
//   computed are padding: AlexNet's 13x13);
// - one group's U exceeds 10 MB (512x512 dense, 36 x 4 bytes a pair: VGG's
//   and Wide ResNet's 512-channel convs; U streams from memory while
//   oneDNN's F(2x2, 3x3) reads 16/36 of it);
// - U is read too often, once per block (VGG16's 256-channel convs at 56x56:
//   49 blocks of a 9.4 MB U);
// - groups of 16 channels (RegNet's: transforms and tiny products; 46
//   against 65 us a conv at 14x14, RegNetX-400MF 1.05x slower at 28x28 on 2
//   threads).
// A function of the node alone (`blocks`: U's reads for one image), so split
// and whole runs, any thread count and any batch take the same kernel.
bool WinogradF43Pays(int64_t out_h, int64_t out_w, int64_t groups, int64_t cg, int64_t u_bytes, int64_t blocks) {
  constexpr int64_t kMaxUBytes = 10 << 20, kMaxUTraffic = int64_t{100} << 20;
  const int64_t padded = (out_h + 3) / 4 * 4 * ((out_w + 3) / 4 * 4);
  if (out_h < 14 || out_w < 14 || padded * 10 > out_h * out_w * 14) return false;
  if (u_bytes > kMaxUBytes || u_bytes * groups * blocks > kMaxUTraffic) return false;
  return groups == 1 || cg >= 32;
}

// PrimitiveState::custom_sizes of the kernel.
enum : size_t {
  kBatch, kInH, kInW, kInC, kOutH, kOutW, kOutC, kOutStride, kOutOffset, kPadTop, kPadLeft, kGroups, kKBlock,
  kTilesPerBlock, kBlocks, kThreads, kKSplit, kActivation, kSlabFloats, kSizeCount
};
// They are the last kSizeCount entries: a conv written into its Concat's
// channels keeps the Concat's copy sizes before them (concat.cc).
// custom_constants: the activation's min, max, alpha, then the bias (output
// channels, zeros without one). custom_buffer: U.
enum : size_t { kMin, kMax, kAlpha, kParams };

ES_AVX512_BEGIN

// r = B^T d for six vectors (the input transform's rows or columns).
inline void InputRows(const __m512 d[6], __m512 r[6]) {
  const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
  r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
  r[1] = _mm512_fnmadd_ps(four, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
  r[2] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
  const __m512 d42 = _mm512_sub_ps(d[4], d[2]);
  r[3] = _mm512_fmadd_ps(two, _mm512_sub_ps(d[3], d[1]), d42);
  r[4] = _mm512_fmadd_ps(two, _mm512_sub_ps(d[1], d[3]), d42);
  r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

// o = A^T m for six vectors (four results).
inline void OutputRows(const __m512 m[6], __m512 o[4]) {
  const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), eight = _mm512_set1_ps(8.0f);
  const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
  o[1] = _mm512_fmadd_ps(two, d34, d12);
  o[2] = _mm512_fmadd_ps(four, s34, s12);
  o[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5]);
}

struct Geometry {
  int64_t in_h, in_w, in_c, out_h, out_w, out_c, pad_top, pad_left, tiles_h, tiles_w;
  int64_t out_stride;  // floats from one output pixel to the next (out_c, or a Concat's channels)
};

// V for `count` tiles from `first` (tile numbers over the batch, row-major
// in each image) and the channels [c0, c0 + cg): v[point][tile][channel].
// Each tile's 36 input pixels are found once (a pixel outside the image
// reads zeros through an empty mask, from a clamped address), then every
// 16 channels go through the transform unrolled, the loads independent of
// each other (a branch per load left each one's latency exposed).
void TransformInputs(const float* x, const Geometry& g, int64_t first, int64_t count, int64_t c0, int64_t cg, float* v) {
  const int64_t per_image = g.tiles_h * g.tiles_w, point_stride = count * cg;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, image = tile / per_image, in_image = tile % per_image;
    const int64_t iy0 = (in_image / g.tiles_w) * 4 - g.pad_top, ix0 = (in_image % g.tiles_w) * 4 - g.pad_left;
    const float* xi = x + image * g.in_h * g.in_w * g.in_c + c0;
    const float* src[kPoints];
    __mmask16 mask[kPoints];
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const bool in = iy0 + i >= 0 && iy0 + i < g.in_h && ix0 + j >= 0 && ix0 + j < g.in_w;
        src[i * 6 + j] = in ? xi + ((iy0 + i) * g.in_w + ix0 + j) * g.in_c : xi;
        mask[i * 6 + j] = in ? 0xFFFF : 0;
      }
    float* vt = v + t * cg;
    for (int64_t c = 0; c < cg; c += kLanes) {
      __m512 half[kPoints];  // B^T d, column by column
      #pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        __m512 col[6], r[6];
        #pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) col[i] = _mm512_maskz_loadu_ps(mask[i * 6 + j], src[i * 6 + j] + c);
        InputRows(col, r);
        #pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) half[i * 6 + j] = r[i];
      }
      #pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) {
        __m512 r[6];
        InputRows(half + i * 6, r);
        #pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) _mm512_storeu_ps(vt + (i * 6 + j) * point_stride + c, r[j]);
      }
    }
  }
}

// c[rows][NV * 16] = a[rows][depth] (row stride lda) x b[depth][NV * 16].
// c[rows][NV * 16] = a[rows][depth] (row stride lda) x b[depth][NV * 16]
// (row stride ldb; c's ldc). With `next` (the same columns of the following
// point's b), its lines are prefetched into L2 as b's are consumed: b
// streams from memory on its first pass (a dense 256-channel conv's U is 9.4
// MB), faster than the hardware prefetchers alone fetch it.
template <int MR, int NV>
void Product(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t depth, float* c, int64_t ldc,
             const float* next) {
  __m512 acc[MR][NV];
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < depth; ++k) {
    __m512 bv[NV];
    #pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + k * ldb + v * kLanes);
    if (next)
      #pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(next + k * ldb + v * kLanes), _MM_HINT_T1);
    #pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      #pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + v * kLanes, acc[r][v]);
}

// One point's product, c[rows][kb] = a[rows][depth] x b[depth][kb].
template <int NV>
void RowProducts(const float* a, int64_t rows, int64_t depth, const float* b, float* c, const float* next) {
  constexpr int mr = NV == 4 ? 6 : 12, kb = NV * kLanes;
  int64_t r = 0;
  for (; r + mr <= rows; r += mr, next = nullptr) Product<mr, NV>(a + r * depth, depth, b, kb, depth, c + r * kb, kb, next);
  const float* ar = a + r * depth;
  float* cr = c + r * kb;
  switch (rows - r) {
    case 0: break;
    case 1: Product<1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 2: Product<2, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 3: Product<3, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 4: Product<4, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 5: Product<5, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 6: Product<6 < mr ? 6 : 1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 7: Product<7 < mr ? 7 : 1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 8: Product<8 < mr ? 8 : 1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 9: Product<9 < mr ? 9 : 1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    case 10: Product<10 < mr ? 10 : 1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
    default: Product<11 < mr ? 11 : 1, NV>(ar, depth, b, kb, depth, cr, kb, next); break;
  }
}

void PointProduct(const float* a, int64_t rows, int64_t depth, const float* b, int64_t kb, float* c, const float* next) {
  if (kb == 64) RowProducts<4>(a, rows, depth, b, c, next);
  else if (kb == 32) RowProducts<2>(a, rows, depth, b, c, next);
  else RowProducts<1>(a, rows, depth, b, c, next);
}

inline __m512 Activate(__m512 v, ActivationKind kind, const float* p) {
  switch (kind) {
    case ActivationKind::kNone:
      return v;
    case ActivationKind::kRelu:
      return _mm512_max_ps(v, _mm512_setzero_ps());
    case ActivationKind::kLeakyRelu:
      return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LE_OQ), v, _mm512_set1_ps(p[kAlpha]));
    case ActivationKind::kClip:
      return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(p[kMin])), _mm512_set1_ps(p[kMax]));
  }
  return v;
}

// y = A^T M A + bias for `count` tiles and the output channels [k0, k0 + kb).
void TransformOutputs(const float* m, const Geometry& g, int64_t first, int64_t count, int64_t k0, int64_t kb,
                      const float* bias, ActivationKind kind, const float* params, float* y) {
  const int64_t per_image = g.tiles_h * g.tiles_w, point_stride = count * kb;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, image = tile / per_image, in_image = tile % per_image;
    const int64_t oy0 = (in_image / g.tiles_w) * 4, ox0 = (in_image % g.tiles_w) * 4;
    const int64_t rows = std::min<int64_t>(4, g.out_h - oy0), cols = std::min<int64_t>(4, g.out_w - ox0);
    float* yt = y + image * g.out_h * g.out_w * g.out_stride + (oy0 * g.out_w + ox0) * g.out_stride + k0;
    const float* mt = m + t * kb;
    for (int64_t c = 0; c < kb; c += kLanes) {
      __m512 half[4][6];  // A^T M
      #pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        __m512 col[6], o[4];
        #pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) col[i] = _mm512_loadu_ps(mt + (i * 6 + j) * point_stride + c);
        OutputRows(col, o);
        #pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) half[i][j] = o[i];
      }
      const __m512 b = _mm512_loadu_ps(bias + k0 + c);
      if (rows == 4 && cols == 4) {  // inside the image: every store, unrolled
        #pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
          __m512 o[4];
          OutputRows(half[i], o);
          #pragma GCC unroll 4
          for (int j = 0; j < 4; ++j)
            _mm512_storeu_ps(yt + (i * g.out_w + j) * g.out_stride + c, Activate(_mm512_add_ps(o[j], b), kind, params));
        }
      } else {
        for (int64_t i = 0; i < rows; ++i) {
          __m512 o[4];
          OutputRows(half[i], o);
          for (int64_t j = 0; j < cols; ++j)
            _mm512_storeu_ps(yt + (i * g.out_w + j) * g.out_stride + c, Activate(_mm512_add_ps(o[j], b), kind, params));
        }
      }
    }
  }
}

void RunWinograd(const PrimitiveState& st, const void* const* inputs, void* const* outputs, void* scratch) {
  const int64_t* s = st.custom_sizes.data() + st.custom_sizes.size() - kSizeCount;
  const Geometry geo{s[kInH], s[kInW], s[kInC], s[kOutH], s[kOutW], s[kOutC], s[kPadTop], s[kPadLeft],
                     (s[kOutH] + 3) / 4, (s[kOutW] + 3) / 4, s[kOutStride]};
  const int64_t groups = s[kGroups], cg = geo.in_c / groups, kg = geo.out_c / groups, kb = s[kKBlock];
  const int64_t tiles = s[kBatch] * geo.tiles_h * geo.tiles_w, per_block = s[kTilesPerBlock];
  const int64_t blocks = s[kBlocks], slices = kg / kb, split = s[kKSplit];
  const int64_t items = blocks * groups * split, slab = s[kSlabFloats];
  const auto kind = static_cast<ActivationKind>(s[kActivation]);
  const float* params = st.custom_constants.data();
  const float* bias = params + kParams;
  const float* u = st.custom_buffer.get();
  const float* x = static_cast<const float*>(inputs[0]);
  float* y = static_cast<float*>(outputs[0]) + s[kOutOffset];
  const int threads = static_cast<int>(std::min<int64_t>({omp_get_max_threads(), s[kThreads], items}));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* v = static_cast<float*>(scratch) + omp_get_thread_num() * slab;
    float* m = v + kPoints * per_block * cg;
    int64_t transformed = -1;  // the (block, group) whose inputs v holds
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t part = item % split, group = (item / split) % groups, block = item / (split * groups);
      const int64_t first = block * tiles / blocks, count = (block + 1) * tiles / blocks - first;
      if (transformed != item / split) TransformInputs(x, geo, first, count, group * cg, cg, v);
      transformed = item / split;
      for (int64_t slice = part * slices / split; slice < (part + 1) * slices / split; ++slice) {
        const float* us = u + (group * slices + slice) * kPoints * cg * kb;
        for (int p = 0; p < kPoints; ++p) {
          const float* a = v + p * count * cg;
          const float* b = us + p * cg * kb;
          float* c = m + p * count * kb;
          const float* next = p + 1 < kPoints ? b + cg * kb : nullptr;
          PointProduct(a, count, cg, b, kb, c, next);
        }
        TransformOutputs(m, geo, first, count, group * kg + slice * kb, kb, bias, kind, params, y);
      }
    }
  }
}

ES_AVX512_END

// G w G^T for one 3x3 kernel, in double: U's 36 points.
void TransformWeights(const float* w, double u[kPoints]) {
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  double gw[6][3];
  for (int i = 0; i < 6; ++i)
    for (int b = 0; b < 3; ++b) gw[i][b] = G[i][0] * w[b] + G[i][1] * w[3 + b] + G[i][2] * w[6 + b];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) u[i * 6 + j] = gw[i][0] * G[j][0] + gw[i][1] * G[j][1] + gw[i][2] * G[j][2];
}

// What the loop needs of a conv it takes: false for any conv it does not
// (WinogradF43Pays, or a shape, layout or type it has no code for).
struct Plan {
  int64_t groups, cg, kg, kb, pad_top, pad_left, tiles_per_image, max_per_block;
};

bool PlanFor(const Graph& g, const Node& n, const PreparedKernel& k, Plan* plan) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  // EDGESPLIT_WINOGRAD=off leaves every conv to oneDNN (the before/after of
  // docs/benchmarks.md; a process-wide switch, read once).
  static const bool off = [] {
    const char* v = std::getenv("EDGESPLIT_WINOGRAD");
    return v != nullptr && std::strcmp(v, "off") == 0;
  }();
  if (off || !Int8UsesAvx512() || x.dtype != DType::kFloat32 || y.dtype != DType::kFloat32 || x.rank != 4 || y.rank != 4 ||
      x.layout != TensorLayout::kChannelsLast || y.layout != TensorLayout::kChannelsLast)
    return false;
  const Tensor& w = g.tensors[n.inputs[1]];
  if (w.dtype != DType::kFloat32 || w.shape.size() != 4 || w.shape[2] != 3 || w.shape[3] != 3) return false;
  const int64_t groups = n.GetInt("group", 1), c = x.dims[1], m = y.dims[1];
  if (groups < 1 || c % groups != 0 || m % groups != 0) return false;
  const int64_t cg = c / groups, kg = m / groups;
  if (cg % kLanes != 0 || kg % kLanes != 0 || w.shape[1] != cg || w.shape[0] != m) return false;
  const std::vector<int64_t> strides = n.GetInts("strides"), dilations = n.GetInts("dilations"), pads = n.GetInts("pads");
  for (int64_t v : strides)
    if (v != 1) return false;
  for (int64_t v : dilations)
    if (v != 1) return false;
  if (!pads.empty() && pads.size() != 4) return false;
  for (int64_t v : pads)
    if (v < 0 || v > 2) return false;
  const int64_t pad_top = pads.empty() ? 0 : pads[0], pad_left = pads.empty() ? 0 : pads[1];
  if (y.dims[0] != x.dims[0] || y.dims[2] != x.dims[2] + pad_top + (pads.empty() ? 0 : pads[2]) - 2 ||
      y.dims[3] != x.dims[3] + pad_left + (pads.empty() ? 0 : pads[3]) - 2)
    return false;
  if (n.HasInput(2) && g.tensors[n.inputs[2]].dtype != DType::kFloat32) return false;

  const int64_t kb = kg % 64 == 0 ? 64 : kg % 32 == 0 ? 32 : 16;
  const int64_t tiles_per_image = ((y.dims[2] + 3) / 4) * ((y.dims[3] + 3) / 4);
  const int64_t per_tile_bytes = kPoints * (cg + kb) * 4, u_bytes = kPoints * cg * kg * 4;  // one group's U
  // Large images with a small U: blocks sized to leave U its room in L2 (it
  // is read once per block: VGG16's 64-channel 224x224 conv reads it 112
  // times at the default size, 8.1 against 9.6 ms, 1 thread). Sizes and the
  // rule follow from one image, so a batch takes the kernel one image does.
  const int64_t budget =
      tiles_per_image > kManyTiles && u_bytes < kL2Bytes - kMinSlabBytes ? kL2Bytes - u_bytes : kSlabBudgetBytes;
  const int64_t max_per_block = std::max<int64_t>(1, budget / per_tile_bytes);
  if (!WinogradF43Pays(y.dims[2], y.dims[3], groups, cg, u_bytes, (tiles_per_image + max_per_block - 1) / max_per_block))
    return false;
  *plan = Plan{groups, cg, kg, kb, pad_top, pad_left, tiles_per_image, max_per_block};
  return true;
}

}  // namespace

bool WinogradRuns(const Graph& g, const Node& n, const PreparedKernel& k) {
  Plan plan;
  return PlanFor(g, n, k, &plan);
}

bool BuildWinograd(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st, int64_t y_channel,
                   int64_t y_pixel_floats) {
  Plan plan;
  if (!PlanFor(g, n, k, &plan)) return false;
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  const Tensor& w = g.tensors[n.inputs[1]];
  const bool has_bias = n.HasInput(2);
  const int64_t groups = plan.groups, cg = plan.cg, kg = plan.kg, kb = plan.kb, m = y.dims[1], batch = x.dims[0];
  const int64_t slices = kg / kb, tiles = batch * plan.tiles_per_image, max_per_block = plan.max_per_block;
  const int64_t per_tile_floats = kPoints * (cg + kb);
  const int threads = std::max(1, omp_get_max_threads());
  int64_t blocks = (tiles + max_per_block - 1) / max_per_block;
  if (blocks > 1 && groups == 1) blocks = (blocks + threads - 1) / threads * threads;  // no thread left idle at the end
  blocks = std::min(blocks, tiles);
  const int64_t per_block = (tiles + blocks - 1) / blocks;
  // A thread's consecutive items share the block's inputs (transformed once).
  const int64_t split = threads > 1 && blocks * groups < 2 * threads
                            ? std::min<int64_t>(slices, (4 * threads + blocks * groups - 1) / (blocks * groups))
                            : 1;

  // U: [group][slice][point][input channel][kb output channels].
  const size_t u_floats = static_cast<size_t>(kPoints * cg * m);
  st->custom_buffer.reset(static_cast<float*>(std::aligned_alloc(64, (u_floats * 4 + 63) / 64 * 64)));
  if (!st->custom_buffer) throw std::bad_alloc();
  float* u = st->custom_buffer.get();
  const float* wsrc = reinterpret_cast<const float*>(w.bytes());
  for (int64_t oc = 0; oc < m; ++oc) {
    const int64_t group = oc / kg, slice = (oc % kg) / kb, lane = oc % kb;
    float* to = u + (group * slices + slice) * kPoints * cg * kb + lane;
    for (int64_t ic = 0; ic < cg; ++ic) {
      double t[kPoints];
      TransformWeights(wsrc + (oc * cg + ic) * 9, t);
      for (int p = 0; p < kPoints; ++p) to[(p * cg + ic) * kb] = static_cast<float>(t[p]);
    }
  }
  std::vector<float>& params = st->custom_constants;
  params.assign(kParams + m, 0.0f);
  params[kMin] = n.activation.min;
  params[kMax] = n.activation.max;
  params[kAlpha] = n.activation.alpha;
  if (has_bias) std::memcpy(params.data() + kParams, g.tensors[n.inputs[2]].bytes(), static_cast<size_t>(m) * 4);
  const int64_t slab = (per_tile_floats * per_block + 15) / 16 * 16;  // 64-byte steps between threads' slabs
  st->custom_sizes.resize(st->custom_sizes.size() + kSizeCount, 0);
  int64_t* s = st->custom_sizes.data() + st->custom_sizes.size() - kSizeCount;
  s[kBatch] = batch;
  s[kInH] = x.dims[2];
  s[kInW] = x.dims[3];
  s[kInC] = x.dims[1];
  s[kOutH] = y.dims[2];
  s[kOutW] = y.dims[3];
  s[kOutC] = m;
  s[kOutStride] = y_pixel_floats > 0 ? y_pixel_floats : m;
  s[kOutOffset] = y_channel;
  s[kPadTop] = plan.pad_top;
  s[kPadLeft] = plan.pad_left;
  s[kGroups] = groups;
  s[kKBlock] = kb;
  s[kTilesPerBlock] = per_block;
  s[kBlocks] = blocks;
  s[kThreads] = threads;
  s[kKSplit] = split;
  s[kActivation] = static_cast<int64_t>(n.activation.kind);
  s[kSlabFloats] = slab;
  st->scratchpad_bytes = threads * slab * 4;
  st->custom = RunWinograd;
  st->implementation = "edgesplit winograd F(4x4,3x3)";
  return true;
}

}  // namespace edgesplit::onednn
