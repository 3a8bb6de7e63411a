// int8 post-training quantization: the TFLite int8 scheme the seed paper ran
// on the ESP32-S3 (per-channel symmetric int8 weights, per-tensor asymmetric
// int8 activations, int32 biases, fixed-point requantization).
//
// ---- The int8 graph (what Quantize() returns; what every backend must run) --
// It is an ordinary Graph whose tensors carry their real dtypes and QuantParams
// (real = scale * (q - zero_point)). Ops keep their types; a kernel that sees an
// int8 data input runs TFLite Micro's integer arithmetic (include/edgesplit/
// fixed_point.h for the primitives):
//   * Activations: int8, per-tensor (one scale, one zero point), chosen from the
//     calibrated [min, max] widened to contain 0, zero point nudged so 0 is exact.
//   * Conv: x int8, W int8 constant per output channel (axis 0, zero point 0,
//     symmetric, values in [-127, 127]), bias int32 constant per output channel
//     at scale x_scale * w_scale[c] (zero point 0), y int8. acc = bias[c] +
//     sum (x - x_zp) * w over the taps inside the input (padding adds nothing),
//     y = clamp(MultiplyByQuantizedMultiplier(acc, M[c]) + y_zp, lo, hi) with
//     M[c] = x_scale * w_scale[c] / y_scale and [lo, hi] the fused activation's
//     range quantized with y's params (Relu: [max(-128, y_zp), 127]; Clip(a, b):
//     round-half-away of a/y_scale, b/y_scale plus y_zp, within [-128, 127]).
//   * Gemm (transA 0, alpha = beta = 1): as Conv, B int8 per output column
//     (axis 0 when transB, else axis 1), C int32 [N].
//   * Add: TFLite's scheme: left_shift 20, each input scaled by
//     s_i / (2 max(s_a, s_b)), the sum by 2 max(s_a, s_b) / (2^20 y_scale);
//     broadcasting as the float Add; fused activation as a clamp.
//   * AveragePool / GlobalAveragePool: y has x's params; y = RoundedAverage(sum
//     of the valid taps, count) (count_include_pad counts padded taps as x_zp).
//   * MaxPool, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat (all
//     inputs with one set of params): bytes moved, y has x's params.
//   * QuantizeLinear / DequantizeLinear (ONNX semantics: round half to even)
//     convert at the graph's ends and around any op left in float.
// The graph input and output stay float32 (a leading QuantizeLinear and a
// trailing DequantizeLinear), so callers feed and read float; every tensor in
// between that crosses a cut is int8 (MobileNetV2-0.35 at block_16_project_BN:
// 5,488 bytes). Ops without an int8 kernel (Softmax, Sigmoid, LeakyRelu-fused
// convs...) run in float between a DequantizeLinear and a QuantizeLinear.
//
// Thread-safety: every function is reentrant; none keeps state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/models.h"
#include "edgesplit/status.h"

