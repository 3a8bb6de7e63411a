// One sensor against `edgesplit serve`: run the head, send the cut tensor,
// take the result (or finish locally after BUSY or a failure). With --dynamic
// the split is chosen per request from the measured transfer rate and the
// server's measured service time and queue (docs/serve.md).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/dynamic.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "tail_set.h"

namespace edgesplit::runtime {
namespace {

using net::Clock;
using Json = nlohmann::ordered_json;

double PredictedSeconds(const Graph& g, int begin, int end, const DeviceProfile* device) {
  if (!device) return 0;
  double t = 0;
  for (int n = begin; n < end; ++n) {
    const OpType op = g.nodes[static_cast<size_t>(n)].op;
    if (op == OpType::kQuantizeLinear || op == OpType::kDequantizeLinear) continue;
    t += NodeSeconds(*device, g, n, ComputeLayerStats(g, n));
  }
  return t;
}

// A segment [begin, end) on the host backend with its emulated time.
struct Part {
  std::unique_ptr<SegmentExecutor> executor;
  double predicted_s = 0;
};

}  // namespace

Result<DeviceReport> RunDevice(const DeviceOptions& o) {
  if (o.requests < 1) return InvalidArgument("--requests must be at least 1");
  if (o.dynamic == !o.split.empty()) return InvalidArgument("give --split CUT or --dynamic (one of them)");
  if (!(o.link.time_scale > 0)) return InvalidArgument("--time-scale must be > 0");
  const Backend* backend = FindBackend(o.backend);
  if (!backend) return InvalidArgument("unknown backend '" + o.backend + "' (onednn or reference)");
  ES_ASSIGN_OR_RETURN(Graph loaded, LoadExecutionGraph(o.model, o.dtype));
  const Graph& g = loaded;
  const uint32_t hash = ModelHash(g);
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
  const int n = static_cast<int>(g.nodes.size());
  const int last = static_cast<int>(cuts.size()) - 1;
  const std::string dir = ProfilesDir(o.link.profiles_dir);
  std::optional<DeviceProfile> device;
  if (!o.emulate.empty()) {
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(dir, o.emulate));
    device = std::move(d);
  }
  ES_ASSIGN_OR_RETURN(ResolvedLink link, ResolveLink(o.link));
  const double scale = device || o.link.shaped ? o.link.time_scale : 1.0;

  // The splits this device may use: one fixed cut, or the dynamic policy's candidates.
  std::optional<SplitPolicy> policy;
  std::vector<int> candidate_cut;  // per candidate: the cut index (last = device-only)
  if (o.dynamic) {
    if (!device) return InvalidArgument("--dynamic needs --emulate DEVICE (the policy models the head's compute)");
    ES_ASSIGN_OR_RETURN(DeviceProfile server, LoadDeviceProfile(dir, o.server_device));
    ES_ASSIGN_OR_RETURN(CandidateRule rule, ParseCandidateRule(o.rule));
    ES_ASSIGN_OR_RETURN(CandidateSet set, BuildCandidates(g, o.model, *device, server, link.profile, rule,
                                                          o.dtype == "int8" ? DType::kInt8 : DType::kFloat32));
    PolicyOptions po;
    po.rule = rule;
    ES_ASSIGN_OR_RETURN(SplitPolicy p, SplitPolicy::Build(std::move(set), po));
    policy = std::move(p);
    for (const SplitCandidate& c : policy->candidates())
      candidate_cut.push_back(c.kind == CandidateKind::kDeviceOnly ? last : c.kind == CandidateKind::kServerOnly ? 0 : c.cut_index);
  } else {
    ES_ASSIGN_OR_RETURN(int c, ResolveCut(g, cuts, o.split));
    if (c == last) return InvalidArgument("--split " + o.split + " is the output: nothing would be sent");
    candidate_cut.push_back(c);
  }
  // Heads and local tails at every cut this device may use.
  std::map<int, Part> heads, tails;
  for (int c : candidate_cut) {
    const int pos = cuts[static_cast<size_t>(c)].position;
    if (!heads.count(c) && pos > 0) {
      Part p;
      ES_ASSIGN_OR_RETURN(p.executor, SegmentExecutor::Create(g, 0, pos, *backend));
      p.predicted_s = PredictedSeconds(g, 0, pos, device ? &*device : nullptr);
      heads[c] = std::move(p);
    }
    if (!tails.count(c) && pos < n) {
      Part p;
      ES_ASSIGN_OR_RETURN(p.executor, SegmentExecutor::Create(g, pos, n, *backend));
      p.predicted_s = PredictedSeconds(g, pos, n, device ? &*device : nullptr);
      tails[c] = std::move(p);
    }
  }
  ES_ASSIGN_OR_RETURN(std::unique_ptr<SegmentExecutor> whole, SegmentExecutor::Create(g, 0, n, *backend));
  if (whole->num_inputs() != 1 || whole->input_tensor().dtype != DType::kFloat32)
    return Unsupported("a device needs a model with one float input");

