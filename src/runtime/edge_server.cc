// The edge server: admission on the transport's I/O thread, one queue per
// served cut, and a worker that runs batches of requests for the same cut.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "edgesplit/analysis.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "messages.h"
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

struct EdgeServer::Impl {
  struct Pending {
    net::PeerId peer = 0;
    uint32_t request_id = 0;
    Clock::time_point received{}, deadline = Clock::time_point::max();
    std::vector<uint8_t> message;
    size_t payload_offset = 0;
    std::vector<uint8_t> decoded;  // an encoded request's tensor (codec != raw), decoded at admission
    bool behind = false;           // work was queued or running when it arrived (its wait is load)
  };

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
  std::unique_ptr<TailSet> tails;
  std::unique_ptr<net::ServerTransport> transport;
  int64_t memory_bound = 0;

  std::mutex mutex;
  std::condition_variable work;
  std::vector<std::deque<Pending>> queues;  // per tail
  // Per tail, what ShouldWaitForMore judges from: when its last request
  // arrived, and moving averages of the gap between arrivals (0: not known
  // yet) and of the share of arrivals that found the server computing (-1:
  // not known yet).
  struct Arrivals {
    Clock::time_point last{};
    double mean_gap_s = 0, busy_share = -1;
  };
  std::vector<Arrivals> arrivals;
  int64_t queued = 0;
  bool stopping = false, stopped = false, busy_running = false;
  bool computing = false;  // a batch is running (busy_running also covers its replies being handed on)
  double per_request_s = 0;  // moving average of the service time per request in a batch
  ServerCounters counters;
  std::thread worker;

