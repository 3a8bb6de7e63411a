// edgesplit profile --from-mcu-trace FILE: a device profile from the per-layer
// counts the Cortex-M4 test firmware prints (tools/build-mcu.sh --icount;
// docs/mcu.md, docs/calibration.md).
#pragma once

#include <string>

#include "edgesplit/status.h"

namespace edgesplit::cli {

struct McuTraceArgs {
  std::string trace;      // the firmware's output (qemu.out)
  std::string output;     // the device profile to write
  std::string name = "cortex-m4-qemu";
  double clock_hz = 240e6;  // instructions are turned into seconds at one per cycle at this clock
  std::string compare = "esp32s3";  // the calibrated profile printed beside it
};

// Parses the trace, maps each layer to the model's int8 graph (the model spec
// is in the trace's header), fits the per-class rates (FitLayerTimings) on
// instruction counts, writes the profile and prints a comparison. Errors: a
// trace without the `icount_shift` line (ticks without -icount are host
// speed, not instructions), unknown layers, a malformed line (named by number).
Status RunProfileFromMcuTrace(const McuTraceArgs& a);

}  // namespace edgesplit::cli
