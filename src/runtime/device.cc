// One sensor against `edgesplit serve`: run the head, send the cut tensor,
// take the result (or finish locally after BUSY or a failure). With --dynamic
// the split is chosen per request from the measured transfer rate and the
// server's measured service time and queue (docs/serve.md). `run --dynamic`
// drives the same session with its schedule (dynamic_chain.cc).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "edgesplit/analysis.h"
#include "edgesplit/dynamic.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "cut_codec.h"
#include "pacing.h"
#include "tail_set.h"

namespace edgesplit::runtime {
namespace {

using net::Clock;
using Json = nlohmann::ordered_json;

// A segment [begin, end) on the host backend with its emulated time.
struct Part {
  std::unique_ptr<SegmentExecutor> executor;
  double predicted_s = 0;
};

// A probe in flight on its own client (socket): a ping padded to probe_bytes
// whose control block asks an emulated server for its load.
struct Probe {
  bool pending = false;
  std::thread thread;
  std::atomic<bool> done{false};
  Status status;
  int64_t bytes = 0;
  double send_wall_s = 0;
  double load = 1;
  uint32_t queue_length = 0;
};

}  // namespace

struct DeviceSession::Impl {
  DeviceOptions o;
  std::shared_ptr<const Graph> graph;
  uint32_t hash = 0;
  std::vector<CutPoint> cuts;
  int nodes = 0, last = 0;
  std::optional<DeviceProfile> device;
  ResolvedLink link;
  double scale = 1, rate = 0;
  std::optional<SplitPolicy> policy;
  std::vector<int> candidate_cut;  // per candidate: the cut index (last = device-only)
  std::vector<Codec> candidate_codec;  // per candidate: what its cut tensor is sent with
  std::map<int, Part> heads, tails;
  std::unique_ptr<SegmentExecutor> whole;
  std::unique_ptr<net::RequestClient> client, probe_client;
  std::optional<SplitController> controller;
  Clock::time_point start;
  std::atomic<uint32_t> next_id{1};
  Probe probe;
  std::string last_failure;
  Status refused;  // a probe the server refused (revoked key): the session ends
  std::vector<uint8_t> input, message, payload;

  ~Impl() { FinishProbe(true); }

  double Now() const { return net::SecondsSince(start) / scale; }

  Status MakeClients() {
    FinishProbe(true);
    net::ChannelOptions channel = ChannelAtRate(link, rate, scale);
    channel.max_message_bytes = static_cast<uint32_t>(
        wire::EncodedMessageBytes(wire::kMaxRank, static_cast<size_t>(whole->output_bytes(0)), wire::kMaxSenderIdBytes) + 4096);
    if (o.mqtt) {
      net::MqttOptions mq;
      mq.model_hash = hash;
      mq.client_id = o.name;
      ES_ASSIGN_OR_RETURN(client, net::CreateMqttClient(*o.mqtt, mq, channel.max_message_bytes, o.security ? &*o.security : nullptr));
      return Status::Ok();  // probes share the one topic pair
    }
    auto make = [&]() { return o.security ? net::CreateSecureClient(channel, o.server, *o.security) : net::RequestClient::Create(channel, o.server); };
    ES_ASSIGN_OR_RETURN(client, make());
    if (o.security) ES_RETURN_IF_ERROR(client->Connect(net::DeadlineIn(10)));  // a refusal shows now, within 10 s
    if (controller) {
      ES_ASSIGN_OR_RETURN(probe_client, make());
      if (o.security) ES_RETURN_IF_ERROR(probe_client->Connect(net::DeadlineIn(10)));
    }
    return Status::Ok();
  }

