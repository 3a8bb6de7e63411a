// A static chain's node on the runtime's request loop (request_loop.h): a
// one-segment server that forwards. Admission on the transport's I/O thread
// (hop.h's checks, then the loop's queue limit and deadlines), one worker that
// computes the segment, holds the result to the emulated device's time and
// forwards it to the next hop (the last node: to the client), reporting one
// JSON event line per request. What the loop refuses travels down the chain
// as an error, like a failure here, so every request ends at the client.
#include <csignal>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "edgesplit/runtime.h"
#include "edgesplit/runtime_delivery.h"
#include "delivery_roles.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "hop.h"
#include "messages.h"
#include "node_protocol.h"
#include "request_loop.h"

namespace edgesplit::runtime {
namespace {

std::atomic<bool> g_stop{false}, g_reload{false};
void OnStopSignal(int) { g_stop = true; }
void OnReloadSignal(int) { g_reload = true; }

using Json = nlohmann::ordered_json;
using net::Clock;

void Emit(std::FILE* events, const Json& j) {
  if (!events) return;
  const std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), events);
  std::fflush(events);
}

// Encodes a tensor message into `out`, with the request's remaining deadline budget (0: none).
Result<size_t> EncodeTensor(wire::MessageType type, uint32_t request_id, int cut, const Tensor& t,
                            std::span<const uint8_t> payload, std::vector<uint8_t>* out, uint32_t deadline_budget_us = 0) {
  ES_ASSIGN_OR_RETURN(wire::MessageHeader h, TensorHeader(type, t));
  h.request_id = request_id;
  h.deadline_budget_us = deadline_budget_us;
  h.cut_id = static_cast<uint16_t>(cut);
  out->resize(wire::EncodedMessageBytes(h.rank, payload.size()));
  return wire::EncodeMessage(h, payload, *out);
}

}  // namespace

Result<size_t> EncodeErrorMessage(uint32_t request_id, const Status& status, std::vector<uint8_t>* out) {
  wire::MessageHeader h;
  h.type = wire::MessageType::kError;
  h.request_id = request_id;
  h.dtype = DType::kUInt8;
  h.error_code = static_cast<wire::WireErrorCode>(status.code());
  const std::string& text = status.message();
  out->resize(wire::EncodedMessageBytes(0, text.size()));
  return wire::EncodeMessage(h, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), *out);
}

Result<wire::MessageHeader> TensorHeader(wire::MessageType type, const Tensor& t) {
  wire::MessageHeader h;
  h.type = type;
  h.dtype = t.dtype;
  if (t.shape.size() > wire::kMaxRank) return Unsupported("tensor '" + t.name + "' has rank above the wire's limit");
  h.rank = static_cast<uint8_t>(t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) h.dims[i] = static_cast<uint32_t>(t.shape[i]);
  if (!t.quant.empty()) {
    h.quant_scale = t.quant.scales[0];
    h.quant_zero_point = t.quant.zero_points.empty() ? 0 : t.quant.zero_points[0];
  }
  return h;
}

Result<size_t> EncodeTensorMessage(wire::MessageType type, uint32_t request_id, int cut, const Tensor& t,
                                   std::span<const uint8_t> payload, std::vector<uint8_t>* out) {
  return EncodeTensor(type, request_id, cut, t, payload, out);
}

namespace {

// The node's session keys: its identity, the senders it takes (reloaded on
// SIGHUP) and its successor's public key; nullopt with --insecure.
Result<std::optional<net::LinkSecurity>> NodeSecurity(const NodeOptions& o) {
  if (o.insecure) return std::optional<net::LinkSecurity>();
  net::LinkSecurity s;
  ES_ASSIGN_OR_RETURN(s.identity, ReadIdentity(o.key));
  ES_ASSIGN_OR_RETURN(std::vector<EnrolledDevice> senders, ReadAllowFile(o.allow));
  s.enrolled = std::make_shared<net::EnrolledKeys>(EnrolledKeysOf(senders));
  if (!o.server_key.empty()) {
    ES_ASSIGN_OR_RETURN(s.server_public, ReadServerKey(o.server_key));
  }
  return std::optional<net::LinkSecurity>(std::move(s));
}

bool IsLoopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

// What a node's queued entry is (LoopRequest::tag).
enum NodeEntry : uint8_t {
  kWork = 0,     // a tensor or a delivery chunk: computed or handled in turn
  kPassOn = 1,   // an error from upstream: passed on as it is
  kRefused = 2,  // refused here (BUSY): the error goes down the chain
};
// Notices (errors to pass on) are queued beyond the queue limit, up to the
// limit or this many, each cut to kMaxNoticeBytes: small, so a burst's
// refusals never hold tensors' memory. Beyond that the sender is answered.
constexpr int kMinNotices = 256;
constexpr size_t kMaxNoticeBytes = 2048;
constexpr size_t kMaxErrorText = 1024;
// A node with a segment takes its input tensor, and delivery chunks and
// errors up to this size; an empty node (its input not known yet) the
// transport's default.
constexpr uint32_t kMinMessageBytes = 1u << 20;
// SIGTERM: the queued requests finish and their results leave within this.
constexpr double kStopGraceS = 8;

class NodeServer final : public RequestLoop::Handler {
 public:
  NodeServer(const NodeOptions& o, std::FILE* events) : o_(o), events_(events) {}
  ~NodeServer() override {
    if (loop_) loop_->Stop(0, [] { return true; });
    transport_.reset();  // joins the I/O thread, which calls Admit
  }

