// Per-layer counts from the Cortex-M4 test firmware (tools/build-mcu.sh
// --icount; docs/mcu.md, docs/calibration.md), read as layer timings for the
// cost model's fit (edgesplit/cost.h FitLayerTimings). Module `cost`.
//
// The trace is the firmware's text output: "segment MODEL ...", one
// "layer INDEX OP NAME ticks COUNT" per layer in order, "ticks_hz HZ" and
// "icount_shift S" (other lines are ignored). Under `qemu -icount shift=S`
// virtual time advances 2^S ns per instruction, so a SysTick count at ticks_hz
// is ticks * 1e9 / (2^S * ticks_hz) instructions: an exact, load-independent
// count of what the Cortex-M4 executed per layer.
//
// Errors name the origin and line ("qemu.out:12: expected 'layer INDEX OP NAME
// ticks COUNT'"): a malformed or out-of-order line, and a trace without its
// header, layers, ticks_hz or icount_shift line (ticks without -icount
// measure the host, not instructions). Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "edgesplit/cost.h"
#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

struct McuTraceLayer {
  std::string op, name;  // as the firmware prints them (the int8 graph's node name)
  double ticks = 0;
};
struct McuTrace {
  std::string model;  // the zoo spec or file of the traced segment
  std::vector<McuTraceLayer> layers;
  double ticks_hz = 0;
  int icount_shift = -1;
  double InstructionsPerTick() const;
};

Result<McuTrace> ParseMcuTrace(const std::string& text, const std::string& origin);
// The same from a file (a device, pipe or folder, or over 64 MiB, is refused before reading).
Result<McuTrace> ReadMcuTrace(const std::string& path);

// Each traced layer as a LayerTiming of `graph` (the model's int8 graph, whose
// node names the trace uses), its instructions turned into seconds at one
// instruction per cycle at `clock_hz`; *total_instructions gets their sum.
// Fails naming a layer that is not in the graph.
Result<std::vector<LayerTiming>> McuTraceTimings(const McuTrace& trace, const Graph& graph, double clock_hz,
                                                 double* total_instructions = nullptr);

}  // namespace edgesplit