  Status Load();
  void StartProbe();
  void FinishProbe(bool wait);
  // Runs p on `in`; held to its emulated time unless !emulate_time (a check, not the device's work).
  Result<std::span<const uint8_t>> RunPart(Part& p, std::span<const uint8_t> in, double* host_s, bool emulate_time = true);
  Result<DeviceRequest> Next(int index);
};

Status DeviceSession::Impl::Load() {
  if (o.dynamic == !o.split.empty()) return InvalidArgument("give --split CUT or --dynamic (one of them)");
  if (!(o.link.time_scale > 0)) return InvalidArgument("--time-scale must be > 0");
  const Backend* backend = FindBackend(o.backend);
  if (!backend) return InvalidArgument("unknown backend '" + o.backend + "' (onednn or reference)");
  ES_ASSIGN_OR_RETURN(Graph loaded, LoadExecutionGraph(o.model, o.dtype));
  graph = std::make_shared<const Graph>(std::move(loaded));
  const Graph& g = *graph;
  hash = ModelHash(g);
  ES_ASSIGN_OR_RETURN(cuts, FindCutPoints(g));
  nodes = static_cast<int>(g.nodes.size());
  last = static_cast<int>(cuts.size()) - 1;
  const std::string dir = ProfilesDir(o.link.profiles_dir);
  if (!o.emulate.empty()) {
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(dir, o.emulate));
    device = std::move(d);
  }
  ES_ASSIGN_OR_RETURN(link, ResolveLink(o.link));
  scale = device || o.link.shaped ? o.link.time_scale : 1.0;
  rate = o.rate_bytes_per_s > 0 ? o.rate_bytes_per_s : link.profile.bytes_per_s;

  // The splits this device may use: one fixed cut, or the dynamic policy's candidates.
  if (o.dynamic) {
    if (!device) return InvalidArgument("--dynamic needs --emulate DEVICE (the policy models the head's compute)");
    ES_ASSIGN_OR_RETURN(DeviceProfile server, LoadDeviceProfile(dir, o.server_device));
    ES_ASSIGN_OR_RETURN(CandidateRule rule, ParseCandidateRule(o.rule));
    const DType dtype = o.dtype == "int8" ? DType::kInt8 : DType::kFloat32;
    ES_ASSIGN_OR_RETURN(CandidateSet set, BuildCandidates(g, o.model, *device, server, link.profile, rule, dtype));
    if (!o.codec_table.empty()) {  // the joint cut x codec choice
      ES_ASSIGN_OR_RETURN(CodecTable table, LoadCodecTable(o.codec_table));
      ES_ASSIGN_OR_RETURN(CodecCosts costs,
                          LoadCodecCosts(o.codec_costs.empty() ? dir + "/codecs/codec_costs.json" : o.codec_costs, {*device, server}));
      ES_RETURN_IF_ERROR(AddCodecCandidates(table, costs, o.dtype, o.max_accuracy_drop, &set));
    }
    PolicyOptions po;
    po.rule = rule;
    po.dtype = dtype;
    ES_ASSIGN_OR_RETURN(SplitPolicy p, SplitPolicy::Build(std::move(set), po));
    policy = std::move(p);
    for (const SplitCandidate& c : policy->candidates())
      candidate_cut.push_back(c.kind == CandidateKind::kDeviceOnly ? last : c.kind == CandidateKind::kServerOnly ? 0 : c.cut_index);
  } else {
    ES_ASSIGN_OR_RETURN(int c, ResolveCut(g, cuts, o.split));
    if (c == last) return InvalidArgument("--split " + o.split + " is the output: nothing would be sent");
    candidate_cut.push_back(c);
  }
  // The codec per candidate: --codec where it applies (a fixed split must
  // take it; a dynamic candidate whose dtype it does not fit sends raw).
  ES_ASSIGN_OR_RETURN(const Codec fixed_codec, ParseCodecName(o.codec));
  auto cut_tensor = [&](int c) -> const Tensor& {
    return g.tensors[static_cast<size_t>(c == 0 ? g.inputs[0] : cuts[static_cast<size_t>(c)].tensor)];
  };
  for (size_t i = 0; i < candidate_cut.size(); ++i) {
    const int c = candidate_cut[i];
    if (c == last) {
      candidate_codec.push_back(Codec{});
      continue;
    }
    if (policy && policy->candidates()[i].codec != "raw") {  // the policy's cut x codec candidate
      ES_ASSIGN_OR_RETURN(Codec chosen, ParseCodecName(policy->candidates()[i].codec));
      ES_RETURN_IF_ERROR(CheckCodecFor(chosen, cut_tensor(c), "cut " + std::to_string(c)));
      candidate_codec.push_back(chosen);
      continue;
    }
    const Status fits =
        CheckCodecFor(fixed_codec, cut_tensor(c), "cut " + std::to_string(c) + " (" + cuts[static_cast<size_t>(c)].after + ")");
    if (!fits.ok() && !o.dynamic) return fits;
    candidate_codec.push_back(fits.ok() ? fixed_codec : Codec{});
  }
  // Heads and local tails at every cut this device may use.
  const DeviceProfile* dev = device ? &*device : nullptr;
  for (int c : candidate_cut) {
    const int pos = cuts[static_cast<size_t>(c)].position;
    if (!heads.count(c) && pos > 0) {
      Part p;
      ES_ASSIGN_OR_RETURN(p.executor, SegmentExecutor::Create(g, 0, pos, *backend));
      p.predicted_s = dev ? RangeSeconds(*dev, g, 0, pos) : 0;
      heads[c] = std::move(p);
    }
    if (!tails.count(c) && pos < nodes) {
      Part p;
      ES_ASSIGN_OR_RETURN(p.executor, SegmentExecutor::Create(g, pos, nodes, *backend));
      p.predicted_s = dev ? RangeSeconds(*dev, g, pos, nodes) : 0;
      tails[c] = std::move(p);
    }
  }
  ES_ASSIGN_OR_RETURN(whole, SegmentExecutor::Create(g, 0, nodes, *backend));
  if (whole->num_inputs() != 1 || whole->input_tensor().dtype != DType::kFloat32)
    return Unsupported("a device needs a model with one float input");
  input.resize(static_cast<size_t>(whole->input_bytes(0)));
  if (policy) {
    ControllerOptions co = o.controller;
    if (!(co.initial_rate_bytes_per_s > 0)) co.initial_rate_bytes_per_s = rate;
    controller.emplace(&*policy, co);
  }
  ES_RETURN_IF_ERROR(MakeClients());
  start = Clock::now();
  if (controller) {  // the first probe: the rate and the server's load before the first decision
    StartProbe();
    FinishProbe(true);
  }
  return Status::Ok();
}

