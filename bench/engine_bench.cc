// Inference-engine benchmarks (reference backend, f32).
//
// Each kernel benchmark has a baseline measured in the same run: a textbook
// loop (bounds test on every tap, no hoisting) computing the same thing. After
// the run, the ratios baseline/reference are printed, so numbers from different
// machines compare. Whole-model benchmarks run zoo models through the
// SegmentExecutor (the path `edgesplit infer` and `bench-engine` take).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"

namespace edgesplit {
namespace {

struct ConvCase {
  const char* name;
  int64_t c, m, hw, k, stride, group;
};
const ConvCase kConvCases[] = {
    {"3x3_c32_56", 32, 32, 56, 3, 1, 1},
    {"1x1_c96_28", 96, 96, 28, 1, 1, 1},
    {"dw3x3_c96_56", 96, 96, 56, 3, 1, 96},
    {"3x3s2_c64_56", 64, 64, 56, 3, 2, 1},
};

// A one-Conv graph with seeded weights.
Graph ConvGraph(const ConvCase& cc) {
  Graph g;
  Tensor x;
  x.name = "x";
  x.shape = {1, cc.c, cc.hw, cc.hw};
  const int xi = g.AddTensor(x);
  g.inputs = {xi};
  Rng rng(3);
  std::vector<float> w(static_cast<size_t>(cc.m * (cc.c / cc.group) * cc.k * cc.k));
  for (float& v : w) v = rng.Uniform(-0.5f, 0.5f);
  const int wi = g.AddConstant("w", DType::kFloat32, {cc.m, cc.c / cc.group, cc.k, cc.k}, w.data());
  Tensor y;
  y.name = "y";
  const int yi = g.AddTensor(y);
  Node n;
  n.op = OpType::kConv;
  n.name = "conv";
  n.inputs = {xi, wi};
  n.outputs = {yi};
  n.SetInts("strides", {cc.stride, cc.stride});
  n.SetInts("pads", {cc.k / 2, cc.k / 2, cc.k / 2, cc.k / 2});
  n.SetInt("group", cc.group);
  g.AddNode(std::move(n));
  g.outputs = {yi};
  (void)InferShapes(g);
  return g;
}

void BM_ReferenceConv(benchmark::State& state) {
  const ConvCase& cc = kConvCases[state.range(0)];
  Graph g = ConvGraph(cc);
  auto ex = SegmentExecutor::Create(g, 0, 1, ReferenceBackend());
  if (!ex.ok()) {
    state.SkipWithError(ex.status().message().c_str());
    return;
  }
  std::memset((*ex)->input(), 0, static_cast<size_t>((*ex)->input_bytes()));
  for (auto _ : state) benchmark::DoNotOptimize((*ex)->Invoke().ok());
  state.SetLabel(cc.name);
}

// The baseline: the convolution as written in a textbook, bounds test per tap.
void BM_NaiveConv(benchmark::State& state) {
  const ConvCase& cc = kConvCases[state.range(0)];
  Graph g = ConvGraph(cc);
  const Shape& os = g.tensors[g.outputs[0]].shape;
  const int64_t OH = os[2], OW = os[3], H = cc.hw, W = cc.hw, cg = cc.c / cc.group, mg = cc.m / cc.group;
  std::vector<float> x(static_cast<size_t>(cc.c * H * W), 0.0f), y(static_cast<size_t>(cc.m * OH * OW));
  const float* w = g.tensors[1].data_as<float>();
  for (auto _ : state) {
    for (int64_t m = 0; m < cc.m; ++m)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          float acc = 0;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t kh = 0; kh < cc.k; ++kh)
              for (int64_t kw = 0; kw < cc.k; ++kw) {
                const int64_t iy = oy * cc.stride - cc.k / 2 + kh, ix = ox * cc.stride - cc.k / 2 + kw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += w[((m * cg + ic) * cc.k + kh) * cc.k + kw] * x[(((m / mg) * cg + ic) * H + iy) * W + ix];
              }
          y[(m * OH + oy) * OW + ox] = acc;
        }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(cc.name);
}

const char* kModels[] = {"mobilenet_v2:alpha=0.35,res=96", "mobilenet_v2:alpha=1.0,res=224", "resnet18", "resnet50"};

void BM_ReferenceModel(benchmark::State& state) {
  Result<Graph> g = LoadModel(kModels[state.range(0)]);
  if (!g.ok()) {
    state.SkipWithError(g.status().message().c_str());
    return;
  }
  auto ex = SegmentExecutor::Create(*g, 0, static_cast<int>(g->nodes.size()), ReferenceBackend());
  if (!ex.ok()) {
    state.SkipWithError(ex.status().message().c_str());
    return;
  }
  std::memset((*ex)->input(), 0, static_cast<size_t>((*ex)->input_bytes()));
  for (auto _ : state) benchmark::DoNotOptimize((*ex)->Invoke().ok());
  state.SetLabel(kModels[state.range(0)]);
  state.counters["arena_MiB"] = static_cast<double>((*ex)->arena_bytes()) / (1 << 20);
}

BENCHMARK(BM_ReferenceConv)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NaiveConv)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReferenceModel)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->MinTime(0.5);

// Collects real times per (benchmark, case) for the ratio table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred) times[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> times;
};

}  // namespace
}  // namespace edgesplit

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  edgesplit::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nreference conv vs textbook loop (same run):\n");
  for (int i = 0; i < 4; ++i) {
    const std::string suffix = "/" + std::to_string(i);
    auto ref = reporter.times.find("BM_ReferenceConv" + suffix);
    auto naive = reporter.times.find("BM_NaiveConv" + suffix);
    if (ref == reporter.times.end() || naive == reporter.times.end()) continue;
    std::printf("  %-14s reference %8.3f ms  textbook %8.3f ms  speed-up x%.2f\n", edgesplit::kConvCases[i].name,
                ref->second, naive->second, naive->second / ref->second);
  }
  benchmark::Shutdown();
  return 0;
}