  void Reply(net::PeerId peer, uint32_t request_id, const Status& status) {
    std::vector<uint8_t> out;
    wire::MessageHeader h;
    h.type = wire::MessageType::kError;
    h.request_id = request_id;
    h.dtype = DType::kUInt8;
    h.error_code = static_cast<wire::WireErrorCode>(status.code());
    h.model_hash = tails->model_hash();
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
    h.model_hash = tails->model_hash();
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
    {
      std::lock_guard<std::mutex> lock(mutex);
      h.queue_length = static_cast<uint32_t>(queued);
      h.service_time_us = ClampUs(per_request_s / unit);
      ++counters.pings;
    }
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
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++counters.received;
    }
    auto fail = [&](const Status& s) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (s.code() == StatusCode::kBusy) ++counters.busy;
        else ++counters.errors;
      }
      Reply(peer, h.request_id, s.WithContext("server " + id + " request " + std::to_string(h.request_id)));
    };
    auto tail = tails->CheckRequest(h, decoded->payload.size());
    if (!tail.ok()) return fail(tail.status());
    Pending p;
    // Decoded before batching: the batch runs on tensors, a malformed payload is answered now.
    if (h.codec != wire::kCodecRaw) {
      const Status s = tails->DecodeInput(*tail, h, decoded->payload, &p.decoded);
      if (!s.ok()) return fail(s);
    }
    p.peer = peer;
    p.request_id = h.request_id;
    p.received = now;
    if (h.deadline_budget_us > 0) p.deadline = now + std::chrono::microseconds(h.deadline_budget_us);
    p.payload_offset = static_cast<size_t>(decoded->payload.data() - message.data());
    Status busy = Status::Ok();
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) {
        busy = Busy("shutting down");
      } else if (queued >= options.queue_limit) {
        busy = Busy("queue full (" + std::to_string(queued) + " requests, --queue-limit " +
                    std::to_string(options.queue_limit) + ")");
      } else if (h.deadline_budget_us > 0) {
        // Expected wait: the work queued ahead (and a batch running), at the measured cost per request.
        const double wait_s = static_cast<double>(queued + (busy_running ? options.max_batch : 0)) * per_request_s;
        if (wait_s * 1e6 > h.deadline_budget_us)
          busy = Busy("cannot start within the deadline of " + std::to_string(h.deadline_budget_us) + " us (about " +
                      std::to_string(ClampUs(wait_s)) + " us of work queued)");
      }
      if (busy.ok()) {
        p.message = std::move(message);
        p.behind = queued > 0 || computing;
        NoteArrival(static_cast<size_t>(*tail), now, p.behind);
        queues[static_cast<size_t>(*tail)].push_back(std::move(p));
        ++queued;
      }
    }
    if (busy.ok()) {
      work.notify_one();
      return;
    }
    fail(busy);
  }

  // Under the mutex.
  void NoteArrival(size_t tail, Clock::time_point now, bool server_busy) {
    Arrivals& a = arrivals[tail];
    a.busy_share = a.busy_share < 0 ? (server_busy ? 1.0 : 0.0) : 0.8 * a.busy_share + (server_busy ? 0.2 : 0.0);
    if (a.last != Clock::time_point{}) {
      const double gap = std::chrono::duration<double>(now - a.last).count();
      a.mean_gap_s = a.mean_gap_s == 0 ? gap : 0.8 * a.mean_gap_s + 0.2 * gap;
    }
    a.last = now;
  }
  // Waiting only pays when a companion is likely within --max-wait-ms: the
  // cut's requests overlap (a good share of them arrive while the server is
  // busy: a lone device that waits for each reply never does, and would only
  // be delayed) and arrive closer together than the wait. Under load batches
  // still form without waiting, from what queued while the previous batch ran.
  bool ShouldWaitForMore(size_t tail) const {
    if (!(options.max_wait_s > 0) || arrivals[tail].busy_share < kOverlapToWait) return false;
    return !(arrivals[tail].mean_gap_s > options.max_wait_s);  // unknown gap (0): wait
  }
  static constexpr double kOverlapToWait = 0.25;

  // The cut whose oldest request has waited longest, or -1.
  int OldestTail() const {
    int best = -1;
    for (size_t t = 0; t < queues.size(); ++t)
      if (!queues[t].empty() && (best < 0 || queues[t].front().received < queues[static_cast<size_t>(best)].front().received))
        best = static_cast<int>(t);
    return best;
  }

  void Work() {
    std::vector<Pending> batch, expired;
    std::vector<std::span<const uint8_t>> inputs;
    for (;;) {
      batch.clear();
      int tail = -1;
      {
        std::unique_lock<std::mutex> lock(mutex);
        work.wait(lock, [&] { return queued > 0 || stopped; });
        if (queued == 0 && stopped) return;
        tail = OldestTail();
        auto& q = queues[static_cast<size_t>(tail)];
        const Clock::time_point until = q.front().received + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.max_wait_s));
        // Wait for the batch to fill, but never past the first request's wait.
        if (static_cast<int>(q.size()) < options.max_batch && ShouldWaitForMore(static_cast<size_t>(tail))) {
          ++counters.batches_waited;
          work.wait_until(lock, until, [&] { return static_cast<int>(q.size()) >= options.max_batch || stopping; });
        }
        const Clock::time_point now = Clock::now();
        while (!q.empty() && static_cast<int>(batch.size()) < options.max_batch) {
          batch.push_back(std::move(q.front()));
          q.pop_front();
          --queued;
        }
        busy_running = computing = true;
        // Requests whose deadline passed while they queued cannot start in time.
        for (Pending& p : batch)
          if (p.deadline < now) expired.push_back(std::move(p));
        std::erase_if(batch, [](const Pending& p) { return p.message.empty(); });
        counters.busy += static_cast<int64_t>(expired.size());
      }
      for (const Pending& p : expired)
        Reply(p.peer, p.request_id,
              Busy("server " + id + " request " + std::to_string(p.request_id) + ": could not start before its deadline"));
      expired.clear();
      if (!batch.empty()) RunBatch(tail, batch, inputs);
      std::lock_guard<std::mutex> lock(mutex);
      busy_running = false;
    }
  }

  void RunBatch(int tail, std::vector<Pending>& batch, std::vector<std::span<const uint8_t>>& inputs) {
    inputs.clear();
    for (const Pending& p : batch)
      if (!p.decoded.empty()) inputs.emplace_back(p.decoded);
      else inputs.emplace_back(p.message.data() + p.payload_offset, p.message.size() - p.payload_offset - wire::kMessageCrcBytes);
    const Clock::time_point t0 = Clock::now();
    const Status run = tails->Run(tail, inputs);
    const int k = static_cast<int>(batch.size());
    // Emulated: the batch takes the profile's time x load (one request after
    // another), in emulated seconds; the host's own slowness beyond it is not load.
    const double emulated_s = emulated ? k * tail_predicted_s[static_cast<size_t>(tail)] * load.load() : 0;
    if (emulated && run.ok())
      net::SleepUntil(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(emulated_s * unit)));
    const double compute_s = net::SecondsSince(t0);
    int64_t queue_now = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const double sample = compute_s / k;
      per_request_s = per_request_s == 0 ? sample : 0.8 * per_request_s + 0.2 * sample;
      ++counters.batch_sizes[k];
      queue_now = queued;
      if (run.ok()) counters.served += k;
      else counters.errors += k;
      // Not computing from here: a device's next request, sent once it has its
      // reply, must not look as if it arrived while this batch ran.
      computing = false;
    }
    for (int i = 0; i < k; ++i) {
      Pending& p = batch[static_cast<size_t>(i)];
      if (!run.ok()) {
        Reply(p.peer, p.request_id, run.WithContext("server " + id + " request " + std::to_string(p.request_id)));
        continue;
      }
      wire::MessageHeader h = tails->OutputHeader(tail);
      h.type = wire::MessageType::kTensorResult;
      h.request_id = p.request_id;
      h.model_hash = tails->model_hash();
      h.batch_size = static_cast<uint16_t>(k);
      h.queue_length = static_cast<uint32_t>(queue_now);
      // Emulated: a request that found the server idle waited only for the host (wake-up, not load).
      const double waited_s = p.behind ? std::chrono::duration<double>(t0 - p.received).count() / unit : 0.0;
      h.service_time_us = ClampUs(emulated ? waited_s + emulated_s
                                           : net::SecondsSince(p.received) / unit);
      wire::SetSenderId(&h, id);
      const std::span<const uint8_t> out = tails->Output(tail, i);
      std::vector<uint8_t> message(wire::EncodedMessageBytes(h, out.size()));
      if (wire::EncodeMessage(h, out, message).ok()) transport->Reply(p.peer, std::move(message), p.request_id);
    }
    for (Pending& p : batch) transport->Recycle(std::move(p.message));
  }
};