void DeviceSession::Impl::StartProbe() {
  FinishProbe(true);
  probe.pending = true;
  probe.done = false;
  probe.status = Status::Ok();
  wire::MessageHeader h;
  h.type = wire::MessageType::kPing;
  h.request_id = next_id++;
  h.dtype = DType::kUInt8;
  h.model_hash = hash;
  wire::SetSenderId(&h, o.name);
  DynamicControl ask;  // an emulated server answers with its load
  ask.flags = kControlProbe;
  std::vector<uint8_t> payload(static_cast<size_t>(std::max<int64_t>(o.controller.probe_bytes, kDynamicControlBytes)), 0);
  (void)EncodeDynamicControl(ask, payload);
  auto m = std::make_shared<std::vector<uint8_t>>(wire::EncodedMessageBytes(h, payload.size()));
  if (Status s = wire::EncodeMessage(h, payload, *m).status(); !s.ok()) {
    probe.status = s;
    probe.done = true;
    return;
  }
  probe.bytes = static_cast<int64_t>(m->size());
  net::RequestClient* c = probe_client ? probe_client.get() : client.get();
  const net::Deadline deadline = net::DeadlineIn(std::max(o.controller.timeout_s * scale, 0.2));
  auto run = [this, c, m, id = h.request_id, deadline] {
    net::CallReport report;
    auto reply = c->Call(*m, id, deadline, &report);
    auto pong = reply.ok() ? wire::DecodeMessage(*reply) : Result<wire::DecodedMessage>(reply.status());
    if (!pong.ok()) {
      probe.status = pong.status();
    } else if (pong->header.type != wire::MessageType::kPong) {
      probe.status = IoError(std::string("the server answered a probe with a ") + wire::MessageTypeName(pong->header.type));
    } else {
      auto control = ParseDynamicControl(pong->payload);
      probe.load = control.ok() && (control->flags & kControlSetLoad) ? control->load : 1.0;
      probe.queue_length = pong->header.queue_length;
      probe.send_wall_s = report.request.transfer_s;
    }
    probe.done = true;
  };
  if (probe_client) probe.thread = std::thread(run);
  else run();  // one client (MQTT): the probe goes before the request
}

// Collects a finished probe (or waits for it when `wait`): the ping's ack
// timing and the pong's load go to the controller; a failure puts it in fallback.
void DeviceSession::Impl::FinishProbe(bool wait) {
  if (!probe.pending || (!wait && !probe.done)) return;
  if (probe.thread.joinable()) probe.thread.join();
  probe.pending = false;
  if (!controller) return;
  if (net::IsRefusal(probe.status)) refused = probe.status;
  if (probe.status.ok()) {
    ServerReport sr;
    sr.load = probe.load;
    sr.queue_length = probe.queue_length;
    controller->OnProbe(probe.bytes, probe.send_wall_s / scale, sr, Now());
  } else {
    last_failure = "probe failed: " + probe.status.message();
    controller->OnFailure(Now());
  }
}

