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

// Fits the profile through the library (runtime::ProfileFromMcuTrace, whose
// errors name a malformed trace line or an unknown layer), writes it to
// `output` and prints its per-class rates beside the calibrated board's.
Status RunProfileFromMcuTrace(const McuTraceArgs& a);

}  // namespace edgesplit::cli
