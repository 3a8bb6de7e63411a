// ShuffleNetV2's channel shuffle and split (issue 14): each block ends in
// Concat -> Reshape [N,G,C/G,H,W] -> Transpose(0,2,1,3,4) -> Reshape [N,C,H,W]
// and the next block starts with two channel Slices of that. Run one by one
// they are five passes over the block's activations, and the Reshapes and
// Slices on the reference kernels also force row-major layouts on every conv
// around them. Here:
// - a channel-group Reshape (4-D <-> 5-D) and a channel Slice run natively as
//   oneDNN reorders (kReorder), so the 4-D tensors around them stay
//   channels-last (the 5-D ones are row-major: the Transpose between them
//   stays on the reference kernel);
// - the whole pattern, with or without the Slices after it, is one fused
//   group: a permutation of channels that writes each output straight from
//   the Concat's inputs (channels-last: two inputs interleaved per pixel).
// A permutation moves bytes, so the group gives the unfused nodes' bytes.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "int8_avx512.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

using dnnl::memory;

bool IsF32Activation(const Graph& g, int t) {
  return t != kNoTensor && !g.tensors[t].is_constant && g.tensors[t].dtype == DType::kFloat32;
}

// A Reshape between [N, C, H, W] and [N, a, b, H, W] with a * b = C (either way).
bool IsChannelGroupReshape(const Graph& g, const Node& n) {
  const Shape& x = g.tensors[n.inputs[0]].shape;
  const Shape& y = g.tensors[n.outputs[0]].shape;
  const Shape& four = x.size() == 4 ? x : y;
  const Shape& five = x.size() == 4 ? y : x;
  return four.size() == 4 && five.size() == 5 && five[0] == four[0] && five[1] * five[2] == four[1] &&
         five[3] == four[2] && five[4] == four[3];
}

// A Slice of a 4-D tensor that narrows the channels alone (step 1): its first
// channel and count.
bool ChannelRange(const Graph& g, const Node& n, int64_t* first, int64_t* count) {
  const Shape& x = g.tensors[n.inputs[0]].shape;
  if (x.size() != 4 || g.tensors[n.outputs[0]].shape.size() != 4) return false;
  const Result<SliceBounds> b = ResolveSlice(g, n);
  if (!b.ok() || b->starts.size() != 4 || b->steps.size() != 4 || b->counts.size() != 4) return false;
  for (size_t i = 0; i < 4; ++i) {
    if (b->steps[i] != 1) return false;
    if (i != 1 && (b->starts[i] != 0 || b->counts[i] != x[i])) return false;
  }
  *first = b->starts[1];
  *count = b->counts[1];
  return *count > 0;
}

bool HasPerm(const Node& n, const std::vector<int64_t>& perm) { return n.GetInts("perm") == perm; }

// Which channel of which Concat input each output channel of a fused shuffle
// is, and how the outputs run (see RunShuffle). custom_sizes: [pixels, plane,
// channels_last, inputs, outputs, channels of each input..., then per output:
// channels, interleave start (-1: by the table), then (input, channel) per
// channel of each output].
struct ShuffleView {
  const std::vector<int64_t>& s;
  int64_t pixels() const { return s[0]; }
  int64_t plane() const { return s[1]; }
  bool channels_last() const { return s[2] != 0; }
  int64_t inputs() const { return s[3]; }
  int64_t outputs() const { return s[4]; }
  int64_t in_channels(int64_t j) const { return s[5 + j]; }
  int64_t out_channels(int64_t o) const { return s[5 + inputs() + 2 * o]; }
  int64_t interleave(int64_t o) const { return s[6 + inputs() + 2 * o]; }
  const int64_t* table() const { return s.data() + 5 + inputs() + 2 * outputs(); }
};

// y[2i] = a[i], y[2i + 1] = b[i] for i < n.
void InterleaveScalar(const float* a, const float* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    y[2 * i] = a[i];
    y[2 * i + 1] = b[i];
  }
}

ES_AVX512_BEGIN
void InterleaveAvx512(const float* a, const float* b, int64_t n, float* y) {
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 va = _mm512_loadu_ps(a + i), vb = _mm512_loadu_ps(b + i);
    _mm512_storeu_ps(y + 2 * i, _mm512_permutex2var_ps(va, lo, vb));
    _mm512_storeu_ps(y + 2 * i + 16, _mm512_permutex2var_ps(va, hi, vb));
  }
  const int64_t r = n - i;  // 0..15 left: 2r floats to store
  if (r == 0) return;
  const __mmask16 in = static_cast<__mmask16>((1u << r) - 1);
  const __m512 va = _mm512_maskz_loadu_ps(in, a + i), vb = _mm512_maskz_loadu_ps(in, b + i);
  const int64_t first = 2 * r < 16 ? 2 * r : 16, second = 2 * r - first;
  _mm512_mask_storeu_ps(y + 2 * i, static_cast<__mmask16>((1u << first) - 1), _mm512_permutex2var_ps(va, lo, vb));
  if (second > 0)
    _mm512_mask_storeu_ps(y + 2 * i + 16, static_cast<__mmask16>((1u << second) - 1), _mm512_permutex2var_ps(va, hi, vb));
}
ES_AVX512_END

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") != 0;
  return has;
}

