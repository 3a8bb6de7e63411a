// The networked split runtime (module `runtime`): each device of a chain is
// its own process (`edgesplit node`), the activation crosses a real socket
// (edgesplit/net.h), and `edgesplit run` drives a chain of local node
// processes and breaks every round trip down (docs/runtime.md).
//
//  * SegmentRunner: one node's segment of a model, compiled once (f32, or int8
//    through edgesplit/quant.h), with the planner's predicted compute time.
//  * RunNode: a node's loop: receive a tensor message, compute, hold the result
//    until the emulated device's predicted time has passed (--emulate), send it
//    to the next node (or back to the client), and print one JSON event line
//    per request on `events` (what `run` reads to break the RTT down).
//  * Chain: the client side. Starts the node processes (reaped and killed on
//    destruction, and each dies with its parent), sends inputs, receives results,
//    compares them bit for bit with the same segments run locally.
//
// Timing: with emulation (a device profile or a shaped link) every duration is
// multiplied by `time_scale` while it runs and divided by it when reported, so
// reported seconds are the emulated device's. Errors are Status values naming
// the node, the request and the reason; every wait has a deadline.
// Thread-safety: none of these objects may be shared between threads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgesplit/cost.h"
#include "edgesplit/exec.h"
#include "edgesplit/graph.h"
#include "edgesplit/net.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// ---- One segment --------------------------------------------------------------
struct SegmentSpec {
  std::string model;                 // zoo spec or .onnx path (models.h)
  std::string first_cut = "input";   // cut names, aliases or indices (analysis.h)
  std::string last_cut = "output";
  std::string dtype = "f32";         // f32 or int8 (int8: quantized with seeded samples)
};

// The graph a chain executes for `model` in `dtype`: the model itself for f32,
// its int8 version (Quantize with 4 seeded random calibration samples, seed 1:
// deterministic, so every process builds the same bits) for int8.
Result<Graph> LoadExecutionGraph(const std::string& model, const std::string& dtype);

class SegmentRunner {
 public:
  static Result<std::unique_ptr<SegmentRunner>> Load(const SegmentSpec& spec);
  // The same from an already loaded execution graph (the client shares it).
  static Result<std::unique_ptr<SegmentRunner>> FromGraph(std::shared_ptr<const Graph> exec_graph, const SegmentSpec& spec);
  // A delivered flat segment (runtime_delivery.h): `graph` is ReadSegment's
  // standalone graph, executed whole; it borrows the file bytes `storage` keeps
  // alive. The cuts are the model's indices; predictions come from this graph.
  static Result<std::unique_ptr<SegmentRunner>> FromFlat(std::shared_ptr<const void> storage, Graph graph, int cut_before,
                                                         int cut_after, bool ends_at_output);

  // Checks `payload` against the segment input (bytes and dtype), runs the
  // segment, and leaves the result in output().
  Status Run(std::span<const uint8_t> payload, DType dtype);
  std::span<const uint8_t> output() const;
  const Tensor& input_tensor() const { return executor_->input_tensor(); }
  const Tensor& output_tensor() const { return executor_->output_tensor(); }
  int first_cut_index() const { return first_cut_; }
  int last_cut_index() const { return last_cut_; }
  bool ends_at_output() const { return ends_at_output_; }
  // The planner's compute time of this segment on `device`: the sum of
  // NodeSeconds over its nodes except QuantizeLinear/DequantizeLinear, which
  // is the float graph's sum between the same cuts (what the planner adds up),
  // however the segment was loaded (model, shared graph or delivered file).
  double PredictedSeconds(const DeviceProfile& device) const;

 private:
  SegmentRunner() = default;
  std::shared_ptr<const Graph> exec_graph_;
  std::unique_ptr<SegmentExecutor> executor_;
  int first_cut_ = 0, last_cut_ = 0;
  int begin_ = 0, end_ = 0;  // node positions in exec_graph_
  bool ends_at_output_ = false;
  std::shared_ptr<const void> storage_;  // FromFlat: the file bytes the graph points into
};

