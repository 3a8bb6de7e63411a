// Cost models: how long a layer takes on a device and how long b bytes take
// over a link. Device and link profiles are JSON data files (profiles/devices,
// profiles/links; docs/calibration.md gives every number's source). This
// module only reads files; it never measures.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

// The op classes a device's compute model distinguishes.
enum class OpClass : uint8_t { kConv, kDepthwise, kPointwise, kFc, kElementwise, kPool };
inline constexpr int kNumOpClasses = 6;
const char* OpClassName(OpClass c);  // "conv", "depthwise", "pointwise", "fc", "elementwise", "pool"

// Conv with group == C_in == C_out -> depthwise; 1x1 conv -> pointwise; other
// conv -> conv; Gemm/MatMul -> fc; pools and global pools -> pool; everything
// else (Add, Mul, Concat, Softmax, Reshape...) -> elementwise.
OpClass ClassifyNode(const Graph& graph, int node_index);

// The work a node does in its class's unit: MACs for conv/depthwise/pointwise/fc,
// window elements for pool (output elements x kernel volume, or the input
// elements of a global pool), output elements for elementwise.
int64_t NodeWork(const Graph& graph, int node_index, const LayerStats& stats);

struct DeviceProfile {
  std::string name;
  std::string file;  // where it was read from
  DType dtype = DType::kInt8;
  double clock_hz = 0;
  // Time multiplier applied to every class (the one fitted constant, see
  // docs/calibration.md); 1 means "as the per-class figures say".
  double scale = 1;
  double per_layer_overhead_s = 0;
  // Per class: work units per cycle (MAC/cycle for MAC classes, 1/cycles-per-
  // element for pool and elementwise), indexed by OpClass.
  double work_per_cycle[kNumOpClasses] = {};
  int64_t weight_capacity_bytes = 0;
  int64_t ram_bytes = 0;
  double active_w = 0, idle_w = 0, tx_w = 0, rx_w = 0;
  // Secure links (docs/security.md), from the optional "security" object: the
  // public-key operations of one handshake (edgesplit/secure_link.h
  // kOpsPerHandshake: one X25519 key generation, one X25519, one Ed25519 sign,
  // one verify per side), one whole handshake's compute on this device, and
  // the AEAD's cost per sealed frame (per_message) and per byte.
  bool has_security = false;
  double x25519_s = 0, ed25519_sign_s = 0, ed25519_verify_s = 0, handshake_s = 0;
  double aead_cycles_per_byte = 0, aead_cycles_per_message = 0;
  std::map<std::string, std::string> sources;  // field -> where the number comes from
};

struct LinkProfile {
  std::string name;
  std::string file;
  std::string transport;  // the runtime transport carrying it: udp, tcp, espnow, ble
  double per_message_s = 0;
  double per_frame_s = 0;
  int64_t payload_bytes = 1;
  double bytes_per_s = 1;
  double loss = 0;  // in [0, 1)
  bool shared_medium = false;
  double setup_s = 0;  // once per connection (cold start); never in steady-state latency
  std::map<std::string, std::string> sources;
};

// T(b) = per_message_s + (ceil(b / payload_bytes) * per_frame_s + b / bytes_per_s) / (1 - loss);
// 0 for b <= 0.
double TransferSeconds(const LinkProfile& link, int64_t bytes);

// Seconds node `node_index` takes on `device`: scale * work / work_per_cycle / clock_hz
// + per_layer_overhead_s. Nodes doing no work (Reshape, Flatten) cost only the overhead.
double NodeSeconds(const DeviceProfile& device, const Graph& graph, int node_index, const LayerStats& stats);
// Seconds nodes [begin, end) of `graph` take on `device`: what the planner
// costs. QuantizeLinear/DequantizeLinear nodes count nothing: an int8
// execution graph is the float graph's nodes plus that bookkeeping, so a
// segment costs the same whether it runs in f32 or int8, from the model or
// from a delivered flat file.
double RangeSeconds(const DeviceProfile& device, const Graph& graph, int begin, int end);

// ---- Fitting a device's compute model from measured layer times ------------
// One timed layer: its class, its work in that class's unit (NodeWork) and the
// measured seconds.
struct LayerTiming {
  OpClass op_class = OpClass::kElementwise;
  double work = 0;
  double seconds = 0;
};

// The fitted model t = per_layer_overhead_s + seconds_per_work[class] * work,
// every coefficient >= 0. A class with no sample doing work keeps 0 and
// samples[class] == 0.
struct FittedRates {
  double seconds_per_work[kNumOpClasses] = {};
  double per_layer_overhead_s = 0;
  int samples[kNumOpClasses] = {};
};

// Non-negative least squares on relative residuals weighted by 1/t (minimises
// sum (predicted - t)^2 / t: large layers dominate as they do a model's time,
// small ones still pin the overhead). Exact on noise-free data. Errors on no
// samples or a non-finite/negative value.
Result<FittedRates> FitLayerTimings(const std::vector<LayerTiming>& timings);

// A device profile from fitted rates: clock_hz 1e9 nominal (rates are per
// second; the clock only converts them to the file's per-cycle units), scale 1.
// Classes without samples get `fallback`'s figure converted to this clock
// (or a conservative 1 work/cycle when fallback is null) and a note in sources.
DeviceProfile ProfileFromFit(const FittedRates& fit, const std::string& name, DType dtype, const DeviceProfile* fallback);

// The JSON text ParseDeviceProfile reads (schema_version 1), sources included.
std::string DeviceProfileToJson(const DeviceProfile& device, const std::string& description);

// Parsers. `origin` names the text in errors ("profiles/devices/esp32s3.json");
// every error names the origin and the field. Unknown keys are allowed.
Result<DeviceProfile> ParseDeviceProfile(const std::string& json_text, const std::string& origin);
Result<LinkProfile> ParseLinkProfile(const std::string& json_text, const std::string& origin);

// The profiles folder: `override_dir` when non-empty, else env EDGESPLIT_PROFILES,
// else PREFIX/share/edgesplit/profiles beside the running binary (an installed
// tree, wherever it was unpacked), else the install prefix's, else the source
// tree's profiles/ compiled in.
std::string ProfilesDir(const std::string& override_dir = "");

// Loads `<dir>/devices/<name>.json` (or `<dir>/links/<name>.json`); a name
// containing '/' or ending in .json is taken as a path. Unknown names get an
// error listing the available ones.
Result<DeviceProfile> LoadDeviceProfile(const std::string& dir, const std::string& name);
Result<LinkProfile> LoadLinkProfile(const std::string& dir, const std::string& name);
std::vector<std::string> ListProfiles(const std::string& dir, const std::string& kind);  // kind: devices|links

}  // namespace edgesplit
