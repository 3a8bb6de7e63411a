// The edge server and its load generator (module `runtime`, docs/serve.md).
//
//  * EdgeServer (`edgesplit serve`): holds the tail of the model at every
//    candidate cut (one executor and arena per cut, prepared once) and answers
//    any number of devices at once over one listening socket
//    (edgesplit/net_server.h). Requests for the same cut that arrive within
//    `max_wait_s` of each other run as one batch of up to `max_batch`. Every
//    reply goes back to its sender and carries the server id, the queue
//    length, the batch it ran in and its service time (receipt to reply).
//    Admission: a request that names an unknown cut, another model (hash), a
//    wrong dtype or shape, or carries a malformed codec payload, gets an error
//    reply (encoded requests, wire codec != raw, are decoded here with the
//    reference decoder before they queue: edgesplit/codec.h); one that finds the queue full
//    (`queue_limit` requests) or cannot start before its deadline gets BUSY
//    (StatusCode::kBusy), so memory stays bounded under any overload
//    (MemoryBoundBytes).
//  * RunLoadgen (`edgesplit loadgen`): N emulated devices in one process (one
//    thread each, one request outstanding), each running its head (or taking
//    it precomputed), sending the cut tensor and checking the result against
//    local inference.
//
// Thread-safety: an EdgeServer is started and stopped from one thread; it runs
// its own I/O and worker threads. RunLoadgen is a blocking call.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edgesplit/dynamic.h"
#include "edgesplit/graph.h"
#include "edgesplit/net_server.h"
#include "edgesplit/runtime.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// A 32-bit fingerprint of an execution graph (node ops, attributes' shapes,
// tensor dtypes and shapes, constant bytes): what a request's model_hash
// carries so a server refuses tensors meant for another model or dtype.
uint32_t ModelHash(const Graph& graph);

// The cut indices `spec` selects in `graph`: "strict" or "loose" (the natural
// bottlenecks), "all" (every interior cut), or a comma list of cut names,
// aliases or indices. The input cut (0, full offload) is always included.
Result<std::vector<int>> SelectServedCuts(const Graph& graph, const std::string& spec);

// The server id used when none is given: HOSTNAME:PID.
std::string DefaultServerId();

struct ServeOptions {
  std::string model;
  std::string dtype = "f32";
  std::string cuts = "strict";
  std::string backend = "onednn";
  int max_batch = 8;          // 1 disables batching
  // Batch only where a tail's batches cost less per request than its single
  // runs, as the server measures them (docs/serve.md); false (the default,
  // as issue 12 fixes it): batch what is queued, up to max_batch.
  bool adaptive_batching = false;
  double max_wait_s = 0.002;  // how long the first request of a batch waits for more
  int queue_limit = 1024;     // requests queued (all cuts together) before BUSY
  // Worker threads computing batches side by side (1..64), each with its own
  // executors (arena_bytes() counts them all): for a server whose cores one
  // request does not fill (a small tail scales poorly over --threads).
  int workers = 1;
  // > 0: an idle worker polls for work this long before it sleeps (trades an
  // idle core for the tail latency a sleeping core adds; docs/serve.md).
  double busy_poll_s = 0;
  std::string id;             // "" = DefaultServerId()
  net::Endpoint listen;       // default 127.0.0.1:0
  LinkSettings link;          // the transport (udp, tcp, espnow, ble) and its shaping
  net::ServerLimits limits;   // max_message_bytes is set from the largest cut tensor
  // With a broker: serve as one replica of the group's shared MQTT
  // subscription instead of listening (net_server.h).
  std::optional<net::Endpoint> mqtt;
  std::string mqtt_group = "edgesplit";
  // Emulation, for lab runs (`run --dynamic`): with a device profile the
  // server holds each batch until `load` x the profile's predicted time for
  // it has passed (x link.time_scale in wall time), reports service times in
  // emulated seconds, and obeys control pings (a DynamicControl block,
  // dynamic_runtime.h: set the load, set its replies' link rate) and answers
  // them with its load. A server without a profile ignores control blocks.
  std::string emulate;
  double load = 1;
  double reply_rate_bytes_per_s = 0;  // emulated: its replies' link rate at start (0: the profile's)
  // Secure links (docs/security.md): sessions with enrolled devices, every
  // frame sealed. Unset: plain frames (`--insecure`).
  std::optional<net::LinkSecurity> security;
};

