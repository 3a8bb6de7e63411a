// edgesplit profile --from-mcu-trace FILE (mcu_trace.h). The library reads the
// trace and fits the profile (edgesplit/device_profiling.h); this renders it. Seconds on a
// device come from one instruction per cycle at --mcu-clock-hz (an assumption:
// the M4 retires about one instruction per cycle on this code; loads from slow
// flash or PSRAM would add wait states a real board has).
#include <fmt/format.h>

#include "edgesplit/cost.h"
#include "edgesplit/device_profiling.h"
#include "mcu_trace.h"
#include "render.h"

namespace edgesplit::cli {

Status RunProfileFromMcuTrace(const McuTraceArgs& a) {
  if (a.output.empty()) return InvalidArgument("profile --from-mcu-trace needs -o FILE for the device profile it writes");
  ES_ASSIGN_OR_RETURN(runtime::McuTraceProfile r, runtime::ProfileFromMcuTrace({a.trace, a.name, a.clock_hz, a.compare}));
  ES_RETURN_IF_ERROR(WriteOutput(a.output, r.profile_json));
  const McuTrace& trace = r.trace;
  const FittedRates& fit = r.fit;
  const DeviceProfile &reread = r.profile, &reference = r.reference;
  const double total_insns = r.total_instructions, reference_s = r.reference_s;

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
