// edgesplit infer MODEL --input FILE [--output FILE.npy] [--dtype f32|int8]
//     [--backend onednn|reference] [--split CUT] [--threads N] [--calib DIR] [--top K]
// edgesplit bench-engine MODEL [--dtype] [--backend] [--threads N] [--repeat N] [--batch N] [--format json]
//
// infer runs a model (head then tail in one process when --split is given: the
// cut tensor is copied between two executors as it would cross the link),
// prints each segment's time and the top-K classes, and can save the output.
// bench-engine times whole-model invocations and each layer.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "commands.h"
#include "conventions.h"
#include "edgesplit/engine_timing.h"
#include "quant_args.h"
#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/io.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "render.h"

namespace edgesplit::cli {

using runtime::LayerTimes;
using runtime::Percentile;
using runtime::TimeLayers;
using runtime::TimingClock;
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

struct EngineArgs {
  std::string model;
  std::string dtype = "f32";
  std::string backend = "onednn";
  int threads = 0;  // 0: all cores
};

void AddEngineOptions(CLI::App& app, EngineArgs* a) {
  app.add_option("MODEL", a->model, "Model: an .onnx file or a zoo spec (e.g. mobilenet_v2:alpha=0.35,res=96)")->required();
  app.add_option("--dtype", a->dtype, "Arithmetic: f32 or int8 (TFLite-scheme post-training quantization, docs/quantization.md)")
      ->check(CLI::IsMember({"f32", "int8"}));
  app.add_option("--backend", a->backend, "Kernel backend: onednn (default; f32 on oneDNN) or reference (portable loops)")
      ->check(CLI::IsMember({"onednn", "reference"}));
  app.add_option("--threads", a->threads, "oneDNN thread-pool size (default: all cores; the reference backend uses one)")
      ->check(CLI::NonNegativeNumber);
}

// The backend named on the command line, or a clear error for what is not built yet.
Result<const Backend*> ChooseBackend(const EngineArgs& a) {
  const Backend* backend = FindBackend(a.backend);
  if (!backend) return Unsupported("--backend " + a.backend + " is not built into this edgesplit");
  // Before any executor exists: primitives are blocked for the thread count.
  if (backend == &OneDnnBackend()) ES_RETURN_IF_ERROR(SetOneDnnThreads(a.threads));
  return backend;
}

struct InferArgs {
  EngineArgs engine;
  std::string input;
  std::string output;
  std::string split;
  std::string calib;
  int top = 5;
  std::vector<float> mean, std_dev;
};

Status RunInfer(const InferArgs& a) {
  ES_ASSIGN_OR_RETURN(const Backend* backend, ChooseBackend(a.engine));
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.engine.model));
  if (g.inputs.size() != 1 || g.outputs.size() != 1)
    return Unsupported("infer needs a model with one input and one output (this one has " +
                       std::to_string(g.inputs.size()) + " and " + std::to_string(g.outputs.size()) + ")");
  Preprocessing pre = DefaultPreprocessing(a.engine.model);
  for (size_t c = 0; c < 3 && c < a.mean.size(); ++c) pre.mean[c] = a.mean[c];
  for (size_t c = 0; c < 3 && c < a.std_dev.size(); ++c) pre.std[c] = a.std_dev[c];
  // int8: quantized here (input quantized, output dequantized inside the graph: .npy stays float32).
  CalibArgs calib;
  calib.folder = a.calib;
  ES_ASSIGN_OR_RETURN(g, InDtype(std::move(g), a.engine.dtype, calib, pre));
  const Tensor& model_input = g.tensors[g.inputs[0]];
  ES_ASSIGN_OR_RETURN(FloatArray input, LoadModelInput(a.input, model_input, pre));

  const int n = static_cast<int>(g.nodes.size());
  std::vector<int> bounds = {0, n};
  if (!a.split.empty()) {
    ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
    ES_ASSIGN_OR_RETURN(int index, ResolveCut(g, cuts, a.split));
    const int position = cuts[index].position;
    if (position > 0 && position < n) bounds = {0, position, n};
    else std::fprintf(stderr, "note: cut '%s' is the model's %s; running it whole\n", a.split.c_str(), position == 0 ? "input" : "output");
  }
  std::printf("model %s: input %s, %d nodes, backend %s, dtype %s\n", a.engine.model.c_str(),
              ShapeToString(model_input.shape).c_str(), n, backend->name(), IsQuantized(g) ? "int8" : "f32");

  // The bytes crossing each cut (int8 inside a quantized model); the model's
  // own input and output are float32.
  const unsigned char* input_bytes = reinterpret_cast<const unsigned char*>(input.data.data());
  std::vector<unsigned char> link(input_bytes, input_bytes + input.data.size() * sizeof(float));
  Shape carry_shape = model_input.shape;
  double total_ms = 0;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    ES_ASSIGN_OR_RETURN(std::unique_ptr<SegmentExecutor> ex, SegmentExecutor::Create(g, bounds[s], bounds[s + 1], *backend));
    const bool first = s == 0, last = s + 2 == bounds.size();
    if (ex->num_inputs() != 1 || ex->num_outputs() != 1 || (first && ex->input_tensor().dtype != DType::kFloat32) ||
        (last && ex->output_tensor().dtype != DType::kFloat32))
      return Internal("segment " + std::to_string(s) + " does not have one input and output (float at the model's ends)");
    if (static_cast<size_t>(ex->input_bytes()) != link.size())
      return Internal("segment " + std::to_string(s) + " input size mismatch");
    std::memcpy(ex->input(), link.data(), link.size());
    const auto t0 = Clock::now();
    ES_RETURN_IF_ERROR(ex->Invoke());
    const double ms = Ms(t0, Clock::now());
    total_ms += ms;
    const unsigned char* out = static_cast<const unsigned char*>(ex->output());
    link.assign(out, out + ex->output_bytes());
    carry_shape = ex->output_tensor().shape;
    const char* role = bounds.size() == 2 ? "model" : s == 0 ? "head" : "tail";
    std::printf("%s: nodes [%d, %d) %8.2f ms  arena %s  scratch %s  -> '%s' %s (%s)\n", role, bounds[s], bounds[s + 1], ms,
                HumanBytes(ex->arena_bytes()).c_str(), HumanBytes(ex->scratch_bytes()).c_str(),
                ex->output_tensor().name.c_str(), ShapeToString(carry_shape).c_str(),
                HumanBytes(ex->output_bytes()).c_str());
  }
  if (bounds.size() > 2) std::printf("total: %.2f ms\n", total_ms);
  std::vector<float> carry(link.size() / sizeof(float));
  std::memcpy(carry.data(), link.data(), carry.size() * sizeof(float));
  for (size_t i = 0; i < carry.size(); ++i)
    if (!std::isfinite(carry[i])) {
      std::fprintf(stderr, "warning: output element %zu is not finite\n", i);
      break;
    }
  if (!a.output.empty()) {
    ES_RETURN_IF_ERROR(WriteNpy(a.output, carry_shape, carry.data()));
    std::printf("wrote %s %s\n", a.output.c_str(), ShapeToString(carry_shape).c_str());
  }
  if (a.top > 0 && !carry.empty()) {
    // Softmax over the last axis of the first row.
    const size_t classes = carry_shape.empty() ? 1 : static_cast<size_t>(carry_shape.back());
    const float mx = *std::max_element(carry.begin(), carry.begin() + classes);
    double sum = 0;
    for (size_t i = 0; i < classes; ++i) sum += std::exp(static_cast<double>(carry[i] - mx));
    std::vector<size_t> order(classes);
    for (size_t i = 0; i < classes; ++i) order[i] = i;
    const size_t k = std::min(classes, static_cast<size_t>(a.top));
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](size_t x, size_t y) { return carry[x] > carry[y] || (carry[x] == carry[y] && x < y); });
    std::printf("top-%zu:\n", k);
    for (size_t r = 0; r < k; ++r)
      std::printf("  %zu. class %5zu  p %.4f  logit %.4f\n", r + 1, order[r], std::exp(carry[order[r]] - mx) / sum,
                  carry[order[r]]);
  }
  return Status::Ok();
}

