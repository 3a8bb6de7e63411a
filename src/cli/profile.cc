// edgesplit profile --measure -o FILE [--models LIST] [--held-out LIST]
//     [--backend reference] [--repeat N] [--format table|json]
//
// Times every layer of the fit models on this machine (engine_timing.h), fits
// the per-op-class compute model (FitLayerTimings in the cost module), writes
// it as a device profile, and reports the fitted profile's whole-model error
// on held-out models it was not fitted on. `cost` only reads files; this is
// where measurement happens.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "commands.h"
#include "progress.h"
#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/models.h"
#include "edgesplit/engine_timing.h"
#include "mcu_trace.h"
#include "render.h"

namespace edgesplit::cli {

using runtime::LayerTimes;
using runtime::Percentile;
using runtime::TimeLayers;
using runtime::TimingClock;
namespace {

struct ProfileArgs {
  bool measure = false;
  std::string output;
  std::vector<std::string> models = {"mobilenet_v2:alpha=0.35,res=96", "mobilenet_v2:alpha=0.5,res=128", "resnet18:res=64"};
  std::vector<std::string> held_out = {"mobilenet_v2:alpha=1.0,res=128", "resnet18:res=96"};
  std::string backend = "reference";
  std::string name = "host-measured";
  int repeat = 9;
  std::string clock = "auto";
  std::string format = "table";
  McuTraceArgs mcu;  // --from-mcu-trace (mcu_trace.h)
};

// CPU time is immune to other load on the machine but sums every thread's
// time, so it is right only for a single-threaded engine (the reference backend).
TimingClock ChooseClock(const std::string& clock, const Backend& backend) {
  if (clock == "cpu") return TimingClock::kProcessCpu;
  if (clock == "wall") return TimingClock::kWall;
  return std::string_view(backend.name()) == "reference" ? TimingClock::kProcessCpu : TimingClock::kWall;
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown CPU";
}

int64_t HostMemoryBytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  while (f >> key >> kib) {
    if (key == "MemTotal:") return kib * 1024;
    std::string rest;
    std::getline(f, rest);
  }
  return 0;
}

std::string UtcDate() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

struct Measured {
  Graph graph;
  std::vector<LayerStats> stats;
  std::vector<double> layer_s;  // per-layer median
  double total_s = 0;           // median whole-model time
};

Result<Measured> Measure(const std::string& spec, const Backend& backend, int repeat, TimingClock clock) {
  Measured m;
  ES_ASSIGN_OR_RETURN(m.graph, LoadModel(spec));
  ES_ASSIGN_OR_RETURN(LayerTimes t, TimeLayers(m.graph, backend, repeat, clock));
  for (int i = 0; i < static_cast<int>(m.graph.nodes.size()); ++i) {
    m.stats.push_back(ComputeLayerStats(m.graph, i));
    // The fastest run, not the median: other processes only ever add time,
    // so the minimum is the least disturbed estimate of this machine's speed.
    m.layer_s.push_back(*std::min_element(t.layers_ms[i].begin(), t.layers_ms[i].end()) / 1e3);
  }
  m.total_s = *std::min_element(t.totals_ms.begin(), t.totals_ms.end()) / 1e3;
  return m;
}

Status RunProfile(const ProfileArgs& a) {
  if (!a.mcu.trace.empty()) {
    if (a.measure) return InvalidArgument("--measure and --from-mcu-trace are alternatives: give one");
    McuTraceArgs m = a.mcu;
    m.output = a.output;
    if (a.name != ProfileArgs().name) m.name = a.name;
    return RunProfileFromMcuTrace(m);
  }
  if (!a.measure) return InvalidArgument("profile needs --measure or --from-mcu-trace (it times this machine; `cost` only reads profiles)");
  if (a.output.empty()) return InvalidArgument("profile --measure needs -o FILE for the device profile it writes");
  if (a.models.empty()) return InvalidArgument("--models is empty: nothing to fit on");
  const Backend* backend = FindBackend(a.backend);
  if (!backend) return Unsupported("--backend " + a.backend + " is not yet supported (reference is)");
  for (const std::string& h : a.held_out)
    for (const std::string& m : a.models)
      if (h == m) return InvalidArgument("model '" + h + "' is both fitted on and held out");

  const TimingClock clock = ChooseClock(a.clock, *backend);
  const char* clock_name = clock == TimingClock::kProcessCpu ? "process CPU time" : "wall time";
  std::vector<LayerTiming> timings;
  // Each model takes a second or more: progress on a terminal, over fit and held-out models.
  Progress bar("timing models", static_cast<int64_t>(a.models.size() + a.held_out.size()));
  int64_t timed = 0;
  for (const std::string& spec : a.models) {
    auto measured = Measure(spec, *backend, a.repeat, clock);
    bar.Update(++timed);
    if (!measured.ok()) return Status(measured.status().code(), "fit model '" + spec + "': " + measured.status().message());
    const Measured& m = *measured;
    for (int i = 0; i < static_cast<int>(m.graph.nodes.size()); ++i)
      timings.push_back({ClassifyNode(m.graph, i), static_cast<double>(NodeWork(m.graph, i, m.stats[i])), m.layer_s[i]});
  }
  ES_ASSIGN_OR_RETURN(FittedRates fit, FitLayerTimings(timings));
  DeviceProfile device = ProfileFromFit(fit, a.name, DType::kFloat32, nullptr);
  device.weight_capacity_bytes = device.ram_bytes = HostMemoryBytes();
  const std::string cpu = CpuModel(), date = UtcDate();
  std::string fit_list;
  for (const std::string& m : a.models) fit_list += (fit_list.empty() ? "" : "; ") + m;
  const std::string measured_src = "[measured] by `edgesplit profile --measure` on this machine (" + cpu + ", " + date +
                                   "), backend " + backend->name() + ", f32, one thread, " + clock_name + ", fastest of " +
                                   std::to_string(a.repeat) + " runs per layer, non-negative least squares fit on " +
                                   fit_list;
  device.sources["per_layer_overhead_s"] = measured_src;
  device.sources["macs_per_cycle"] = measured_src;
  device.sources["cycles_per_element"] = measured_src;
  for (int c = 0; c < kNumOpClasses; ++c)
    if (fit.samples[c] == 0)
      device.sources[std::string("no_samples_") + OpClassName(static_cast<OpClass>(c))] =
          "[assumption] no layer of this class in the fit models: 1 work/cycle placeholder";
  device.sources["clock_hz"] = "[nominal] 1 GHz: the rates are fitted per second; the clock only converts them to per-cycle units";
  device.sources["scale"] = "1: the fitted per-class rates are already absolute";
  device.sources["weight_capacity_bytes"] = "[measured] host memory (MemTotal in /proc/meminfo), not a weight store";
  device.sources["ram_bytes"] = "[measured] host memory (MemTotal in /proc/meminfo)";
  for (const char* p : {"active_w", "idle_w", "tx_w", "rx_w"})
    device.sources[p] = "[unknown] not measured; 0 is a placeholder, do not use this profile for energy";
  const std::string text = DeviceProfileToJson(device, "This machine (" + cpu + "), " + backend->name() + " backend, f32, measured");
  // The file must read back exactly as cost reads it.
  ES_ASSIGN_OR_RETURN(DeviceProfile reread, ParseDeviceProfile(text, a.output));
  ES_RETURN_IF_ERROR(WriteOutput(a.output, text));

  Json held = Json::array();
  double sum_ape = 0;
  for (const std::string& spec : a.held_out) {
    auto measured = Measure(spec, *backend, a.repeat, clock);
    bar.Update(++timed);
    if (!measured.ok())
      return Status(measured.status().code(), "held-out model '" + spec + "': " + measured.status().message());
    const Measured& m = *measured;
    double predicted = 0;
    double class_measured[kNumOpClasses] = {}, class_predicted[kNumOpClasses] = {};
    for (int i = 0; i < static_cast<int>(m.graph.nodes.size()); ++i) {
      const double p = NodeSeconds(reread, m.graph, i, m.stats[i]);
      const int c = static_cast<int>(ClassifyNode(m.graph, i));
      predicted += p;
      class_predicted[c] += p;
      class_measured[c] += m.layer_s[i];
    }
    Json by_class = Json::object();
    for (int c = 0; c < kNumOpClasses; ++c)
      if (class_measured[c] > 0 || class_predicted[c] > 0)
        by_class[OpClassName(static_cast<OpClass>(c))] = {{"measured_ms", class_measured[c] * 1e3},
                                                          {"predicted_ms", class_predicted[c] * 1e3}};
    const double ape = std::fabs(predicted - m.total_s) / m.total_s * 100;
    sum_ape += ape;
    held.push_back({{"model", spec}, {"measured_ms", m.total_s * 1e3}, {"predicted_ms", predicted * 1e3}, {"error_pct", ape}, {"by_class", std::move(by_class)}});
  }
  const bool have_mape = !a.held_out.empty();
  const double mape = have_mape ? sum_ape / static_cast<double>(a.held_out.size()) : 0;

  if (a.format == "json") {
    Json j;
    j["schema_version"] = kSchemaVersion;
    j["profile"] = a.output;
    j["name"] = a.name;
    j["backend"] = backend->name();
    j["dtype"] = "f32";
    j["cpu"] = cpu;
    j["repeat"] = a.repeat;
    j["clock"] = clock == TimingClock::kProcessCpu ? "cpu" : "wall";
    j["fit_models"] = a.models;
    j["held_out_models"] = a.held_out;
    Json rates = Json::object();
    for (int c = 0; c < kNumOpClasses; ++c) {
      const bool macs = c <= static_cast<int>(OpClass::kFc);
      rates[OpClassName(static_cast<OpClass>(c))] = {
          {"unit", macs ? "MAC/s" : "elements/s"},
          {"per_s", reread.work_per_cycle[c] * reread.clock_hz},
          {"samples", fit.samples[c]}};
    }
    j["rates"] = std::move(rates);
    j["per_layer_overhead_s"] = reread.per_layer_overhead_s;
    j["held_out"] = std::move(held);
    j["mape_pct"] = have_mape ? Json(mape) : Json(nullptr);
    j["mape_goal_pct"] = 20;
    std::printf("%s\n", j.dump(2).c_str());
    return Status::Ok();
  }
  std::printf("profile %s: %s backend, f32, %s, %zu layers from %zu fit models -> %s\n", a.name.c_str(), backend->name(),
              cpu.c_str(), timings.size(), a.models.size(), a.output.c_str());
  std::printf("  %-12s %12s %8s\n", "class", "rate", "samples");
  for (int c = 0; c < kNumOpClasses; ++c) {
    const bool macs = c <= static_cast<int>(OpClass::kFc);
    std::printf("  %-12s %8s %-10s %8d\n", OpClassName(static_cast<OpClass>(c)),
                Human(reread.work_per_cycle[c] * reread.clock_hz).c_str(), macs ? "MAC/s" : "elements/s", fit.samples[c]);
  }
  std::printf("  per-layer overhead %.2f us\n", reread.per_layer_overhead_s * 1e6);
  if (have_mape) {
    std::printf("held-out models (not fitted on):\n  %-36s %12s %12s %8s\n", "model", "measured ms", "predicted ms", "error");
    for (const Json& h : held)
      std::printf("  %-36s %12.2f %12.2f %7.1f%%\n", h["model"].get<std::string>().c_str(), h["measured_ms"].get<double>(),
                  h["predicted_ms"].get<double>(), h["error_pct"].get<double>());
    std::printf("MAPE %.1f%% (goal <= 20%%)\n", mape);
  }
  return Status::Ok();
}

}  // namespace

