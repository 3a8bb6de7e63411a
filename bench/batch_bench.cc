// Batching benchmarks on the oneDNN backend (the edge server's).
//
//   batch_bench MODEL DTYPE THREADS [ROUNDS]      e.g. batch_bench resnet50 int8 1
//
// 1. Throughput: 8 images as eight batch-1 invocations (the baseline) and as
//    one batch-8 invocation, back to back in each round with the order
//    alternating; prints images/s of each and the median per-round speed-up
//    with its spread.
// 2. BatchedSegment strategy, on the tail after the middle cut (the first cut
//    at or past half the nodes), max batch 8: for every k in 1..8 the sum of
//    sizes (k = 4 + 2 + 1) against padding to the next size (k -> 8), again
//    alternating; prints padded/sum time per k (above 1: the sum is faster).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/batched_segment.h"
#include "edgesplit/exec.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "edgesplit/quant.h"

namespace edgesplit {
namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// Process CPU time (all threads): with one engine thread, other load on the
// shared machine does not inflate it as it does the wall clock.
double Cpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
struct Time {
  double wall, cpu;
};
template <typename F>
Time Measure(F&& f) {
  const double w = Now(), c = Cpu();
  f();
  return {Now() - w, Cpu() - c};
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().message().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void Fill(void* p, int64_t bytes, uint64_t seed) {
  Rng rng(seed);
  auto* f = static_cast<float*>(p);
  for (int64_t i = 0; i < bytes / 4; ++i) f[i] = rng.Uniform(-1.0f, 1.0f);
}

struct Spread {
  double median, min, max;
};
Spread Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

void Throughput(const Graph& g1, int rounds) {
  const int n = static_cast<int>(g1.nodes.size());
  const Graph g8 = Check(WithBatch(g1, 8), "WithBatch");
  auto one = Check(SegmentExecutor::Create(g1, 0, n, OneDnnBackend()), "batch-1 executor");
  auto eight = Check(SegmentExecutor::Create(g8, 0, n, OneDnnBackend()), "batch-8 executor");
  Fill(one->input(), one->input_bytes(), 1);
  Fill(eight->input(), eight->input_bytes(), 1);
  auto run1 = [&] {
    return Measure([&] {
      for (int i = 0; i < 8; ++i)
        if (!one->Invoke().ok()) std::abort();
    });
  };
  auto run8 = [&] {
    return Measure([&] {
      if (!eight->Invoke().ok()) std::abort();
    });
  };
  run1();
  run8();  // warm-up
  std::vector<double> w1, w8, wr, cr;
  for (int r = 0; r < rounds; ++r) {
    Time a, b;
    if (r % 2 == 0) a = run1(), b = run8();
    else b = run8(), a = run1();
    w1.push_back(a.wall);
    w8.push_back(b.wall);
    wr.push_back(a.wall / b.wall);
    cr.push_back(a.cpu / b.cpu);
  }
  const Spread s1 = Summarise(w1), s8 = Summarise(w8), sw = Summarise(wr), sc = Summarise(cr);
  std::printf("throughput (whole model, %d rounds)\n", rounds);
  std::printf("  batch 1: %7.2f ms/image  %7.1f images/s   (median wall)\n", s1.median * 1e3 / 8, 8 / s1.median);
  std::printf("  batch 8: %7.2f ms/image  %7.1f images/s   (median wall; %.1f ms per batch)\n", s8.median * 1e3 / 8,
              8 / s8.median, s8.median * 1e3);
  std::printf("  batch-8 speed-up per image: wall median %.3f (min %.3f, max %.3f); CPU median %.3f (min %.3f, max %.3f)\n",
              sw.median, sw.min, sw.max, sc.median, sc.min, sc.max);
  std::printf("  arena: batch 1 %lld B, batch 8 %lld B\n", static_cast<long long>(one->arena_bytes()),
              static_cast<long long>(eight->arena_bytes()));
}

void Strategies(const Graph& g1, int rounds) {
  const int n = static_cast<int>(g1.nodes.size());
  const std::vector<CutPoint> cuts = Check(FindCutPoints(g1), "cuts");
  const CutPoint* cut = nullptr;
  for (const CutPoint& c : cuts)
    if (c.position >= n / 2 && c.position < n) {
      cut = &c;
      break;
    }
  if (!cut) return;
  auto sum = Check(BatchedSegment::Create(g1, cut->position, n, OneDnnBackend(), 8, BatchedSegment::Strategy::kSumOfSizes),
                   "sum");
  auto pad = Check(BatchedSegment::Create(g1, cut->position, n, OneDnnBackend(), 8, BatchedSegment::Strategy::kPadded),
                   "padded");
  // Cut tensors: seeded values of the cut's dtype (bytes; any bits are valid int8).
  std::vector<std::vector<unsigned char>> in(8, std::vector<unsigned char>(static_cast<size_t>(sum->input_bytes())));
  std::vector<std::vector<unsigned char>> out(8, std::vector<unsigned char>(static_cast<size_t>(sum->output_bytes())));
  const bool f32 = g1.tensors[cut->tensor].dtype == DType::kFloat32;
  for (int i = 0; i < 8; ++i) {
    if (f32) Fill(in[i].data(), sum->input_bytes(), 10 + static_cast<uint64_t>(i));
    else for (size_t j = 0; j < in[i].size(); ++j) in[i][j] = static_cast<unsigned char>((j * 131 + static_cast<size_t>(i) * 17) & 0x7f);
  }
  std::vector<const void*> ip;
  std::vector<void*> op;
  for (int i = 0; i < 8; ++i) ip.push_back(in[i].data()), op.push_back(out[i].data());
  std::printf("strategy (tail after cut %d '%s', nodes [%d, %d), max batch 8; arena sum %lld B, padded %lld B)\n",
              cut->index, cut->after.c_str(), cut->position, n, static_cast<long long>(sum->arena_bytes()),
              static_cast<long long>(pad->arena_bytes()));
  std::printf("   k  sum ms  padded ms  padded/sum wall median (min, max)  CPU median (min, max)\n");
  for (int k = 1; k <= 8; ++k) {
    auto time = [&](BatchedSegment& b) {
      return Measure([&] {
        if (!b.Run({ip.data(), static_cast<size_t>(k)}, {op.data(), static_cast<size_t>(k)}).ok()) std::abort();
      });
    };
    time(*sum);
    time(*pad);  // warm-up
    std::vector<double> ts, tp, wr, cr;
    for (int r = 0; r < rounds; ++r) {
      Time a, b;
      if (r % 2 == 0) a = time(*sum), b = time(*pad);
      else b = time(*pad), a = time(*sum);
      ts.push_back(a.wall);
      tp.push_back(b.wall);
      wr.push_back(b.wall / a.wall);
      cr.push_back(b.cpu / a.cpu);
    }
    const Spread w = Summarise(wr), c = Summarise(cr);
    std::printf("  %2d %7.2f %9.2f   %.3f (%.3f, %.3f)   %.3f (%.3f, %.3f)\n", k, Summarise(ts).median * 1e3,
                Summarise(tp).median * 1e3, w.median, w.min, w.max, c.median, c.min, c.max);
  }
}

}  // namespace
}  // namespace edgesplit

int main(int argc, char** argv) {
  using namespace edgesplit;
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL f32|int8 THREADS [ROUNDS] [throughput|strategy|both]\n", argv[0]);
    return 2;
  }
  const std::string spec = argv[1], dtype = argv[2];
  const int threads = std::atoi(argv[3]), rounds = argc > 4 ? std::atoi(argv[4]) : 5;
  const std::string part = argc > 5 ? argv[5] : "both";
  if (Status s = SetOneDnnThreads(threads); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  Graph g = Check(LoadModel(spec), "model");
  if (dtype == "int8") g = Check(Quantize(g, RandomCalibrationSamples(g.tensors[g.inputs[0]], 4, 1)), "quantize");
  std::printf("%s %s, onednn, %d thread(s)\n", spec.c_str(), dtype.c_str(), threads);
  if (part != "strategy") Throughput(g, rounds);
  if (part != "throughput") Strategies(g, rounds);
  return 0;
}