Result<std::span<const uint8_t>> DeviceSession::Impl::RunPart(Part& p, std::span<const uint8_t> in, double* host_s,
                                                               bool emulate_time) {
  std::memcpy(p.executor->input(0), in.data(), in.size());
  const Clock::time_point t0 = Clock::now();
  ES_RETURN_IF_ERROR(p.executor->Invoke());
  *host_s += net::SecondsSince(t0);
  if (device && emulate_time)
    net::SleepUntil(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p.predicted_s * scale)));
  return std::span<const uint8_t>(static_cast<const uint8_t*>(p.executor->output(0)), static_cast<size_t>(p.executor->output_bytes(0)));
}

Result<DeviceRequest> DeviceSession::Impl::Next(int index) {
  Rng rng(0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(index));  // a seeded input per request
  float* f = reinterpret_cast<float*>(input.data());
  for (size_t j = 0; j < input.size() / 4; ++j) f[j] = rng.Uniform(-1.0f, 1.0f);
  std::memcpy(whole->input(0), input.data(), input.size());
  ES_RETURN_IF_ERROR(whole->Invoke());
  const auto* ref = static_cast<const uint8_t*>(whole->output(0));
  const std::span<const uint8_t> reference(ref, static_cast<size_t>(whole->output_bytes(0)));

  DeviceRequest q;
  q.index = index;
  int cand = 0;
  double tail_s = 0;
  if (controller) {
    FinishProbe(false);
    if (!refused.ok()) return refused;
    const Decision d = controller->Decide(Now());
    q.rate_estimate_bytes_per_s = controller->rate_estimate();
    q.load_estimate = controller->load_estimate();
    if (d.candidate < 0)
      return IoError("the server is unreachable and the model does not fit the head: " + last_failure);
    cand = d.candidate;
    q.candidate = cand;
    q.reason = DecisionReasonName(d.reason);
    q.fallback = d.fallback;
    q.probe = d.probe;
    if (d.fallback) q.fallback_reason = last_failure;
    tail_s = policy->candidates()[static_cast<size_t>(cand)].tail_s;
    if (d.probe) StartProbe();
  }
  const int cut = candidate_cut[static_cast<size_t>(cand)];
  const Codec codec = candidate_codec[static_cast<size_t>(cand)];
  q.cut = cut;
  q.codec = CodecName(codec);
  q.link_rate_bytes_per_s = o.rate_schedule.empty() ? 0 : rate;
  q.split = cut == last ? "device-only" : cut == 0 ? "server-only" : cuts[static_cast<size_t>(cut)].after;
  const Clock::time_point t0 = Clock::now();
  std::span<const uint8_t> tensor(input);
  if (heads.count(cut)) {
    ES_ASSIGN_OR_RETURN(tensor, RunPart(heads[cut], input, &q.host_compute_s));
    q.head_s = heads[cut].predicted_s;
  }
  if (!device) q.head_s = net::SecondsSince(t0) / scale;
  std::vector<uint8_t> result;
  bool local = cut == last;
  if (!local) {
    FinishProbe(true);  // the link carries one thing at a time
    if (!refused.ok()) return refused;
    const Tensor& t = cut == 0 ? whole->input_tensor() : heads[cut].executor->output_tensor();
    ES_ASSIGN_OR_RETURN(wire::MessageHeader h, TensorHeader(wire::MessageType::kTensorRequest, t));
    h.request_id = next_id++;
    h.cut_id = static_cast<uint16_t>(cut);
    h.model_hash = hash;
    h.deadline_budget_us = static_cast<uint32_t>(std::clamp(o.deadline_s * 1e6, 0.0, 4.0e9));
    h.codec = CodecId(codec);
    wire::SetSenderId(&h, o.name);
    ES_ASSIGN_OR_RETURN(payload, EncodeCut(codec, t, tensor));
    message.resize(wire::EncodedMessageBytes(h, payload.size()));
    ES_RETURN_IF_ERROR(wire::EncodeMessage(h, payload, message).status());
    q.sent_bytes = static_cast<int64_t>(message.size());
    double wait_s = o.timeout_s;
    if (controller) {  // a dead server is noticed after the controller's timeout beyond the expected exchange
      const double expected = static_cast<double>(q.sent_bytes) / std::max(controller->rate_estimate(), 1.0) +
                              tail_s * std::max(controller->load_estimate(), 1.0);
      wait_s = std::min(wait_s, (o.controller.timeout_s + 4 * expected) * scale);
    }
    net::CallReport cr;
    const Clock::time_point ts = Clock::now();
    auto reply = client->Call(message, h.request_id, net::DeadlineIn(wait_s), &cr);
    q.exchange_s = net::SecondsSince(ts) / scale;
    if (net::IsRefusal(reply.status())) return reply.status();  // revoked: the run ends
    auto d = reply.ok() ? wire::DecodeMessage(*reply) : Result<wire::DecodedMessage>(reply.status());
    if (d.ok() && d->header.type == wire::MessageType::kTensorResult) {
      q.outcome = "server";
      q.server = std::string(d->header.sender_id, d->header.sender_id_length);
      q.service_s = d->header.service_time_us / 1e6;
      q.queue_wait_s = d->header.queue_wait_us / 1e6;
      q.queue_length = d->header.queue_length;
      q.batch_size = d->header.batch_size;
      q.transfer_s = cr.request.transfer_s / scale;
      result.assign(d->payload.begin(), d->payload.end());
      if (controller) {
        controller->OnTransfer(q.sent_bytes, q.transfer_s);
        ServerReport sr;
        // The measured service time against the modelled idle one: the load the policy uses.
        sr.load = tail_s > 0 ? std::max(1.0, q.service_s / tail_s) : 1.0;
        sr.queue_length = q.queue_length;
        controller->OnServerReport(sr);
      }
    } else {
      if (!d.ok()) {
        q.outcome = "local-after-failure";
        q.error = d.status().message();
      } else if (d->header.type == wire::MessageType::kError) {
        const bool busy = d->header.error_code == static_cast<wire::WireErrorCode>(StatusCode::kBusy);
        q.outcome = busy ? "local-after-busy" : "local-after-error";
        q.error = std::string(d->payload.begin(), d->payload.end());
      } else {
        q.outcome = "local-after-error";
        q.error = std::string("the server answered with a ") + wire::MessageTypeName(d->header.type);
      }
      last_failure = "request " + std::to_string(index) + " to the server failed: " + q.error;
      if (controller) controller->OnFailure(Now());
      q.fallback = true;
      q.fallback_reason = last_failure;
      local = true;
    }
  }
  if (local) {
    if (q.outcome.empty()) q.outcome = "local";
    if (tails.count(cut)) {
      ES_ASSIGN_OR_RETURN(std::span<const uint8_t> out, RunPart(tails[cut], tensor, &q.host_compute_s));
      result.assign(out.begin(), out.end());
      if (cut != last) q.local_rest_s = tails[cut].predicted_s;
    } else {
      result.assign(tensor.begin(), tensor.end());
    }
  }
  q.total_s = net::SecondsSince(t0) / scale;
  if (device) q.overrun_s = std::max(0.0, q.total_s - (q.head_s + q.exchange_s + q.local_rest_s));
  if (controller) {
    FinishProbe(false);
    q.rate_estimate_after = controller->rate_estimate();
  }
  std::span<const uint8_t> expected = reference;
  if (q.outcome == "server" && !IsLossless(codec)) {
    // A lossy codec's result is the tail on the reference decoder's output of what was sent.
    const Tensor& t = cut == 0 ? whole->input_tensor() : heads[cut].executor->output_tensor();
    ES_ASSIGN_OR_RETURN(std::vector<uint8_t> decoded, DecodeCut(t, payload));
    double unused = 0;
    ES_ASSIGN_OR_RETURN(expected, RunPart(tails[cut], decoded, &unused, false));
  }
  q.verified = SameResult(result, expected, whole->output_tensor().dtype);
  q.identical = result.size() == expected.size() && std::equal(result.begin(), result.end(), expected.begin());
  return q;
}

