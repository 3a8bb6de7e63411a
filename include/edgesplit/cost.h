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
// 0 for b <= 0. A plain (insecure) link; TransferSeconds(link, b, Sealing{}) is the same.
double TransferSeconds(const LinkProfile& link, int64_t bytes);

// ---- Secure links in the model (docs/security.md "Costs in the model") -------
// Every sealed datagram (fragment or SACK) and every sealed TCP frame is this
// many bytes longer: the envelope's marker, kind and session id (6), the
// counter (8) and the AEAD tag (16). It is net::kSealedDatagramOverhead; cost
// does not depend on net, and tests/cost_sealed_test.cc checks they agree.
inline constexpr int64_t kSealedFrameOverheadBytes = 30;
// The handshake's four messages (M1..M4, edgesplit/secure_link.h) in their
// 2-byte envelopes; each travels as one frame of its own.
inline constexpr int64_t kHandshakeEnvelopeBytes[4] = {42, 126, 126, 30};

// One device's share of a sealed link, in seconds, from its profile's
// "security" object: the AEAD (ChaCha20-Poly1305) per byte and per sealed
// frame, and its whole compute in one handshake (its public-key operations,
// secure::kOpsPerHandshake, and the hashing). known = false when the profile
// has none: every figure is then 0 (the link's extra bytes still count).
struct SealCost {
  double aead_s_per_byte = 0;
  double aead_s_per_frame = 0;
  double handshake_s = 0;
  bool known = false;
};
// aead_cycles_per_byte / clock_hz, aead_cycles_per_message / clock_hz, handshake_s.
SealCost DeviceSealCost(const DeviceProfile& device);

// How a message crosses a link: plain (the default), or sealed from `sender`
// to `receiver` (each seals or opens every sealed frame once).
struct Sealing {
  bool sealed = false;
  SealCost sender, receiver;
};
inline Sealing SealedBetween(const SealCost& sender, const SealCost& receiver) { return {true, sender, receiver}; }

// What a message of b > 0 bytes puts on `link`:
//  * plain: frames = ceil(b / payload_bytes), wire_bytes = b.
//  * sealed over a datagram transport (anything but "tcp": udp, espnow, ble,
//    and links without a transport): each frame carries payload_bytes - 30
//    bytes of the message and the 30-byte envelope, so frames = ceil(b /
//    (payload_bytes - 30)), wire_bytes = b + 30 x frames, and every frame is
//    sealed: sealed_frames = frames.
//  * sealed over "tcp": the message is one sealed frame: wire_bytes = b + 30,
//    frames = ceil(wire_bytes / payload_bytes), sealed_frames = 1.
// aead_s = (sender + receiver) x (aead_s_per_byte x b + aead_s_per_frame x
// sealed_frames). A sealed datagram link with payload_bytes <= 30 carries
// nothing: frames = -1 (SealedLinkProblem says so).
// The acknowledgements (SACKs) are not counted, sealed or plain: they travel
// the other way while the receiver already computes.
struct LinkLoad {
  int64_t frames = 0;
  int64_t wire_bytes = 0;
  int64_t sealed_frames = 0;
  double aead_s = 0;
};
LinkLoad TransferLoad(const LinkProfile& link, int64_t bytes, const Sealing& sealing);

// The one transfer model every consumer uses (plan's hops, simulate, the
// dynamic policy): per_message_s + (frames x per_frame_s + wire_bytes /
// bytes_per_s) / (1 - loss) + aead_s, from TransferLoad; 0 for b <= 0;
// +infinity when the sealed link carries nothing.
double TransferSeconds(const LinkProfile& link, int64_t bytes, const Sealing& sealing);

// One handshake over `link`: its four messages in turn (each TransferSeconds
// of its envelope; they are not sealed) plus both ends' compute. Set-up time:
// paid once per session (a cold start, a restart, a re-key), never in the
// steady state.
double HandshakeSeconds(const LinkProfile& link, const SealCost& initiator, const SealCost& responder);

// The message bytes one frame of `link` carries: payload_bytes, less the
// 30-byte envelope when sealed over a datagram transport (ESP-NOW: 250 -> 220).
int64_t FramePayloadBytes(const LinkProfile& link, bool sealed);

// "" when `link` can carry sealed frames, else why not (a datagram link whose
// frames are no longer than the 30-byte envelope).
std::string SealedLinkProblem(const LinkProfile& link);

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
