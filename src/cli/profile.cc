// edgesplit profile --measure -o FILE [--models LIST] [--held-out LIST]
//     [--backend reference] [--repeat N] [--format table|json]
//
// Measures this machine and fits a device profile through the library
// (runtime::MeasureDeviceProfile, edgesplit/device_profiling.h: every layer of
// the fit models timed, the per-op-class model fitted, the profile's error on
// held-out models), writes the profile and renders the fit. `cost` only reads
// files; this is where measurement is asked for.
#include <cmath>
#include <memory>

#include "commands.h"
#include "progress.h"
#include "edgesplit/cost.h"
#include "edgesplit/device_profiling.h"
#include "mcu_trace.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct ProfileArgs {
  bool measure = false;
  std::string output;
  runtime::MeasureProfileOptions options;  // the library's defaults are the flags' defaults
  std::string format = "table";
  McuTraceArgs mcu;  // --from-mcu-trace (mcu_trace.h)
};

Json RatesJson(const runtime::MeasuredProfile& r) {
  Json rates = Json::object();
  for (int c = 0; c < kNumOpClasses; ++c) {
    const bool macs = c <= static_cast<int>(OpClass::kFc);
    rates[OpClassName(static_cast<OpClass>(c))] = {{"unit", macs ? "MAC/s" : "elements/s"},
                                                   {"per_s", r.profile.work_per_cycle[c] * r.profile.clock_hz},
                                                   {"samples", r.fit.samples[c]}};
  }
  return rates;
}

Json HeldOutJson(const runtime::HeldOutError& h) {
  Json by_class = Json::object();
  for (int c = 0; c < kNumOpClasses; ++c)
    if (h.class_measured_s[c] > 0 || h.class_predicted_s[c] > 0)
      by_class[OpClassName(static_cast<OpClass>(c))] = {{"measured_ms", h.class_measured_s[c] * 1e3},
                                                        {"predicted_ms", h.class_predicted_s[c] * 1e3}};
  return {{"model", h.model}, {"measured_ms", h.measured_s * 1e3}, {"predicted_ms", h.predicted_s * 1e3},
          {"error_pct", h.error_pct}, {"by_class", std::move(by_class)}};
}

void PrintJson(const ProfileArgs& a, const runtime::MeasuredProfile& r) {
  const runtime::MeasureProfileOptions& o = a.options;
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["profile"] = a.output;
  j["name"] = o.name;
  j["backend"] = r.backend;
  j["dtype"] = "f32";
  j["cpu"] = r.cpu;
  j["repeat"] = o.repeat;
  j["clock"] = r.clock == runtime::TimingClock::kProcessCpu ? "cpu" : "wall";
  j["fit_models"] = o.fit_models;
  j["held_out_models"] = o.held_out;
  j["rates"] = RatesJson(r);
  j["per_layer_overhead_s"] = r.profile.per_layer_overhead_s;
  j["held_out"] = Json::array();
  for (const runtime::HeldOutError& h : r.held_out) j["held_out"].push_back(HeldOutJson(h));
  j["mape_pct"] = std::isnan(r.mape_pct) ? Json(nullptr) : Json(r.mape_pct);
  j["mape_goal_pct"] = 20;
  std::printf("%s\n", j.dump(2).c_str());
}

