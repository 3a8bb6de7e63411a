// Concat on channels of channels-last tensors (SqueezeNet's fire modules,
// GoogLeNet's inception blocks): each output pixel is the inputs' channel
// runs one after another, so the copy is a run per input per pixel. oneDNN
// 2.6's concat took twice ONNX Runtime's time on these (0.30 against 0.16 ms
// over SqueezeNet1.1's eight, docs/benchmarks.md); this loop copies the runs
// with 64-byte vector moves, the pixels split between the threads. Bytes
// move (f32 or int8), so the result is the primitive's bit for bit.
// A conv on copies in scratch right before the Concat (SqueezeNet's Winograd
// expand3x3) joins it as a fused group: the reorder of its output copy writes
// its channels of y (a sub-memory view) and the loop copies the others'. A
// direct conv cannot: oneDNN 2.6 answers a strided NHWC destination with its
// reference conv.
#include <omp.h>

#include <cstdint>

#include "int8_avx512.h"
#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

// Sizes: [pixels, output bytes per pixel, bytes per pixel of each input...].
ES_AVX512_BEGIN
void CopyRun(const unsigned char* from, unsigned char* to, int64_t bytes) {
  int64_t i = 0;
  for (; i + 64 <= bytes; i += 64) _mm512_storeu_si512(to + i, _mm512_loadu_si512(from + i));
  if (i < bytes) {
    const __mmask64 m = (uint64_t{1} << (bytes - i)) - 1;  // bytes - i < 64
    _mm512_mask_storeu_epi8(to + i, m, _mm512_maskz_loadu_epi8(m, from + i));
  }
}

void RunChannelsConcat(const PrimitiveState& st, const void* const* inputs, void* const* outputs, void* /*scratch*/) {
  const int64_t pixels = st.custom_sizes[0], out_bytes = st.custom_sizes[1];
  const int64_t count = static_cast<int64_t>(st.custom_sizes.size()) - 2;
  unsigned char* y = static_cast<unsigned char*>(outputs[0]);
#pragma omp parallel for schedule(static) if (!st.serial)
  for (int64_t p = 0; p < pixels; ++p) {
    unsigned char* yp = y + p * out_bytes;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t bytes = st.custom_sizes[2 + i];
      CopyRun(static_cast<const unsigned char*>(inputs[i]) + p * bytes, yp, bytes);
      yp += bytes;
    }
  }
}

// After a conv wrote its output straight into its channels of y: the other
// inputs' runs. Sizes: [pixels, output bytes per pixel, inputs, then per
// input of the Concat: bytes per pixel, its index in `inputs` (-1: the
// conv's)], then the conv's own when edgesplit's loop runs it (winograd.cc).
void CopyOtherInputs(const PrimitiveState& st, const void* const* inputs, void* const* outputs) {
  const int64_t pixels = st.custom_sizes[0], out_bytes = st.custom_sizes[1], count = st.custom_sizes[2];
  unsigned char* y = static_cast<unsigned char*>(outputs[0]);
#pragma omp parallel for schedule(static) if (!st.serial)
  for (int64_t p = 0; p < pixels; ++p) {
    unsigned char* yp = y + p * out_bytes;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t bytes = st.custom_sizes[3 + 2 * i], index = st.custom_sizes[4 + 2 * i];
      if (index >= 0) CopyRun(static_cast<const unsigned char*>(inputs[index]) + p * bytes, yp, bytes);
      yp += bytes;
    }
  }
}
ES_AVX512_END

}  // namespace

bool BuildChannelsConcat(const Node& n, const PreparedKernel& k, PrimitiveState* st) {
  const TensorDesc& y = k.outputs[0];
  if (!Int8UsesAvx512() || n.GetInt("axis", 0) != 1 || y.rank != 4 || y.layout != TensorLayout::kChannelsLast) return false;
  const int64_t element = y.dtype == DType::kInt8 ? 1 : y.dtype == DType::kFloat32 ? 4 : 0;
  if (element == 0) return false;
  st->custom_sizes = {y.dims[0] * y.dims[2] * y.dims[3], y.dims[1] * element};
  for (const TensorDesc& x : k.inputs) {
    if (x.layout != TensorLayout::kChannelsLast || x.dtype != y.dtype) return false;
    st->custom_sizes.push_back(x.dims[1] * element);
  }
  st->custom = RunChannelsConcat;
  st->implementation = "edgesplit channels-last concat";
  return true;
}

bool MatchConvIntoConcat(const Graph& g, int first) {
  if (!Int8UsesAvx512() || Classify(g, first) != NativeKind::kConv || Classify(g, first + 1) != NativeKind::kConcat)
    return false;
  const Node& cat = g.nodes[first + 1];
  const int t = g.nodes[first].outputs[0];
  if (cat.GetInt("axis", 0) != 1 || std::count(cat.inputs.begin(), cat.inputs.end(), t) != 1) return false;
  for (int x : cat.inputs)
    if (g.tensors[x].dtype != DType::kFloat32 || g.tensors[x].shape.size() != 4 || !KeepChannelsLast(g, x)) return false;
  return KeepChannelsLast(g, cat.outputs[0]);
}

void BuildConvIntoConcat(const Graph& g, int first, const PreparedKernel& k, PrimitiveState* st) {
  const Node& conv = g.nodes[first];
  const Node& cat = g.nodes[first + 1];
  const int t = conv.outputs[0];
  const TensorDesc& y = k.outputs[0];
  PreparedKernel alone;  // the conv's own descriptors: FusedTensors() lists its inputs first
  alone.inputs.assign(k.inputs.begin(), k.inputs.begin() + static_cast<int64_t>(conv.inputs.size()));
  TensorDesc out = y;
  out.dims[1] = g.tensors[t].shape[1];
  out.elements = out.dims[0] * out.dims[1] * out.dims[2] * out.dims[3];
  alone.outputs = {out};
  st->custom_sizes = {y.dims[0] * y.dims[2] * y.dims[3], y.dims[1] * 4, static_cast<int64_t>(cat.inputs.size())};
  int64_t channel = 0, at = 0;
  int64_t next = static_cast<int64_t>(conv.inputs.size());  // the Concat's other inputs follow, in order
  for (int x : cat.inputs) {
    if (x == t) at = channel;
    st->custom_sizes.push_back(g.tensors[x].shape[1] * 4);
    st->custom_sizes.push_back(x == t ? -1 : next++);
    channel += g.tensors[x].shape[1];
  }
  st->then = CopyOtherInputs;
  if (BuildWinograd(g, conv, alone, st, at, y.dims[1])) {  // the loop writes the channels itself
    st->implementation += " into its Concat";
    return;
  }
  const dnnl::memory::desc view = ActivationDesc(y).submemory_desc({out.dims[0], out.dims[1], out.dims[2], out.dims[3]},
                                                                   {0, at, 0, 0});
  BuildConvInto(g, conv, alone, view, st);
  PrimitiveState probe;
  BuildPrimitive(NativeKind::kConv, g, conv, alone, &probe);
  if (probe.implementation != st->implementation)
    throw dnnl::error(dnnl_unimplemented, "the conv into its Concat's channels is not the conv alone");
  st->implementation += " into its Concat";
}

}  // namespace edgesplit::onednn
