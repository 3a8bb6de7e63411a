// The edge server on the runtime's request loop (request_loop.h): admission
// on the transport's I/O thread, one lane per served cut, batches of
// requests for the same cut, every reply back to its sender.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "messages.h"
#include "request_loop.h"
#include "tail_set.h"

namespace edgesplit::runtime {
namespace {

using net::Clock;

uint32_t ClampUs(double seconds) { return static_cast<uint32_t>(std::clamp(seconds * 1e6, 0.0, 4.0e9)); }

}  // namespace

std::string DefaultServerId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  return std::string(host) + ":" + std::to_string(getpid());
}

struct EdgeServer::Impl final : RequestLoop::Handler {
  ServeOptions options;
  std::string id, listening;
  ResolvedLink link;
  // Emulation (ServeOptions::emulate): per tail the profile's time for one
  // request; the load factor (control pings change it); wall s per emulated s.
  std::optional<DeviceProfile> emulated;
  std::vector<double> tail_predicted_s;
  std::atomic<double> load{1};
  double unit = 1;
  net::ServerStats final_stats;
  // Per worker (ServeOptions::workers): its own tails (executors and output
  // slots) and what its batch holds.
  struct Worker {
    std::unique_ptr<TailSet> tails;
    std::vector<std::span<const uint8_t>> inputs;  // the batch's tensors
    double emulated_s = 0;                         // the batch just computed, emulated
  };
  std::vector<Worker> workers;
  // Worker 0's tails: admission on the I/O thread and the ready line use only
  // their read-only checks and descriptions (the same for every worker).
  TailSet& tails() const { return *workers.front().tails; }
  // The loop before the transport: the transport (its I/O thread calls
  // Admit) goes first when a server that never started is destroyed.
  std::unique_ptr<RequestLoop> loop;  // one lane per tail
  std::unique_ptr<net::ServerTransport> transport;
  int64_t memory_bound = 0;

