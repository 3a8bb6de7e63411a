// edgesplit eval MODEL --data fashion-mnist|random [--limit N] [--split CUT --codec C]
//     [--dtype f32|int8] [--calib-data fashion-mnist] [--sweep] [--format table|json] [-o FILE]
//
// Top-1 accuracy on Fashion-MNIST's 10,000 test images (or top-1 agreement with
// the f32 model on seeded random inputs), whole or split with the cut tensor
// sent through a codec. --sweep runs every natural bottleneck x every codec and
// writes the codec accuracy table (docs/codecs.md).
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "commands.h"
#include "edgesplit/analysis.h"
#include "edgesplit/eval.h"
#include "edgesplit/idx.h"
#include "edgesplit/io.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "progress.h"
#include "quant_args.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct EvalArgs {
  std::string model, data = "fashion-mnist", split, codec, dtype = "f32", backend = "onednn";
  std::string format = "table", output, predictions;
  CalibArgs calib;
  int64_t limit = 0;
  int threads = 0;
  bool sweep = false;
  std::vector<float> mean, std_dev;
};

Status WritePredictions(const std::string& path, const std::vector<int>& p) {
  std::vector<float> v(p.begin(), p.end());
  return WriteNpy(path, Shape{static_cast<int64_t>(v.size())}, v.data());
}

// The codec accuracy table (every natural bottleneck x every codec) is the
// library's sweep; this renders it.
Status RunSweep(const EvalArgs& a, const Graph& g, const Graph& f32, const Backend& backend, const EvalData& in) {
  std::optional<Progress> bar;  // a split run per cut x codec over every input: progress on a terminal
  auto progress = [&bar](int done, int total) {
    if (!bar) bar.emplace("cuts swept", total);
    bar->Update(done);
  };
  ES_ASSIGN_OR_RETURN(CodecSweep s, SweepCodecs(g, f32, backend, in.count, in.Input(), in.Labels(), progress));
  bar.reset();  // the line cleared before the table
  const std::string json = CodecTableJson(s, a.model, a.dtype, a.data);
  if (a.format == "json") return WriteOutput(a.output, json);
  auto score = [&](const char* f, double v) { return s.labelled ? fmt::format(fmt::runtime(f), v) : std::string("-"); };
  std::string table = fmt::format("model {} ({}), {} {} inputs: accuracy {}, f32 {}\n\n{:>4} {:<26} {:<16} {:<11} {:>10} {:>9} {:>8} {:>9}\n",
                                  a.model, a.dtype, s.samples, a.data, score("{:.4f}", s.accuracy),
                                  score("{:.4f}", s.f32_accuracy), "cut", "after", "shape", "codec", "bytes", "accuracy",
                                  "drop pt", "agree f32");
  for (const CodecSweepEntry& e : s.entries)
    table += fmt::format("{:>4} {:<26} {:<16} {:<11} {:>10.1f} {:>9} {:>8} {:>9.4f}\n", e.cut.index, e.cut.after,
                         ShapeToString(e.cut.shape), CodecName(e.codec), e.cut_bytes, score("{:.4f}", e.accuracy),
                         score("{:+.2f}", e.accuracy_drop), e.agreement);
  // The table goes to stdout; -o still receives the JSON table a planner reads.
  std::printf("%s", table.c_str());
  return a.output.empty() ? Status::Ok() : WriteOutput(a.output, json);
}