Runner RegisterProfile(CLI::App& app) {
  auto a = std::make_shared<ProfileArgs>();
  app.add_flag("--measure", a->measure, "Time the engine's layers on this machine and fit a device profile");
  app.add_option("--from-mcu-trace", a->mcu.trace,
                 "Fit a device profile from the Cortex-M4 firmware's per-layer instruction counts (docs/mcu.md)");
  app.add_option("--mcu-clock-hz", a->mcu.clock_hz, "--from-mcu-trace: clock at one instruction per cycle (default 240e6)");
  app.add_option("--compare", a->mcu.compare, "--from-mcu-trace: calibrated profile to compare with (default esp32s3)");
  app.add_option("-o,--output", a->output, "Write the fitted device profile (JSON) here")->required();
  app.add_option("--models", a->models, "Zoo specs or .onnx files to fit on (separated by ';' or spaces: specs contain commas)")->delimiter(';');
  app.add_option("--held-out", a->held_out, "Models to evaluate the fit on, never fitted on (';' or spaces)")->delimiter(';');
  app.add_option("--backend", a->backend, "Kernel backend (reference)")->check(CLI::IsMember({"onednn", "reference"}));
  app.add_option("--name", a->name, "The profile's name");
  app.add_option("--repeat", a->repeat, "Timed runs per model (fastest per layer)")->check(CLI::PositiveNumber);
  app.add_option("--clock", a->clock, "cpu (process CPU time), wall, or auto (cpu for the single-threaded reference backend)")
      ->check(CLI::IsMember({"auto", "cpu", "wall"}));
  app.add_option("--format", a->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  return [a] { return RunProfile(*a); };
}

}  // namespace edgesplit::cli
