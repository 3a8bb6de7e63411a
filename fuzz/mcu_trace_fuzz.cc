// libFuzzer target: arbitrary bytes -> ParseMcuTrace (`profile --from-mcu-trace`).
// An accepted trace has its header, layers in order with finite non-negative
// ticks, and a finite positive instructions-per-tick figure.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "edgesplit/mcu_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  edgesplit::Result<edgesplit::McuTrace> trace = edgesplit::ParseMcuTrace(text, "fuzz.out");
  if (!trace.ok()) {
    if (trace.status().message().empty()) std::abort();
    return 0;
  }
  if (trace->model.empty() || trace->layers.empty() || trace->icount_shift < 0 || trace->icount_shift > 10) std::abort();
  for (const auto& l : trace->layers)
    if (!std::isfinite(l.ticks) || l.ticks < 0 || l.name.empty()) std::abort();
  const double per_tick = trace->InstructionsPerTick();
  if (!std::isfinite(per_tick) || !(per_tick > 0)) std::abort();
  return 0;
}