  Status Open();
  Status Serve();

  // ---- RequestLoop::Handler (the worker thread) ----
  Status Compute(int worker, int lane, std::span<LoopRequest> batch) override;
  void Finish(int worker, int lane, std::span<LoopRequest> batch, const Status& run, const BatchDone& done) override;
  void Expired(LoopRequest& r) override;
  void Notice(LoopRequest& r) override;
  void Idle() override { ota_->Poll(segment_ != nullptr, events_); }  // nobody waits for an expired delivery's refusal

 private:
  void Admit(net::PeerId peer, std::vector<uint8_t> bytes);  // the transport's I/O thread
  void ReplyError(net::ServerTransport& t, net::PeerId peer, uint32_t id, const Status& why);
  Status Context(uint32_t id, const Status& s) const {
    return s.WithContext("node " + self_ + " request " + std::to_string(id));
  }
  net::Deadline ForwardDeadline(const LoopRequest& r) const {
    const auto budget = std::chrono::duration_cast<net::Clock::duration>(std::chrono::duration<double>(o_.request_timeout_s));
    return std::min(r.received + budget, loop_->stop_deadline());
  }
  // An error that ends request `id` here: reported, and sent on to the client.
  void Fail(const LoopRequest& r, const Status& status);
  void Handled() { handled_.fetch_add(1); }  // a request ended here (--max-requests counts them)

  const NodeOptions& o_;
  std::FILE* events_;
  std::unique_ptr<SegmentRunner> segment_;  // none: an empty node waits for a delivery
  std::unique_ptr<NodeDelivery> ota_;
  std::optional<DeviceProfile> device_;
  double predicted_ = 0, scale_ = 1, unit_ = 1;
  ResolvedLink link_;
  std::optional<net::LinkSecurity> security_;
  std::unique_ptr<HopSender> sender_;
  std::string self_;
  bool session_up_ = true, pays_setup_ = false, cold_ = true;
  int64_t memory_bound_ = 0;
  std::atomic<int> handled_{0};
  // The request the worker holds between Compute and Finish.
  struct Current {
    bool chunk = false;
    NodeRequestEvent event;
    double host_s = 0, held_s = 0;
  } current_;
  std::vector<uint8_t> out_;  // the forwarded message (worker)
  HopGate gate_;              // I/O thread
  // The loop before the transport: the transport (its I/O thread calls Admit) is reset first.
  std::unique_ptr<RequestLoop> loop_;
  std::unique_ptr<net::ServerTransport> transport_;
  std::atomic<net::ServerTransport*> live_{nullptr};  // set once Open is done
};

Status NodeServer::Open() {
  if (!o_.segment.model.empty()) {
    ES_ASSIGN_OR_RETURN(segment_, SegmentRunner::Load(o_.segment));
  }
  ES_ASSIGN_OR_RETURN(link_, ResolveLink(o_.link));
  ES_ASSIGN_OR_RETURN(ota_, NodeDelivery::Create(o_));
  if (!o_.emulate_device.empty()) {
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(ProfilesDir(o_.link.profiles_dir), o_.emulate_device));
    device_ = std::move(d);
  }
  scale_ = o_.link.time_scale;
  // One unit for every reported duration: emulated seconds (wall / scale)
  // whenever anything is emulated, so the parts add up to the client's RTT.
  unit_ = device_ || o_.link.shaped ? scale_ : 1.0;
  predicted_ = device_ && segment_ ? segment_->PredictedSeconds(*device_) : 0.0;
  // Only a hop to another node associates first (the paper's set-up time);
  // the last node answers the sensor over the link already up.
  // Set-up is emulated time: only on a shaped link.
  pays_setup_ = o_.next && segment_ && !segment_->ends_at_output() && o_.link.shaped;

