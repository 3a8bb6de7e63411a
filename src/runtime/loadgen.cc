// The load generator: N emulated devices, one thread each, one request
// outstanding, every result checked against local inference.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unistd.h>

#include "edgesplit/analysis.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "cut_codec.h"
#include "pacing.h"
#include "tail_set.h"

namespace edgesplit::runtime {
namespace {

using net::Clock;

// What every client shares: the model, its heads per cut, the inputs, and
// the reference output of every input (whole model, batch 1, same backend).
class Workload {
 public:
  static Result<std::unique_ptr<Workload>> Load(const LoadgenOptions& o) {
    auto w = std::unique_ptr<Workload>(new Workload());
    const Backend* backend = FindBackend(o.backend);
    if (!backend) return InvalidArgument("unknown backend '" + o.backend + "' (onednn or reference)");
    w->backend_ = backend;
    ES_ASSIGN_OR_RETURN(Graph g, LoadExecutionGraph(o.model, o.dtype));
    w->graph_ = std::make_shared<const Graph>(std::move(g));
    const Graph& graph = *w->graph_;
    w->model_hash_ = ModelHash(graph);
    ES_ASSIGN_OR_RETURN(w->codec_, ParseCodecName(o.codec));
    ES_ASSIGN_OR_RETURN(w->cuts_, SelectServedCuts(graph, o.cuts));
    ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(graph));
    const int end = static_cast<int>(graph.nodes.size());
    ES_ASSIGN_OR_RETURN(w->whole_, SegmentExecutor::Create(graph, 0, end, *backend));
    if (w->whole_->num_inputs() != 1 || w->whole_->input_tensor().dtype != DType::kFloat32)
      return Unsupported("loadgen needs a model with one float input");
    for (int c : w->cuts_) {
      Head& h = w->heads_.emplace_back();
      h.cut = c;
      if (c > 0) {
        ES_ASSIGN_OR_RETURN(h.executor, SegmentExecutor::Create(graph, 0, cuts[static_cast<size_t>(c)].position, *backend));
      }
      const Tensor& t = c > 0 ? h.executor->output_tensor() : w->whole_->input_tensor();
      h.tensor = &t;
      ES_RETURN_IF_ERROR(CheckCodecFor(w->codec_, t, "cut " + std::to_string(c) + " (" + cuts[static_cast<size_t>(c)].after + ")"));
      ES_ASSIGN_OR_RETURN(h.header, TensorHeader(wire::MessageType::kTensorRequest, t));
      h.header.cut_id = static_cast<uint16_t>(c);
      h.header.model_hash = w->model_hash_;
      h.header.codec = CodecId(w->codec_);
      if (!IsLossless(w->codec_)) {
        ES_ASSIGN_OR_RETURN(h.tail, SegmentExecutor::Create(graph, cuts[static_cast<size_t>(c)].position, end, *backend));
      }
    }
    // Seeded inputs and their references.
    const int64_t in_bytes = w->whole_->input_bytes(0);
    Rng rng(2024);
    for (int i = 0; i < std::max(1, o.distinct_inputs); ++i) {
      std::vector<uint8_t> input(static_cast<size_t>(in_bytes));
      float* f = reinterpret_cast<float*>(input.data());
      for (int64_t j = 0; j < in_bytes / 4; ++j) f[j] = rng.Uniform(-1.0f, 1.0f);
      std::memcpy(w->whole_->input(0), input.data(), input.size());
      ES_RETURN_IF_ERROR(w->whole_->Invoke());
      const auto* out = static_cast<const uint8_t*>(w->whole_->output(0));
      w->references_.emplace_back(out, out + w->whole_->output_bytes(0));
      w->inputs_.push_back(std::move(input));
    }
    // A lossy codec's reference per (cut, input): the tail on the reference
    // decoder's output of the payload a device sends (heads are deterministic).
    if (!IsLossless(w->codec_))
      for (Head& h : w->heads_)
        for (size_t i = 0; i < w->inputs_.size(); ++i) {
          ES_ASSIGN_OR_RETURN(std::vector<uint8_t> payload, w->Payload(h, static_cast<int>(i)));
          ES_ASSIGN_OR_RETURN(std::vector<uint8_t> decoded, DecodeCut(*h.tensor, payload));
          std::memcpy(h.tail->input(0), decoded.data(), decoded.size());
          ES_RETURN_IF_ERROR(h.tail->Invoke());
          const auto* out = static_cast<const uint8_t*>(h.tail->output(0));
          h.references.emplace_back(out, out + h.tail->output_bytes(0));
        }
    w->output_dtype_ = w->whole_->output_tensor().dtype;
    return w;
  }

