// Fitting the per-op-class compute model to measured layer times, and writing
// a device profile back as JSON (the format profiles.cc reads).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "edgesplit/cost.h"

namespace edgesplit {

Result<FittedRates> FitLayerTimings(const std::vector<LayerTiming>& timings) {
  if (timings.empty()) return InvalidArgument("no layer timings to fit");
  // Unknowns: x[0..5] seconds per work unit of each class, x[6] the per-layer overhead.
  constexpr int kN = kNumOpClasses + 1;
  double h[kN][kN] = {};
  double g[kN] = {};
  FittedRates fit;
  // The smallest timing used as a weight floor, so a 0 s layer cannot dominate.
  double max_t = 0;
  for (const LayerTiming& t : timings) {
    if (!std::isfinite(t.work) || !std::isfinite(t.seconds) || t.work < 0 || t.seconds < 0)
      return InvalidArgument("layer timing with a negative or non-finite work or seconds");
    max_t = std::max(max_t, t.seconds);
  }
  if (max_t <= 0) return InvalidArgument("every layer timing is 0 s");
  const double floor_t = max_t * 1e-6;
  for (const LayerTiming& t : timings) {
    const int c = static_cast<int>(t.op_class);
    if (c < 0 || c >= kNumOpClasses) return InvalidArgument("layer timing with an unknown op class");
    double a[kN] = {};
    if (t.work > 0) {
      a[c] = t.work;
      ++fit.samples[c];
    }
    a[kNumOpClasses] = 1;
    const double w = 1.0 / std::max(t.seconds, floor_t);
    for (int i = 0; i < kN; ++i) {
      g[i] += w * a[i] * t.seconds;
      for (int j = 0; j < kN; ++j) h[i][j] += w * a[i] * a[j];
    }
  }
  // Minimise x'Hx/2 - g'x subject to x >= 0 by cyclic coordinate descent with
  // exact line minimisation (converges to the optimum of this convex problem).
  double x[kN] = {};
  for (int sweep = 0; sweep < 20000; ++sweep) {
    double change = 0, size = 0;
    for (int i = 0; i < kN; ++i) {
      if (h[i][i] <= 0) continue;  // a class with no work: stays 0
      double grad = -g[i];
      for (int j = 0; j < kN; ++j) grad += h[i][j] * x[j];
      const double next = std::max(0.0, x[i] - grad / h[i][i]);
      change = std::max(change, std::fabs(next - x[i]) * std::sqrt(h[i][i]));
      size = std::max(size, std::fabs(next) * std::sqrt(h[i][i]));
      x[i] = next;
    }
    if (change <= 1e-13 * std::max(size, 1e-300)) break;
  }
  for (int c = 0; c < kNumOpClasses; ++c) fit.seconds_per_work[c] = x[c];
  fit.per_layer_overhead_s = x[kNumOpClasses];
  return fit;
}

namespace {

constexpr double kNominalClock = 1e9;

}  // namespace

DeviceProfile ProfileFromFit(const FittedRates& fit, const std::string& name, DType dtype, const DeviceProfile* fallback) {
  DeviceProfile d;
  d.name = name;
  d.dtype = dtype;
  d.clock_hz = kNominalClock;
  d.scale = 1;
  d.per_layer_overhead_s = std::min(fit.per_layer_overhead_s, 10.0);
  for (int c = 0; c < kNumOpClasses; ++c) {
    double rate;  // work per cycle at the nominal clock
    if (fit.samples[c] > 0) {
      // 0 s per unit (the overhead explains it all) -> the parser's ceiling.
      rate = fit.seconds_per_work[c] > 0 ? 1.0 / (fit.seconds_per_work[c] * kNominalClock) : 1e9;
    } else if (fallback && fallback->clock_hz > 0 && fallback->work_per_cycle[c] > 0) {
      rate = fallback->work_per_cycle[c] * fallback->clock_hz / fallback->scale / kNominalClock;
    } else {
      rate = 1;
    }
    d.work_per_cycle[c] = std::clamp(rate, 1e-9, 1e9);
  }
  return d;
}

std::string DeviceProfileToJson(const DeviceProfile& d, const std::string& description) {
  using Json = nlohmann::ordered_json;
  Json j;
  j["schema_version"] = 1;
  j["name"] = d.name;
  if (!description.empty()) j["description"] = description;
  j["dtype"] = d.dtype == DType::kFloat32 ? "f32" : "int8";
  j["weight_capacity_bytes"] = d.weight_capacity_bytes;
  j["ram_bytes"] = d.ram_bytes;
  Json compute;
  compute["clock_hz"] = d.clock_hz;
  compute["scale"] = d.scale;
  compute["per_layer_overhead_s"] = d.per_layer_overhead_s;
  Json mpc = Json::object(), cpe = Json::object();
  for (OpClass k : {OpClass::kConv, OpClass::kDepthwise, OpClass::kPointwise, OpClass::kFc})
    mpc[OpClassName(k)] = d.work_per_cycle[static_cast<int>(k)];
  for (OpClass k : {OpClass::kElementwise, OpClass::kPool}) {
    const double r = d.work_per_cycle[static_cast<int>(k)];
    cpe[OpClassName(k)] = r > 0 ? 1.0 / r : 1.0;
  }
  compute["macs_per_cycle"] = std::move(mpc);
  compute["cycles_per_element"] = std::move(cpe);
  j["compute"] = std::move(compute);
  j["power"] = {{"active_w", d.active_w}, {"idle_w", d.idle_w}, {"tx_w", d.tx_w}, {"rx_w", d.rx_w}};
  if (d.has_security)
    j["security"] = {{"x25519_s", d.x25519_s}, {"ed25519_sign_s", d.ed25519_sign_s}, {"ed25519_verify_s", d.ed25519_verify_s},
                     {"handshake_s", d.handshake_s}, {"aead_cycles_per_byte", d.aead_cycles_per_byte},
                     {"aead_cycles_per_message", d.aead_cycles_per_message}};
  Json sources = Json::object();
  for (const auto& [k, v] : d.sources) sources[k] = v;
  j["sources"] = std::move(sources);
  return j.dump(2) + "\n";
}

}  // namespace edgesplit