// How the OpenMP pool's idle threads wait in this process (openmp_env.cc).
std::string OpenMpWait() {
  if (const char* spin = std::getenv("GOMP_SPINCOUNT")) return std::string("GOMP_SPINCOUNT=") + spin;
  if (const char* policy = std::getenv("OMP_WAIT_POLICY")) return std::string("OMP_WAIT_POLICY=") + policy;
  return "libgomp default";
}

struct BenchArgs {
  EngineArgs engine;
  int repeat = 10;
  int batch = 1;
  std::string format = "table";
};

Status RunBench(const BenchArgs& a) {
  ES_ASSIGN_OR_RETURN(const Backend* backend, ChooseBackend(a.engine));
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.engine.model));
  ES_ASSIGN_OR_RETURN(g, InDtype(std::move(g), a.engine.dtype, CalibArgs{}, DefaultPreprocessing(a.engine.model)));
  const int n = static_cast<int>(g.nodes.size());
  // --batch: the same (quantized) model with batch N; it borrows g's weights.
  ES_ASSIGN_OR_RETURN(const Graph batched, WithBatch(g, a.batch));
  ES_ASSIGN_OR_RETURN(LayerTimes times, TimeLayers(batched, *backend, a.repeat));
  const SegmentExecutor* ex = times.executor.get();
  const std::vector<double>& totals = times.totals_ms;
  const std::vector<std::vector<double>>& layers = times.layers_ms;
  const double median = Percentile(totals, 0.5), p95 = Percentile(totals, 0.95);
  const double min = *std::min_element(totals.begin(), totals.end());
  if (a.format == "json" || a.format == "csv") {
    Json j;
    j["schema_version"] = kSchemaVersion;
    j["model"] = a.engine.model;
    j["backend"] = backend->name();
    j["dtype"] = a.engine.dtype;
    j["threads"] = backend == &OneDnnBackend() ? OneDnnThreads() : 1;
    j["repeat"] = a.repeat;
    j["batch"] = a.batch;
    j["images_per_s"] = 1000.0 * a.batch / median;
    j["openmp_wait"] = OpenMpWait();
    j["arena_bytes"] = ex->arena_bytes();
    j["scratch_bytes"] = ex->scratch_bytes();
    j["median_ms"] = median;
    j["min_ms"] = min;
    j["p95_ms"] = p95;
    Json arr = Json::array();
    for (int i = 0; i < n; ++i)
      arr.push_back({{"name", g.nodes[i].name}, {"op", OpTypeName(g.nodes[i].op)}, {"median_ms", Percentile(layers[i], 0.5)},
                     {"impl", ex->kernel(i).fused_nodes == 0     ? "fused into the node before"
                              : backend == &OneDnnBackend() ? OneDnnImplementation(ex->kernel(i))
                                                            : "reference"}});
    if (a.format == "csv") return WriteOutput("", RowsCsv(arr));
    j["layers"] = std::move(arr);
    std::printf("%s\n", j.dump(2).c_str());
    return Status::Ok();
  }
  std::printf("model %s: backend %s, dtype %s, %d runs: median %.2f ms, min %.2f ms, p95 %.2f ms, arena %s (%s)\n",
              a.engine.model.c_str(), backend->name(), a.engine.dtype.c_str(), a.repeat, median, min, p95,
              HumanBytes(ex->arena_bytes()).c_str(), OpenMpWait().c_str());
  if (a.batch > 1) std::printf("batch %d: times are per batch; %.1f images/s\n", a.batch, 1000.0 * a.batch / median);
  for (int i = 0; i < n; ++i)
    std::printf("  %-40s %-20s %8.3f ms\n", g.nodes[i].name.c_str(), OpTypeName(g.nodes[i].op), Percentile(layers[i], 0.5));
  return Status::Ok();
}

}  // namespace

