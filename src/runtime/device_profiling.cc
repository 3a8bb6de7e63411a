// Device profiles measured on this machine or from an MCU trace
// (edgesplit/device_profiling.h).
#include "edgesplit/device_profiling.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "edgesplit/analysis.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#ifdef EDGESPLIT_HAVE_QUANT
#include "edgesplit/quant.h"
#endif

namespace edgesplit::runtime {

std::string HostCpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      const size_t start = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
      if (start != std::string::npos) return line.substr(start);
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

namespace {

std::string Mhz(double hz) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", hz / 1e6);
  return buf;
}

std::string UtcDate() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// One model's layers as timed on this machine.
struct Measured {
  Graph graph;
  std::vector<LayerStats> stats;
  std::vector<double> layer_s;  // fastest run per layer
  double total_s = 0;           // fastest whole-model run
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

Result<TimingClock> ChooseClock(const std::string& clock, const Backend& backend) {
  if (clock == "cpu") return TimingClock::kProcessCpu;
  if (clock == "wall") return TimingClock::kWall;
  if (clock != "auto") return InvalidArgument("--clock " + clock + ": expected cpu, wall or auto");
  return std::string_view(backend.name()) == "reference" ? TimingClock::kProcessCpu : TimingClock::kWall;
}

Status CheckOptions(const MeasureProfileOptions& o) {
  if (o.fit_models.empty()) return InvalidArgument("--models is empty: nothing to fit on");
  if (o.repeat < 1) return InvalidArgument("--repeat must be at least 1");
  if (o.name.empty()) return InvalidArgument("--name is empty: a profile needs a name");
  for (const std::string& h : o.held_out)
    for (const std::string& m : o.fit_models)
      if (h == m) return InvalidArgument("model '" + h + "' is both fitted on and held out");
  return Status::Ok();
}

// Every number's source, as docs/calibration.md asks of a profile.
void StateSources(const MeasureProfileOptions& o, const MeasuredProfile& r, DeviceProfile* device) {
  const char* clock_name = r.clock == TimingClock::kProcessCpu ? "process CPU time" : "wall time";
  std::string fit_list;
  for (const std::string& m : o.fit_models) fit_list += (fit_list.empty() ? "" : "; ") + m;
  const std::string measured = "[measured] by `edgesplit profile --measure` on this machine (" + r.cpu + ", " + UtcDate() +
                               "), backend " + r.backend + ", f32, one thread, " + clock_name + ", fastest of " +
                               std::to_string(o.repeat) + " runs per layer, non-negative least squares fit on " + fit_list;
  for (const char* k : {"per_layer_overhead_s", "macs_per_cycle", "cycles_per_element"}) device->sources[k] = measured;
  for (int c = 0; c < kNumOpClasses; ++c)
    if (r.fit.samples[c] == 0)
      device->sources[std::string("no_samples_") + OpClassName(static_cast<OpClass>(c))] =
          "[assumption] no layer of this class in the fit models: 1 work/cycle placeholder";
  device->sources["clock_hz"] = "[nominal] 1 GHz: the rates are fitted per second; the clock only converts them to per-cycle units";
  device->sources["scale"] = "1: the fitted per-class rates are already absolute";
  device->sources["weight_capacity_bytes"] = "[measured] host memory (MemTotal in /proc/meminfo), not a weight store";
  device->sources["ram_bytes"] = "[measured] host memory (MemTotal in /proc/meminfo)";
  for (const char* p : {"active_w", "idle_w", "tx_w", "rx_w"})
    device->sources[p] = "[unknown] not measured; 0 is a placeholder, do not use this profile for energy";
}

// The profile's prediction for a model it was not fitted on, against the measurement.
HeldOutError Evaluate(const std::string& spec, const Measured& m, const DeviceProfile& profile) {
  HeldOutError e;
  e.model = spec;
  e.measured_s = m.total_s;
  for (int i = 0; i < static_cast<int>(m.graph.nodes.size()); ++i) {
    const double p = NodeSeconds(profile, m.graph, i, m.stats[i]);
    const int c = static_cast<int>(ClassifyNode(m.graph, i));
    e.predicted_s += p;
    e.class_predicted_s[c] += p;
    e.class_measured_s[c] += m.layer_s[i];
  }
  e.error_pct = std::fabs(e.predicted_s - e.measured_s) / e.measured_s * 100;
  return e;
}

}  // namespace

Result<MeasuredProfile> MeasureDeviceProfile(const MeasureProfileOptions& o) {
  ES_RETURN_IF_ERROR(CheckOptions(o));
  const Backend* backend = FindBackend(o.backend);
  if (!backend) return Unsupported("--backend " + o.backend + " is not built into this edgesplit");
  MeasuredProfile r;
  r.backend = backend->name();
  ES_ASSIGN_OR_RETURN(r.clock, ChooseClock(o.clock, *backend));
  r.cpu = HostCpuModel();
  const int total = static_cast<int>(o.fit_models.size() + o.held_out.size());
  int timed = 0;
  auto progress = [&] {
    if (o.progress) o.progress(++timed, total);
  };

  std::vector<LayerTiming> timings;
  for (const std::string& spec : o.fit_models) {
    Result<Measured> m = Measure(spec, *backend, o.repeat, r.clock);
    progress();
    if (!m.ok()) return Status(m.status().code(), "fit model '" + spec + "': " + m.status().message());
    for (int i = 0; i < static_cast<int>(m->graph.nodes.size()); ++i)
      timings.push_back({ClassifyNode(m->graph, i), static_cast<double>(NodeWork(m->graph, i, m->stats[i])), m->layer_s[i]});
  }
  r.layers = static_cast<int>(timings.size());
  ES_ASSIGN_OR_RETURN(r.fit, FitLayerTimings(timings));
  DeviceProfile device = ProfileFromFit(r.fit, o.name, DType::kFloat32, nullptr);
  device.weight_capacity_bytes = device.ram_bytes = HostMemoryBytes();
  StateSources(o, r, &device);
  r.profile_json = DeviceProfileToJson(device, "This machine (" + r.cpu + "), " + r.backend + " backend, f32, measured");
  // Held-out models are predicted by the profile exactly as cost reads it back.
  ES_ASSIGN_OR_RETURN(r.profile, ParseDeviceProfile(r.profile_json, "the measured profile"));

  double sum_error = 0;
  for (const std::string& spec : o.held_out) {
    Result<Measured> m = Measure(spec, *backend, o.repeat, r.clock);
    progress();
    if (!m.ok()) return Status(m.status().code(), "held-out model '" + spec + "': " + m.status().message());
    r.held_out.push_back(Evaluate(spec, *m, r.profile));
    sum_error += r.held_out.back().error_pct;
  }
  if (!r.held_out.empty()) r.mape_pct = sum_error / static_cast<double>(r.held_out.size());
  return r;
}

Result<McuTraceProfile> ProfileFromMcuTrace(const McuTraceProfileOptions& o) {
#ifndef EDGESPLIT_HAVE_QUANT
  return Unsupported("profile --from-mcu-trace needs the quant module, which this build lacks");
#else
  if (!(o.clock_hz > 0) || !std::isfinite(o.clock_hz)) return InvalidArgument("--mcu-clock-hz must be positive");
  if (o.name.empty()) return InvalidArgument("--name is empty: a profile needs a name");
  McuTraceProfile r;
  ES_ASSIGN_OR_RETURN(r.trace, ReadMcuTrace(o.trace));
  // The layer names are those of the int8 graph; calibration does not change
  // its structure, so one random sample is enough to rebuild it.
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(r.trace.model));
  ES_ASSIGN_OR_RETURN(g, Quantize(g, RandomCalibrationSamples(g.tensors[g.inputs[0]], 1, 1)));
  ES_ASSIGN_OR_RETURN(r.reference, LoadDeviceProfile(ProfilesDir(o.profiles_dir), o.compare));
  Result<std::vector<LayerTiming>> timings = McuTraceTimings(r.trace, g, o.clock_hz, &r.total_instructions);
  if (!timings.ok()) return timings.status().WithContext(o.trace);
  for (const McuTraceLayer& l : r.trace.layers) {  // what the calibrated board's profile predicts for the same layers
    const int node = g.FindNode(l.name);
    r.reference_s += NodeSeconds(r.reference, g, node, ComputeLayerStats(g, node));
  }
  ES_ASSIGN_OR_RETURN(r.fit, FitLayerTimings(*timings));
  DeviceProfile device = ProfileFromFit(r.fit, o.name, DType::kInt8, &r.reference);
  // ProfileFromFit states rates per cycle of a nominal 1 GHz clock; restate
  // them per cycle of the clock assumed, so they compare with the board's.
  for (double& w : device.work_per_cycle) w *= device.clock_hz / o.clock_hz;
  device.clock_hz = o.clock_hz;
  const DeviceProfile& ref = r.reference;
  device.weight_capacity_bytes = ref.weight_capacity_bytes;
  device.ram_bytes = ref.ram_bytes;
  device.active_w = ref.active_w;
  device.idle_w = ref.idle_w;
  device.tx_w = ref.tx_w;
  device.rx_w = ref.rx_w;
  const std::string mhz = Mhz(o.clock_hz);
  const std::string src =
      "[measured] instruction counts of the reference int8 kernels on a Cortex-M4F under qemu-system-arm -M "
      "mps2-an386 -icount shift=" + std::to_string(r.trace.icount_shift) + " (" + std::to_string(r.trace.layers.size()) +
      " layers of " + r.trace.model + ", trace " + o.trace + "), at one instruction per cycle at " + mhz +
      " MHz [assumption: no flash/PSRAM wait states]; non-negative least squares fit";
  for (const char* k : {"macs_per_cycle", "cycles_per_element", "per_layer_overhead_s"}) device.sources[k] = src;
  for (const char* k : {"weight_capacity_bytes", "ram_bytes", "active_w", "idle_w", "tx_w", "rx_w"})
    device.sources[k] = "copied from the '" + o.compare + "' profile (the board this stands in for)";
  r.profile_json =
      DeviceProfileToJson(device, "Cortex-M4F reference int8 kernels, instruction counts from QEMU, at " + mhz + " MHz");
  ES_ASSIGN_OR_RETURN(r.profile, ParseDeviceProfile(r.profile_json, "the fitted profile"));
  return r;
#endif
}

}  // namespace edgesplit::runtime
