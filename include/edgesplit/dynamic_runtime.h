// Live dynamic split computing (`edgesplit run MODEL --dynamic`, docs/dynamic.md
// "Live"): a head node (the emulated sensor device) picks the split per request
// with its SplitController (edgesplit/dynamic.h), a server node runs the tail of
// whichever candidate arrives, and a client (the sensor's application) feeds
// inputs, changes the link rate and the server load mid-run, and can kill and
// restart the server.
//
//   client --input--> head --cut tensor (cut id), probes--> server
//   client <--result-- head <--tail's output + ServerReport-- server
//
//  * The head holds, for every candidate, the segments input->cut_k and
//    cut_k->output (the latter for finishing locally when the link or the
//    server fails) and the whole model; the server holds cut_k->output for every
//    candidate it may be sent. Both build the candidate set with BuildLivePolicy
//    from the same flags, so they agree on it.
//  * The head->server link is always shaped; its rate is what the schedule and
//    the control messages change. Only the head's transfers and probes teach it
//    the rate (the ack timing of its own sends).
//  * Control travels in kPing messages whose payload starts with a
//    DynamicControl block (the wire has no other type for it): client->head
//    (set rate and/or load), head->server (forwarded), head->server probes
//    (reply-to address, padded to probe_bytes) and server->head pongs (the
//    server's load).
//
// Timing: every emulated duration is multiplied by `time_scale` while it runs
// and divided by it when reported. Errors are Status values naming the node, the
// request and the reason; every wait has a deadline.
// Thread-safety: none of these objects may be shared between threads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgesplit/dynamic.h"
#include "edgesplit/net.h"
#include "edgesplit/runtime.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// ---- Control block ------------------------------------------------------------
// 32 bytes, little-endian: "ESDC", version 1, flags, 2 reserved zero bytes,
// f64 rate_bytes_per_s, f64 load, u32 IPv4 reply host (a.b.c.d = a<<24|...),
// u16 reply port, 2 reserved zero bytes. Bytes after the block are padding
// (a probe is sized to probe_bytes) and are ignored.
inline constexpr size_t kDynamicControlBytes = 32;
enum DynamicControlFlag : uint8_t {
  kControlSetRate = 1,  // the head->server link (and the server's reply link) now runs at rate_bytes_per_s
  kControlSetLoad = 2,  // the server stretches its service time by `load`; in a pong: the server's load
  kControlReplyTo = 4,  // the server answers to reply_host:reply_port from now on
  kControlProbe = 8,    // answer with a kPong (a probe of the link)
};
struct DynamicControl {
  uint8_t flags = 0;
  double rate_bytes_per_s = 0;  // > 0 and finite when kControlSetRate
  double load = 1;              // in (0, 1e6] when kControlSetLoad
  net::Endpoint reply_to;       // when kControlReplyTo (IPv4 dotted quad)
};
// Writes the block into out[0..kDynamicControlBytes); out must be at least that long.
Status EncodeDynamicControl(const DynamicControl& control, std::span<uint8_t> out);
// Rejects, naming the field: short input, bad magic, other versions, unknown
// flags, non-zero reserved bytes, a rate or load out of range.
Result<DynamicControl> ParseDynamicControl(std::span<const uint8_t> bytes);

// ---- Schedule -------------------------------------------------------------------
// CSV with the header `request,rate_bytes_per_s,server_load` and an optional
// fourth column `server` (`up`, `down` or empty); '#' lines and blank lines are
// skipped. Row r applies before request r (1-based, counted over the whole run)
// and holds until the next row: the head->server link's rate in bytes/s (> 0),
// the server's load factor (> 0; 1 = idle), and whether the
// server process is killed (`down`) or started again (`up`). Requests must
// increase strictly. Errors name the origin, line and column.
enum class ServerState : uint8_t { kUnchanged, kUp, kDown };
struct ScheduleRow {
  int request = 0;
  double rate_bytes_per_s = 0;
  double server_load = 1;
  ServerState server = ServerState::kUnchanged;
};
Result<std::vector<ScheduleRow>> ParseScheduleCsv(const std::string& text, const std::string& origin);
Result<std::vector<ScheduleRow>> LoadScheduleCsv(const std::string& path);  // IoError naming the path

// ---- The candidate set both nodes build -----------------------------------------
struct LivePolicySpec {
  std::string model;
  std::string dtype = "f32";  // f32 or int8: what runs, crosses the link and what the weights take
  std::string head_device, server_device;  // device profiles (both emulated)
  std::string link = "udp";
  std::string profiles_dir;
  std::string rule = "strict";  // strict, loose or all (dynamic.h CandidateRule)
};
Result<SplitPolicy> BuildLivePolicy(const LivePolicySpec& spec);