Runner RegisterInfer(CLI::App& app) {
  auto a = std::make_shared<InferArgs>();
  AddEngineOptions(app, &a->engine);
  app.add_option("--input", a->input, "Input: .npy (float32 NCHW) or .png/.jpg image")->required();
  app.add_option("-o,--output", a->output, "Write the output as .npy (float32)");
  app.add_option("--split", a->split, "Run head and tail split at this cut (index, layer name, input/output)");
  app.add_option("--calib", a->calib, "--dtype int8: calibration folder of .npy/.png/.jpg inputs (default: 16 seeded random inputs)");
  app.add_option("--top", a->top, "Print the K most probable classes (0: none)")->check(CLI::NonNegativeNumber);
  app.add_option("--mean", a->mean, "Per-channel mean for image inputs (3 values)")->expected(3);
  app.add_option("--std", a->std_dev, "Per-channel std for image inputs (3 values)")->expected(3);
  return [a] { return RunInfer(*a); };
}

Runner RegisterBenchEngine(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  AddEngineOptions(app, &a->engine);
  app.add_option("--repeat", a->repeat, "Timed invocations")->check(CLI::PositiveNumber);
  app.add_option("--batch", a->batch, "Images per invocation (median_ms is per batch)")->check(CLI::Range(1, 1024));
  app.add_option("--format", a->format, "table, json or csv (csv: one row per layer)")->check(CLI::IsMember({"table", "json", "csv"}));
  return [a] { return RunBench(*a); };
}

}  // namespace edgesplit::cli
