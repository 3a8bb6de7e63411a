// Measured accuracy: a model's top-1 predictions over a set of inputs, whole or
// split at a cut with the cut tensor sent through codecs (include/edgesplit/codec.h).
//
// For a split run every input goes through the head once; its cut tensor is
// then encoded, decoded and run through the tail once per codec, so a sweep over
// codecs costs one head and N tails per input. The predictions are the first
// maximum of the output (ties go to the lower class). Host only (heap, liblz4,
// libzstd). Not thread-safe: one evaluation per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgesplit/codec.h"
#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"
#include "edgesplit/status.h"

namespace edgesplit {

// Writes input `i` (of the model input's element count, float32 NCHW) into out.
using InputFn = std::function<void(int64_t i, float* out)>;

// The first maximum of v[0, n): the top-1 class.
int TopClass(const float* v, size_t n);

// The cut tensor's codec view: float32 or int8 data, channels from
// CodecChannels (shape[1] over planes of 16+ elements, else 1). Errors: another dtype.
Result<CutTensorView> CutView(const Tensor& tensor, const void* data);

// Top-1 predictions of the whole model for inputs [0, count).
Result<std::vector<int>> PredictWhole(const Graph& graph, const Backend& backend, int64_t count, const InputFn& input);

struct CodecPredictions {
  Codec codec;
  std::vector<int> predictions;  // per input
  double mean_bytes = 0;         // mean encoded payload (header included) per input
};

// Splits `graph` after its first `position` nodes (0 < position < nodes) and
// predicts inputs [0, count) once per codec. Errors: a codec that does not apply
// to the cut tensor's dtype, encode/decode failures (with the input index).
Result<std::vector<CodecPredictions>> PredictSplit(const Graph& graph, int position, const std::vector<Codec>& codecs,
                                                   const Backend& backend, int64_t count, const InputFn& input);

// Fraction of i with a[i] == b[i] (b may be labels).
double Agreement(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace edgesplit
