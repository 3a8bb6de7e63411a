// Per-layer timing of the inference engine (module `runtime`): what
// `bench-engine` and `profile --measure` report, for library users too.
// Thread-safety: each call builds its own executor.
#pragma once

#include <memory>
#include <vector>

#include "edgesplit/exec.h"
#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

struct LayerTimes {
  std::unique_ptr<SegmentExecutor> executor;  // the executor that ran (arena sizes...)
  std::vector<double> totals_ms;              // one per whole Invoke()
  std::vector<std::vector<double>> layers_ms;  // [node][node-by-node pass]
};

// Which clock TimeLayers reads.
enum class TimingClock {
  kWall,        // steady_clock: what a user waits for (bench-engine)
  kProcessCpu,  // CPU time of this process: with one engine thread, other load on
                // the machine does not inflate it (profile --measure fits on it)
};

// Runs the whole model once to warm up, then `repeat` whole Invoke() calls
// (totals_ms), then `repeat` passes node by node (InvokeNodes(i, i + 1):
// layers_ms), with deterministic float inputs in [-1, 1).
Result<LayerTimes> TimeLayers(const Graph& graph, const Backend& backend, int repeat,
                              TimingClock clock = TimingClock::kWall);

// The q-quantile (0.5: median) of `v`; v must not be empty.
double Percentile(std::vector<double> v, double q);

}  // namespace edgesplit::runtime