DeviceSession::DeviceSession() : impl_(std::make_unique<Impl>()) {}
DeviceSession::~DeviceSession() = default;

Result<std::unique_ptr<DeviceSession>> DeviceSession::Create(const DeviceOptions& o) {
  std::unique_ptr<DeviceSession> s(new DeviceSession());
  s->impl_->o = o;
  ES_RETURN_IF_ERROR(s->impl_->Load());
  return s;
}

Result<DeviceRequest> DeviceSession::Next(int index) { return impl_->Next(index); }

Status DeviceSession::SetLinkRate(double bytes_per_s) {
  if (!(bytes_per_s > 0) || !std::isfinite(bytes_per_s)) return InvalidArgument("a link rate must be finite and > 0");
  impl_->rate = bytes_per_s;
  return impl_->MakeClients();
}

const SplitPolicy* DeviceSession::policy() const { return impl_->policy ? &*impl_->policy : nullptr; }
const ResolvedLink& DeviceSession::link() const { return impl_->link; }
double DeviceSession::time_scale() const { return impl_->scale; }
bool DeviceSession::emulated() const { return impl_->device.has_value() || impl_->o.link.shaped; }

Result<DeviceReport> RunDevice(const DeviceOptions& o) {
  if (o.requests < 1) return InvalidArgument("--requests must be at least 1");
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DeviceSession> session, DeviceSession::Create(o));
  if (!o.rate_schedule.empty() && (o.mqtt || !session->link().channel.shaper.enabled))
    return InvalidArgument("a rate schedule needs a shaped link (--shape on, or espnow/ble) and --connect");
  DeviceReport report;
  report.model = o.model;
  report.emulated = session->emulated();
  PacedSchedule schedule(Clock::now(), o.request_rate > 0 ? o.request_rate : 1, 0, o.spread_phases);
  for (int r = 0; r < o.requests; ++r) {
    if (o.request_rate > 0) net::SleepUntil(schedule.SendTime(r));
    for (const auto& [at, rate] : o.rate_schedule)  // the emulated channel changes: re-make the link at the new rate
      if (at == r + 1) {
        if (!(rate > 0)) return InvalidArgument("rate schedule: request " + std::to_string(at) + " needs a rate > 0");
        ES_RETURN_IF_ERROR(session->SetLinkRate(rate));
      }
    ES_ASSIGN_OR_RETURN(DeviceRequest q, session->Next(r + 1));
    if (q.outcome == "server") schedule.NoteReply(q.queue_wait_s, q.service_s);
    report.requests.push_back(std::move(q));
  }
  report.phase_shifts = schedule.shifts();
  return report;
}

