// Measured accuracy: a model's top-1 predictions over a set of inputs, whole or
// split at a cut with the cut tensor sent through codecs (include/edgesplit/codec.h).
//
// For a split run every input goes through the head once; its cut tensor is
// then encoded, decoded and run through the tail once per codec, so a sweep over
// codecs costs one head and N tails per input. The predictions are the first
// maximum of the output (ties go to the lower class). Host only (heap, liblz4,
// libzstd). Not thread-safe: one evaluation per thread.
//
// Also here: the evaluation data (Fashion-MNIST's test images or seeded random
// inputs) and the codec sweep `edgesplit eval --sweep` runs (every natural
// bottleneck x every codec), with the accuracy-table file it writes, which the
// planner reads back (ParseCodecTable, plan.h; docs/codecs.md).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/codec.h"
#include "edgesplit/graph.h"
#include "edgesplit/idx.h"
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

// ---- Evaluation data -------------------------------------------------------------
// Fashion-MNIST's test images (labelled) or seeded uniform [-1, 1) inputs
// (unlabelled: input i is the same in every run).
struct EvalData {
  bool labelled = false;
  LabelledImages images;  // labelled data only
  int64_t count = 0;
  size_t elements = 0;    // per input
  float mean = 0, std_dev = 1;

  void Fill(int64_t i, float* out) const;
  InputFn Input() const;            // Fill, bound to this object (keep it alive while used)
  std::vector<int> Labels() const;  // the first `count` labels; empty when unlabelled
};

// `data` is "fashion-mnist" (FashionMnistDir(), first `limit` test images, all
// when 0; pixels become (p / 255 - mean) / std_dev) or "random" (`limit`
// inputs, 100 when 0). Errors: another name, std_dev == 0, a model input that
// does not take 28 x 28 images, missing data files.
Result<EvalData> LoadEvalData(const std::string& data, const Tensor& model_input, int64_t limit, float mean = 0,
                              float std_dev = 1);

// ---- The codec sweep ---------------------------------------------------------------
struct CodecSweepEntry {
  CutPoint cut;
  DType cut_dtype = DType::kFloat32;
  Codec codec;
  double cut_bytes = 0;        // mean encoded payload per input
  double accuracy = NAN;       // top-1 against the labels; NaN unlabelled
  double accuracy_drop = NAN;  // points: 100 x (f32 accuracy - accuracy); NaN unlabelled
  double agreement = 0;        // top-1 agreement with the whole f32 model
};
struct CodecSweep {
  int64_t samples = 0;
  bool labelled = false;
  double f32_accuracy = NAN, accuracy = NAN;  // of the whole f32 and whole `graph`; NaN unlabelled
  std::vector<CodecSweepEntry> entries;       // by cut, then in AllCodecs() order
};

// Runs `graph` (f32 or int8) split at each interior natural bottleneck
// (loose or strict) with every codec that applies to the cut tensor's dtype,
// over inputs [0, count); `f32` is the float model the drop and agreement are
// measured against. `labels` empty: unlabelled (agreement only). `progress`
// (optional) is called after each cut swept: (cuts done, cuts to sweep).
Result<CodecSweep> SweepCodecs(const Graph& graph, const Graph& f32, const Backend& backend, int64_t count,
                               const InputFn& input, const std::vector<int>& labels,
                               const std::function<void(int, int)>& progress = {});

// The accuracy-table file (kind "codec_table", schema_version 1) that
// ParseCodecTable reads: `model`, `dtype` ("f32"/"int8") and `data` name what was
// measured. Unlabelled accuracies are null.
std::string CodecTableJson(const CodecSweep& sweep, const std::string& model, const std::string& dtype,
                           const std::string& data);

}  // namespace edgesplit
