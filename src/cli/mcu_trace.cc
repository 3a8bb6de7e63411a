// edgesplit profile --from-mcu-trace FILE (mcu_trace.h). The library reads the
// trace and turns it into layer timings (edgesplit/mcu_trace.h). Seconds on a
// device come from one instruction per cycle at --mcu-clock-hz (an assumption:
// the M4 retires about one instruction per cycle on this code; loads from slow
// flash or PSRAM would add wait states a real board has).
#include <fmt/format.h>

#include <cmath>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/mcu_trace.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "mcu_trace.h"
#include "render.h"

namespace edgesplit::cli {

Status RunProfileFromMcuTrace(const McuTraceArgs& a) {
  if (a.output.empty()) return InvalidArgument("profile --from-mcu-trace needs -o FILE for the device profile it writes");
  if (!(a.clock_hz > 0)) return InvalidArgument("--mcu-clock-hz must be positive");
  ES_ASSIGN_OR_RETURN(McuTrace trace, ReadMcuTrace(a.trace));
  // The layer names are those of the int8 graph; calibration does not change
  // its structure, so one random sample is enough to rebuild it.
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(trace.model));
  ES_ASSIGN_OR_RETURN(g, Quantize(g, RandomCalibrationSamples(g.tensors[g.inputs[0]], 1, 1)));
  ES_ASSIGN_OR_RETURN(DeviceProfile reference, LoadDeviceProfile(ProfilesDir(), a.compare));
  double total_insns = 0, reference_s = 0;
  Result<std::vector<LayerTiming>> timings = McuTraceTimings(trace, g, a.clock_hz, &total_insns);
  if (!timings.ok()) return timings.status().WithContext(a.trace);
  for (const McuTraceLayer& l : trace.layers) {  // what the calibrated board's profile predicts for the same layers
    const int node = g.FindNode(l.name);
    reference_s += NodeSeconds(reference, g, node, ComputeLayerStats(g, node));
  }
  ES_ASSIGN_OR_RETURN(FittedRates fit, FitLayerTimings(*timings));
  DeviceProfile device = ProfileFromFit(fit, a.name, DType::kInt8, &reference);
  // ProfileFromFit states rates per cycle of a nominal 1 GHz clock; restate
  // them per cycle of the clock assumed, so they compare with the board's.
  for (double& w : device.work_per_cycle) w *= device.clock_hz / a.clock_hz;
  device.clock_hz = a.clock_hz;
  device.weight_capacity_bytes = reference.weight_capacity_bytes;
  device.ram_bytes = reference.ram_bytes;
  device.active_w = reference.active_w;
  device.idle_w = reference.idle_w;
  device.tx_w = reference.tx_w;
  device.rx_w = reference.rx_w;
  const std::string src = fmt::format(
      "[measured] instruction counts of the reference int8 kernels on a Cortex-M4F under qemu-system-arm -M "
      "mps2-an386 -icount shift={} ({} layers of {}, trace {}), at one instruction per cycle at {:.0f} MHz "
      "[assumption: no flash/PSRAM wait states]; non-negative least squares fit",
      trace.icount_shift, trace.layers.size(), trace.model, a.trace, a.clock_hz / 1e6);
  for (const char* k : {"macs_per_cycle", "cycles_per_element", "per_layer_overhead_s"}) device.sources[k] = src;
  for (const char* k : {"weight_capacity_bytes", "ram_bytes", "active_w", "idle_w", "tx_w", "rx_w"})
    device.sources[k] = "copied from the '" + a.compare + "' profile (the board this stands in for)";
  const std::string text = DeviceProfileToJson(
      device, fmt::format("Cortex-M4F reference int8 kernels, instruction counts from QEMU, at {:.0f} MHz", a.clock_hz / 1e6));
  ES_ASSIGN_OR_RETURN(DeviceProfile reread, ParseDeviceProfile(text, a.output));
  ES_RETURN_IF_ERROR(WriteOutput(a.output, text));

  std::string report = fmt::format("trace      {} ({} layers of {})\n", a.trace, trace.layers.size(), trace.model);
  report += fmt::format("instructions {:.0f} ({:.2f} M)  -> {:.3f} s at {:.0f} MHz, 1 instruction/cycle\n", total_insns,
                        total_insns / 1e6, total_insns / a.clock_hz, a.clock_hz / 1e6);
  report += fmt::format("'{}' predicts {:.3f} s for the same layers\n", a.compare, reference_s);
  report += fmt::format("\n{:<12} {:>12} {:>12} {:>8}\n", "class", "measured", a.compare, "layers");
  for (int c = 0; c < kNumOpClasses; ++c) {
    const bool macs = c <= static_cast<int>(OpClass::kFc);
    // Effective rates: the profile's `scale` multiplies every class's time.
    auto rate = [&](const DeviceProfile& d) {
      const double w = d.work_per_cycle[c] / d.scale;
      return macs ? fmt::format("{:.4f} MAC/c", w) : fmt::format("{:.1f} c/el", 1 / w);
    };
    report += fmt::format("{:<12} {:>12} {:>12} {:>8}\n", OpClassName(static_cast<OpClass>(c)),
                          fit.samples[c] ? rate(reread) : "-", rate(reference), fit.samples[c]);
  }
  report += fmt::format("wrote {}\n", a.output);
  return WriteOutput("", report);
}

}  // namespace edgesplit::cli