  net::ChannelOptions channel = link.channel;
  channel.max_message_bytes = static_cast<uint32_t>(
      wire::EncodedMessageBytes(wire::kMaxRank, static_cast<size_t>(whole->output_bytes(0)), wire::kMaxSenderIdBytes) + 4096);
  std::unique_ptr<net::RequestClient> client;
  if (o.mqtt) {
    net::MqttOptions mq;
    mq.model_hash = hash;
    mq.client_id = o.name;
    ES_ASSIGN_OR_RETURN(client, net::CreateMqttClient(*o.mqtt, mq, channel.max_message_bytes, o.security ? &*o.security : nullptr));
  } else {
    ES_ASSIGN_OR_RETURN(client, o.security ? net::CreateSecureClient(channel, o.server, *o.security)
                                           : net::RequestClient::Create(channel, o.server));
  }
  if (o.security) ES_RETURN_IF_ERROR(client->Connect(net::DeadlineIn(10)));  // a refusal shows now, within 10 s
  std::optional<SplitController> controller;
  if (policy) {
    ControllerOptions co;
    co.timeout_s = o.timeout_s;
    controller.emplace(&*policy, co);
  }

  DeviceReport report;
  report.model = o.model;
  report.emulated = device.has_value() || o.link.shaped;
  Rng rng(7);
  std::vector<uint8_t> input(static_cast<size_t>(whole->input_bytes(0)));
  const Clock::time_point start = Clock::now();
  uint32_t next_id = 1;
  auto hold = [&](Clock::time_point t0, double emulated_s) {
    if (device) net::SleepUntil(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(emulated_s * scale)));
  };
  auto run_part = [&](Part& p, std::span<const uint8_t> in) -> Result<std::span<const uint8_t>> {
    std::memcpy(p.executor->input(0), in.data(), in.size());
    const Clock::time_point t0 = Clock::now();
    ES_RETURN_IF_ERROR(p.executor->Invoke());
    hold(t0, p.predicted_s);
    return std::span<const uint8_t>(static_cast<const uint8_t*>(p.executor->output(0)),
                                    static_cast<size_t>(p.executor->output_bytes(0)));
  };
  for (int r = 0; r < o.requests; ++r) {
    if (o.request_rate > 0)
      net::SleepUntil(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(r / o.request_rate)));
    float* f = reinterpret_cast<float*>(input.data());
    for (size_t j = 0; j < input.size() / 4; ++j) f[j] = rng.Uniform(-1.0f, 1.0f);
    std::memcpy(whole->input(0), input.data(), input.size());
    ES_RETURN_IF_ERROR(whole->Invoke());
    const auto* ref = static_cast<const uint8_t*>(whole->output(0));
    const std::vector<uint8_t> reference(ref, ref + whole->output_bytes(0));

    DeviceRequest q;
    q.index = r + 1;
    const double now_s = net::SecondsSince(start) / scale;
    int cand = 0;
    if (controller) {
      const Decision d = controller->Decide(now_s);
      if (d.probe) {  // a ping measures the rate and fetches the server's load
        wire::MessageHeader h;
        h.type = wire::MessageType::kPing;
        h.request_id = next_id++;
        h.dtype = DType::kUInt8;
        std::vector<uint8_t> payload(4096, 0), m(wire::EncodedMessageBytes(h, payload.size()));
        net::CallReport cr;
        const Clock::time_point t0 = Clock::now();
        auto pong = wire::EncodeMessage(h, payload, m).ok() ? client->Call(m, h.request_id, net::DeadlineIn(o.timeout_s), &cr)
                                                            : Result<std::vector<uint8_t>>(Internal("ping"));
        if (net::IsRefusal(pong.status())) return pong.status();  // revoked: the run ends
        auto pd = pong.ok() ? wire::DecodeMessage(*pong) : Result<wire::DecodedMessage>(pong.status());
        if (pd.ok()) {
          ServerReport sr;
          sr.queue_length = pd->header.queue_length;
          controller->OnProbe(static_cast<int64_t>(m.size()), net::SecondsSince(t0) / scale, sr, now_s);
        } else {
          controller->OnFailure(now_s);
        }
      }
      cand = d.candidate < 0 ? 0 : d.candidate;
    }
    const int cut = candidate_cut[static_cast<size_t>(cand)];
    q.cut = cut;
    q.split = cut == last ? "device-only" : cut == 0 ? "server-only" : cuts[static_cast<size_t>(cut)].after;
    const Clock::time_point t0 = Clock::now();
    std::span<const uint8_t> tensor(input);
    if (heads.count(cut)) {
      ES_ASSIGN_OR_RETURN(tensor, run_part(heads[cut], input));
    }
    q.head_s = net::SecondsSince(t0) / scale;
    std::vector<uint8_t> result;
    bool local = cut == last;
    if (!local) {
      const Tensor& t = cut == 0 ? whole->input_tensor() : heads[cut].executor->output_tensor();
      ES_ASSIGN_OR_RETURN(wire::MessageHeader h, TensorHeader(wire::MessageType::kTensorRequest, t));
      h.request_id = next_id++;
      h.cut_id = static_cast<uint16_t>(cut);
      h.model_hash = hash;
      h.deadline_budget_us = static_cast<uint32_t>(std::clamp(o.deadline_s * 1e6, 0.0, 4.0e9));
      wire::SetSenderId(&h, o.name);
      std::vector<uint8_t> m(wire::EncodedMessageBytes(h, tensor.size()));
      ES_RETURN_IF_ERROR(wire::EncodeMessage(h, tensor, m).status());
      q.sent_bytes = static_cast<int64_t>(m.size());
      net::CallReport cr;
      const Clock::time_point ts = Clock::now();
      auto reply = client->Call(m, h.request_id, net::DeadlineIn(o.timeout_s), &cr);
      q.exchange_s = net::SecondsSince(ts) / scale;
      if (net::IsRefusal(reply.status())) return reply.status();  // revoked: the run ends
      auto d = reply.ok() ? wire::DecodeMessage(*reply) : Result<wire::DecodedMessage>(reply.status());
      if (!d.ok()) {
        q.outcome = "local-after-failure";
        q.error = d.status().message();
        if (controller) controller->OnFailure(net::SecondsSince(start) / scale);
        local = true;
      } else if (d->header.type == wire::MessageType::kError) {
        const bool busy = d->header.error_code == static_cast<wire::WireErrorCode>(StatusCode::kBusy);
        q.outcome = busy ? "local-after-busy" : "local-after-error";
        q.error = std::string(d->payload.begin(), d->payload.end());
        if (controller) controller->OnFailure(net::SecondsSince(start) / scale);
        local = true;
      } else {
        q.outcome = "server";
        q.server = std::string(d->header.sender_id, d->header.sender_id_length);
        q.service_s = d->header.service_time_us / 1e6;
        q.queue_length = d->header.queue_length;
        q.batch_size = d->header.batch_size;
        result.assign(d->payload.begin(), d->payload.end());
        if (controller) {
          controller->OnTransfer(q.sent_bytes, cr.request.transfer_s / scale);
          ServerReport sr;
          const double tail_s = policy->candidates()[static_cast<size_t>(cand)].tail_s;
          // The measured service time against the modelled idle one: the load the policy uses.
          sr.load = tail_s > 0 ? std::max(1.0, q.service_s / tail_s) : 1.0;
          sr.queue_length = q.queue_length;
          controller->OnServerReport(sr);
        }
      }
    }
    if (local) {
      if (q.outcome.empty()) q.outcome = "local";
      if (tails.count(cut)) {
        ES_ASSIGN_OR_RETURN(std::span<const uint8_t> out, run_part(tails[cut], tensor));
        result.assign(out.begin(), out.end());
      } else {
        result.assign(tensor.begin(), tensor.end());
      }
    }
    q.total_s = net::SecondsSince(t0) / scale;
    q.verified = SameResult(result, reference, whole->output_tensor().dtype);
    report.requests.push_back(std::move(q));
  }
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
    Json e{{"request", q.index}, {"split", q.split}, {"cut", q.cut}, {"outcome", q.outcome}, {"verified", q.verified},
           {"head_s", q.head_s}, {"exchange_s", q.exchange_s}, {"total_s", q.total_s}, {"sent_bytes", q.sent_bytes}};
    if (q.outcome == "server")
      e.update(Json{{"server", q.server}, {"service_s", q.service_s}, {"queue_length", q.queue_length}, {"batch_size", q.batch_size}});
    if (!q.error.empty()) e["error"] = q.error;
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
  j["requests"] = std::move(list);
  return j.dump(2);
}

}  // namespace edgesplit::runtime
