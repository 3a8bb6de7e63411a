// Making a device profile (module `runtime`, docs/calibration.md): by timing
// the engine's layers on this machine and fitting the per-op-class compute
// model (`edgesplit profile --measure`), or from the Cortex-M4 firmware's
// per-layer instruction counts (`edgesplit profile --from-mcu-trace`).
// `cost` only reads profiles; this is where they are measured.
//
// Both return the profile as the JSON text a profiles folder holds (checked by
// reading it back with ParseDeviceProfile) and what a caller reports beside
// it; they write no file and print nothing. Errors name the option that is
// wrong with the CLI's flag names. Thread-safety: each call is independent,
// but timing is only meaningful with nothing else running in this process.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "edgesplit/cost.h"
#include "edgesplit/engine_timing.h"
#include "edgesplit/mcu_trace.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// ---- profile --measure ---------------------------------------------------------

struct MeasureProfileOptions {
  // Zoo specs or .onnx files: fitted on, and only evaluated on (never both).
  std::vector<std::string> fit_models = {"mobilenet_v2:alpha=0.35,res=96", "mobilenet_v2:alpha=0.5,res=128",
                                         "resnet18:res=64"};
  std::vector<std::string> held_out = {"mobilenet_v2:alpha=1.0,res=128", "resnet18:res=96"};
  std::string backend = "reference";  // a FindBackend name
  std::string name = "host-measured";  // the profile's name
  int repeat = 9;                      // timed runs per model; the fastest per layer counts
  // "cpu" (process CPU time), "wall", or "auto": CPU time for the
  // single-threaded reference backend (immune to other load), wall otherwise
  // (CPU time would sum every engine thread).
  std::string clock = "auto";
  // Called after each model is timed (fit models first, then held-out ones);
  // empty: no calls.
  std::function<void(int done, int total)> progress;
};

// The fitted profile's whole-model error on a model it was not fitted on.
struct HeldOutError {
  std::string model;
  double measured_s = 0, predicted_s = 0;
  double error_pct = 0;  // |predicted - measured| / measured x 100
  // Per op class, seconds summed over the model's layers (0 for absent classes).
  double class_measured_s[kNumOpClasses] = {};
  double class_predicted_s[kNumOpClasses] = {};
};

struct MeasuredProfile {
  std::string profile_json;  // the device profile file's text (DeviceProfileToJson)
  DeviceProfile profile;     // that text as ParseDeviceProfile reads it back
  FittedRates fit;
  std::string cpu;           // the CPU's model name (/proc/cpuinfo), "unknown CPU" if absent
  std::string backend;       // the backend's name
  TimingClock clock = TimingClock::kWall;
  int layers = 0;            // layer timings the fit used
  std::vector<HeldOutError> held_out;  // in options.held_out's order
  double mape_pct = NAN;     // mean error_pct over held_out; NaN when none was held out
};

// Times every layer of each fit model (the fastest of `repeat` runs), fits
// FitLayerTimings on them, makes the profile (ram and weight capacity: this
// host's memory; every number's source stated, power figures marked unknown)
// and evaluates it on the held-out models. Errors: no fit model, a model both
// fitted and held out, an unknown backend or clock, repeat < 1, a model that
// does not load or run (named, "fit model 'x': ...").
Result<MeasuredProfile> MeasureDeviceProfile(const MeasureProfileOptions& options);

// ---- profile --from-mcu-trace ------------------------------------------------

struct McuTraceProfileOptions {
  std::string trace;                // the firmware's output (qemu.out; edgesplit/mcu_trace.h)
  std::string name = "cortex-m4-qemu";
  double clock_hz = 240e6;          // instructions become seconds at one per cycle at this clock
  std::string compare = "esp32s3";  // the calibrated profile it stands in for (memory, power, comparison)
  std::string profiles_dir;         // where `compare` is found ("" : ProfilesDir())
};

struct McuTraceProfile {
  std::string profile_json;
  DeviceProfile profile;    // profile_json read back
  DeviceProfile reference;  // the `compare` profile
  FittedRates fit;
  McuTrace trace;
  double total_instructions = 0;
  double reference_s = 0;   // what `compare` predicts for the traced layers
};

// Parses the trace, maps each layer to the model's int8 graph (the model spec
// is in the trace's header), fits the per-class rates on instruction counts at
// clock_hz and copies memory and power from `compare`. Errors: a malformed
// trace (named by line), layers not in the graph, clock_hz <= 0, an unknown
// `compare` profile, a build without the quant module.
Result<McuTraceProfile> ProfileFromMcuTrace(const McuTraceProfileOptions& options);

// ---- the host ------------------------------------------------------------------
std::string HostCpuModel();  // /proc/cpuinfo's first "model name", or "unknown CPU"
int64_t HostMemoryBytes();   // MemTotal in /proc/meminfo, 0 if unreadable

}  // namespace edgesplit::runtime