  ResolvedLink in_link = link_;  // the predecessor's link: its transport and framing
  if (o_.in_link) {
    ES_ASSIGN_OR_RETURN(in_link, ResolveLink(*o_.in_link));
  }
  ES_ASSIGN_OR_RETURN(security_, NodeSecurity(o_));
  LoopOptions lo;
  lo.queue_limit = o_.queue_limit;
  lo.notice_limit = std::max(o_.queue_limit, kMinNotices);
  lo.idle_s = 0.1;
  ES_RETURN_IF_ERROR(RequestLoop::CheckOptions(lo));
  loop_ = std::make_unique<RequestLoop>(lo, this);
  uint32_t max_message = 0;
  if (segment_) {
    const Tensor& in = segment_->input_tensor();
    max_message = static_cast<uint32_t>(std::max<size_t>(
        kMinMessageBytes, wire::EncodedMessageBytes(in.shape.size(), static_cast<size_t>(in.num_elements()) * DTypeSize(in.dtype), wire::kMaxSenderIdBytes)));
  }
  const net::ServerLimits limits = HopLimits(o_.request_timeout_s, max_message);
  ES_ASSIGN_OR_RETURN(transport_, CreateHopTransport(in_link.channel, o_.listen, security_, limits,
                                                     [this](net::PeerId peer, std::vector<uint8_t> m) { Admit(peer, std::move(m)); }));
  // Queued: requests hold their message; notices a short error.
  memory_bound_ = static_cast<int64_t>(lo.queue_limit) * static_cast<int64_t>(limits.max_message_bytes) +
                  static_cast<int64_t>(lo.notice_limit) * static_cast<int64_t>(kMaxNoticeBytes) +
                  net::ServerTransport::MemoryBoundBytes(in_link.channel, limits) +
                  (security_ ? net::SecureSessionBoundBytes(in_link.channel, limits) : 0);
  if (o_.next) {
    ES_ASSIGN_OR_RETURN(sender_, HopSender::Create(link_.channel, *o_.next, security_));
  }
  self_ = transport_->local_endpoint().ToString();
  if (!IsLoopback(o_.listen.host)) std::fprintf(stderr, "edgesplit node: listening beyond loopback on %s\n", self_.c_str());
  live_ = transport_.get();  // Admit may run from here on (it names the node)
  return Status::Ok();
}