constexpr int kMaxShuffleInputs = 8;

// The fused shuffle. Channels-last: per pixel, each output's channels from
// the inputs' (two inputs interleaved where the table is that pattern).
// Row-major: each output channel's plane copied from its input channel's.
void RunShuffle(const PrimitiveState& st, const void* const* inputs, void* const* outputs, void* /*scratch*/) {
  const ShuffleView v{st.custom_sizes};
  const float* in[kMaxShuffleInputs];
  for (int64_t j = 0; j < v.inputs(); ++j) in[j] = static_cast<const float*>(inputs[j]);
  if (!v.channels_last()) {
    const int64_t images = v.pixels() / v.plane(), plane_bytes = v.plane() * 4;
    for (int64_t o = 0, row = 0; o < v.outputs(); row += v.out_channels(o), ++o) {
      const int64_t c_out = v.out_channels(o);
      float* y = static_cast<float*>(outputs[o]);
#pragma omp parallel for schedule(static) collapse(2) if (!st.serial)
      for (int64_t n = 0; n < images; ++n)
        for (int64_t m = 0; m < c_out; ++m) {
          const int64_t* at = v.table() + 2 * (row + m);
          std::memcpy(y + (n * c_out + m) * v.plane(), in[at[0]] + (n * v.in_channels(at[0]) + at[1]) * v.plane(),
                      static_cast<size_t>(plane_bytes));
        }
    }
    return;
  }
  const bool avx512 = HasAvx512();
#pragma omp parallel for schedule(static) if (!st.serial)
  for (int64_t p = 0; p < v.pixels(); ++p) {
    const int64_t* at = v.table();
    for (int64_t o = 0; o < v.outputs(); ++o) {
      const int64_t c_out = v.out_channels(o), start = v.interleave(o);
      float* y = static_cast<float*>(outputs[o]) + p * c_out;
      if (start >= 0) {
        const float* a = in[0] + p * v.in_channels(0) + start;
        const float* b = in[1] + p * v.in_channels(1) + start;
        if (avx512) InterleaveAvx512(a, b, c_out / 2, y);
        else InterleaveScalar(a, b, c_out / 2, y);
      } else {
        for (int64_t m = 0; m < c_out; ++m) y[m] = in[at[2 * m]][p * v.in_channels(at[2 * m]) + at[2 * m + 1]];
      }
      at += 2 * c_out;
    }
  }
}

}  // namespace

NativeKind ClassifyShape(const Graph& g, const Node& n) {
  if (n.outputs.size() != 1 || n.activation.kind != ActivationKind::kNone || !IsF32Activation(g, n.inputs[0]) ||
      g.tensors[n.outputs[0]].dtype != DType::kFloat32)
    return NativeKind::kNone;
  int64_t first = 0, count = 0;
  if (n.op == OpType::kReshape) return IsChannelGroupReshape(g, n) ? NativeKind::kReorder : NativeKind::kNone;
  if (n.op == OpType::kSlice) return ChannelRange(g, n, &first, &count) ? NativeKind::kReorder : NativeKind::kNone;
  return NativeKind::kNone;
}

void BuildReorder(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  memory::desc from, to;
  if (n.op == OpType::kSlice) {
    int64_t first = 0, count = 0;
    if (!ChannelRange(g, n, &first, &count)) throw dnnl::error(dnnl_unimplemented, "not a channel slice");
    from = ActivationDesc(x).submemory_desc({x.dims[0], count, x.dims[2], x.dims[3]}, {0, first, 0, 0});
    to = ActivationDesc(y);
  } else {
    // The 5-D side's bytes are the row-major bytes of the 4-D shape.
    const bool to_five = x.rank == 4;
    TensorDesc plain = to_five ? x : y;
    plain.layout = TensorLayout::kRowMajor;
    from = ActivationDesc(to_five ? x : plain);
    to = ActivationDesc(to_five ? plain : y);
  }
  BuildReorderBetween(from, to, st);
}

void BuildReorderBetween(const memory::desc& from, const memory::desc& to, PrimitiveState* st) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::reorder::primitive_desc pd(Engine(), from, Engine(), to, attr);
  st->BindAtEval(DNNL_ARG_FROM, from, ArgSource::kInput, 0, Engine());
  st->BindAtEval(DNNL_ARG_TO, to, ArgSource::kOutput, 0, Engine());
  st->primitive = dnnl::reorder(pd);
  st->Finish(pd, Engine());
}