  void Reply(net::PeerId peer, uint32_t request_id, const Status& status) {
    std::vector<uint8_t> out;
    wire::MessageHeader h;
    h.type = wire::MessageType::kError;
    h.request_id = request_id;
    h.dtype = DType::kUInt8;
    h.error_code = static_cast<wire::WireErrorCode>(status.code());
    h.model_hash = tails().model_hash();
    wire::SetSenderId(&h, id);
    const std::string text = status.message().substr(0, 1024);
    out.resize(wire::EncodedMessageBytes(h, text.size()));
    if (wire::EncodeMessage(h, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), out).ok())
      transport->Reply(peer, std::move(out), request_id);
  }

  // A ping answers with the queue and the service time per request; on an
  // emulated server a control block in it is obeyed first and the pong
  // carries the load (a 32-byte block instead of the ping's padding).
  void ReplyPong(net::PeerId peer, const wire::DecodedMessage& ping) {
    wire::MessageHeader h;
    h.type = wire::MessageType::kPong;
    h.request_id = ping.header.request_id;
    h.dtype = DType::kUInt8;
    h.model_hash = tails().model_hash();
    std::vector<uint8_t> payload(ping.payload.begin(), ping.payload.end());
    if (emulated) {
      if (auto c = ParseDynamicControl(ping.payload); c.ok()) {
        if (c->flags & kControlSetLoad) load = c->load;
        if (c->flags & kControlSetRate) SetReplyRate(c->rate_bytes_per_s);
        DynamicControl answer;
        answer.flags = kControlSetLoad;
        answer.load = load;
        payload.assign(kDynamicControlBytes, 0);
        (void)EncodeDynamicControl(answer, payload);
      }
    }
    const RequestLoop::Load now = loop->NotePing();
    h.queue_length = static_cast<uint32_t>(now.queued);
    h.service_time_us = ClampUs(now.per_request_s / unit);
    wire::SetSenderId(&h, id);
    std::vector<uint8_t> out(wire::EncodedMessageBytes(h, payload.size()));
    if (wire::EncodeMessage(h, payload, out).ok()) transport->Reply(peer, std::move(out), h.request_id);
  }

  void SetReplyRate(double bytes_per_s) {
    (void)transport->SetReplyPacing(bytes_per_s, RetransmitTimeoutSeconds(link, bytes_per_s, unit));
  }

  // On the transport's I/O thread: check, then queue or answer at once.
  void Admit(net::PeerId peer, std::vector<uint8_t> message) {
    const Clock::time_point now = Clock::now();
    auto decoded = wire::DecodeCheckedMessage(message);
    if (!decoded.ok()) return;  // the transport decoded it (CRC included); nothing to answer without an id
    const wire::MessageHeader& h = decoded->header;
    if (h.type == wire::MessageType::kPing) return ReplyPong(peer, *decoded);
    loop->NoteReceived();
    auto fail = [&](const Status& s) {
      loop->NoteRefused(s);
      Reply(peer, h.request_id, s.WithContext("server " + id + " request " + std::to_string(h.request_id)));
    };
    auto tail = tails().CheckRequest(h, decoded->payload.size());
    if (!tail.ok()) return fail(tail.status());
    LoopRequest p;
    // Decoded before batching: the batch runs on tensors, a malformed payload is answered now.
    if (h.codec != wire::kCodecRaw) {
      const Status s = tails().DecodeInput(*tail, h, decoded->payload, &p.decoded);
      if (!s.ok()) return fail(s);
    }
    p.peer = peer;
    p.request_id = h.request_id;
    p.received = now;
    if (h.deadline_budget_us > 0) p.deadline = now + std::chrono::microseconds(h.deadline_budget_us);
    p.payload_offset = static_cast<size_t>(decoded->payload.data() - message.data());
    p.message = std::move(message);  // the payload span still points into the moved buffer
    const uint32_t request_id = h.request_id;
    const Status busy = loop->Enqueue(*tail, p, h.deadline_budget_us);
    if (busy.ok()) return;
    loop->NoteRefused(busy);
    Reply(peer, request_id, busy.WithContext("server " + id + " request " + std::to_string(request_id)));
  }

  // ---- RequestLoop::Handler (the worker threads) ----
  void Expired(LoopRequest& p) override {
    Reply(p.peer, p.request_id,
          Status(StatusCode::kBusy, "server " + id + " request " + std::to_string(p.request_id) + ": could not start before its deadline"));
  }

  Status Compute(int worker, int tail, std::span<LoopRequest> batch) override {
    Worker& w = workers[static_cast<size_t>(worker)];
    std::vector<std::span<const uint8_t>>& inputs = w.inputs;
    inputs.clear();
    for (const LoopRequest& p : batch)
      if (!p.decoded.empty()) inputs.emplace_back(p.decoded);
      else inputs.emplace_back(p.message.data() + p.payload_offset, p.message.size() - p.payload_offset - wire::kMessageCrcBytes);
    const Clock::time_point t0 = Clock::now();
    const Status run = w.tails->Run(tail, inputs);
    const int k = static_cast<int>(batch.size());
    // Emulated: the batch takes the profile's time x load (one request after
    // another), in emulated seconds; the host's own slowness beyond it is not load.
    w.emulated_s = emulated ? k * tail_predicted_s[static_cast<size_t>(tail)] * load.load() : 0;
    if (emulated && run.ok())
      net::SleepUntil(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(w.emulated_s * unit)));
    return run;
  }

  void Finish(int worker, int tail, std::span<LoopRequest> batch, const Status& run, const BatchDone& done) override {
    const Worker& w = workers[static_cast<size_t>(worker)];
    const int k = static_cast<int>(batch.size());
    for (int i = 0; i < k; ++i) {
      LoopRequest& p = batch[static_cast<size_t>(i)];
      if (!run.ok()) {
        Reply(p.peer, p.request_id, run.WithContext("server " + id + " request " + std::to_string(p.request_id)));
        continue;
      }
      wire::MessageHeader h = w.tails->OutputHeader(tail);
      h.type = wire::MessageType::kTensorResult;
      h.request_id = p.request_id;
      h.model_hash = tails().model_hash();
      h.batch_size = static_cast<uint16_t>(k);
      h.queue_length = static_cast<uint32_t>(done.queue_length);
      // Emulated: a request that found the server idle waited only for the host (wake-up, not load).
      const double waited_s = p.behind ? std::chrono::duration<double>(done.started - p.received).count() / unit : 0.0;
      h.service_time_us = ClampUs(emulated ? waited_s + w.emulated_s
                                           : net::SecondsSince(p.received) / unit);
      h.queue_wait_us = ClampUs(waited_s);
      wire::SetSenderId(&h, id);
      const std::span<const uint8_t> out = w.tails->Output(tail, i);
      std::vector<uint8_t> message(wire::EncodedMessageBytes(h, out.size()));
      if (wire::EncodeMessage(h, out, message).ok()) transport->Reply(p.peer, std::move(message), p.request_id);
    }
    for (LoopRequest& p : batch) transport->Recycle(std::move(p.message));
  }
};

EdgeServer::EdgeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EdgeServer::~EdgeServer() { Stop(0); }