  int num_cuts() const { return static_cast<int>(heads_.size()); }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const std::vector<uint8_t>& reference(int input) const { return references_[static_cast<size_t>(input)]; }
  uint32_t model_hash() const { return model_hash_; }
  size_t max_reply_bytes() const {
    return wire::EncodedMessageBytes(wire::kMaxRank, references_[0].size(), wire::kMaxSenderIdBytes) + 4096;
  }

  // The request message for head `h` on input `input` (computed now: shared
  // head executors, one client at a time).
  Result<std::vector<uint8_t>> Request(int h, int input, uint32_t request_id, const std::string& device, uint32_t deadline_us) {
    Head& head = heads_[static_cast<size_t>(h)];
    ES_ASSIGN_OR_RETURN(std::vector<uint8_t> payload, Payload(head, input));
    wire::MessageHeader hdr = head.header;
    hdr.request_id = request_id;
    hdr.deadline_budget_us = deadline_us;
    wire::SetSenderId(&hdr, device);
    std::vector<uint8_t> message(wire::EncodedMessageBytes(hdr, payload.size()));
    ES_RETURN_IF_ERROR(wire::EncodeMessage(hdr, payload, message).status());
    return message;
  }

  // Whether `result` is local inference's output for `input` sent at head `h`
  // (SameResult): the whole model's, or with a lossy codec the tail's on the
  // reference decoder's output.
  bool Matches(const wire::DecodedMessage& result, int h, int input) const {
    const Head& head = heads_[static_cast<size_t>(h)];
    const std::vector<uint8_t>& expected =
        head.references.empty() ? reference(input) : head.references[static_cast<size_t>(input)];
    return result.header.dtype == output_dtype_ && SameResult(result.payload, expected, output_dtype_);
  }

 private:
  struct Head {
    int cut = 0;
    std::unique_ptr<SegmentExecutor> executor;  // none for cut 0 (the input itself is sent)
    const Tensor* tensor = nullptr;             // the cut tensor
    wire::MessageHeader header;
    std::mutex mutex;
    std::unique_ptr<SegmentExecutor> tail;       // lossy codec: the reference tail
    std::vector<std::vector<uint8_t>> references;  // lossy codec: per input
  };

  // The cut tensor of `input` at `head`, encoded with the codec (computed
  // now: shared head executors, one client at a time).
  Result<std::vector<uint8_t>> Payload(Head& head, int input) {
    std::lock_guard<std::mutex> lock(head.mutex);
    std::span<const uint8_t> tensor(inputs_[static_cast<size_t>(input)]);
    if (head.executor) {
      std::memcpy(head.executor->input(0), tensor.data(), tensor.size());
      ES_RETURN_IF_ERROR(head.executor->Invoke());
      tensor = std::span<const uint8_t>(static_cast<const uint8_t*>(head.executor->output(0)),
                                        static_cast<size_t>(head.executor->output_bytes(0)));
    }
    return EncodeCut(codec_, *head.tensor, tensor);
  }

