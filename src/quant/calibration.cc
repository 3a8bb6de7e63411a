// Calibration: sample inputs (a folder or seeded random), a whole-graph run that
// keeps every tensor, observed ranges, and TFLite's choice of activation params.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "edgesplit/idx.h"
#include "edgesplit/io.h"
#include "edgesplit/kernels.h"
#include "edgesplit/quant.h"

namespace edgesplit {
namespace {

bool IsSampleFile(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".npy" || ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

Result<std::vector<CalibrationSample>> LoadCalibrationSamples(const std::string& dir, const Tensor& model_input,
                                                              const Preprocessing& pre, int max_samples) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return NotFound("calibration folder '" + dir + "' does not exist or is not a folder");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && IsSampleFile(entry.path())) files.push_back(entry.path());
  if (ec) return IoError("cannot list calibration folder '" + dir + "': " + ec.message());
  if (files.empty()) return NotFound("calibration folder '" + dir + "' holds no .npy, .png, .jpg or .jpeg file");
  std::sort(files.begin(), files.end());
  if (max_samples > 0 && files.size() > static_cast<size_t>(max_samples)) files.resize(static_cast<size_t>(max_samples));
  std::vector<CalibrationSample> samples;
  for (const auto& f : files) {
    ES_ASSIGN_OR_RETURN(FloatArray a, LoadModelInput(f.string(), model_input, pre));
    samples.push_back(std::move(a.data));
  }
  return samples;
}

std::vector<CalibrationSample> RandomCalibrationSamples(const Tensor& model_input, int count, uint64_t seed) {
  Rng rng(seed);
  std::vector<CalibrationSample> samples(static_cast<size_t>(std::max(0, count)));
  for (auto& s : samples) {
    s.resize(static_cast<size_t>(model_input.num_elements()));
    for (float& v : s) v = rng.Uniform(-1.0f, 1.0f);
  }
  return samples;
}

Result<std::vector<std::vector<uint8_t>>> RunAllTensors(const Graph& graph, const CalibrationSample& input) {
  if (graph.inputs.size() != 1) return Unsupported("a whole-graph run needs a model with exactly one input");
  std::vector<std::vector<uint8_t>> bytes(graph.tensors.size());
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    const Tensor& tensor = graph.tensors[t];
    if (tensor.is_constant) bytes[t] = tensor.data;
    else bytes[t].assign(static_cast<size_t>(tensor.num_elements()) * DTypeSize(tensor.dtype), 0);
  }
  std::vector<uint8_t>& in = bytes[graph.inputs[0]];
  if (graph.tensors[graph.inputs[0]].dtype != DType::kFloat32 || in.size() != input.size() * sizeof(float))
    return InvalidArgument("a sample has " + std::to_string(input.size()) + " floats; the model input '" +
                           graph.tensors[graph.inputs[0]].name + "' takes " +
                           std::to_string(graph.tensors[graph.inputs[0]].num_elements()) + " float32 values");
  std::memcpy(in.data(), input.data(), in.size());
  const Backend& backend = ReferenceBackend();
  std::vector<unsigned char> scratch;
  std::vector<const void*> ins;
  std::vector<void*> outs;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    PreparedKernel k;
    ES_RETURN_IF_ERROR(backend.Prepare(graph, static_cast<int>(n), &k));
    if (scratch.size() < static_cast<size_t>(k.scratch_bytes)) scratch.resize(static_cast<size_t>(k.scratch_bytes));
    ins.clear();
    outs.clear();
    for (int t : node.inputs) ins.push_back(t == kNoTensor ? nullptr : bytes[t].data());
    for (int t : node.outputs) outs.push_back(bytes[t].data());
    ES_RETURN_IF_ERROR(backend.Eval(k, ins.data(), outs.data(), scratch.data()));
  }
  return bytes;
}