struct ServerCounters {
  int64_t received = 0;  // requests that reached admission
  int64_t served = 0;    // results sent
  int64_t busy = 0;      // BUSY replies (queue full, deadline, shutting down)
  int64_t errors = 0;    // error replies (bad request)
  int64_t pings = 0;
  int64_t batches_waited = 0;  // batches whose first request waited for companions (--max-wait-ms)
  int64_t batches_declined = 0;  // times more requests were queued but batching did not pay (--batching adaptive)
  int64_t batches_polled = 0;  // batches an idle worker found while polling, not asleep (--busy-poll-ms)
  std::map<int, int64_t> batch_sizes;  // batch size -> batches run
};

class EdgeServer {
 public:
  // Loads the model, prepares every tail and binds the listening socket.
  static Result<std::unique_ptr<EdgeServer>> Start(const ServeOptions& options);
  ~EdgeServer();  // Stop(0) if not stopped
  EdgeServer(const EdgeServer&) = delete;
  EdgeServer& operator=(const EdgeServer&) = delete;

  net::Endpoint endpoint() const;
  const std::string& id() const;
  uint32_t model_hash() const;
  const std::vector<int>& cuts() const;  // served cut indices (exec graph numbering)
  // Upper bound of the bytes the server's queues and transport buffers hold
  // (queued requests + per-peer receive state), excluding the model and arenas.
  int64_t memory_bound_bytes() const;
  int64_t arena_bytes() const;  // all tails' arenas and scratch
  ServerCounters counters() const;
  // Rejections, and the secure link's drops and handshakes (after Stop: as at Stop).
  net::ServerStats transport_stats() const;
  // The listening line's JSON (`listening` and the fields above).
  std::string ReadyJson() const;

  // Refuses new requests (BUSY), finishes the queued ones and their replies,
  // then stops, within `grace_s` (replies still unsent then are dropped).
  void Stop(double grace_s);

