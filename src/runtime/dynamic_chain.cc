// The live dynamic run: an emulated edge server (`edgesplit serve --emulate`,
// a child process) and the sensor's DeviceSession here, the same request path
// as `edgesplit device --dynamic`; the schedule changes the link's rate (the
// session's uplink, the server's replies), the server's load (a control ping)
// and kills or restarts the server.
#include <algorithm>

#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/runtime_delivery.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "process.h"
#include "temporary_keys.h"

namespace edgesplit::runtime {

using detail::NodeProcess;
using net::Clock;
using Json = nlohmann::ordered_json;

struct DynamicChain::State {
  DynamicChainOptions options;
  // The server's and the sensor's temporary keys, the sensor enrolled; none
  // when attached to a server started elsewhere.
  std::unique_ptr<TemporaryKeys> keys;
  std::string allow;
  std::optional<net::LinkSecurity> security;    // the sensor's (and the control client's) session keys
  std::unique_ptr<DeviceSession> session;
  std::unique_ptr<NodeProcess> server;
  std::unique_ptr<net::RequestClient> control;  // unshaped: the emulation's own channel, not the link
  std::string server_address = "127.0.0.1:0";   // kept across restarts
  uint32_t next_control_id = 1;
  int requests = 0;
  size_t next_row = 0;
  double rate = 0, load = 1;
  bool server_up = true;
  Clock::time_point start;

  Status SpawnServer() {
    const DynamicChainOptions& o = options;
    if (!o.attach.empty()) {
      server_address = o.attach;
      return Status::Ok();
    }
    std::vector<std::string> args = {"serve", o.policy.model, "--dtype", o.policy.dtype, "--cuts", o.policy.rule,
                                     "--link", o.link.link, "--shape", "on", "--time-scale", std::to_string(o.link.time_scale),
                                     "--emulate", o.policy.server_device, "--load", std::to_string(load),
                                     "--rate", std::to_string(rate), "--max-batch", "1", "--listen", server_address,
                                     "--id", "dynamic-server", "--key", keys->Key("server"), "--allow", allow};
    if (o.link.loss >= 0) args.insert(args.end(), {"--loss", std::to_string(o.link.loss)});
    if (!o.link.profiles_dir.empty()) args.insert(args.end(), {"--profiles", o.link.profiles_dir});
    ES_ASSIGN_OR_RETURN(server, NodeProcess::Spawn(o.node_binary, args));
    auto address = server->WaitListening(net::DeadlineIn(120));
    if (!address.ok()) return address.status().WithContext("the emulated edge server");
    server_address = *address;
    server_up = true;
    return Status::Ok();
  }