// ---- Links as the runtime uses them --------------------------------------------
struct LinkSettings {
  std::string link = "udp";  // profile name or path (profiles/links)
  std::string profiles_dir;  // "" = the default (cost.h ProfilesDir)
  bool shaped = true;        // pace and lose frames as the profile says
  double time_scale = 1;
  double loss = -1;          // < 0: the profile's loss
  uint64_t seed = 1;
};
// The transport, framing and shaper for `settings` (the shaper is disabled when
// !shaped). TCP with loss > 0 is refused: TCP loss is real (scripts/netns.sh).
struct ResolvedLink {
  LinkProfile profile;
  net::TransportKind kind = net::TransportKind::kUdp;
  net::ChannelOptions channel;
};
Result<ResolvedLink> ResolveLink(const LinkSettings& settings);
// The retransmission timer for `link` paced at `bytes_per_s`: a few frame
// times of the emulated radio at `time_scale`, at least 20 ms of host time.
// What ResolveLink sets for the profile's rate, and emulation re-pacing uses.
double RetransmitTimeoutSeconds(const ResolvedLink& link, double bytes_per_s, double time_scale);
// `link`'s channel paced at `bytes_per_s` (a shaped link only; otherwise as is).
net::ChannelOptions ChannelAtRate(const ResolvedLink& link, double bytes_per_s, double time_scale);
// The running executable's path (/proc/self/exe): what run, run --dynamic and
// bench-protocols start their child processes from.
Result<std::string> SelfExecutablePath();
// --shape on|off|auto: "auto" shapes the radios that do not exist here (espnow,
// ble) always, and udp/tcp only when a device is emulated.
Result<bool> DecideShaping(const std::string& mode, const std::string& link, const std::string& profiles_dir, bool emulating);

// ---- A node ---------------------------------------------------------------------
struct NodeOptions {
  SegmentSpec segment;
  net::Endpoint listen;
  std::optional<net::Endpoint> next;  // none: a sink (results are only reported)
  LinkSettings link;
  std::string emulate_device;         // device profile; "" = host speed
  double request_timeout_s = 120;     // a request's whole budget at this node
  int max_requests = 0;               // exit after this many (0: until stopped)
  // Requests queued at once (`--queue-limit`): beyond it a request is
  // refused BUSY and the refusal travels down the chain as an error.
  int queue_limit = 64;
  // Over-the-air delivery (runtime_delivery.h): with segment.model empty the
  // node starts empty and waits for one. Only a node with verify_key takes
  // deliveries (signed with its KEY), and an update only when it starts at the
  // node's input cut; the ack answers the chunk's sender over the same link.
  std::string verify_key;  // KEY.pub
  // Secure links (docs/security.md): this node's identity (`--key`), the
  // senders it accepts (`--allow`: its predecessor, and whoever delivers its
  // segments) and its successor's public key (`--server-key`, with `next`).
  // Secure by default: without them RunNode refuses unless `insecure`.
  std::string key, allow, server_key;
  bool insecure = false;
  // The replay floor's file (runtime_delivery.h, ReadNodeStateFile): read at
  // start, rewritten before each accepting ack. "": RAM only, lost on restart.
  std::string state_file;
  // The link this node receives on: its predecessor's outgoing link, whose
  // transport and framing the receiver must match (a plan's per-hop links).
  // Unset: `link`, as when one link joins every hop.
  std::optional<LinkSettings> in_link;
};

// The node's security flags are complete and consistent (secure by default,
// `insecure` excludes keys), and an empty node can verify its delivery.
Status CheckNodeOptions(const NodeOptions& options);

// Runs the node until SIGTERM/SIGINT (or max_requests); SIGHUP re-reads
// `allow` (removed senders are revoked). It runs on the edge server's request
// loop (src/runtime/request_loop.h): it receives on a net::ServerTransport
// (sealed when keyed), queues at most `queue_limit` requests, computes them
// one at a time and forwards each through a net::RequestClient
// (src/runtime/hop.h). A request refused BUSY (queue full, shutting down, or
// its wire deadline budget cannot be met, or passed while it queued) ends
// here as an error that travels down the chain, as a failure does; the
// rest of a request's budget travels with its forwarded tensor. SIGTERM is
// graceful: new requests are refused, the queued ones finish and leave
// within 8 s (a forward already waiting on a dead next hop is bounded by
// request_timeout_s). Prints one JSON line per event on `events`:
// {"event": "listening", "address", "sealed", "queue_limit",
// "memory_bound_bytes"} first (the bound: queued requests and the
// transport's receive state), then
// {"event": "request", "request_id", "cold", "compute_s", "predicted_compute_s",
// "host_compute_s", "overrun_s", "setup_s", "hop": {...}} or {"event": "error",
// "request_id", "message"} (the error also travels down the chain as a kError
// message so the client learns it).
// Segment-chunk messages go to the node's delivery handler
// (runtime_delivery.h): {"event": "delivery", ...} or {"event":
// "delivery_rejected", "reason", ...}; an empty node answers tensors with an error.
Status RunNode(const NodeOptions& options, std::FILE* events);