bool MatchShuffle(const Graph& g, int first, int count) {
  if (count != 4 && count != 6) return false;
  const Node& cat = g.nodes[first];
  const Node& split = g.nodes[first + 1];
  const Node& perm = g.nodes[first + 2];
  const Node& join = g.nodes[first + 3];
  if (cat.op != OpType::kConcat || Classify(g, first) != NativeKind::kConcat || cat.GetInt("axis", 0) != 1 ||
      cat.inputs.size() > static_cast<size_t>(kMaxShuffleInputs) || g.tensors[cat.outputs[0]].dtype != DType::kFloat32 ||
      g.tensors[cat.outputs[0]].shape.size() != 4)
    return false;
  if (split.op != OpType::kReshape || Classify(g, first + 1) != NativeKind::kReorder || split.inputs[0] != cat.outputs[0] ||
      g.tensors[split.outputs[0]].shape.size() != 5)
    return false;
  if (perm.op != OpType::kTranspose || perm.inputs.size() != 1 || perm.outputs.size() != 1 || perm.inputs[0] != split.outputs[0] ||
      perm.activation.kind != ActivationKind::kNone || !HasPerm(perm, {0, 2, 1, 3, 4}))
    return false;
  if (join.op != OpType::kReshape || Classify(g, first + 3) != NativeKind::kReorder || join.inputs[0] != perm.outputs[0] ||
      g.tensors[join.outputs[0]].shape != g.tensors[cat.outputs[0]].shape)
    return false;
  std::vector<int> outer(cat.inputs.begin(), cat.inputs.end());
  if (count == 4) outer.push_back(join.outputs[0]);
  for (int s = first + 4; s < first + count; ++s) {
    const Node& slice = g.nodes[s];
    if (slice.op != OpType::kSlice || Classify(g, s) != NativeKind::kReorder || slice.inputs[0] != join.outputs[0]) return false;
    outer.push_back(slice.outputs[0]);
  }
  const bool last = KeepChannelsLast(g, outer[0]);
  for (int t : outer)
    if (g.tensors[t].dtype != DType::kFloat32 || KeepChannelsLast(g, t) != last) return false;
  return true;
}

void BuildShuffle(const Graph& g, int first, int count, const PreparedKernel& k, PrimitiveState* st) {
  const Node& cat = g.nodes[first];
  const Shape& shape = g.tensors[cat.outputs[0]].shape;
  const int64_t c = shape[1], groups = g.tensors[g.nodes[first + 1].outputs[0]].shape[1], per_group = c / groups;
  // Concat channel of each channel of the shuffled tensor: k = i * groups + j reads j * per_group + i.
  std::vector<int64_t> input_of(static_cast<size_t>(c)), channel_of(static_cast<size_t>(c));
  for (int64_t j = 0, at = 0; j < static_cast<int64_t>(cat.inputs.size()); ++j) {
    const int64_t cj = g.tensors[cat.inputs[j]].shape[1];
    for (int64_t m = 0; m < cj; ++m, ++at) {
      const int64_t shuffled = (at % per_group) * groups + at / per_group;
      input_of[shuffled] = j;
      channel_of[shuffled] = m;
    }
  }
  // The outputs' channel ranges of the shuffled tensor (FusedTensors' order).
  std::vector<std::pair<int64_t, int64_t>> ranges;
  if (count == 4) ranges.push_back({0, c});
  for (int s = first + 4; s < first + count; ++s) {
    int64_t from = 0, n = 0;
    if (!ChannelRange(g, g.nodes[s], &from, &n)) throw dnnl::error(dnnl_unimplemented, "not a channel slice");
    ranges.push_back({from, n});
  }
  if (k.outputs.size() != ranges.size()) throw dnnl::error(dnnl_unimplemented, "the group's outputs are not its slices");
  const bool channels_last = k.outputs[0].layout == TensorLayout::kChannelsLast;
  std::vector<int64_t>& s = st->custom_sizes;
  s = {shape[0] * shape[2] * shape[3], shape[2] * shape[3], channels_last ? 1 : 0,
       static_cast<int64_t>(cat.inputs.size()), static_cast<int64_t>(ranges.size())};
  for (int t : cat.inputs) s.push_back(g.tensors[t].shape[1]);
  // Two inputs of per_group channels each, two groups: an even run of
  // shuffled channels from an even start interleaves the inputs from start / 2.
  const bool pairs = cat.inputs.size() == 2 && groups == 2 && g.tensors[cat.inputs[0]].shape[1] == per_group;
  for (const auto& [from, n] : ranges) {
    s.push_back(n);
    s.push_back(pairs && from % 2 == 0 && n % 2 == 0 ? from / 2 : -1);
  }
  for (const auto& [from, n] : ranges)
    for (int64_t m = from; m < from + n; ++m) {
      s.push_back(input_of[m]);
      s.push_back(channel_of[m]);
    }
  st->custom = RunShuffle;
  st->implementation = count == 4 ? "edgesplit channel shuffle" : "edgesplit channel shuffle + split";
}

}  // namespace edgesplit::onednn
