// Live dynamic split computing (`edgesplit run MODEL --dynamic`, docs/dynamic.md
// "Live"): the sensor (a DeviceSession, edgesplit/serve.h, the same request
// path as `edgesplit device --dynamic`) picks the split per request with its
// SplitController and sends the cut tensor to an emulated edge server
// (`edgesplit serve --emulate SERVER_DEVICE`, a child process) that runs the
// tail of whichever candidate arrives and replies to the sender with its
// service time and queue. The run applies a schedule before each request: the
// link's rate (the sensor's uplink and, by a control ping, the server's
// replies), the server's load (a control ping) and server outages (the
// process is killed and started again on the same address).
//
//   sensor (head, policy) --cut tensor (cut id), probes--> serve --emulate
//   sensor <--tail's output + service time, queue; pongs with the load-- serve
//
// Control travels in kPing messages whose payload starts with a
// DynamicControl block (the wire has no other type for it); only a server
// started with --emulate obeys it. Replies always go to the sender: there is
// no reply-to address to redirect.
//
// Timing: every emulated duration is multiplied by `time_scale` while it runs
// and divided by it when reported. Every wait has a deadline.
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

#include "edgesplit/dynamic.h"
#include "edgesplit/net.h"
#include "edgesplit/runtime.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// ---- Control block ------------------------------------------------------------
// 32 bytes, little-endian: "ESDC", version 2, flags, 2 reserved zero bytes,
// f64 rate_bytes_per_s, f64 load, 8 reserved zero bytes. Bytes after the block
// are padding (a probe is sized to probe_bytes) and are ignored. (Version 1
// carried a reply-to address; it is refused.)
inline constexpr size_t kDynamicControlBytes = 32;
enum DynamicControlFlag : uint8_t {
  kControlSetRate = 1,  // the server's replies now run at rate_bytes_per_s
  kControlSetLoad = 2,  // the server stretches its service time by `load`; in a pong: the server's load
  kControlProbe = 8,    // a probe of the link: answer with the load
};
struct DynamicControl {
  uint8_t flags = 0;
  double rate_bytes_per_s = 0;  // > 0 and finite when kControlSetRate
  double load = 1;              // in (0, 1e6] when kControlSetLoad
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

// ---- What the run emulates ----------------------------------------------------
struct LivePolicySpec {
  std::string model;
  std::string dtype = "f32";  // f32 or int8: what runs, crosses the link and what the weights take
  std::string head_device, server_device;  // device profiles (both emulated)
  std::string rule = "strict";  // strict, loose or all (dynamic.h CandidateRule); the server serves these cuts
};

// ---- The client ------------------------------------------------------------------
struct DynamicChainOptions {
  LivePolicySpec policy;
  LinkSettings link;  // shaped is forced on
  ControllerOptions controller;
  std::string node_binary;        // the `edgesplit` executable that runs `serve`
  // HOST:PORT of a `serve` already running (`run --dynamic --attach`) instead
  // of starting one: schedule rows that take the server down or up are
  // refused, and only a server started with --emulate obeys the load rows.
  // A server this run starts gets temporary keys and the sensor enrolled in
  // it (sealed, no flag needed); an attached one is reached in plain frames.
  std::string attach;
  // The joint cut x codec choice (DeviceOptions::codec_table, docs/codecs.md).
  std::string codec_table, codec_costs;
  double max_accuracy_drop = 0;
  double request_timeout_s = 60;  // wall s a reply is waited for (also bounded by controller.timeout_s)
  // Rows due at request 1 set the conditions the nodes start in; later rows
  // are applied by Run before their request.
  std::vector<ScheduleRow> schedule;
};

struct DynamicRecord {
  uint32_t request_id = 0;  // the wire id (control messages share the counter)
  int request = 0;          // 1-based position in the run (what schedule rows count)
  std::string split;     // the candidate executed: "device-only", "server-only" or the cut's name
  std::string codec = "raw";  // what the cut tensor was sent with
  int candidate = -1;
  int cut_index = 0;
  std::string reason;    // DecisionReasonName
  bool fallback = false;
  std::string fallback_reason;  // why the head ran locally ("" when not in fallback)
  bool probe = false;
  bool identical = false;  // result bytes == the whole model run locally (a lossy codec: == the local tail on the reference decoder's output of what was sent)
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
  // Starts the server, waits for it to listen, and builds the sensor's
  // session (which probes the server once).
  static Result<std::unique_ptr<DynamicChain>> Start(const DynamicChainOptions& options);
  ~DynamicChain();  // kills and reaps the server
  DynamicChain(const DynamicChain&) = delete;
  DynamicChain& operator=(const DynamicChain&) = delete;

  // Sends `count` seeded inputs one at a time (applying the schedule rows due
  // before each) and collects one record per request. `progress` (optional)
  // is called after each record: (records, count).
  Result<std::vector<DynamicRecord>> Run(int count, const std::function<void(int, int)>& progress = {});
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