Status NodeServer::Serve() {
  struct sigaction sa{};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup{};
  hup.sa_handler = OnReloadSignal;  // re-read --allow: removed senders are revoked
  sigaction(SIGHUP, &hup, nullptr);
  Emit(events_, Json{{"event", "listening"}, {"address", self_}, {"sealed", security_.has_value()},
                     {"queue_limit", o_.queue_limit}, {"memory_bound_bytes", memory_bound_}});
  // The session with the next hop is set up before the first request (`run`
  // starts the next one first). One still down (started by hand) is met on
  // the first request, whose set-up then counts the handshake.
  session_up_ = !sender_ || !security_ || sender_->Connect(net::DeadlineIn(2)).ok();
  loop_->Start();  // requests that arrived meanwhile waited in the queue
  while (!g_stop && (o_.max_requests == 0 || handled_.load() < o_.max_requests)) {
    if (g_reload.exchange(false) && security_) {
      auto senders = ReadAllowFile(o_.allow);
      if (senders.ok()) security_->enrolled->Replace(EnrolledKeysOf(*senders));
      std::fprintf(stderr, "edgesplit node: SIGHUP: %s\n",
                   senders.ok() ? (std::to_string(senders->size()) + " senders enrolled from " + o_.allow).c_str()
                                : (senders.status().message() + " (enrolment unchanged)").c_str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Graceful: new requests are refused (the refusal goes down the chain), the
  // queued ones finish and their results and acceptances leave.
  loop_->Stop(kStopGraceS, [this] { return transport_->pending_replies() == 0; });
  return Status::Ok();
}

void NodeServer::ReplyError(net::ServerTransport& t, net::PeerId peer, uint32_t id, const Status& why) {
  std::vector<uint8_t> m;
  if (EncodeErrorMessage(id, why, &m).ok()) t.Reply(peer, std::move(m), id);
}

void NodeServer::Admit(net::PeerId peer, std::vector<uint8_t> bytes) {
  net::ServerTransport* t = live_.load();
  if (!t) return;  // a message before Open finished: the sender retransmits
  const net::Clock::time_point now = net::Clock::now();
  wire::DecodedMessage m;
  std::string why;
  switch (gate_.Check(*t, peer, bytes, &m, &why)) {
    case HopGate::Verdict::kAnswered: return;
    case HopGate::Verdict::kRejected:  // not computed: a replayed id, or bytes that are no message
      return Emit(events_, Json{{"event", "rejected"}, {"message", why}});
    case HopGate::Verdict::kPass: break;
  }
  const uint32_t id = m.header.request_id;
  // Tensors and errors are accepted at once; a delivery's chunks when handled (Compute).
  const bool at_once = m.header.type != wire::MessageType::kSegmentChunk;
  LoopRequest r;
  r.peer = peer;
  r.request_id = id;
  r.received = now;
  if (m.header.type == wire::MessageType::kError) {  // pass an upstream error on, in order, whatever the queue holds
    r.tag = kPassOn;
    if (bytes.size() <= kMaxNoticeBytes) {
      r.message = std::move(bytes);
    } else {
      const std::string text(m.payload.begin(), m.payload.begin() + static_cast<std::ptrdiff_t>(std::min(kMaxErrorText, m.payload.size())));
      (void)EncodeErrorMessage(id, Status(static_cast<StatusCode>(m.header.error_code), text), &r.message);
    }
    if (!loop_->EnqueueNotice(0, r)) return ReplyError(*t, peer, id, Context(id, Busy("shutting down or too many errors queued")));
    return t->Reply(peer, AcceptedMessage(id), id);
  }
  if (m.header.deadline_budget_us > 0) r.deadline = now + std::chrono::microseconds(m.header.deadline_budget_us);
  r.payload_offset = static_cast<size_t>(m.payload.data() - bytes.data());
  r.message = std::move(bytes);
  const Status busy = loop_->Enqueue(0, r, m.header.deadline_budget_us);
  if (!busy.ok()) {
    const Status refusal = Context(id, busy);
    // A delivery's coordinator waits for its chunk's answer; a request's
    // client waits at the end of the chain, where the refusal goes.
    if (m.header.type == wire::MessageType::kSegmentChunk) return ReplyError(*t, peer, id, refusal);
    LoopRequest notice;
    notice.peer = peer;
    notice.request_id = id;
    notice.received = now;
    notice.tag = kRefused;
    std::string text = refusal.message().substr(0, kMaxErrorText);
    if (!EncodeErrorMessage(id, Status(refusal.code(), std::move(text)), &notice.message).ok() || !loop_->EnqueueNotice(0, notice))
      return ReplyError(*t, peer, id, refusal);  // no room even for the error: the sender learns it
  }
  if (at_once) t->Reply(peer, AcceptedMessage(id), id);
}

Status NodeServer::Compute(int, int, std::span<LoopRequest> batch) {
  LoopRequest& r = batch.front();
  current_ = Current{};
  Result<wire::DecodedMessage> msg = wire::DecodeMessage(r.message);  // the gate decoded it: cannot fail
  if (!msg.ok()) return msg.status();
  const wire::MessageHeader& h = msg->header;
  if (h.type == wire::MessageType::kSegmentChunk) {  // over-the-air delivery (runtime_delivery.h)
    current_.chunk = true;
    if (std::unique_ptr<SegmentRunner> delivered = ota_->OnChunk(*msg, segment_.get(), events_)) {
      segment_ = std::move(delivered);
      predicted_ = device_ ? segment_->PredictedSeconds(*device_) : 0.0;
      pays_setup_ = o_.next && !segment_->ends_at_output() && o_.link.shaped;
    }
    // Answered once handled, so a delivery's chunks queue one at a time (its
    // coordinator waits for each answer): a data chunk with "go on", a
    // manifest or end chunk with the delivery's verdict, or "go on".
    std::optional<std::vector<uint8_t>> ack;
    if (!AcceptedAtOnce(*msg)) ack = ota_->TakeAck(r.request_id);
    transport_->Reply(r.peer, ack ? std::move(*ack) : AcceptedMessage(r.request_id), r.request_id);
    return Status::Ok();
  }
  current_.event.request_id = r.request_id;
  current_.event.cold = cold_;
  const auto t0 = net::Clock::now();
  const Status status = !segment_ ? InvalidArgument("no segment loaded yet: this node waits for a delivery")
                        : h.type == wire::MessageType::kTensorRequest
                            ? segment_->Run(msg->payload, h.dtype)
                            : InvalidArgument(std::string("unexpected message type ") + wire::MessageTypeName(h.type));
  current_.host_s = net::SecondsSince(t0);
  if (status.ok() && device_)
    net::SleepUntil(t0 + std::chrono::duration_cast<net::Clock::duration>(std::chrono::duration<double>(predicted_ * scale_)));
  current_.held_s = net::SecondsSince(t0);
  return status;
}

void NodeServer::Fail(const LoopRequest& r, const Status& status) {
  NodeRequestEvent ev;
  ev.request_id = r.request_id;
  ev.error = status.message();
  Emit(events_, NodeRequestEventJson(ev));
  if (sender_ && EncodeErrorMessage(r.request_id, status, &out_).ok()) (void)sender_->Send(out_, r.request_id, ForwardDeadline(r), nullptr);
  Handled();
}

void NodeServer::Expired(LoopRequest& r) {
  Fail(r, Context(r.request_id, Busy("could not start before its deadline")));
}

void NodeServer::Notice(LoopRequest& r) {
  if (r.tag == kRefused) {
    auto m = wire::DecodeMessage(r.message);
    NodeRequestEvent ev;
    ev.request_id = r.request_id;
    ev.error = m.ok() ? std::string(m->payload.begin(), m->payload.end()) : "refused";
    Emit(events_, NodeRequestEventJson(ev));
  }
  if (sender_) (void)sender_->Send(r.message, r.request_id, ForwardDeadline(r), nullptr);
  Handled();
}

void NodeServer::Finish(int, int, std::span<LoopRequest> batch, const Status& run, const BatchDone&) {
  if (current_.chunk) return;
  const LoopRequest& r = batch.front();
  const uint32_t id = r.request_id;
  if (!run.ok()) return Fail(r, Context(id, run));
  NodeRequestEvent& ev = current_.event;
  ev.node.device = device_ ? device_->name : "host";
  ev.node.compute_s = current_.held_s / unit_;
  ev.node.predicted_compute_s = predicted_;
  ev.node.host_compute_s = current_.host_s;
  ev.node.overrun_s = device_ ? std::max(0.0, current_.host_s / scale_ - predicted_) : 0.0;
  if (!sender_) {
    Emit(events_, NodeRequestEventJson(ev));
    return Handled();
  }
  const net::Deadline deadline = ForwardDeadline(r);
  // The rest of the request's deadline budget travels with it (at least 1 us: it has one).
  uint32_t budget_us = 0;
  if (r.deadline != net::Clock::time_point::max())
    budget_us = static_cast<uint32_t>(std::clamp(std::chrono::duration<double>(r.deadline - net::Clock::now()).count() * 1e6, 1.0, 4.0e9));
  const auto ts = net::Clock::now();
  const auto type = segment_->ends_at_output() ? wire::MessageType::kTensorResult : wire::MessageType::kTensorRequest;
  auto encoded = EncodeTensor(type, id, segment_->last_cut_index(), segment_->output_tensor(), segment_->output(), &out_, budget_us);
  if (!encoded.ok()) return Fail(r, Context(id, encoded.status()));
  const double serialize_s = net::SecondsSince(ts);
  double setup_s = 0;
  if (cold_ && pays_setup_) {
    setup_s = link_.profile.setup_s;
    net::SleepUntil(net::DeadlineIn(setup_s * scale_));
  }
  if (!session_up_) {  // the handshake is set-up too, not the hop's transfer
    const auto th = net::Clock::now();
    session_up_ = sender_->Connect(deadline).ok();  // a refusal shows in the Send below
    setup_s += net::SecondsSince(th) / unit_;
  }
  net::SendReport report;
  const Status sent = sender_->Send(std::span<const uint8_t>(out_.data(), *encoded), id, deadline, &report);
  Handled();
  if (!sent.ok()) {
    ev.error = sent.message();
    Emit(events_, NodeRequestEventJson(ev));
    return;  // the next request may find the peer back
  }
  cold_ = false;
  ev.setup_s = setup_s;
  HopRecord hop;
  hop.bytes = report.message_bytes;
  hop.fragments = report.fragments;
  hop.retransmissions = report.retransmissions;
  hop.tensor_bytes = static_cast<int64_t>(segment_->output().size());
  hop.dropped = report.dropped;
  hop.serialize_s = serialize_s / unit_;
  hop.transfer_s = report.transfer_s / unit_;
  hop.predicted_transfer_s = TransferSeconds(link_.profile, static_cast<int64_t>(segment_->output().size()));
  hop.link = link_.profile.name;
  ev.hop = hop;
  Emit(events_, NodeRequestEventJson(ev));
}

}  // namespace

Status RunNode(const NodeOptions& o, std::FILE* events) {
  ES_RETURN_IF_ERROR(CheckNodeOptions(o));
  NodeServer node(o, events);
  ES_RETURN_IF_ERROR(node.Open());
  return node.Serve();
}

}  // namespace edgesplit::runtime
