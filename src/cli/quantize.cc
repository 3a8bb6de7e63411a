// edgesplit quantize MODEL [--calib DIR] [--samples N] -o FILE.onnx
// edgesplit sqnr MODEL [--calib DIR] [--samples N] [--format table|json]
//
// quantize writes the int8 model as ONNX in QDQ form (docs/quantization.md);
// sqnr prints each layer's signal-to-quantization-noise ratio, int8 vs f32.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "progress.h"
#include "edgesplit/analysis.h"
#include "edgesplit/onnx.h"
#include "quant_args.h"
#include "render.h"

namespace edgesplit::cli {

Result<std::vector<CalibrationSample>> CalibrationFor(const Graph& graph, const CalibArgs& a, const Preprocessing& pre) {
  if (graph.inputs.size() != 1) return Unsupported("calibration needs a model with exactly one input");
  const Tensor& input = graph.tensors[graph.inputs[0]];
  if (a.samples < 1) return InvalidArgument("--samples must be at least 1");
  if (!a.calib_data.empty()) {
    if (!a.calib.empty()) return InvalidArgument("--calib and --calib-data are alternatives: give one");
    if (a.calib_data != "fashion-mnist") return InvalidArgument("--calib-data " + a.calib_data + ": only fashion-mnist is known");
    return FashionMnistCalibrationSamples(input, a.samples, pre);
  }
  if (a.calib.empty()) return RandomCalibrationSamples(input, a.samples, 1);
  return LoadCalibrationSamples(a.calib, input, pre, a.samples);
}

// Calibration runs the float model over every sample (about 3 s a sample for
// resnet50 on the reference kernels): progress on a terminal.
static Result<Graph> QuantizeWithProgress(const Graph& graph, const std::vector<CalibrationSample>& samples) {
  Progress bar("calibrating", static_cast<int64_t>(samples.size()));
  QuantizeOptions o;
  o.progress = [&bar](int done, int) { bar.Update(done); };
  return Quantize(graph, samples, o);
}

Result<Graph> InDtype(Graph graph, const std::string& dtype, const CalibArgs& a, const Preprocessing& pre) {
  if (dtype != "int8" || IsQuantized(graph)) {
    if (!a.calib.empty() && dtype != "int8") std::fprintf(stderr, "note: --calib is used by --dtype int8 only; ignored\n");
    return graph;
  }
  ES_ASSIGN_OR_RETURN(std::vector<CalibrationSample> samples, CalibrationFor(graph, a, pre));
  return QuantizeWithProgress(graph, samples);
}

namespace {

struct QuantizeArgs {
  std::string model;
  CalibArgs calib;
  std::string output;
  std::string format = "table";
  std::vector<float> mean, std_dev;

  Preprocessing Pre() const {
    Preprocessing pre = DefaultPreprocessing(model);
    if (!calib.calib_data.empty()) pre = Preprocessing{{0, 0, 0}, {1, 1, 1}};  // Fashion-MNIST: pixel / 255
    for (size_t c = 0; c < 3 && c < mean.size(); ++c) pre.mean[c] = mean[c];
    for (size_t c = 0; c < 3 && c < std_dev.size(); ++c) pre.std[c] = std_dev[c];
    return pre;
  }
};

void AddCommonOptions(CLI::App& app, QuantizeArgs* a) {
  app.add_option("MODEL", a->model, "Model: an .onnx file or a zoo spec (e.g. mobilenet_v2:alpha=0.35,res=96)")->required();
  app.add_option("--calib", a->calib.calib, "Calibration folder of .npy (float32 NCHW) / .png / .jpg inputs (default: seeded random inputs)");
  app.add_option("--calib-data", a->calib.calib_data, "Calibrate on this data set's training images (pixel / 255 unless --mean/--std)")
      ->check(CLI::IsMember({"fashion-mnist"}));
  app.add_option("--samples", a->calib.samples, "Calibration samples to use (at most; default 16)")->check(CLI::PositiveNumber);
  app.add_option("--mean", a->mean, "Per-channel mean for image inputs (3 values)")->expected(3);
  app.add_option("--std", a->std_dev, "Per-channel std for image inputs (3 values)")->expected(3);
}

Status RunQuantize(const QuantizeArgs& a) {
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.model));
  if (IsQuantized(g)) return InvalidArgument("model '" + a.model + "' is already quantized");
  ES_ASSIGN_OR_RETURN(std::vector<CalibrationSample> samples, CalibrationFor(g, a.calib, a.Pre()));
  ES_ASSIGN_OR_RETURN(Graph q, QuantizeWithProgress(g, samples));
  ES_RETURN_IF_ERROR(ExportOnnxFile(q, a.output));
  int int8_nodes = 0, float_nodes = 0, conversions = 0;
  for (const Node& n : q.nodes) {
    if (n.op == OpType::kQuantizeLinear || n.op == OpType::kDequantizeLinear) ++conversions;
    else if (q.tensors[n.outputs[0]].dtype == DType::kInt8) ++int8_nodes;
    else ++float_nodes;
  }
  const ModelSummary m = Summarize(q);
  std::printf("quantized %s with %zu %s calibration sample%s: %d int8 nodes, %d float nodes, %d quantize/dequantize\n",
              a.model.c_str(), samples.size(), !a.calib.calib_data.empty() ? a.calib.calib_data.c_str() : a.calib.calib.empty() ? "random" : "folder",
              samples.size() == 1 ? "" : "s", int8_nodes, float_nodes, conversions);
  std::printf("weights %s int8 (int32 biases); wrote %s (ONNX, QDQ form)\n", HumanBytes(m.total_weight_bytes_int8).c_str(),
              a.output.c_str());
  return Status::Ok();
}

