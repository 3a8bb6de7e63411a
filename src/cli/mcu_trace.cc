// edgesplit profile --from-mcu-trace FILE (mcu_trace.h).
//
// Under `qemu -icount shift=S` virtual time advances 2^S ns per instruction, so
// a SysTick count at ticks_hz is ticks * 1e9 / (2^S * ticks_hz) instructions:
// an exact, load-independent count of what the Cortex-M4 executed per layer.
// Seconds on a device come from one instruction per cycle at --mcu-clock-hz
// (an assumption: the M4 retires about one instruction per cycle on this code;
// loads from slow flash or PSRAM would add wait states a real board has).
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "mcu_trace.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct TraceLayer {
  std::string op, name;
  double ticks = 0;
};
struct Trace {
  std::string model;
  std::vector<TraceLayer> layers;
  double ticks_hz = 0;
  int icount_shift = -1;
};

Result<Trace> ParseTrace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return IoError("cannot open MCU trace '" + path + "'");
  Trace t;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    const std::string where = path + ":" + std::to_string(number);
    if (key == "segment") {
      words >> t.model;
    } else if (key == "layer") {
      TraceLayer l;
      int index = 0;
      std::string ticks_key;
      if (!(words >> index >> l.op >> l.name >> ticks_key >> l.ticks) || ticks_key != "ticks" || l.ticks < 0)
        return InvalidArgument(where + ": expected 'layer INDEX OP NAME ticks COUNT'");
      if (index != static_cast<int>(t.layers.size()))
        return InvalidArgument(where + ": layer " + std::to_string(index) + " out of order");
      t.layers.push_back(l);
    } else if (key == "ticks_hz") {
      if (!(words >> t.ticks_hz) || !(t.ticks_hz > 0)) return InvalidArgument(where + ": bad ticks_hz");
    } else if (key == "icount_shift") {
      if (!(words >> t.icount_shift) || t.icount_shift < 0 || t.icount_shift > 10)
        return InvalidArgument(where + ": bad icount_shift");
    }
  }
  if (t.model.empty()) return InvalidArgument(path + ": no 'segment MODEL ...' header (not a firmware trace?)");
  if (t.layers.empty()) return InvalidArgument(path + ": no 'layer' lines");
  if (t.ticks_hz <= 0) return InvalidArgument(path + ": no 'ticks_hz' line (the run did not finish?)");
  if (t.icount_shift < 0)
    return InvalidArgument(path + ": no 'icount_shift' line: without qemu -icount the ticks measure the host, "
                           "not instructions (run tools/build-mcu.sh --icount)");
  return t;
}

}  // namespace

Status RunProfileFromMcuTrace(const McuTraceArgs& a) {
  if (a.output.empty()) return InvalidArgument("profile --from-mcu-trace needs -o FILE for the device profile it writes");
  if (!(a.clock_hz > 0)) return InvalidArgument("--mcu-clock-hz must be positive");
  ES_ASSIGN_OR_RETURN(Trace trace, ParseTrace(a.trace));
  // The layer names are those of the int8 graph; calibration does not change
  // its structure, so one random sample is enough to rebuild it.
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(trace.model));
  ES_ASSIGN_OR_RETURN(g, Quantize(g, RandomCalibrationSamples(g.tensors[g.inputs[0]], 1, 1)));
  ES_ASSIGN_OR_RETURN(DeviceProfile reference, LoadDeviceProfile(ProfilesDir(), a.compare));
  const double insns_per_tick = 1e9 / (std::ldexp(1.0, trace.icount_shift) * trace.ticks_hz);

  std::vector<LayerTiming> timings;
  double total_insns = 0, reference_s = 0;
  for (const TraceLayer& l : trace.layers) {
    const int node = g.FindNode(l.name);
    if (node < 0) return InvalidArgument(a.trace + ": layer '" + l.name + "' is not in " + trace.model + " (int8)");
    const LayerStats stats = ComputeLayerStats(g, node);
    const double insns = l.ticks * insns_per_tick;
    total_insns += insns;
    reference_s += NodeSeconds(reference, g, node, stats);
    timings.push_back({ClassifyNode(g, node), static_cast<double>(NodeWork(g, node, stats)), insns / a.clock_hz});
  }
  ES_ASSIGN_OR_RETURN(FittedRates fit, FitLayerTimings(timings));
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