void PrintTable(const ProfileArgs& a, const runtime::MeasuredProfile& r) {
  std::printf("profile %s: %s backend, f32, %s, %d layers from %zu fit models -> %s\n", a.options.name.c_str(),
              r.backend.c_str(), r.cpu.c_str(), r.layers, a.options.fit_models.size(), a.output.c_str());
  std::printf("  %-12s %12s %8s\n", "class", "rate", "samples");
  for (int c = 0; c < kNumOpClasses; ++c) {
    const bool macs = c <= static_cast<int>(OpClass::kFc);
    std::printf("  %-12s %8s %-10s %8d\n", OpClassName(static_cast<OpClass>(c)),
                Human(r.profile.work_per_cycle[c] * r.profile.clock_hz).c_str(), macs ? "MAC/s" : "elements/s",
                r.fit.samples[c]);
  }
  std::printf("  per-layer overhead %.2f us\n", r.profile.per_layer_overhead_s * 1e6);
  if (r.held_out.empty()) return;
  std::printf("held-out models (not fitted on):\n  %-36s %12s %12s %8s\n", "model", "measured ms", "predicted ms", "error");
  for (const runtime::HeldOutError& h : r.held_out)
    std::printf("  %-36s %12.2f %12.2f %7.1f%%\n", h.model.c_str(), h.measured_s * 1e3, h.predicted_s * 1e3, h.error_pct);
  std::printf("MAPE %.1f%% (goal <= 20%%)\n", r.mape_pct);
}

Status RunProfile(ProfileArgs a) {
  if (!a.mcu.trace.empty()) {
    if (a.measure) return InvalidArgument("--measure and --from-mcu-trace are alternatives: give one");
    McuTraceArgs m = a.mcu;
    m.output = a.output;
    if (a.options.name != runtime::MeasureProfileOptions().name) m.name = a.options.name;
    return RunProfileFromMcuTrace(m);
  }
  if (!a.measure) return InvalidArgument("profile needs --measure or --from-mcu-trace (it times this machine; `cost` only reads profiles)");
  if (a.output.empty()) return InvalidArgument("profile --measure needs -o FILE for the device profile it writes");
  // Each model takes a second or more: progress on a terminal, over fit and held-out models.
  Progress bar("timing models", static_cast<int64_t>(a.options.fit_models.size() + a.options.held_out.size()));
  a.options.progress = [&bar](int done, int) { bar.Update(done); };
  ES_ASSIGN_OR_RETURN(runtime::MeasuredProfile r, runtime::MeasureDeviceProfile(a.options));
  ES_RETURN_IF_ERROR(WriteOutput(a.output, r.profile_json));
  if (a.format == "json") PrintJson(a, r);
  else PrintTable(a, r);
  return Status::Ok();
}

}  // namespace

Runner RegisterProfile(CLI::App& app) {
  auto a = std::make_shared<ProfileArgs>();
  runtime::MeasureProfileOptions& o = a->options;
  app.add_flag("--measure", a->measure, "Time the engine's layers on this machine and fit a device profile");
  app.add_option("--from-mcu-trace", a->mcu.trace,
                 "Fit a device profile from the Cortex-M4 firmware's per-layer instruction counts (docs/mcu.md)");
  app.add_option("--mcu-clock-hz", a->mcu.clock_hz, "--from-mcu-trace: clock at one instruction per cycle (default 240e6)");
  app.add_option("--compare", a->mcu.compare, "--from-mcu-trace: calibrated profile to compare with (default esp32s3)");
  app.add_option("-o,--output", a->output, "Write the fitted device profile (JSON) here")->required();
  app.add_option("--models", o.fit_models, "Zoo specs or .onnx files to fit on (separated by ';' or spaces: specs contain commas)")->delimiter(';');
  app.add_option("--held-out", o.held_out, "Models to evaluate the fit on, never fitted on (';' or spaces)")->delimiter(';');
  app.add_option("--backend", o.backend, "Kernel backend (reference)")->check(CLI::IsMember({"onednn", "reference"}));
  app.add_option("--name", o.name, "The profile's name");
  app.add_option("--repeat", o.repeat, "Timed runs per model (fastest per layer)")->check(CLI::PositiveNumber);
  app.add_option("--clock", o.clock, "cpu (process CPU time), wall, or auto (cpu for the single-threaded reference backend)")
      ->check(CLI::IsMember({"auto", "cpu", "wall"}));
  app.add_option("--format", a->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  return [a] { return RunProfile(*a); };
}

}  // namespace edgesplit::cli