std::string Db(double v) { return std::isinf(v) ? "inf" : fmt::format("{:.2f}", v); }

Status RunSqnr(const QuantizeArgs& a) {
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.model));
  if (IsQuantized(g)) return InvalidArgument("sqnr needs the float model; '" + a.model + "' is already quantized");
  ES_ASSIGN_OR_RETURN(std::vector<CalibrationSample> samples, CalibrationFor(g, a.calib, a.Pre()));
  ES_ASSIGN_OR_RETURN(Graph q, QuantizeWithProgress(g, samples));
  ES_ASSIGN_OR_RETURN(std::vector<LayerSqnr> layers, MeasureSqnr(g, q, samples));
  if (a.format == "json" || a.format == "csv") {
    Json j;
    j["schema_version"] = kSchemaVersion;
    j["model"] = a.model;
    j["samples"] = samples.size();
    Json arr = Json::array();
    for (const LayerSqnr& l : layers) {
      Json e = {{"name", l.node}, {"op", OpTypeName(l.op)}, {"tensor", l.tensor}, {"elements", l.elements}};
      if (std::isinf(l.sqnr_db)) e["sqnr_db"] = nullptr;  // identical: JSON has no infinity
      else e["sqnr_db"] = l.sqnr_db;
      arr.push_back(std::move(e));
    }
    if (a.format == "csv") return WriteOutput(a.output, RowsCsv(arr));
    j["layers"] = std::move(arr);
    return WriteOutput(a.output, j.dump(2) + "\n");
  }
  std::string out = fmt::format("model {}: int8 vs f32 over {} {} sample{}\n\n", a.model, samples.size(),
                                !a.calib.calib_data.empty() ? a.calib.calib_data : a.calib.calib.empty() ? "random" : "calibration", samples.size() == 1 ? "" : "s");
  size_t width = 5;  // the layer column fits the longest name (ONNX paths can be long)
  for (const LayerSqnr& l : layers) width = std::max(width, l.node.size());
  out += fmt::format("{:<{}} {:<18} {:>12} {:>10}\n", "layer", width, "op", "elements", "SQNR dB");
  for (const LayerSqnr& l : layers)
    out += fmt::format("{:<{}} {:<18} {:>12} {:>10}\n", l.node, width, OpTypeName(l.op), l.elements, Db(l.sqnr_db));
  return WriteOutput(a.output, out);
}

}  // namespace

Runner RegisterQuantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  AddCommonOptions(app, a.get());
  app.add_option("-o,--output", a->output, "Write the int8 model here (.onnx, QDQ form)")->required();
  return [a] { return RunQuantize(*a); };
}

Runner RegisterSqnr(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  AddCommonOptions(app, a.get());
  app.add_option("--format", a->format, "table, json or csv (csv: one row per layer)")->check(CLI::IsMember({"table", "json", "csv"}));
  app.add_option("-o,--output", a->output, "Write the report to this file (default: stdout)");
  return [a] { return RunSqnr(*a); };
}

}  // namespace edgesplit::cli
