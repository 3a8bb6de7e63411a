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
//    wrong dtype or shape gets an error reply; one that finds the queue full
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
#include <vector>

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
  double max_wait_s = 0.002;  // how long the first request of a batch waits for more
  int queue_limit = 1024;     // requests queued (all cuts together) before BUSY
  std::string id;             // "" = DefaultServerId()
  net::Endpoint listen;       // default 127.0.0.1:0
  LinkSettings link;          // the transport (udp, tcp, espnow, ble) and its shaping
  net::ServerLimits limits;   // max_message_bytes is set from the largest cut tensor
  // With a broker: serve as one replica of the group's shared MQTT
  // subscription instead of listening (net_server.h).
  std::optional<net::Endpoint> mqtt;
  std::string mqtt_group = "edgesplit";
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
  double deadline_s = 0;        // sent as each request's deadline budget; 0 = none
  double timeout_s = 30;        // a request with no reply by then is lost
  bool precompute = false;      // heads computed before the clock starts
  int distinct_inputs = 4;      // seeded inputs the clients cycle through
  std::string device_prefix = "device";  // request sender ids: PREFIX-K
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
  double p50_s = 0, p99_s = 0, throughput_rps = 0, wall_s = 0;
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
  int requests = 1;
  double request_rate = 0;       // requests/s; 0 = back to back
  double deadline_s = 0;         // sent with each request; 0 = none
  double timeout_s = 10;
  std::optional<net::LinkSecurity> security;  // secure links; unset: plain frames
};

struct DeviceRequest {
  int index = 0, cut = 0;
  std::string split, outcome, server, error;  // outcome: server, local, local-after-busy, local-after-error, local-after-failure
  bool verified = false;                      // the result equals local inference of the whole model
  double head_s = 0, exchange_s = 0, total_s = 0, service_s = 0;
  int64_t sent_bytes = 0;
  uint32_t queue_length = 0, batch_size = 0;
};
struct DeviceReport {
  std::string model;
  bool emulated = false;  // timings are the emulated device's (a profile or a shaped link)
  std::vector<DeviceRequest> requests;
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
