// The core's f32 fused multiply-add peak on AVX-512: 24 independent chains
// of FMAs on registers alone (no loads, no stores). A kernel's GFLOP/s (its
// per-layer time from `bench-engine --format csv` against the layer's MACs)
// is judged against this figure, measured on the same machine in the same
// session: docs/benchmarks.md gives conv kernels as a share of it.
//
//   build/bench/fma_peak_bench --benchmark_min_time=0.5
//
// Counter `GFLOPs`: 2 x FMAs x 16 lanes per second, one thread.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>

namespace {

constexpr int kChains = 24;  // more than FMA latency x FMA ports on x86 cores to date
constexpr int kSteps = 1 << 12;

// kSteps x kChains FMAs on values the compiler cannot know (`seed`);
// returns their sum so that none is dead code.
__attribute__((target("avx512f"), noinline)) float Chains(float seed) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed * static_cast<float>(i));
  const __m512 b = _mm512_set1_ps(1.0f - seed), c = _mm512_set1_ps(seed);
  for (int s = 0; s < kSteps; ++s)
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  alignas(64) float lanes[16];
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

void BM_FmaPeakAvx512(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    for (auto _ : state) {
    }
    return;
  }
  volatile float seed = 1e-4f;
  for (auto _ : state) benchmark::DoNotOptimize(Chains(seed));
  const double flops = 2.0 * kChains * kSteps * 16;
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_FmaPeakAvx512);

}  // namespace

BENCHMARK_MAIN();
