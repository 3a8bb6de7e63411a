// The live dynamic run's client: starts the server and the head, applies the
// schedule (rate, load, server down/up) before each request, sends seeded
// inputs, and checks every result against the whole model run here.
#include <algorithm>
#include <cstring>
#include <random>

#include "dynamic_internal.h"
#include "edgesplit/dynamic_runtime.h"
#include "messages.h"
#include "process.h"

namespace edgesplit::runtime {

using detail::NodeProcess;
using net::Clock;
using Json = nlohmann::ordered_json;

struct DynamicChain::State {
  DynamicChainOptions options;
  std::optional<SplitPolicy> policy;
  ResolvedLink link;
  std::unique_ptr<SegmentRunner> whole;  // the reference answer
  std::unique_ptr<net::MessageReceiver> receiver;
  std::unique_ptr<net::MessageSender> sender;  // to the head (unshaped: the sensor's own bus)
  std::unique_ptr<NodeProcess> server, head;
  std::string server_address;  // kept across restarts
  uint32_t next_id = 1;
  int requests = 0;
  size_t next_row = 0;
  double rate = 0, load = 1;
  bool server_up = true;
  Clock::time_point start;

  // Flags both roles take, from the options.
  std::vector<std::string> CommonArgs(const char* role) const {
    const DynamicChainOptions& o = options;
    std::vector<std::string> a = {"dynamic-node", "--role", role, "--model", o.policy.model, "--dtype", o.policy.dtype,
                                  "--head-device", o.policy.head_device, "--server-device", o.policy.server_device,
                                  "--candidates", o.policy.rule, "--link", o.link.link,
                                  "--time-scale", std::to_string(o.link.time_scale), "--loss", std::to_string(o.link.loss),
                                  "--rate", std::to_string(rate), "--load", std::to_string(load),
                                  "--request-timeout", "30"};
    if (!o.policy.profiles_dir.empty()) a.insert(a.end(), {"--profiles", o.policy.profiles_dir});
    return a;
  }

  Status SpawnServer() {
    std::vector<std::string> args = CommonArgs("server");
    args.insert(args.end(), {"--listen", server_address.empty() ? "127.0.0.1:0" : server_address,
                             "--seed", std::to_string(options.link.seed + 1)});
    ES_ASSIGN_OR_RETURN(server, NodeProcess::Spawn(options.node_binary, args));
    auto address = server->WaitListening(net::DeadlineIn(120));
    if (!address.ok()) return address.status().WithContext("dynamic server");
    server_address = *address;
    server_up = true;
    return Status::Ok();
  }

  Status SpawnHead() {
    const ControllerOptions& c = options.controller;
    std::vector<std::string> args = CommonArgs("head");
    args.insert(args.end(), {"--listen", "127.0.0.1:0", "--server", server_address, "--next", receiver->local_endpoint().ToString(),
                             "--seed", std::to_string(options.link.seed), "--probe-interval", std::to_string(c.probe_interval_s),
                             "--probe-bytes", std::to_string(c.probe_bytes), "--hysteresis", std::to_string(c.hysteresis),
                             "--timeout", std::to_string(c.timeout_s)});
    ES_ASSIGN_OR_RETURN(head, NodeProcess::Spawn(options.node_binary, args));
    auto address = head->WaitListening(net::DeadlineIn(120));
    if (!address.ok()) return address.status().WithContext("dynamic head");
    ES_ASSIGN_OR_RETURN(net::Endpoint ep, net::ParseEndpoint(*address));
    ES_ASSIGN_OR_RETURN(sender, net::MessageSender::Create(detail::Unshaped(link), ep));
    return Status::Ok();
  }