EdgeServer::EdgeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EdgeServer::~EdgeServer() { Stop(0); }

Result<std::unique_ptr<EdgeServer>> EdgeServer::Start(const ServeOptions& o) {
  if (o.max_batch < 1 || o.max_batch > 1024) return InvalidArgument("--max-batch must be in 1..1024");
  if (!(o.max_wait_s >= 0) || o.max_wait_s > 10) return InvalidArgument("--max-wait-ms must be in 0..10000");
  if (o.queue_limit < 1) return InvalidArgument("--queue-limit must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->id = o.id.empty() ? DefaultServerId() : o.id;
  if (impl->id.size() > wire::kMaxSenderIdBytes)
    return InvalidArgument("--id '" + impl->id + "' is longer than " + std::to_string(wire::kMaxSenderIdBytes) + " bytes");
  ES_ASSIGN_OR_RETURN(impl->tails, TailSet::Load(o.model, o.dtype, o.cuts, o.backend, o.max_batch));
  impl->queues.resize(impl->tails->size());
  impl->arrivals.resize(impl->tails->size());
  ES_ASSIGN_OR_RETURN(impl->link, ResolveLink(o.link));
  ResolvedLink& link = impl->link;
  if (!o.emulate.empty()) {
    if (!(o.load > 0) || o.load > 1e6) return InvalidArgument("--load must be in (0, 1e6]");
    if (!(o.link.time_scale > 0)) return InvalidArgument("--time-scale must be > 0");
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(ProfilesDir(o.link.profiles_dir), o.emulate));
    for (size_t t = 0; t < impl->tails->size(); ++t) impl->tail_predicted_s.push_back(impl->tails->PredictedSeconds(static_cast<int>(t), d));
    impl->emulated = std::move(d);
    impl->load = o.load;
  }
  if (impl->emulated || o.link.shaped) impl->unit = o.link.time_scale;
  net::ServerLimits limits = o.limits;
  limits.max_message_bytes = static_cast<uint32_t>(impl->tails->max_request_bytes());
  link.channel.max_message_bytes = limits.max_message_bytes;
  Impl* self = impl.get();
  auto admit = [self](net::PeerId peer, std::vector<uint8_t> m) { self->Admit(peer, std::move(m)); };
  if (o.mqtt) {
    net::MqttOptions mq;
    mq.model_hash = impl->tails->model_hash();
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
                           (static_cast<int64_t>(limits.max_message_bytes) + static_cast<int64_t>(impl->tails->max_input_bytes())) +
                       net::ServerTransport::MemoryBoundBytes(link.channel, limits) +
                       (o.security && !o.mqtt ? net::SecureSessionBoundBytes(link.channel, limits) : 0);  // sessions, replay windows
  impl->worker = std::thread([self] { self->Work(); });
  return std::unique_ptr<EdgeServer>(new EdgeServer(std::move(impl)));
}

net::Endpoint EdgeServer::endpoint() const { return impl_->transport->local_endpoint(); }
const std::string& EdgeServer::id() const { return impl_->id; }
uint32_t EdgeServer::model_hash() const { return impl_->tails->model_hash(); }
const std::vector<int>& EdgeServer::cuts() const { return impl_->tails->cuts(); }
int64_t EdgeServer::memory_bound_bytes() const { return impl_->memory_bound; }
int64_t EdgeServer::arena_bytes() const { return impl_->tails->arena_bytes(); }

net::ServerStats EdgeServer::transport_stats() const {
  return impl_->transport ? impl_->transport->stats() : impl_->final_stats;
}

ServerCounters EdgeServer::counters() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->counters;
}

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
  j["memory_bound_bytes"] = memory_bound_bytes();
  j["arena_bytes"] = arena_bytes();
  if (impl_->emulated) j["emulated"] = impl_->emulated->name;
  j["sealed"] = impl_->options.security.has_value();
  return j.dump();
}

void EdgeServer::Stop(double grace_s) {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.stopped) return;
    s.stopping = true;
  }
  s.work.notify_all();
  const net::Deadline deadline = net::DeadlineIn(grace_s);
  // Let the queue drain and the replies leave (bounded by the grace period).
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (s.queued == 0 && !s.busy_running && s.transport->pending_replies() == 0) break;
    }
    if (net::Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.stopped = true;
    for (auto& q : s.queues) q.clear();
    s.queued = 0;
  }
  s.work.notify_all();
  if (s.worker.joinable()) s.worker.join();
  s.final_stats = s.transport->stats();  // what transport_stats() reports once stopped
  s.transport.reset();
}

}  // namespace edgesplit::runtime