Result<std::unique_ptr<EdgeServer>> EdgeServer::Start(const ServeOptions& o) {
  LoopOptions lo;
  lo.max_batch = o.max_batch;
  lo.max_wait_s = o.max_wait_s;
  lo.queue_limit = o.queue_limit;
  lo.workers = o.workers;
  lo.adaptive_batching = o.adaptive_batching;
  lo.busy_poll_s = o.busy_poll_s;
  ES_RETURN_IF_ERROR(RequestLoop::CheckOptions(lo));
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->id = o.id.empty() ? DefaultServerId() : o.id;
  if (impl->id.size() > wire::kMaxSenderIdBytes)
    return InvalidArgument("--id '" + impl->id + "' is longer than " + std::to_string(wire::kMaxSenderIdBytes) + " bytes");
  impl->workers.resize(static_cast<size_t>(o.workers));
  ES_ASSIGN_OR_RETURN(impl->workers[0].tails, TailSet::Load(o.model, o.dtype, o.cuts, o.backend, o.max_batch));
  for (size_t w = 1; w < impl->workers.size(); ++w) {
    ES_ASSIGN_OR_RETURN(impl->workers[w].tails, impl->tails().Replica());
  }
  lo.lanes = static_cast<int>(impl->tails().size());
  impl->loop = std::make_unique<RequestLoop>(lo, impl.get());
  ES_ASSIGN_OR_RETURN(impl->link, ResolveLink(o.link));
  ResolvedLink& link = impl->link;
  if (!o.emulate.empty()) {
    if (!(o.load > 0) || o.load > 1e6) return InvalidArgument("--load must be in (0, 1e6]");
    if (!(o.link.time_scale > 0)) return InvalidArgument("--time-scale must be > 0");
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(ProfilesDir(o.link.profiles_dir), o.emulate));
    for (size_t t = 0; t < impl->tails().size(); ++t) impl->tail_predicted_s.push_back(impl->tails().PredictedSeconds(static_cast<int>(t), d));
    impl->emulated = std::move(d);
    impl->load = o.load;
  }
  if (impl->emulated || o.link.shaped) impl->unit = o.link.time_scale;
  net::ServerLimits limits = o.limits;
  limits.max_message_bytes = static_cast<uint32_t>(impl->tails().max_request_bytes());
  link.channel.max_message_bytes = limits.max_message_bytes;
  Impl* self = impl.get();
  auto admit = [self](net::PeerId peer, std::vector<uint8_t> m) { self->Admit(peer, std::move(m)); };
  if (o.mqtt) {
    net::MqttOptions mq;
    mq.model_hash = impl->tails().model_hash();
    mq.group = o.mqtt_group;
    mq.client_id = impl->id;
    std::string subscription;
    ES_ASSIGN_OR_RETURN(impl->transport, net::CreateMqttServer(*o.mqtt, mq, limits, admit, &subscription,
                                                               o.security ? &*o.security : nullptr));
    impl->listening = "mqtt://" + o.mqtt->ToString() + "/" + subscription;
  } else {
    if (o.security) {
      ES_ASSIGN_OR_RETURN(impl->transport, net::CreateSecureServer(link.channel, o.listen, limits, *o.security, admit));
    } else {
      ES_ASSIGN_OR_RETURN(impl->transport, net::ServerTransport::Create(link.channel, o.listen, limits, admit));
    }
    impl->listening = impl->transport->local_endpoint().ToString();
  }
  if (impl->emulated && o.reply_rate_bytes_per_s > 0) impl->SetReplyRate(o.reply_rate_bytes_per_s);
  // A queued request holds its message and, when encoded, its decoded tensor.
  impl->memory_bound = static_cast<int64_t>(o.queue_limit) *
                           (static_cast<int64_t>(limits.max_message_bytes) + static_cast<int64_t>(impl->tails().max_input_bytes())) +
                       net::ServerTransport::MemoryBoundBytes(link.channel, limits) +
                       (o.security && !o.mqtt ? net::SecureSessionBoundBytes(link.channel, limits) : 0);  // sessions, replay windows
  impl->loop->Start();
  return std::unique_ptr<EdgeServer>(new EdgeServer(std::move(impl)));
}

net::Endpoint EdgeServer::endpoint() const { return impl_->transport->local_endpoint(); }
const std::string& EdgeServer::id() const { return impl_->id; }
uint32_t EdgeServer::model_hash() const { return impl_->tails().model_hash(); }
const std::vector<int>& EdgeServer::cuts() const { return impl_->tails().cuts(); }
int64_t EdgeServer::memory_bound_bytes() const { return impl_->memory_bound; }
int64_t EdgeServer::arena_bytes() const { return impl_->tails().arena_bytes() * static_cast<int64_t>(impl_->workers.size()); }

net::ServerStats EdgeServer::transport_stats() const {
  return impl_->transport ? impl_->transport->stats() : impl_->final_stats;
}

ServerCounters EdgeServer::counters() const { return impl_->loop->counters(); }

std::string EdgeServer::ReadyJson() const {
  nlohmann::ordered_json j;
  j["listening"] = impl_->listening;
  j["id"] = id();
  j["model"] = impl_->options.model;
  j["dtype"] = impl_->options.dtype;
  j["model_hash"] = model_hash();
  j["cuts"] = cuts();
  j["max_batch"] = impl_->options.max_batch;
  j["queue_limit"] = impl_->options.queue_limit;
  j["workers"] = impl_->options.workers;
  j["batching"] = impl_->options.adaptive_batching ? "adaptive" : "always";
  j["busy_poll_ms"] = impl_->options.busy_poll_s * 1e3;
  j["memory_bound_bytes"] = memory_bound_bytes();
  j["arena_bytes"] = arena_bytes();
  if (impl_->emulated) j["emulated"] = impl_->emulated->name;
  j["sealed"] = impl_->options.security.has_value();
  return j.dump();
}

void EdgeServer::Stop(double grace_s) {
  Impl& s = *impl_;
  if (!s.transport) return;  // stopped already
  s.loop->Stop(grace_s, [&s] { return s.transport->pending_replies() == 0; });
  s.final_stats = s.transport->stats();  // what transport_stats() reports once stopped
  s.transport.reset();
}

}  // namespace edgesplit::runtime