// A node's command line, both ways, in one place: the flags of `edgesplit
// node` as text (what the CLI binds its options to) and the NodeOptions they
// mean; NodeCommandLine is the inverse (what `run` starts a node with), so
// NodeOptionsFromFlags(flags of NodeCommandLine(o)) gives back `o`.
struct NodeFlags {
  std::string model, segment, listen = "127.0.0.1:0", next, link, emulate, dtype = "f32", shape = "auto", profiles;
  std::string verify_key, state, in_link;
  std::string key, allow, server_key;
  bool insecure = false;
  double time_scale = 1, loss = -1, request_timeout = 120;
  uint64_t seed = 1;
  int max_requests = 0;
  int queue_limit = 64;
};
Result<NodeOptions> NodeOptionsFromFlags(const NodeFlags& flags);
std::vector<std::string> NodeCommandLine(const NodeOptions& options);  // argv[1...], starting with "node"

// ---- The client and its chain ----------------------------------------------------
struct ChainNodeSpec {
  std::string first_cut, last_cut;
  std::string device;  // emulated device profile, "" = host speed
};

struct ChainOptions {
  std::string model;
  std::vector<ChainNodeSpec> nodes;
  std::string dtype = "f32";
  LinkSettings link;
  int inflight = 1;
  std::string node_binary;         // the `edgesplit` executable that runs `node`
  double request_timeout_s = 120;  // per request, at the client
  // Nodes start empty and the client delivers each one's flat segment first
  // (runtime_delivery.h), signed with sign_key (KEY; nodes verify with KEY.pub).
  bool deliver = false;
  std::string sign_key;
  uint32_t delivery_sequence = 1;
  // The client is the sensor d1 of a plan that does not use it: it sends the
  // raw input over the (shaped) link to node 0, pays the link's set-up before
  // its first send, and that transfer counts in the RTT as the input hop.
  // In int8 the sensor quantizes the input first (the int8 graph's leading
  // QuantizeLinear, as a TFLite Micro sensor does) and sends 1 byte an element;
  // node 0 then starts at the cut after that QuantizeLinear.
  // false: the input reaches node 0 unshaped, outside the RTT (its own camera).
  bool input_hop = false;
  // Attach to nodes that are already running (`run --attach ADDR,...`) instead
  // of spawning them: node k listens at attach[k] with the segment nodes[k]
  // names (the client checks results against those segments), and the last
  // node forwards to `listen`, where this client receives. Per-node timings
  // stay in the nodes' own event logs: records carry the RTT only, and
  // KillNode/RestartNode refuse.
  std::vector<std::string> attach;
  std::string listen = "127.0.0.1:0";
  // Per-hop links (`run --plan` of a plan with `links`): hop_links[k] carries
  // node k's output (to node k+1; the last node's result to the client, an
  // unshaped setting when the sensor ran the last stage itself), input_link
  // the sensor's input to node 0 (input_hop; else node 0 receives on
  // hop_links[0]'s transport, unshaped). Each node receives on its
  // predecessor's link. Empty: `link` joins every hop (time_scale, and the
  // seed base, always come from `link`).
  std::vector<LinkSettings> hop_links;
  std::optional<LinkSettings> input_link;
  // Secure links (docs/security.md). Spawned nodes: temporary keys for this
  // client and every node; node k enrols its predecessor (node 0: the client,
  // and with `deliver` every node the client too), the client enrols the last
  // node. Attached nodes: this client's `key`, node 0's public key
  // `server_key` and an `allow` file enrolling the last node. `insecure`:
  // plain frames (attached nodes then run with --insecure too).
  bool insecure = false;
  std::string key, server_key, allow;
};