std::string DeviceJson(const DeviceReport& r) {
  Json j;
  j["schema_version"] = 1;
  j["model"] = r.model;
  j["emulated"] = r.emulated;
  int64_t server = 0, local = 0, busy = 0, verified = 0;
  std::map<std::string, int64_t> splits;
  std::vector<double> totals;
  Json list = Json::array();
  for (const DeviceRequest& q : r.requests) {
    server += q.outcome == "server";
    busy += q.outcome == "local-after-busy";
    local += q.outcome != "server";
    verified += q.verified;
    ++splits[q.split];
    totals.push_back(q.total_s);
    Json e{{"request", q.index}, {"split", q.split}, {"cut", q.cut}, {"codec", q.codec}, {"outcome", q.outcome}, {"verified", q.verified},
           {"head_s", q.head_s}, {"exchange_s", q.exchange_s}, {"total_s", q.total_s}, {"sent_bytes", q.sent_bytes}};
    if (q.outcome == "server")
      e.update(Json{{"server", q.server}, {"service_s", q.service_s}, {"queue_wait_s", q.queue_wait_s}, {"queue_length", q.queue_length}, {"batch_size", q.batch_size}});
    if (!q.reason.empty())
      e.update(Json{{"reason", q.reason}, {"fallback", q.fallback}, {"probe", q.probe},
                    {"rate_estimate_bytes_per_s", q.rate_estimate_bytes_per_s}, {"load_estimate", q.load_estimate}});
    if (!q.error.empty()) e["error"] = q.error;
    if (q.link_rate_bytes_per_s > 0) e["link_rate_bytes_per_s"] = q.link_rate_bytes_per_s;
    list.push_back(std::move(e));
  }
  std::sort(totals.begin(), totals.end());
  j["requests_total"] = r.requests.size();
  j["served"] = server;
  j["busy"] = busy;
  j["local"] = local;
  j["verified"] = verified;
  j["p50_s"] = SortedPercentile(totals, 0.5);
  j["p99_s"] = SortedPercentile(totals, 0.99);
  j["splits"] = splits;
  j["phase_shifts"] = r.phase_shifts;
  std::map<std::string, int64_t> codecs;  // requests sent per codec
  for (const DeviceRequest& q : r.requests)
    if (q.outcome == "server") ++codecs[q.codec];
  j["codecs"] = codecs;
  j["requests"] = std::move(list);
  return j.dump(2);
}

}  // namespace edgesplit::runtime