  // Tells the server its load and its replies' rate (a control ping, answered by a pong).
  Status SendControl(double new_rate, double new_load) {
    DynamicControl c;
    if (new_rate > 0) c.flags |= kControlSetRate, c.rate_bytes_per_s = new_rate;
    if (new_load > 0) c.flags |= kControlSetLoad, c.load = new_load;
    if (!c.flags || !server_up) return Status::Ok();
    std::vector<uint8_t> payload(kDynamicControlBytes);
    ES_RETURN_IF_ERROR(EncodeDynamicControl(c, payload));
    wire::MessageHeader h;
    h.type = wire::MessageType::kPing;
    h.request_id = next_control_id++;
    h.dtype = DType::kUInt8;
    std::vector<uint8_t> m(wire::EncodedMessageBytes(h, payload.size()));
    ES_RETURN_IF_ERROR(wire::EncodeMessage(h, payload, m).status());
    auto pong = control->Call(m, h.request_id, net::DeadlineIn(10), nullptr);
    return pong.status().WithContext("control message to the emulated server");
  }
};

Result<std::unique_ptr<DynamicChain>> DynamicChain::Start(const DynamicChainOptions& o) {
  if (o.node_binary.empty() && o.attach.empty()) return InvalidArgument("no edgesplit binary given to start the server");
  for (const ScheduleRow& row : o.schedule)
    if (!o.attach.empty() && row.server != ServerState::kUnchanged)
      return InvalidArgument("schedule row " + std::to_string(row.request) + " takes the server " +
                             (row.server == ServerState::kDown ? "down" : "up") + ", but an attached server is not this run's to stop");
  if (o.policy.dtype != "f32" && o.policy.dtype != "int8")
    return InvalidArgument("--dtype must be f32 or int8, not '" + o.policy.dtype + "'");
  if (o.policy.head_device.empty() || o.policy.server_device.empty())
    return InvalidArgument("--dynamic needs two device profiles, --devices HEAD,SERVER (e.g. esp32s3-espnn,edge-x86)");
  std::unique_ptr<DynamicChain> chain(new DynamicChain());
  chain->state_ = std::make_unique<State>();
  State& s = *chain->state_;
  s.options = o;
  s.options.link.shaped = true;
  ES_ASSIGN_OR_RETURN(ResolvedLink link, ResolveLink(s.options.link));
  s.rate = link.profile.bytes_per_s;
  for (; s.next_row < o.schedule.size() && o.schedule[s.next_row].request <= 1; ++s.next_row) {
    s.rate = o.schedule[s.next_row].rate_bytes_per_s;
    s.load = o.schedule[s.next_row].server_load;
    if (o.schedule[s.next_row].server == ServerState::kDown) return InvalidArgument("the schedule cannot start with the server down");
  }
  if (o.attach.empty()) {
    ES_ASSIGN_OR_RETURN(s.keys, TemporaryKeys::Make("dynamic", {"server", "sensor"}));
    ES_ASSIGN_OR_RETURN(s.allow, s.keys->Allow("allow", {"sensor"}));
    net::LinkSecurity sec;
    ES_ASSIGN_OR_RETURN(sec.identity, ReadIdentity(s.keys->Key("sensor")));
    ES_ASSIGN_OR_RETURN(sec.server_public, ReadServerKey(s.keys->Key("server") + ".pub"));
    s.security = std::move(sec);
  }
  ES_RETURN_IF_ERROR(s.SpawnServer());
  ES_ASSIGN_OR_RETURN(net::Endpoint server, net::ParseEndpoint(s.server_address));
  net::ChannelOptions unshaped = link.channel;
  unshaped.shaper.enabled = false;
  unshaped.shaper.loss = 0;
  if (s.security) {
    ES_ASSIGN_OR_RETURN(s.control, net::CreateSecureClient(unshaped, server, *s.security));
  } else {
    ES_ASSIGN_OR_RETURN(s.control, net::RequestClient::Create(unshaped, server));
  }

  DeviceOptions d;
  d.model = o.policy.model;
  d.dtype = o.policy.dtype;
  d.name = "sensor";
  d.server = server;
  d.link = s.options.link;
  d.dynamic = true;
  d.rule = o.policy.rule;
  d.server_device = o.policy.server_device;
  d.emulate = o.policy.head_device;
  d.controller = o.controller;
  d.rate_bytes_per_s = s.rate;
  d.timeout_s = o.request_timeout_s;
  d.security = s.security;
  d.codec_table = o.codec_table;
  d.codec_costs = o.codec_costs;
  d.max_accuracy_drop = o.max_accuracy_drop;
  ES_ASSIGN_OR_RETURN(s.session, DeviceSession::Create(d));
  s.start = Clock::now();
  return chain;
}

DynamicChain::~DynamicChain() = default;
const SplitPolicy& DynamicChain::policy() const { return *state_->session->policy(); }
double DynamicChain::time_scale() const { return state_->session->time_scale(); }
const ResolvedLink& DynamicChain::link() const { return state_->session->link(); }

Status DynamicChain::SetConditions(double rate, double load) {
  State& s = *state_;
  if (rate > 0 && rate != s.rate) ES_RETURN_IF_ERROR(s.session->SetLinkRate(rate));
  ES_RETURN_IF_ERROR(s.SendControl(rate, load));
  if (rate > 0) s.rate = rate;
  if (load > 0) s.load = load;
  return Status::Ok();
}

Status DynamicChain::KillServer() {
  State& s = *state_;
  if (!s.options.attach.empty()) return InvalidArgument("the attached server is not this run's to stop");
  if (s.server) s.server->Kill();
  s.server_up = false;
  return Status::Ok();
}

Status DynamicChain::RestartServer() {
  State& s = *state_;
  if (!s.options.attach.empty()) return InvalidArgument("the attached server is not this run's to start");
  s.server.reset();  // reap the old one
  return s.SpawnServer();  // started with the current load and rate
}

Result<std::vector<DynamicRecord>> DynamicChain::Run(int count, const std::function<void(int, int)>& progress) {
  State& s = *state_;
  std::vector<DynamicRecord> records;
  for (int k = 0; k < count; ++k) {
    const int request = ++s.requests;
    const auto& rows = s.options.schedule;
    for (; s.next_row < rows.size() && rows[s.next_row].request <= request; ++s.next_row) {
      const ScheduleRow& row = rows[s.next_row];
      if (row.server == ServerState::kDown && s.server_up) ES_RETURN_IF_ERROR(KillServer());
      ES_RETURN_IF_ERROR(SetConditions(row.rate_bytes_per_s, row.server_load));
      if (row.server == ServerState::kUp && !s.server_up) ES_RETURN_IF_ERROR(RestartServer());
    }
    auto q = s.session->Next(request);
    if (!q.ok()) return q.status().WithContext("request " + std::to_string(request));
    DynamicRecord r;
    r.request_id = static_cast<uint32_t>(request);
    r.request = request;
    r.split = q->split;
    r.codec = q->codec;
    r.candidate = q->candidate;
    r.cut_index = q->cut;
    r.reason = q->reason;
    r.fallback = q->fallback;
    r.fallback_reason = q->fallback_reason;
    r.probe = q->probe;
    r.identical = q->identical;
    r.rtt_s = q->total_s;
    r.done_at_s = net::SecondsSince(s.start) / time_scale();
    r.rate_estimate_bytes_per_s = q->rate_estimate_bytes_per_s;
    r.rate_estimate_after = q->rate_estimate_after;
    r.load_estimate = q->load_estimate;
    r.true_rate_bytes_per_s = s.rate;
    r.server_load = s.load;
    r.server_up = s.server_up;
    r.head_compute_s = q->head_s;
    r.transfer_s = q->transfer_s;
    r.server_service_s = q->service_s;
    r.local_rest_s = q->local_rest_s;
    r.bytes = q->sent_bytes;
    r.overrun_s = q->overrun_s;
    records.push_back(std::move(r));
    if (progress) progress(static_cast<int>(records.size()), count);
  }
  return records;
}

Json DynamicRecordJson(const DynamicRecord& r) {
  return Json{{"request_id", r.request_id},
              {"request", r.request},
              {"split", r.split},
              {"codec", r.codec},
              {"cut_index", r.cut_index},
              {"reason", r.reason},
              {"rtt_s", r.rtt_s},
              {"rate_estimate_bytes_per_s", r.rate_estimate_bytes_per_s},
              {"rate_estimate_after", r.rate_estimate_after},
              {"true_rate_bytes_per_s", r.true_rate_bytes_per_s},
              {"server_load", r.server_load},
              {"load_estimate", r.load_estimate},
              {"server_up", r.server_up},
              {"fallback", r.fallback},
              {"fallback_reason", r.fallback_reason},
              {"probe", r.probe},
              {"identical", r.identical},
              {"head_compute_s", r.head_compute_s},
              {"transfer_s", r.transfer_s},
              {"bytes", r.bytes},
              {"server_service_s", r.server_service_s},
              {"local_rest_s", r.local_rest_s},
              {"overrun_s", r.overrun_s},
              {"done_at_s", r.done_at_s}};
}

Json DynamicSummaryJson(const std::vector<DynamicRecord>& records) {
  int switches = 0, fallbacks = 0;
  Json splits = Json::object(), codecs = Json::object();
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0 && records[i].split != records[i - 1].split) ++switches;
    fallbacks += records[i].fallback;
    splits[records[i].split] = splits.value(records[i].split, 0) + 1;
    if (records[i].bytes > 0) codecs[records[i].codec] = codecs.value(records[i].codec, 0) + 1;
  }
  return Json{{"requests", records.size()}, {"switches", switches}, {"fallback_requests", fallbacks}, {"splits", splits},
              {"codecs", codecs}};
}

std::vector<InferenceRecord> AsInferenceRecords(const std::vector<DynamicRecord>& records) {
  std::vector<InferenceRecord> out;
  for (const DynamicRecord& d : records) {
    InferenceRecord r;
    r.request_id = d.request_id;
    r.cold = d.request == 1;
    r.identical = d.identical;
    r.rtt_s = d.rtt_s;
    r.done_at_s = d.done_at_s;
    out.push_back(r);
  }
  return out;
}

}  // namespace edgesplit::runtime