namespace edgesplit {

// One calibration sample: a float32 value for the model's single input, in its
// shape (C order).
using CalibrationSample = std::vector<float>;

// Samples for `model_input` from `dir`: every .npy, .png, .jpg and .jpeg file
// in it, in name order (images resized and normalised with `pre`). Fails when
// the folder is missing, holds no such file, or a file does not fit the input
// (the error names the file). At most `max_samples` are read (0: all).
Result<std::vector<CalibrationSample>> LoadCalibrationSamples(const std::string& dir, const Tensor& model_input,
                                                              const Preprocessing& pre, int max_samples = 0);
// `count` seeded pseudo-random samples, uniform in [-1, 1) (when no folder is given).
std::vector<CalibrationSample> RandomCalibrationSamples(const Tensor& model_input, int count, uint64_t seed = 1);
// The first `count` Fashion-MNIST training images (edgesplit/idx.h,
// FashionMnistDir()) as samples for a model whose input has 28 x 28 elements,
// each pixel (pixel/255 - pre.mean[0]) / pre.std[0]. Errors: the data set is
// missing or damaged (named), or the input does not take 28 x 28 images.
Result<std::vector<CalibrationSample>> FashionMnistCalibrationSamples(const Tensor& model_input, int count,
                                                                     const Preprocessing& pre);

// Where a command's calibration samples come from (`--calib DIR`,
// `--calib-data NAME`, `--samples N`: infer, bench-engine, split, quantize,
// sqnr, eval): a folder, a data set's training images, or seeded random inputs.
struct CalibrationSource {
  std::string folder;  // .npy/.png/.jpg files (LoadCalibrationSamples); "" = not a folder
  std::string data;    // "fashion-mnist" (FashionMnistCalibrationSamples); "" = not a data set
  int samples = 16;    // at most this many (random ones: exactly this many)
};

// The samples `source` names for `graph`'s one input; seeded random ones when
// it names neither a folder nor a data set. Errors: both given, an unknown data
// set, samples < 1, a graph without exactly one input, the loaders' errors.
Result<std::vector<CalibrationSample>> LoadCalibration(const Graph& graph, const CalibrationSource& source,
                                                       const Preprocessing& pre);

// Observed range of one float tensor.
struct TensorRange {
  float min = 0.0f;
  float max = 0.0f;
  bool seen = false;
};

// Runs the float graph (reference kernels) over every sample and records the
// range of every tensor, indexed by tensor id (constants are left unseen).
// Errors: a sample of the wrong size, or a node the reference backend rejects.
// `progress`, when set, is called with (samples done, samples in all) before each
// sample and once at the end.
Result<std::vector<TensorRange>> CalibrateRanges(const Graph& graph, const std::vector<CalibrationSample>& samples,
                                                 const std::function<void(int, int)>& progress = {});

// TFLite's activation parameters for a range (widened to contain 0): scale =
// (max - min) / 255, zero point nudged to an integer in [-128, 127] so that
// real 0 is exact. A degenerate range gives scale 1 / 255.
QuantParams ChooseActivationParams(float min, float max);

struct QuantizeOptions {
  // Calibration samples; empty means `random_samples` seeded random ones.
  int random_samples = 8;
  uint64_t seed = 1;
  // Called on the calling thread before each calibration sample and at the end: (done, total).
  std::function<void(int, int)> progress;
};

// The int8 version of a canonical float graph (see above). Node names and
// aliases are kept, so cut names resolve as on the float graph. Errors: the
// graph has not one float input and output, calibration fails, or a node's
// weights are not constants.
Result<Graph> Quantize(const Graph& graph, const std::vector<CalibrationSample>& samples,
                       const QuantizeOptions& options = {});

// True when `graph` holds int8 activations with QuantParams (Quantize()'s
// output, or a QDQ model imported from ONNX).
bool IsQuantized(const Graph& graph);

// `graph` in the arithmetic `dtype` names: "f32" returns it as it is; "int8"
// quantizes a float graph with LoadCalibration's samples (options.progress
// reports calibration) and returns an already quantized one (a QDQ .onnx) as
// it is. Errors: another dtype, LoadCalibration's and Quantize's errors.
Result<Graph> WithDtype(Graph graph, const std::string& dtype, const CalibrationSource& source, const Preprocessing& pre,
                        const QuantizeOptions& options = {});

// Every tensor's bytes after running `graph` (f32 or int8) on `input` with the
// reference backend, indexed by tensor id (constants: their data). For tools and
// tests (it keeps every intermediate tensor, unlike the executor).
Result<std::vector<std::vector<uint8_t>>> RunAllTensors(const Graph& graph, const CalibrationSample& input);

// Signal-to-quantization-noise ratio of one layer output: 10 log10(sum f^2 /
// sum (f - dequant(q))^2) over all samples, the f32 graph's tensor against the
// int8 graph's tensor of the same name.
struct LayerSqnr {
  std::string node;    // the f32 node producing the tensor
  std::string tensor;  // its output tensor
  OpType op = OpType::kIdentity;
  int64_t elements = 0;
  double sqnr_db = 0.0;  // +inf when identical
};
// One entry per f32 node whose output has an int8 counterpart, in node order.
Result<std::vector<LayerSqnr>> MeasureSqnr(const Graph& f32_graph, const Graph& int8_graph,
                                           const std::vector<CalibrationSample>& samples);

}  // namespace edgesplit