 private:
  struct Impl;
  explicit EdgeServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Load generator ----------------------------------------------------------
struct LoadgenOptions {
  std::string model;
  std::string dtype = "f32";
  std::string cuts = "strict";  // the cuts the devices split at, round-robin per request
  std::string backend = "onednn";
  net::Endpoint server;
  LinkSettings link;
  std::optional<net::Endpoint> mqtt;  // publish to a broker's replicas instead of `server`
  double mqtt_retry_s = 2;            // republish a request unanswered this long (its replica died)
  int clients = 1;
  int requests = 1;             // per client
  double request_rate = 0;      // requests/s per client; 0 = as fast as answered
  // Paced clients move their phase out of a slot where their requests queued
  // behind another's (PacedSchedule in src/runtime/pacing.h); false: each
  // keeps its seeded phase.
  bool spread_phases = true;
  double deadline_s = 0;        // sent as each request's deadline budget; 0 = none
  double timeout_s = 30;        // a request with no reply by then is lost
  bool precompute = false;      // heads computed before the clock starts
  int distinct_inputs = 4;      // seeded inputs the clients cycle through
  std::string device_prefix = "device";  // request sender ids: PREFIX-K
  // The cut tensors' codec (docs/codecs.md), "raw" by default; it must apply
  // to every cut's dtype. With a lossy codec a result is checked against the
  // tail run locally on the reference decoder's output, not the whole model.
  std::string codec = "raw";
  // Secure links: every client its own session, all under this one identity
  // (the N emulated devices share one enrolled key). Unset: plain frames.
  std::optional<net::LinkSecurity> security;
  // When set, incremented after every completed (verified) request: progress
  // another thread may watch.
  std::atomic<int64_t>* completed_counter = nullptr;
};

struct LoadgenReport {
  int64_t sent = 0, completed = 0, busy = 0, lost = 0, duplicated = 0, corrupted = 0, deduplicated = 0;
  int64_t errors = 0;  // error replies (counted in lost)
  int64_t phase_shifts = 0;  // times a paced client moved its phase (spread_phases)
  double p50_s = 0, p99_s = 0, throughput_rps = 0, wall_s = 0;
  // Of completed requests: how long they queued at the server behind other
  // work (the results' queue_wait_us), the part of p50/p99 that is load.
  double queue_wait_p50_s = 0, queue_wait_p99_s = 0;
  // Of completed requests: the server's own time from full receipt to reply
  // (the results' service_time_us: queue wait + compute). p99_s minus this is
  // the links' and both hosts' share (transfer, wake-ups).
  double service_p50_s = 0, service_p99_s = 0;
  std::map<int, int64_t> batch_sizes;           // batch size -> results
  std::map<std::string, int64_t> per_server;    // server id -> completed
  std::vector<std::string> first_errors;        // up to 5, for the user
};

// ---- One device -------------------------------------------------------------------
// `edgesplit device`: a sensor that runs its head (on the host, held to the
// emulated device's predicted time with `emulate`), sends the cut tensor to a
// server and takes the reply; after BUSY or a failure it finishes locally. With
// `dynamic` the split is chosen per request by the dynamic policy
// (edgesplit/dynamic.h) from the measured transfer rate and the server's
// measured service time and queue length (the load it feeds the policy is
// measured service time / the modelled idle tail time).
struct DeviceOptions {
  std::string model;
  std::string dtype = "f32";
  std::string backend = "onednn";
  std::string name = "device";   // sender id (and MQTT device name)
  net::Endpoint server;
  std::optional<net::Endpoint> mqtt;
  LinkSettings link;
  std::string split;             // a cut name, alias or index; "" with dynamic
  bool dynamic = false;
  std::string rule = "strict";   // dynamic: candidate rule (the server must serve these cuts)
  std::string server_device = "edge-x86";  // dynamic: the server's device profile (its idle tail time)
  std::string emulate;           // device profile whose predicted compute the head waits for
  ControllerOptions controller;  // dynamic: probing, hysteresis, failure timeout (emulated s)
  double rate_bytes_per_s = 0;   // a shaped link's rate at start (0: the link profile's)
  int requests = 1;
  double request_rate = 0;       // requests/s; 0 = back to back
  bool spread_phases = true;     // with a rate: move out of a slot where requests queue (LoadgenOptions)
  double deadline_s = 0;         // sent with each request; 0 = none
  double timeout_s = 10;         // wall s a reply is waited for (dynamic: also bounded by the controller's)
  // The cut tensor's codec (docs/codecs.md): "raw" (default) or any codec name
  // (ParseCodecName) that applies to the cut's dtype.
  std::string codec = "raw";
  // With dynamic: choose cut x codec per request (AddCodecCandidates) from
  // this accuracy table within max_accuracy_drop points; the costs file
  // defaults to PROFILES/codecs/codec_costs.json.
  std::string codec_table, codec_costs;
  double max_accuracy_drop = 0;
  // An emulated link-rate schedule (request index from 1 -> bytes/s): before
  // that request the device's shaped link is re-made at this rate. Needs a
  // shaped link and a direct server (not MQTT).
  std::vector<std::pair<int, double>> rate_schedule;
  std::optional<net::LinkSecurity> security;  // secure links; unset: plain frames
};

struct DeviceRequest {
  int index = 0, cut = 0;
  std::string codec = "raw";  // the codec the cut tensor was sent with
  std::string split, outcome, server, error;  // outcome: server, local, local-after-busy, local-after-error, local-after-failure
  // The result equals local inference of the whole model (raw and lossless
  // codecs, and every local finish), or, for a lossy codec, the local tail run
  // on the reference decoder's output of the payload sent (SameResult).
  bool verified = false;
  bool identical = false;  // the result equals local inference of the whole model bit for bit
  double head_s = 0, exchange_s = 0, total_s = 0, service_s = 0;
  double queue_wait_s = 0;  // the reply's queue wait (in service_s: time queued behind other work)
  int64_t sent_bytes = 0;
  uint32_t queue_length = 0, batch_size = 0;
  double link_rate_bytes_per_s = 0;  // with a rate schedule: the emulated rate in force (else 0)
  // What the dynamic policy saw and did (dynamic only; seconds emulated).
  int candidate = 0;
  std::string reason;        // DecisionReasonName
  bool fallback = false;     // the decision was a fallback, or the request finished locally after a failure
  bool probe = false;        // a probe started with this request
  std::string fallback_reason;  // the failure that put the policy in fallback (when fallback)
  double rate_estimate_bytes_per_s = 0, rate_estimate_after = 0, load_estimate = 1;
  double transfer_s = 0;     // the request's transfer (ack timing)
  double local_rest_s = 0;   // finishing locally after a failure
  double host_compute_s = 0; // this host's own compute, unscaled
  double overrun_s = 0;      // beyond the parts' sum (host jitter)
};
struct DeviceReport {
  std::string model;
  bool emulated = false;  // timings are the emulated device's (a profile or a shaped link)
  std::vector<DeviceRequest> requests;
  int phase_shifts = 0;  // times the paced schedule moved its phase (spread_phases)
};

// One device's requests, one at a time: what `edgesplit device` runs in a loop
// and `run --dynamic` drives with its schedule. Probes (dynamic) run on a
// helper thread beside local compute and are collected before the next
// tensor is sent. Not thread-safe.
class DeviceSession {
 public:
  static Result<std::unique_ptr<DeviceSession>> Create(const DeviceOptions& options);
  ~DeviceSession();
  DeviceSession(const DeviceSession&) = delete;
  DeviceSession& operator=(const DeviceSession&) = delete;
  // Request `index` (1-based; its input is seeded by the index): head, exchange
  // or local finish, and the check against the whole model run here.
  Result<DeviceRequest> Next(int index);
  // Emulation: the uplink's rate from now on (a shaped link). The server's
  // reply rate is the server's to change (a control ping, ServeOptions::emulate).
  Status SetLinkRate(double bytes_per_s);
  const SplitPolicy* policy() const;  // null with a fixed split
  const ResolvedLink& link() const;
  double time_scale() const;          // wall s per reported s
  bool emulated() const;

