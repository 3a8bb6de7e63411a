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
#include <optional>

#include "commands.h"
#include "progress.h"
#include "edgesplit/analysis.h"
#include "edgesplit/onnx.h"
#include "quant_args.h"
#include "render.h"

namespace edgesplit::cli {

Result<Graph> QuantizeWithProgress(const Graph& graph, const std::vector<CalibrationSample>& samples) {
  Progress bar("calibrating", static_cast<int64_t>(samples.size()));
  QuantizeOptions o;
  o.progress = [&bar](int done, int) { bar.Update(done); };
  return Quantize(graph, samples, o);
}

Result<Graph> InDtype(Graph graph, const std::string& dtype, const CalibArgs& a, const Preprocessing& pre) {
  if (!a.folder.empty() && dtype != "int8") std::fprintf(stderr, "note: --calib is used by --dtype int8 only; ignored\n");
  std::optional<Progress> bar;  // drawn once calibration starts (an f32 or QDQ model has none)
  QuantizeOptions o;
  o.progress = [&bar](int done, int total) {
    if (!bar) bar.emplace("calibrating", total);
    bar->Update(done);
  };
  return WithDtype(std::move(graph), dtype, a, pre, o);
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
    if (!calib.data.empty()) pre = Preprocessing{{0, 0, 0}, {1, 1, 1}};  // Fashion-MNIST: pixel / 255
    for (size_t c = 0; c < 3 && c < mean.size(); ++c) pre.mean[c] = mean[c];
    for (size_t c = 0; c < 3 && c < std_dev.size(); ++c) pre.std[c] = std_dev[c];
    return pre;
  }
};

void AddCommonOptions(CLI::App& app, QuantizeArgs* a) {
  app.add_option("MODEL", a->model, "Model: an .onnx file or a zoo spec (e.g. mobilenet_v2:alpha=0.35,res=96)")->required();
  app.add_option("--calib", a->calib.folder, "Calibration folder of .npy (float32 NCHW) / .png / .jpg inputs (default: seeded random inputs)");
  app.add_option("--calib-data", a->calib.data, "Calibrate on this data set's training images (pixel / 255 unless --mean/--std)")
      ->check(CLI::IsMember({"fashion-mnist"}));
  app.add_option("--samples", a->calib.samples, "Calibration samples to use (at most; default 16)")->check(CLI::PositiveNumber);
  app.add_option("--mean", a->mean, "Per-channel mean for image inputs (3 values)")->expected(3);
  app.add_option("--std", a->std_dev, "Per-channel std for image inputs (3 values)")->expected(3);
}

Status RunQuantize(const QuantizeArgs& a) {
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.model));
  if (IsQuantized(g)) return InvalidArgument("model '" + a.model + "' is already quantized");
  ES_ASSIGN_OR_RETURN(std::vector<CalibrationSample> samples, LoadCalibration(g, a.calib, a.Pre()));
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
              a.model.c_str(), samples.size(), !a.calib.data.empty() ? a.calib.data.c_str() : a.calib.folder.empty() ? "random" : "folder",
              samples.size() == 1 ? "" : "s", int8_nodes, float_nodes, conversions);
  std::printf("weights %s int8 (int32 biases); wrote %s (ONNX, QDQ form)\n", HumanBytes(m.total_weight_bytes_int8).c_str(),
              a.output.c_str());
  return Status::Ok();
}

std::string Db(double v) { return std::isinf(v) ? "inf" : fmt::format("{:.2f}", v); }

Status RunSqnr(const QuantizeArgs& a) {
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.model));
  if (IsQuantized(g)) return InvalidArgument("sqnr needs the float model; '" + a.model + "' is already quantized");
  ES_ASSIGN_OR_RETURN(std::vector<CalibrationSample> samples, LoadCalibration(g, a.calib, a.Pre()));
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
                                !a.calib.data.empty() ? a.calib.data : a.calib.folder.empty() ? "random" : "calibration", samples.size() == 1 ? "" : "s");
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
