// How long the model-side analysis takes: building a zoo model, finding every
// cut point with both arenas per cut, and the ONNX round trip. The planner
// (a later issue) calls FindCutPoints once per model, so this bounds its setup.
#include <benchmark/benchmark.h>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"

namespace {

const char* kModels[] = {"mobilenet_v2:alpha=0.35,res=224", "resnet50"};

void BM_BuildZooModel(benchmark::State& state) {
  for (auto _ : state) {
    auto g = edgesplit::LoadModel(kModels[state.range(0)]);
    benchmark::DoNotOptimize(g.ok());
  }
  state.SetLabel(kModels[state.range(0)]);
}

void BM_FindCutPoints(benchmark::State& state) {
  auto g = edgesplit::LoadModel(kModels[state.range(0)]);
  for (auto _ : state) {
    auto cuts = edgesplit::FindCutPoints(*g);
    benchmark::DoNotOptimize(cuts.ok());
  }
  state.SetLabel(kModels[state.range(0)]);
}

void BM_OnnxRoundTrip(benchmark::State& state) {
  auto g = edgesplit::LoadModel(kModels[state.range(0)]);
  for (auto _ : state) {
    auto bytes = edgesplit::ExportOnnxBytes(*g);
    auto back = edgesplit::ImportOnnxBytes(bytes->data(), bytes->size(), "");
    benchmark::DoNotOptimize(back.ok());
  }
  state.SetLabel(kModels[state.range(0)]);
}

BENCHMARK(BM_BuildZooModel)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FindCutPoints)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OnnxRoundTrip)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
