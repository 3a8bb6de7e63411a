// The Cortex-M4 firmware's per-layer trace, read as layer timings (include/edgesplit/mcu_trace.h).
#include "edgesplit/mcu_trace.h"

#include <cmath>
#include <sstream>

#include "edgesplit/analysis.h"
#include "internal/json_fields.h"

namespace edgesplit {

double McuTrace::InstructionsPerTick() const { return 1e9 / (std::ldexp(1.0, icount_shift) * ticks_hz); }

Result<McuTrace> ParseMcuTrace(const std::string& text, const std::string& origin) {
  McuTrace t;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    const std::string where = origin + ":" + std::to_string(number);
    if (key == "segment") {
      words >> t.model;
    } else if (key == "layer") {
      McuTraceLayer l;
      int index = 0;
      std::string ticks_key;
      if (!(words >> index >> l.op >> l.name >> ticks_key >> l.ticks) || ticks_key != "ticks" || !std::isfinite(l.ticks) || l.ticks < 0)
        return InvalidArgument(where + ": expected 'layer INDEX OP NAME ticks COUNT'");
      if (index != static_cast<int>(t.layers.size()))
        return InvalidArgument(where + ": layer " + std::to_string(index) + " out of order");
      t.layers.push_back(l);
    } else if (key == "ticks_hz") {
      if (!(words >> t.ticks_hz) || !std::isfinite(t.ticks_hz) || !(t.ticks_hz > 0)) return InvalidArgument(where + ": bad ticks_hz");
    } else if (key == "icount_shift") {
      if (!(words >> t.icount_shift) || t.icount_shift < 0 || t.icount_shift > 10) return InvalidArgument(where + ": bad icount_shift");
    }
  }
  if (t.model.empty()) return InvalidArgument(origin + ": no 'segment MODEL ...' header (not a firmware trace?)");
  if (t.layers.empty()) return InvalidArgument(origin + ": no 'layer' lines");
  if (t.ticks_hz <= 0) return InvalidArgument(origin + ": no 'ticks_hz' line (the run did not finish?)");
  if (t.icount_shift < 0)
    return InvalidArgument(origin + ": no 'icount_shift' line: without qemu -icount the ticks measure the host, "
                           "not instructions (run tools/build-mcu.sh --icount)");
  return t;
}

Result<McuTrace> ReadMcuTrace(const std::string& path) {
  ES_ASSIGN_OR_RETURN(const std::string text, json_fields::ReadTextFile(path));
  return ParseMcuTrace(text, path);
}

Result<std::vector<LayerTiming>> McuTraceTimings(const McuTrace& trace, const Graph& g, double clock_hz, double* total_instructions) {
  if (!(clock_hz > 0)) return InvalidArgument("the clock must be positive");
  const double insns_per_tick = trace.InstructionsPerTick();
  std::vector<LayerTiming> timings;
  double total = 0;
  for (const McuTraceLayer& l : trace.layers) {
    const int node = g.FindNode(l.name);
    if (node < 0) return InvalidArgument("layer '" + l.name + "' is not in " + trace.model + " (int8)");
    const LayerStats stats = ComputeLayerStats(g, node);
    const double insns = l.ticks * insns_per_tick;
    total += insns;
    timings.push_back({ClassifyNode(g, node), static_cast<double>(NodeWork(g, node, stats)), insns / clock_hz});
  }
  if (total_instructions) *total_instructions = total;
  return timings;
}

}  // namespace edgesplit