 private:
  DeviceSession();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
// A refusal by the server (unenrolled or revoked key: net::IsRefusal) ends
// the run with that error instead of finishing locally.
Result<DeviceReport> RunDevice(const DeviceOptions& options);
std::string DeviceJson(const DeviceReport& report);  // schema_version 1

// ---- Secure links' key files (docs/security.md) ---------------------------------
// `--key NAME`: the secret key file `keygen -o NAME` wrote.
Result<secure::Identity> ReadIdentity(const std::string& key_path);
// `--server-key SERVER.pub`.
Result<crypto::Bytes32> ReadServerKey(const std::string& pub_path);
// `--allow FILE`: one enrolled device per line, its NAME and then the whole
// line of its .pub file; blank lines and lines starting with '#' are skipped.
// Errors name the file, line and device.
struct EnrolledDevice {
  std::string name;
  crypto::Bytes32 public_key{};
};
Result<std::vector<EnrolledDevice>> ReadAllowFile(const std::string& path);
std::vector<crypto::Bytes32> EnrolledKeysOf(const std::vector<EnrolledDevice>& devices);

Result<LoadgenReport> RunLoadgen(const LoadgenOptions& options, const std::atomic<bool>* stop = nullptr);
std::string LoadgenJson(const LoadgenReport& report);  // the documented keys, schema_version 1

}  // namespace edgesplit::runtime