Status RunEval(EvalArgs a) {
  const Backend* backend = FindBackend(a.backend);
  if (!backend) return Unsupported("--backend " + a.backend + " is not built into this edgesplit");
  if (backend == &OneDnnBackend()) ES_RETURN_IF_ERROR(SetOneDnnThreads(a.threads));
  if (!a.codec.empty() && a.split.empty()) return InvalidArgument("--codec needs --split CUT");
  if (a.sweep && !a.split.empty()) return InvalidArgument("--sweep runs every natural bottleneck: drop --split");
  ES_ASSIGN_OR_RETURN(Graph f32, LoadModel(a.model));
  if (f32.inputs.size() != 1 || f32.outputs.size() != 1) return Unsupported("eval needs a model with one input and one output");
  ES_ASSIGN_OR_RETURN(EvalData in, LoadEvalData(a.data, f32.tensors[f32.inputs[0]], a.limit, a.mean.empty() ? 0.0f : a.mean[0],
                                                a.std_dev.empty() ? 1.0f : a.std_dev[0]));
  Preprocessing pre;
  for (int c = 0; c < 3; ++c) pre.mean[c] = in.mean, pre.std[c] = in.std_dev;
  if (a.dtype == "int8" && a.calib.folder.empty() && a.calib.data.empty() && a.data == "fashion-mnist")
    a.calib.data = "fashion-mnist";  // calibrate on training images, not random ones
  ES_ASSIGN_OR_RETURN(Graph g, InDtype(f32, a.dtype, a.calib, pre));
  if (a.sweep) return RunSweep(a, g, f32, *backend, in);

  const InputFn fill = in.Input();
  std::vector<int> pred;
  Json split = nullptr, codec = nullptr, bytes = nullptr;
  if (a.split.empty()) {
    ES_ASSIGN_OR_RETURN(pred, PredictWhole(g, *backend, in.count, fill));
  } else {
    ES_ASSIGN_OR_RETURN(Codec c, ParseCodecName(a.codec.empty() ? "raw" : a.codec));
    ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
    ES_ASSIGN_OR_RETURN(std::vector<int> index, ResolveInteriorCuts(g, cuts, {a.split}));
    const CutPoint& cut = cuts[index[0]];
    ES_ASSIGN_OR_RETURN(std::vector<CodecPredictions> runs, PredictSplit(g, cut.position, {c}, *backend, in.count, fill));
    pred = std::move(runs[0].predictions);
    split = cut.after;
    codec = CodecName(c);
    bytes = runs[0].mean_bytes;
  }
  if (!a.predictions.empty()) ES_RETURN_IF_ERROR(WritePredictions(a.predictions, pred));
  // Labelled data: accuracy. Random inputs: agreement with the f32 model, whole.
  double score;
  if (in.labelled) {
    score = Agreement(pred, in.Labels());
  } else {
    ES_ASSIGN_OR_RETURN(std::vector<int> ref, PredictWhole(f32, *backend, in.count, fill));
    score = Agreement(pred, ref);
  }
  if (a.format == "json") {
    Json j;
    j["schema_version"] = kSchemaVersion;
    j["model"] = a.model;
    j["samples"] = in.count;
    j["accuracy"] = in.labelled ? Json(score) : Json(nullptr);
    j["split"] = split;
    j["codec"] = codec;
    j["cut_bytes"] = bytes;
    if (!in.labelled) j["agreement"] = score;  // random inputs: top-1 agreement with the whole f32 model
    return WriteOutput(a.output, j.dump(2) + "\n");
  }
  std::string text = fmt::format("model {} ({}): {} {} inputs, {} {:.4f}", a.model, IsQuantized(g) ? "int8" : "f32",
                                 in.count, a.data, in.labelled ? "top-1 accuracy" : "top-1 agreement with f32", score);
  if (!a.split.empty())
    text += fmt::format("; split after {}, codec {}, {:.1f} bytes per request", split.get<std::string>(),
                        codec.get<std::string>(), bytes.get<double>());
  return WriteOutput(a.output, text + "\n");
}

}  // namespace

Runner RegisterEval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  app.add_option("MODEL", a->model, "Model: an .onnx file or a zoo spec")->required();
  app.add_option("--data", a->data, "fashion-mnist (the 10,000 test images, labelled) or random (seeded inputs; agreement with f32)")
      ->check(CLI::IsMember({"fashion-mnist", "random"}));
  app.add_option("--limit", a->limit, "Use the first N inputs (random: default 100)")->check(CLI::NonNegativeNumber);
  app.add_option("--split", a->split, "Split at this cut (index or layer name) and send the cut tensor through --codec");
  app.add_option("--codec", a->codec, "Cut-tensor codec: raw, int8, int4, int2, fp16, each optionally +lz4 or +zstd (default raw)");
  app.add_option("--dtype", a->dtype, "f32, or int8 (post-training quantized; calibrated on training images)")
      ->check(CLI::IsMember({"f32", "int8"}));
  app.add_option("--calib-data", a->calib.data, "--dtype int8: calibrate on this data set's training images")
      ->check(CLI::IsMember({"fashion-mnist"}));
  app.add_option("--calib", a->calib.folder, "--dtype int8: calibration folder of .npy/.png/.jpg inputs instead");
  app.add_option("--samples", a->calib.samples, "Calibration samples (default 16)")->check(CLI::PositiveNumber);
  app.add_option("--mean", a->mean, "Input mean (pixel/255 - mean) / std (default 0)")->expected(1);
  app.add_option("--std", a->std_dev, "Input std (default 1)")->expected(1);
  app.add_option("--backend", a->backend, "Kernel backend: onednn (default) or reference")
      ->check(CLI::IsMember({"onednn", "reference"}));
  app.add_option("--threads", a->threads, "oneDNN threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("--sweep", a->sweep, "Every natural bottleneck x every codec: the codec accuracy table (docs/codecs.md)");
  app.add_option("--predictions", a->predictions, "Write the top-1 class of every input as .npy (float32 [N])");
  app.add_option("--format", a->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  app.add_option("-o,--output", a->output, "Write the report here (default: stdout; --sweep: the JSON table)");
  return [a] { return RunEval(*a); };
}

}  // namespace edgesplit::cli