// ---- The two node processes (`edgesplit dynamic-node --role head|server`) -------
struct DynamicNodeOptions {
  LivePolicySpec policy;
  net::Endpoint listen;
  std::optional<net::Endpoint> next;    // head: where results go (the client)
  std::optional<net::Endpoint> server;  // head: the server node
  LinkSettings link;                    // shaped is forced on: its rate is what changes
  ControllerOptions controller;         // head only
  double request_timeout_s = 30;        // emulated seconds a transfer plus its reply may take
  // The conditions at start (the handshake probe measures the first): the
  // link's rate (<= 0: the link profile's) and the server's load.
  double initial_rate_bytes_per_s = 0;
  double initial_load = 1;
};

// The head: prints {"event": "listening", "address"} (the address the client
// sends to), then per request {"event": "request", "request_id", "split",
// "candidate", "cut_index", "reason", "fallback", "fallback_reason", "probe",
// "rate_estimate_bytes_per_s" (what the decision saw), "rate_estimate_after",
// "load_estimate", "true_rate_bytes_per_s" (its shaper's rate), "head_compute_s",
// "transfer_s", "bytes", "server_service_s", "local_rest_s", "host_compute_s",
// "overrun_s"}; probe outcomes as {"event": "probe", "ok", ...} and failures to
// forward control as {"event": "control", "ok": false, "message"}.
// Runs until SIGTERM/SIGINT.
Status RunDynamicHead(const DynamicNodeOptions& options, std::FILE* events);
// The server: prints {"event": "listening", "address"}; answers tensors of every
// candidate cut with the tail's output (service_time_us = the emulated service
// time, queue_length 0: one request is in flight at a time) and probes with a
// pong whose payload is a DynamicControl carrying its load. With load L it holds
// each result until L x the emulated device's predicted time has passed.
Status RunDynamicServer(const DynamicNodeOptions& options, std::FILE* events);

// ---- The client ------------------------------------------------------------------
struct DynamicChainOptions {
  LivePolicySpec policy;
  LinkSettings link;  // shaped is forced on
  ControllerOptions controller;
  std::string node_binary;        // the `edgesplit` executable that runs `dynamic-node`
  double request_timeout_s = 60;  // per request at the client (wall seconds)
  // Rows due at request 1 set the conditions the nodes start in; later rows
  // are applied by Run before their request.
  std::vector<ScheduleRow> schedule;
};

struct DynamicRecord {
  uint32_t request_id = 0;  // the wire id (control messages share the counter)
  int request = 0;          // 1-based position in the run (what schedule rows count)
  std::string split;     // the candidate executed: "device-only", "server-only" or the cut's name
  int candidate = -1;
  int cut_index = 0;
  std::string reason;    // DecisionReasonName
  bool fallback = false;
  std::string fallback_reason;  // why the head ran locally ("" when not in fallback)
  bool probe = false;
  bool identical = false;  // result bytes == the whole model run locally
  double rtt_s = 0, done_at_s = 0;
  double rate_estimate_bytes_per_s = 0, rate_estimate_after = 0, load_estimate = 1;
  double true_rate_bytes_per_s = 0, server_load = 1;
  bool server_up = true;
  double head_compute_s = 0, transfer_s = 0, server_service_s = 0, local_rest_s = 0;
  int64_t bytes = 0;
  double overrun_s = 0;
};

class DynamicChain {
 public:
  // Starts the server, then the head (told the server's address and the
  // client's), and waits for both to listen (the head has probed the server by then).
  static Result<std::unique_ptr<DynamicChain>> Start(const DynamicChainOptions& options);
  ~DynamicChain();  // kills and reaps both
  DynamicChain(const DynamicChain&) = delete;
  DynamicChain& operator=(const DynamicChain&) = delete;

  // Sends `count` seeded inputs one at a time (applying the schedule rows due
  // before each) and collects one record per request.
  Result<std::vector<DynamicRecord>> Run(int count);
  // The control command: the head->server link's rate and the server's load
  // from the next request on (rate <= 0 or load <= 0: unchanged).
  Status SetConditions(double rate_bytes_per_s, double server_load);
  Status KillServer();
  Status RestartServer();  // on the same address, then re-sends the current load
  const SplitPolicy& policy() const;
  double time_scale() const;
  const ResolvedLink& link() const;

 private:
  DynamicChain() = default;
  struct State;
  std::unique_ptr<State> state_;
};

nlohmann::ordered_json DynamicRecordJson(const DynamicRecord& record);
// {"requests", "switches", "fallback_requests", "splits": {name: count}}
nlohmann::ordered_json DynamicSummaryJson(const std::vector<DynamicRecord>& records);
// The records as InferenceRecords (rtt, done_at) for Summarize/SummaryJson.
std::vector<InferenceRecord> AsInferenceRecords(const std::vector<DynamicRecord>& records);

}  // namespace edgesplit::runtime
