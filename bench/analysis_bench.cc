// How long the model-side analysis takes: building a zoo model, finding every
// cut point with both arenas per cut, and the ONNX round trip. The planner
// (a later issue) calls FindCutPoints once per model, so this bounds its setup.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "../tests/relu_chain.h"

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

// Long chains (issue 15): every position a cut. The walk over units is about
// linear; planning each head and tail separately (the old way) about cubic.
void BM_FindCutPointsChain(benchmark::State& state) {
  const edgesplit::Graph g = edgesplit::testing::ReluChain(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto cuts = edgesplit::FindCutPoints(g);
    benchmark::DoNotOptimize(cuts.ok());
  }
}

// The old algorithm: PlanSegmentMemory for each cut's head and tail, f32 and int8.
int64_t PlanEachSegment(const edgesplit::Graph& g, const std::vector<edgesplit::CutPoint>& cuts) {
  int64_t sum = 0;
  const int n = static_cast<int>(g.nodes.size());
  for (const edgesplit::CutPoint& c : cuts)
    for (edgesplit::DType d : {edgesplit::DType::kFloat32, edgesplit::DType::kInt8})
      sum += edgesplit::PlanSegmentMemory(g, 0, c.position, d)->arena_bytes +
             edgesplit::PlanSegmentMemory(g, c.position, n, d)->arena_bytes;
  return sum;
}

BENCHMARK(BM_FindCutPointsChain)->Arg(1000)->Arg(2000)->Arg(4000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildZooModel)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FindCutPoints)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OnnxRoundTrip)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);

// Old vs new on a 1000-node chain, alternating rounds; the median ratio and its spread.
void PrintChainRatio() {
  const edgesplit::Graph g = edgesplit::testing::ReluChain(1000);
  const auto cuts = *edgesplit::FindCutPoints(g);
  using Clock = std::chrono::steady_clock;
  std::vector<double> ratios;
  for (int round = 0; round < 5; ++round) {
    double old_s = 0, new_s = 0;
    for (int half = 0; half < 2; ++half) {  // order alternates between rounds
      const auto t0 = Clock::now();
      if ((round + half) % 2 == 0) {
        benchmark::DoNotOptimize(PlanEachSegment(g, cuts));
        old_s = std::chrono::duration<double>(Clock::now() - t0).count();
      } else {
        benchmark::DoNotOptimize(edgesplit::FindCutPoints(g).ok());
        new_s = std::chrono::duration<double>(Clock::now() - t0).count();
      }
    }
    ratios.push_back(old_s / new_s);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("1000-node chain: planning each segment / chain walk = %.0fx median of %zu alternating rounds (%.0f-%.0fx)\n",
              ratios[ratios.size() / 2], ratios.size(), ratios.front(), ratios.back());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PrintChainRatio();
  return 0;
}