  Workload() = default;
  const Backend* backend_ = nullptr;
  std::shared_ptr<const Graph> graph_;
  uint32_t model_hash_ = 0;
  std::vector<int> cuts_;
  std::unique_ptr<SegmentExecutor> whole_;
  std::deque<Head> heads_;
  std::vector<std::vector<uint8_t>> inputs_, references_;
  DType output_dtype_ = DType::kFloat32;
  Codec codec_;
};

struct ClientTally {
  int64_t sent = 0, completed = 0, busy = 0, lost = 0, duplicated = 0, corrupted = 0, errors = 0;
  int64_t phase_shifts = 0;
  std::vector<double> latencies, queue_waits, services;
  std::map<int, int64_t> batch_sizes;
  std::map<std::string, int64_t> per_server;
  std::vector<std::string> errors_seen;
};

// A precomputed request message under a new id, deadline and sender, in
// `*out` (grown once): the payload is copied after the new header and the CRC
// written behind it.
Result<std::span<const uint8_t>> ReheadRequest(std::span<const uint8_t> encoded, uint32_t id, uint32_t deadline_us,
                                               const std::string& device, std::vector<uint8_t>* out) {
  ES_ASSIGN_OR_RETURN(wire::DecodedMessage d, wire::DecodeCheckedMessage(encoded));
  wire::MessageHeader h = d.header;
  h.request_id = id;
  h.deadline_budget_us = deadline_us;
  wire::SetSenderId(&h, device);
  const size_t bytes = wire::EncodedMessageBytes(h, d.payload.size());
  if (out->size() < bytes) out->resize(bytes);
  std::copy(d.payload.begin(), d.payload.end(), out->begin() + static_cast<std::ptrdiff_t>(wire::MessageHeaderBytes(h)));
  ES_ASSIGN_OR_RETURN(size_t n, wire::EncodeMessageInPlace(h, d.payload.size(), *out));
  return std::span<const uint8_t>(out->data(), n);
}

}  // namespace

