// Per-layer timing (edgesplit/engine_timing.h).
#include "edgesplit/engine_timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

namespace edgesplit::runtime {
namespace {

// Milliseconds on the chosen clock, from an arbitrary origin.
double NowMs(TimingClock clock) {
  if (clock == TimingClock::kProcessCpu) {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())) - 1));
  return v[i];
}

Result<LayerTimes> TimeLayers(const Graph& g, const Backend& backend, int repeat, TimingClock clock) {
  if (repeat < 1) return InvalidArgument("--repeat must be at least 1");
  const int n = static_cast<int>(g.nodes.size());
  LayerTimes out;
  ES_ASSIGN_OR_RETURN(out.executor, SegmentExecutor::Create(g, 0, n, backend));
  SegmentExecutor* ex = out.executor.get();
  // Deterministic input in [-1, 1).
  Rng rng(1);
  for (int i = 0; i < ex->num_inputs(); ++i) {
    if (ex->input_tensor(i).dtype != DType::kFloat32) return Unsupported("timing the engine needs float inputs");
    float* p = static_cast<float*>(ex->input(i));
    for (int64_t j = 0; j < ex->input_bytes(i) / 4; ++j) p[j] = rng.Uniform(-1.0f, 1.0f);
  }
  ES_RETURN_IF_ERROR(ex->Invoke());  // warm-up
  // Totals from whole Invoke() calls (what a user waits for, cross-node work
  // included); per-node times from a separate node-by-node pass.
  for (int r = 0; r < repeat; ++r) {
    const double start = NowMs(clock);
    ES_RETURN_IF_ERROR(ex->Invoke());
    out.totals_ms.push_back(NowMs(clock) - start);
  }
  out.layers_ms.resize(n);
  for (int r = 0; r < repeat; ++r) {
    double t = NowMs(clock);
    for (int i = 0; i < n; ++i) {
      ES_RETURN_IF_ERROR(ex->InvokeNodes(i, i + 1));
      const double now = NowMs(clock);
      out.layers_ms[i].push_back(now - t);
      t = now;
    }
  }
  return out;
}

}  // namespace edgesplit::runtime