Result<std::vector<TensorRange>> CalibrateRanges(const Graph& graph, const std::vector<CalibrationSample>& samples,
                                                 const std::function<void(int, int)>& progress) {
  if (samples.empty()) return InvalidArgument("calibration needs at least one sample");
  std::vector<TensorRange> ranges(graph.tensors.size());
  int done = 0;
  for (const CalibrationSample& s : samples) {
    if (progress) progress(done++, static_cast<int>(samples.size()));  // before: the first sample is the slow one
    ES_ASSIGN_OR_RETURN(std::vector<std::vector<uint8_t>> bytes, RunAllTensors(graph, s));
    for (size_t t = 0; t < graph.tensors.size(); ++t) {
      const Tensor& tensor = graph.tensors[t];
      if (tensor.is_constant || tensor.dtype != DType::kFloat32) continue;
      TensorRange& r = ranges[t];
      const size_t n = bytes[t].size() / sizeof(float);
      const float* v = reinterpret_cast<const float*>(bytes[t].data());
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(v[i])) continue;  // a non-finite value says nothing about the range
        if (!r.seen) {
          r.min = r.max = v[i];
          r.seen = true;
        }
        r.min = std::min(r.min, v[i]);
        r.max = std::max(r.max, v[i]);
      }
    }
  }
  if (progress) progress(done, done);
  return ranges;
}

QuantParams ChooseActivationParams(float min, float max) {
  // The range must contain 0 so that zero padding and ReLU's floor are exact.
  double lo = std::min(0.0, static_cast<double>(min)), hi = std::max(0.0, static_cast<double>(max));
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi - lo < 1e-30) {
    lo = 0.0;
    hi = 1.0;
  }
  const double qmin = -128.0, qmax = 127.0;
  const double scale = (hi - lo) / (qmax - qmin);
  // TFLite's nudging: the zero point from whichever end loses less precision.
  const double zp_from_min = qmin - lo / scale, zp_from_max = qmax - hi / scale;
  const double err_min = std::fabs(qmin) + std::fabs(lo / scale), err_max = std::fabs(qmax) + std::fabs(hi / scale);
  const double zp_real = err_min < err_max ? zp_from_min : zp_from_max;
  const double zp = std::clamp(std::round(zp_real), qmin, qmax);
  QuantParams q;
  q.scales = {static_cast<float>(scale)};
  q.zero_points = {static_cast<int32_t>(zp)};
  q.axis = 1;
  return q;
}

Result<std::vector<CalibrationSample>> FashionMnistCalibrationSamples(const Tensor& input, int count, const Preprocessing& pre) {
  if (count < 1) return InvalidArgument("calibration needs at least 1 sample");
  ES_ASSIGN_OR_RETURN(LabelledImages set, LoadFashionMnist(FashionMnistDir(), "train", count));
  if (NumElements(input.shape) != set.rows * set.cols)
    return InvalidArgument("model input " + ShapeToString(input.shape) + " does not take Fashion-MNIST's [1,1,28,28] images");
  std::vector<CalibrationSample> samples(static_cast<size_t>(set.count), CalibrationSample(set.rows * set.cols));
  for (int64_t i = 0; i < set.count; ++i) ImageToFloat(set, i, pre.mean[0], pre.std[0], samples[i].data());
  return samples;
}

}  // namespace edgesplit

// ---- Calibration sources and dtypes (quant.h) ---------------------------------
namespace edgesplit {

Result<std::vector<CalibrationSample>> LoadCalibration(const Graph& graph, const CalibrationSource& s, const Preprocessing& pre) {
  if (graph.inputs.size() != 1) return Unsupported("calibration needs a model with exactly one input");
  const Tensor& input = graph.tensors[graph.inputs[0]];
  if (s.samples < 1) return InvalidArgument("--samples must be at least 1");
  if (!s.data.empty()) {
    if (!s.folder.empty()) return InvalidArgument("--calib and --calib-data are alternatives: give one");
    if (s.data != "fashion-mnist") return InvalidArgument("--calib-data " + s.data + ": only fashion-mnist is known");
    return FashionMnistCalibrationSamples(input, s.samples, pre);
  }
  if (s.folder.empty()) return RandomCalibrationSamples(input, s.samples, 1);
  return LoadCalibrationSamples(s.folder, input, pre, s.samples);
}

Result<Graph> WithDtype(Graph graph, const std::string& dtype, const CalibrationSource& source, const Preprocessing& pre,
                        const QuantizeOptions& options) {
  if (dtype != "f32" && dtype != "int8") return InvalidArgument("--dtype " + dtype + ": expected f32 or int8");
  if (dtype == "f32" || IsQuantized(graph)) return graph;
  ES_ASSIGN_OR_RETURN(std::vector<CalibrationSample> samples, LoadCalibration(graph, source, pre));
  return Quantize(graph, samples, options);
}

}  // namespace edgesplit