Result<LoadgenReport> RunLoadgen(const LoadgenOptions& o, const std::atomic<bool>* stop) {
  if (o.clients < 1 || o.clients > 10000) return InvalidArgument("--clients must be in 1..10000");
  if (o.requests < 1) return InvalidArgument("--requests must be at least 1");
  if (o.request_rate < 0 || !std::isfinite(o.request_rate)) return InvalidArgument("--request-rate must be >= 0");
  if (o.deadline_s < 0 || o.deadline_s > 4000) return InvalidArgument("--deadline-ms must be in 0..4000000");
  ES_ASSIGN_OR_RETURN(std::unique_ptr<Workload> work, Workload::Load(o));
  ES_ASSIGN_OR_RETURN(ResolvedLink link, ResolveLink(o.link));
  link.channel.max_message_bytes = static_cast<uint32_t>(work->max_reply_bytes());

  // Precomputed requests: per (cut, input) the head's message body, re-headed per request.
  std::vector<std::vector<std::vector<uint8_t>>> pre;
  if (o.precompute) {
    pre.resize(static_cast<size_t>(work->num_cuts()));
    for (int c = 0; c < work->num_cuts(); ++c)
      for (int i = 0; i < work->num_inputs(); ++i) {
        ES_ASSIGN_OR_RETURN(std::vector<uint8_t> m, work->Request(c, i, 1, "", 0));
        pre[static_cast<size_t>(c)].push_back(std::move(m));
      }
  }

  std::vector<ClientTally> tallies(static_cast<size_t>(o.clients));
  std::vector<std::unique_ptr<net::RequestClient>> clients;
  for (int k = 0; k < o.clients; ++k) {
    if (o.mqtt) {
      net::MqttOptions mq;
      mq.model_hash = work->model_hash();
      mq.client_id = o.device_prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(k);
      mq.retry_s = o.mqtt_retry_s;
      ES_ASSIGN_OR_RETURN(std::unique_ptr<net::RequestClient> c,
                          net::CreateMqttClient(*o.mqtt, mq, link.channel.max_message_bytes,
                                                o.security ? &*o.security : nullptr));
      if (o.security) ES_RETURN_IF_ERROR(c->Connect(net::DeadlineIn(10)));
      clients.push_back(std::move(c));
      continue;
    }
    ES_ASSIGN_OR_RETURN(std::unique_ptr<net::RequestClient> c,
                        o.security ? net::CreateSecureClient(link.channel, o.server, *o.security)
                                   : net::RequestClient::Create(link.channel, o.server));
    // Each client's own session, made before the clock starts; a refusal ends the run within 10 s.
    if (o.security) ES_RETURN_IF_ERROR(c->Connect(net::DeadlineIn(10)));
    clients.push_back(std::move(c));
  }
  const uint32_t deadline_us = static_cast<uint32_t>(o.deadline_s * 1e6);
  const Clock::time_point start = Clock::now();
  auto client_loop = [&](int k) {
    ClientTally& t = tallies[static_cast<size_t>(k)];
    net::RequestClient& client = *clients[static_cast<size_t>(k)];
    const std::string device = o.device_prefix + "-" + std::to_string(k);
    std::set<uint32_t> done;
    std::vector<uint8_t> scratch;  // --precompute: the request being sent
    // Each client starts at its own seeded phase within the period: independent
    // devices are not synchronized (all starting together is the worst case).
    Rng phase_rng(static_cast<uint64_t>(k) + 1);
    // Unpaced clients (no --request-rate) have no phase to move.
    PacedSchedule schedule(start, o.request_rate > 0 ? o.request_rate : 1, phase_rng.Uniform(0.0f, 1.0f),
                           o.spread_phases && o.request_rate > 0);
    for (int r = 0; r < o.requests; ++r) {
      if (stop && stop->load()) break;
      if (o.request_rate > 0) net::SleepUntil(schedule.SendTime(r));
      const uint32_t id = static_cast<uint32_t>(r + 1);
      const int cut = (k + r) % work->num_cuts();
      const int input = (k * 7 + r) % work->num_inputs();
      Result<std::span<const uint8_t>> message = std::span<const uint8_t>();
      Result<std::vector<uint8_t>> computed = std::vector<uint8_t>();
      Clock::time_point t0 = Clock::now();
      if (o.precompute) {
        // Re-headed (id, deadline, device) into this client's buffer, then
        // the clock starts: the request is ready to send, as the head's
        // output would be on a device.
        const std::vector<uint8_t>& body = pre[static_cast<size_t>(cut)][static_cast<size_t>(input)];
        message = ReheadRequest(body, id, deadline_us, device, &scratch);
        t0 = Clock::now();
      } else {
        computed = work->Request(cut, input, id, device, deadline_us);
        message = computed.ok() ? Result<std::span<const uint8_t>>(std::span<const uint8_t>(*computed))
                                : Result<std::span<const uint8_t>>(computed.status());
      }
      ++t.sent;
      if (!message.ok()) {
        ++t.lost;
        if (t.errors_seen.size() < 5) t.errors_seen.push_back(message.status().message());
        continue;
      }
      auto reply = client.Call(*message, id, net::DeadlineIn(o.timeout_s), nullptr);
      if (!reply.ok()) {
        ++t.lost;
        if (t.errors_seen.size() < 5) t.errors_seen.push_back(reply.status().message());
        continue;
      }
      auto decoded = wire::DecodeMessage(*reply);
      if (!decoded.ok()) {
        ++t.corrupted;
        continue;
      }
      const wire::MessageHeader& h = decoded->header;
      if (!done.insert(h.request_id).second) {
        ++t.duplicated;
        continue;
      }
      if (h.type == wire::MessageType::kError) {
        const std::string text(decoded->payload.begin(), decoded->payload.end());
        if (h.error_code == static_cast<wire::WireErrorCode>(StatusCode::kBusy)) {
          ++t.busy;  // finished locally: the reference is the local result
        } else {
          ++t.lost;
          ++t.errors;
          if (t.errors_seen.size() < 5) t.errors_seen.push_back(text);
        }
        continue;
      }
      if (h.type != wire::MessageType::kTensorResult || !work->Matches(*decoded, cut, input)) {
        ++t.corrupted;
        continue;
      }
      ++t.completed;
      schedule.NoteReply(h.queue_wait_us / 1e6, h.service_time_us / 1e6);
      if (o.completed_counter) ++*o.completed_counter;
      t.latencies.push_back(net::SecondsSince(t0));
      t.queue_waits.push_back(h.queue_wait_us / 1e6);
      t.services.push_back(h.service_time_us / 1e6);
      ++t.batch_sizes[h.batch_size];
      ++t.per_server[std::string(h.sender_id, h.sender_id_length)];
    }
    t.phase_shifts = schedule.shifts();
  };
  std::vector<std::thread> threads;
  for (int k = 0; k < o.clients; ++k) threads.emplace_back(client_loop, k);
  for (std::thread& th : threads) th.join();

  LoadgenReport rep;
  rep.wall_s = net::SecondsSince(start);
  // Pooled over the clients, then their p50 and p99.
  std::vector<double> latencies, queue_waits, services;
  const auto pool = [](std::vector<double>& all, const std::vector<double>& some) { all.insert(all.end(), some.begin(), some.end()); };
  const auto percentiles = [](std::vector<double>& v, double* p50, double* p99) {
    std::sort(v.begin(), v.end());
    *p50 = SortedPercentile(v, 0.5);
    *p99 = SortedPercentile(v, 0.99);
  };
  for (ClientTally& t : tallies) {
    rep.sent += t.sent;
    rep.completed += t.completed;
    rep.busy += t.busy;
    rep.lost += t.lost;
    rep.duplicated += t.duplicated;
    rep.corrupted += t.corrupted;
    rep.errors += t.errors;
    rep.phase_shifts += t.phase_shifts;
    pool(latencies, t.latencies);
    pool(queue_waits, t.queue_waits);
    pool(services, t.services);
    for (auto& [b, n] : t.batch_sizes) rep.batch_sizes[b] += n;
    for (auto& [s, n] : t.per_server) rep.per_server[s] += n;
    for (auto& e : t.errors_seen)
      if (rep.first_errors.size() < 5) rep.first_errors.push_back(e);
  }
  for (const auto& c : clients) rep.deduplicated += c->suppressed_duplicates();
  percentiles(latencies, &rep.p50_s, &rep.p99_s);
  percentiles(queue_waits, &rep.queue_wait_p50_s, &rep.queue_wait_p99_s);
  percentiles(services, &rep.service_p50_s, &rep.service_p99_s);
  rep.throughput_rps = rep.wall_s > 0 ? static_cast<double>(rep.completed) / rep.wall_s : 0;
  return rep;
}

std::string LoadgenJson(const LoadgenReport& r) {
  nlohmann::ordered_json j{{"schema_version", 1},     {"sent", r.sent},           {"completed", r.completed},
                           {"busy", r.busy},          {"lost", r.lost},           {"duplicated", r.duplicated},
                           {"corrupted", r.corrupted}, {"deduplicated", r.deduplicated}, {"errors", r.errors}, {"phase_shifts", r.phase_shifts},
                           {"queue_wait_p50_s", r.queue_wait_p50_s}, {"queue_wait_p99_s", r.queue_wait_p99_s},
                           {"service_p50_s", r.service_p50_s}, {"service_p99_s", r.service_p99_s},
                           {"p50_s", r.p50_s},        {"p99_s", r.p99_s},         {"throughput_rps", r.throughput_rps},
                           {"wall_s", r.wall_s}};
  // JSON object keys are strings: batch sizes as "1", "2", ...
  nlohmann::ordered_json batches = nlohmann::ordered_json::object();
  for (auto& [b, n] : r.batch_sizes) batches[std::to_string(b)] = n;
  j["batch_sizes"] = batches;
  j["per_server"] = r.per_server;
  j["first_errors"] = r.first_errors;
  return j.dump(2);
}

}  // namespace edgesplit::runtime