  Status HeadAlive(const std::string& during) {
    const std::string why = head->ExitReason();
    if (!why.empty()) return IoError("the head node (pid " + std::to_string(head->pid()) + ") " + why + " during " + during);
    return Status::Ok();
  }
};

Result<std::unique_ptr<DynamicChain>> DynamicChain::Start(const DynamicChainOptions& o) {
  if (o.node_binary.empty()) return InvalidArgument("no edgesplit binary given to start the nodes");
  std::unique_ptr<DynamicChain> chain(new DynamicChain());
  chain->state_ = std::make_unique<State>();
  State& s = *chain->state_;
  s.options = o;
  s.options.link.shaped = true;
  s.options.policy.link = o.link.link;
  s.options.policy.profiles_dir = o.link.profiles_dir;
  ES_ASSIGN_OR_RETURN(SplitPolicy p, BuildLivePolicy(s.options.policy));
  s.policy.emplace(std::move(p));
  ES_ASSIGN_OR_RETURN(s.link, ResolveLink(s.options.link));
  ES_ASSIGN_OR_RETURN(s.whole, SegmentRunner::Load({o.policy.model, "input", "output", o.policy.dtype}));
  s.rate = s.link.profile.bytes_per_s;
  for (; s.next_row < o.schedule.size() && o.schedule[s.next_row].request <= 1; ++s.next_row) {
    s.rate = o.schedule[s.next_row].rate_bytes_per_s;
    s.load = o.schedule[s.next_row].server_load;
    if (o.schedule[s.next_row].server == ServerState::kDown) return InvalidArgument("the schedule cannot start with the server down");
  }
  ES_ASSIGN_OR_RETURN(s.receiver, net::MessageReceiver::Create(detail::Unshaped(s.link), {"127.0.0.1", 0}));
  ES_RETURN_IF_ERROR(s.SpawnServer());
  ES_RETURN_IF_ERROR(s.SpawnHead());
  s.start = Clock::now();
  return chain;
}

DynamicChain::~DynamicChain() = default;
const SplitPolicy& DynamicChain::policy() const { return *state_->policy; }
double DynamicChain::time_scale() const { return state_->options.link.time_scale; }
const ResolvedLink& DynamicChain::link() const { return state_->link; }

Status DynamicChain::SetConditions(double rate, double load) {
  State& s = *state_;
  DynamicControl c;
  if (rate > 0) c.flags |= kControlSetRate, c.rate_bytes_per_s = rate;
  if (load > 0) c.flags |= kControlSetLoad, c.load = load;
  if (!c.flags) return Status::Ok();
  std::vector<uint8_t> msg;
  const uint32_t id = s.next_id++;
  ES_ASSIGN_OR_RETURN(size_t n, detail::EncodeControlMessage(wire::MessageType::kPing, id, c, 0, &msg));
  ES_RETURN_IF_ERROR(s.sender->Send(std::span<const uint8_t>(msg.data(), n), id, net::DeadlineIn(5), nullptr)
                         .WithContext("control message to the head"));
  if (rate > 0) s.rate = rate;
  if (load > 0) s.load = load;
  return Status::Ok();
}

Status DynamicChain::KillServer() {
  State& s = *state_;
  if (s.server) s.server->Kill();
  s.server_up = false;
  return Status::Ok();
}

Status DynamicChain::RestartServer() {
  State& s = *state_;
  s.server.reset();  // reap the old one
  ES_RETURN_IF_ERROR(s.SpawnServer());
  return SetConditions(s.rate, s.load);  // the new process starts idle at the profile's rate otherwise
}

namespace {

void FillFromEvent(const nlohmann::json& ev, DynamicRecord* r) {
  r->split = ev.value("split", std::string());
  r->candidate = ev.value("candidate", -1);
  r->cut_index = ev.value("cut_index", 0);
  r->reason = ev.value("reason", std::string());
  r->fallback = ev.value("fallback", false);
  r->fallback_reason = ev.value("fallback_reason", std::string());
  r->probe = ev.value("probe", false);
  r->rate_estimate_bytes_per_s = ev.value("rate_estimate_bytes_per_s", 0.0);
  r->rate_estimate_after = ev.value("rate_estimate_after", 0.0);
  r->load_estimate = ev.value("load_estimate", 1.0);
  r->true_rate_bytes_per_s = ev.value("true_rate_bytes_per_s", 0.0);
  r->head_compute_s = ev.value("head_compute_s", 0.0);
  r->transfer_s = ev.value("transfer_s", 0.0);
  r->server_service_s = ev.value("server_service_s", 0.0);
  r->local_rest_s = ev.value("local_rest_s", 0.0);
  r->bytes = ev.value("bytes", int64_t{0});
  r->overrun_s = ev.value("overrun_s", 0.0);
}

}  // namespace

Result<std::vector<DynamicRecord>> DynamicChain::Run(int count) {
  State& s = *state_;
  const double scale = time_scale();
  const Tensor& input = s.whole->input_tensor();
  const size_t floats = static_cast<size_t>(input.num_elements());
  std::vector<uint8_t> payload(floats * sizeof(float)), message;
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
    const uint32_t id = s.next_id++;
    std::mt19937 rng(static_cast<uint32_t>(request));  // a seeded input per request
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (size_t e = 0; e < floats; ++e) {
      const float v = u(rng);
      std::memcpy(payload.data() + e * sizeof(float), &v, sizeof v);
    }
    ES_RETURN_IF_ERROR(s.whole->Run(payload, input.dtype).WithContext("local run"));
    const std::span<const uint8_t> expected = s.whole->output();
    ES_ASSIGN_OR_RETURN(size_t n, EncodeTensorMessage(wire::MessageType::kTensorRequest, id, 0, input, payload, &message));
    const net::Deadline deadline = net::DeadlineIn(s.options.request_timeout_s);
    const auto sent = Clock::now();
    if (Status st = s.sender->Send(std::span<const uint8_t>(message.data(), n), id, deadline, nullptr); !st.ok()) {
      ES_RETURN_IF_ERROR(s.HeadAlive("request " + std::to_string(id)));
      return st.WithContext("sending the input to the head");
    }
    std::optional<std::vector<uint8_t>> bytes;
    std::optional<wire::DecodedMessage> msg;
    while (!msg) {
      ES_RETURN_IF_ERROR(s.HeadAlive("request " + std::to_string(id)));
      if (Clock::now() >= deadline)
        return DeadlineExceeded("request " + std::to_string(id) + " got no result within " + std::to_string(s.options.request_timeout_s) + " s");
      ES_ASSIGN_OR_RETURN(bytes, s.receiver->Receive(net::DeadlineIn(0.02)));
      if (!bytes) continue;
      auto m = wire::DecodeMessage(*bytes);
      if (!m.ok()) return m.status().WithContext("result from the head");
      if (m->header.request_id == id) msg = *m;
    }
    const auto arrived = Clock::now();
    if (msg->header.type == wire::MessageType::kError)
      return Status(StatusCode::kInternal, std::string(msg->payload.begin(), msg->payload.end()));
    DynamicRecord r;
    r.request_id = id;
    r.request = request;
    r.identical = msg->payload.size() == expected.size() && std::equal(msg->payload.begin(), msg->payload.end(), expected.begin());
    r.rtt_s = std::chrono::duration<double>(arrived - sent).count() / scale;
    r.done_at_s = std::chrono::duration<double>(arrived - s.start).count() / scale;
    auto ev = s.head->WaitEvent(id, net::DeadlineIn(10));
    if (!ev) return Internal("the head reported nothing for request " + std::to_string(id));
    if (ev->value("event", "") == "error") return IoError(ev->value("message", "head error"));
    FillFromEvent(*ev, &r);
    r.server_load = s.load;
    r.server_up = s.server_up;
    records.push_back(std::move(r));
  }
  return records;
}

Json DynamicRecordJson(const DynamicRecord& r) {
  return Json{{"request_id", r.request_id},
              {"request", r.request},
              {"split", r.split},
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
  Json splits = Json::object();
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0 && records[i].split != records[i - 1].split) ++switches;
    fallbacks += records[i].fallback;
    splits[records[i].split] = splits.value(records[i].split, 0) + 1;
  }
  return Json{{"requests", records.size()}, {"switches", switches}, {"fallback_requests", fallbacks}, {"splits", splits}};
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