struct HopRecord {
  int64_t bytes = 0;         // the encoded message
  int64_t tensor_bytes = 0;  // its tensor payload
  int64_t fragments = 0, retransmissions = 0;
  int64_t dropped = 0;       // frames the emulated medium lost
  double serialize_s = 0, transfer_s = 0, predicted_transfer_s = 0;
  std::string link;  // the link profile's name (from the node's event; "" from older nodes)
};
struct NodeRecord {
  std::string device;  // "host" without emulation
  double compute_s = 0, predicted_compute_s = 0, host_compute_s = 0, overrun_s = 0;
};
struct InferenceRecord {
  uint32_t request_id = 0;  // the inference's number in the run, 1..N (not its wire id, which delivery chunks also use)
  bool cold = false;
  bool identical = false;  // result bytes == the local run's
  double rtt_s = 0, setup_s = 0, reply_s = 0;
  std::vector<NodeRecord> nodes;
  std::vector<HopRecord> hops;  // node k -> node k+1
  HopRecord reply;              // last node -> client
  bool has_input = false;       // ChainOptions::input_hop: `input` is the sensor -> node 0 transfer
  HopRecord input;
  double done_at_s = 0;         // when the result arrived, seconds since the run began
};

struct RunSummary {
  double cold_rtt_s = 0;
  double steady_median_s = 0, steady_p95_s = 0;
  double throughput_per_s = 0;
};

// One over-the-air delivery as the coordinator saw it.
struct DeliveryReport {
  int node = 0;
  bool accepted = false;
  std::string reason, detail;  // a refusal: the node's reason ("corrupted", ...) and message
  int64_t bytes = 0;           // the segment file
  int64_t chunks = 0;          // chunk messages sent (manifest, data, end)
  int64_t wire_bytes = 0, fragments = 0, retransmissions = 0;
  double delivery_s = 0;       // first chunk sent to ack received (emulated seconds when emulated)
  std::string sha256;          // hex, of the file
};
// {"node", "bytes", "chunks", "delivery_s", "sha256", "wire_bytes", "fragments", "retransmissions"}
nlohmann::ordered_json DeliveryJson(const DeliveryReport& report);

class Chain {
 public:
  // Starts one `node` process per spec (last first, each told the next one's
  // address as it reports it) and the client's receiver. Fails, naming the
  // node, when one does not come up within its deadline.
  static Result<std::unique_ptr<Chain>> Start(const ChainOptions& options);
  ~Chain();  // kills and reaps every node
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  // Sends `count` seeded inputs (`inflight` at a time) and collects one record
  // per request. Fails on the first request that fails (a node's error, a dead
  // node, a deadline) with a message naming the node and request.
  // `progress` (optional) is called after each record: (records, count).
  Result<std::vector<InferenceRecord>> Run(int count, const std::function<void(int, int)>& progress = {});
  // Kills node `i` (SIGKILL) / starts it again on the same address.
  Status KillNode(int i);
  Status RestartNode(int i);
  int num_nodes() const;
  bool attached() const;  // ChainOptions::attach: the nodes run elsewhere
  // ChainOptions::deliver: one report per node delivery, in order (restarts add more).
  const std::vector<DeliveryReport>& deliveries() const;
  bool emulated() const;
  bool sealed() const;  // every hop in sealed sessions (not ChainOptions::insecure)
  double time_scale() const;
  // The link results reach the client on (the last hop's with per-hop links).
  const ResolvedLink& link() const;

 private:
  Chain() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// cold = the first record's RTT; steady = median / p95 of the others (of all
// when there is one); throughput = records / the last done_at_s.
RunSummary Summarize(const std::vector<InferenceRecord>& records);

// The JSON shapes: one inference {"cold", "rtt_s", "setup_s", "nodes":
// [{"device", "compute_s", "predicted_compute_s", ...}], "hops": [{"bytes",
// "fragments", "retransmissions", "serialize_s", "transfer_s",
// "predicted_transfer_s"}], "reply_s", ..., "input": {same keys as a hop; only
// with an input hop}} and the summary {"cold_rtt_s",
// "steady_rtt_s": {"median", "p95"}, "throughput_per_s"}.
nlohmann::ordered_json InferenceJson(const InferenceRecord& record);
nlohmann::ordered_json SummaryJson(const RunSummary& summary);

}  // namespace edgesplit::runtime
