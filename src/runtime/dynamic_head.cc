// The live dynamic run's head node: per request it asks its SplitController
// for a candidate, runs the head of it, sends the cut tensor to the server and
// learns the rate from the transfer's ack timing and the load from the reply;
// it finishes locally when the link or the server fails, and probes the link
// (on a helper thread, beside local compute) while nothing is sent.
#include <atomic>
#include <map>
#include <thread>

#include "dynamic_internal.h"
#include "edgesplit/dynamic_runtime.h"
#include "messages.h"

namespace edgesplit::runtime {
namespace {

using Json = nlohmann::ordered_json;
using net::Clock;

// The segments one candidate needs on the head.
struct HeadSegments {
  std::unique_ptr<SegmentRunner> head, rest;  // input->cut, cut->output (split candidates only)
  double head_s = 0, rest_s = 0;              // predicted on the head device
};

// A probe in flight: the helper thread sends the ping (its own socket), the
// main thread collects the pong from the reply receiver.
struct Probe {
  bool pending = false;
  uint32_t id = 0;
  int64_t bytes = 0;
  std::vector<uint8_t> message;
  std::thread thread;
  std::atomic<bool> done{false};
  Status status;
  double send_wall_s = 0;
};

class Head {
 public:
  Head(const DynamicNodeOptions& o, std::FILE* events) : o_(o), events_(events), scale_(o.link.time_scale) {}
  ~Head() {
    if (probe_.thread.joinable()) probe_.thread.join();
  }
  Status Init();
  Status Loop();

 private:
  double Now() const { return net::SecondsSince(start_) / scale_; }
  net::Deadline WallDeadline(double emulated_s, double floor_wall_s) const {
    return net::DeadlineIn(std::max(emulated_s * scale_, floor_wall_s));
  }
  Status MakeServerSender();
  void StartProbe();
  void FinishProbe(bool wait);
  Result<std::optional<std::vector<uint8_t>>> AwaitReply(uint32_t id, net::Deadline deadline);
  void HandleControl(const DynamicControl& c);
  Status HandleRequest(uint32_t id, std::span<const uint8_t> input, DType dtype);
  Status RunHeld(SegmentRunner& r, std::span<const uint8_t> in, DType dtype, double predicted, double* host_s);

  DynamicNodeOptions o_;
  std::FILE* events_;
  double scale_;
  std::optional<SplitPolicy> policy_;
  std::unique_ptr<SplitController> ctrl_;
  ResolvedLink link_;
  DeviceProfile device_;
  std::unique_ptr<SegmentRunner> whole_;
  double whole_s_ = 0;
  std::vector<HeadSegments> segs_;
  std::unique_ptr<net::MessageReceiver> from_client_, replies_;
  std::unique_ptr<net::MessageSender> to_client_, to_server_, control_;
  double rate_ = 0, load_ = 1;  // the emulated conditions (what the shaper and the server apply)
  uint32_t next_id_ = 1;        // ids of messages to the server (one fresh sequence for its receiver)
  Clock::time_point start_;
  Probe probe_;
  std::map<uint32_t, double> pongs_;  // probe id -> the server's load
  std::string last_failure_;
  std::vector<uint8_t> out_;
};

Status Head::Init() {
  if (!o_.server || !o_.next) return InvalidArgument("the head needs --server and --next");
  ES_ASSIGN_OR_RETURN(detail::LiveNode node, detail::LoadLiveNode(o_, o_.policy.head_device));
  policy_.emplace(std::move(*node.policy));
  ctrl_ = std::make_unique<SplitController>(&*policy_, o_.controller);
  link_ = node.link;
  device_ = node.device;
  rate_ = node.rate;
  load_ = node.load;
  ES_ASSIGN_OR_RETURN(whole_, node.Segment(o_.policy, "input", "output"));
  whole_s_ = whole_->PredictedSeconds(device_);
  for (const SplitCandidate& c : policy_->candidates()) {
    HeadSegments s;
    if (c.kind == CandidateKind::kSplit) {
      ES_ASSIGN_OR_RETURN(s.head, node.Segment(o_.policy, "input", c.name));
      ES_ASSIGN_OR_RETURN(s.rest, node.Segment(o_.policy, c.name, "output"));
      s.head_s = s.head->PredictedSeconds(device_);
      s.rest_s = s.rest->PredictedSeconds(device_);
    }
    segs_.push_back(std::move(s));
  }

  ES_ASSIGN_OR_RETURN(from_client_, net::MessageReceiver::Create(detail::Unshaped(link_), o_.listen));
  ES_ASSIGN_OR_RETURN(replies_, net::MessageReceiver::Create(link_.channel, {o_.listen.host, 0}));
  ES_ASSIGN_OR_RETURN(to_client_, net::MessageSender::Create(detail::Unshaped(link_), *o_.next));
  ES_ASSIGN_OR_RETURN(control_, net::MessageSender::Create(detail::Unshaped(link_), *o_.server));
  ES_RETURN_IF_ERROR(MakeServerSender());

  start_ = Clock::now();
  // The connection handshake: tells the server where to answer and is timed like a probe.
  StartProbe();
  FinishProbe(true);
  detail::EmitEvent(events_, Json{{"event", "listening"}, {"address", from_client_->local_endpoint().ToString()},
                                  {"reply_address", replies_->local_endpoint().ToString()},
                                  {"candidates", policy_->candidates().size()}});
  return Status::Ok();
}

Status Head::MakeServerSender() {
  ES_ASSIGN_OR_RETURN(to_server_, net::MessageSender::Create(detail::ChannelAtRate(link_, rate_, scale_), *o_.server));
  return Status::Ok();
}

void Head::StartProbe() {
  FinishProbe(true);
  probe_.pending = true;
  probe_.done = false;
  probe_.id = next_id_++;
  DynamicControl c;
  c.flags = kControlProbe | kControlReplyTo;
  c.reply_to = replies_->local_endpoint();
  auto n = detail::EncodeControlMessage(wire::MessageType::kPing, probe_.id, c, static_cast<size_t>(std::max<int64_t>(o_.controller.probe_bytes, 0)), &probe_.message);
  if (!n.ok()) {
    probe_.status = n.status();
    probe_.done = true;
    return;
  }
  probe_.bytes = static_cast<int64_t>(*n);
  const net::ChannelOptions channel = detail::ChannelAtRate(link_, rate_, scale_);
  const net::Endpoint server = *o_.server;
  const net::Deadline deadline = WallDeadline(o_.controller.timeout_s, 0.2);
  probe_.thread = std::thread([this, channel, server, deadline] {
    auto sender = net::MessageSender::Create(channel, server);
    net::SendReport report;
    probe_.status = sender.ok() ? (*sender)->Send(probe_.message, probe_.id, deadline, &report) : sender.status();
    probe_.send_wall_s = report.transfer_s;
    probe_.done = true;
  });
}

// Collects a finished probe (or waits for it when `wait`): the pong's load and
// the ping's ack timing go to the controller; a failure puts it in fallback.
void Head::FinishProbe(bool wait) {
  if (!probe_.pending || (!wait && !probe_.done)) return;
  if (probe_.thread.joinable()) probe_.thread.join();
  probe_.pending = false;
  Status s = probe_.status;
  if (s.ok()) {
    auto got = AwaitReply(0, WallDeadline(o_.controller.timeout_s, 0.2));  // pongs land in pongs_
    if (!got.ok()) s = got.status();
  }
  auto it = pongs_.find(probe_.id);
  if (s.ok() && it == pongs_.end()) s = DeadlineExceeded("no pong within " + std::to_string(o_.controller.timeout_s) + " s");
  const double now = Now();
  if (!s.ok()) {
    last_failure_ = "probe " + std::to_string(probe_.id) + " failed: " + s.message();
    ctrl_->OnFailure(now);
    detail::EmitEvent(events_, Json{{"event", "probe"}, {"ok", false}, {"message", last_failure_}});
  } else {
    ctrl_->OnProbe(probe_.bytes, probe_.send_wall_s / scale_, ServerReport{it->second, 0}, now);
    detail::EmitEvent(events_, Json{{"event", "probe"}, {"ok", true}, {"bytes", probe_.bytes}, {"send_s", probe_.send_wall_s / scale_},
                                    {"server_load", it->second}, {"rate_estimate_bytes_per_s", ctrl_->rate_estimate()}});
  }
  if (it != pongs_.end()) pongs_.erase(it);
}

// The reply to message `id` from the server (id 0: none, just until the
// pending probe's pong has come or the deadline passes). Pongs are filed in
// pongs_ on the way; stale replies are dropped.
Result<std::optional<std::vector<uint8_t>>> Head::AwaitReply(uint32_t id, net::Deadline deadline) {
  for (;;) {
    if (id == 0 && pongs_.count(probe_.id)) return std::optional<std::vector<uint8_t>>();
    ES_ASSIGN_OR_RETURN(std::optional<std::vector<uint8_t>> bytes, replies_->Receive(std::min(deadline, net::DeadlineIn(0.02))));
    if (!bytes) {
      if (Clock::now() >= deadline) return std::optional<std::vector<uint8_t>>();
      continue;
    }
    auto msg = wire::DecodeMessage(*bytes);
    if (!msg.ok()) continue;  // counted by the receiver's CRC; a corrupt reply is a lost one
    if (msg->header.type == wire::MessageType::kPong) {
      auto c = ParseDynamicControl(msg->payload);
      if (c.ok() && (c->flags & kControlSetLoad)) pongs_[msg->header.request_id] = c->load;
      continue;
    }
    if (id != 0 && msg->header.request_id == id) return bytes;
  }
}

void Head::HandleControl(const DynamicControl& c) {
  FinishProbe(true);  // the server's receiver takes one message at a time
  if (c.flags & kControlSetRate) {
    rate_ = c.rate_bytes_per_s;
    if (Status s = MakeServerSender(); !s.ok())
      detail::EmitEvent(events_, Json{{"event", "control"}, {"ok", false}, {"message", s.message()}});
  }
  if (c.flags & kControlSetLoad) load_ = c.load;
  // The server's side of the emulation (its load, its reply link's rate).
  DynamicControl fwd = c;
  fwd.flags &= kControlSetRate | kControlSetLoad;
  std::vector<uint8_t> msg;
  const uint32_t id = next_id_++;
  auto n = detail::EncodeControlMessage(wire::MessageType::kPing, id, fwd, 0, &msg);
  const Status s = n.ok() ? control_->Send(std::span<const uint8_t>(msg.data(), *n), id, net::DeadlineIn(0.5), nullptr) : n.status();
  if (!s.ok())
    detail::EmitEvent(events_, Json{{"event", "control"}, {"ok", false}, {"message", "forwarding to the server: " + s.message()}});
}

Status Head::RunHeld(SegmentRunner& r, std::span<const uint8_t> in, DType dtype, double predicted, double* host_s) {
  const auto t0 = Clock::now();
  ES_RETURN_IF_ERROR(r.Run(in, dtype));
  *host_s += net::SecondsSince(t0);
  net::SleepUntil(t0 + detail::Scaled(predicted, scale_));
  return Status::Ok();
}

Status Head::HandleRequest(uint32_t id, std::span<const uint8_t> input, DType dtype) {
  FinishProbe(false);
  const double now = Now();
  const Decision d = ctrl_->Decide(now);
  Json ev{{"event", "request"}, {"request_id", id}};
  if (d.candidate < 0) {
    const Status s = IoError("the server is unreachable and the model does not fit the head: " + last_failure_);
    if (EncodeErrorMessage(id, s, &out_).ok()) (void)to_client_->Send(out_, id, net::DeadlineIn(5), nullptr);
    detail::EmitEvent(events_, Json{{"event", "error"}, {"request_id", id}, {"message", s.message()}});
    return Status::Ok();
  }
  const double rate_before = ctrl_->rate_estimate(), load_before = ctrl_->load_estimate();
  if (d.probe) StartProbe();
  const SplitCandidate& c = policy_->candidates()[static_cast<size_t>(d.candidate)];
  HeadSegments& seg = segs_[static_cast<size_t>(d.candidate)];
  const auto t0 = Clock::now();
  double host_s = 0, head_s = 0, transfer_s = 0, service_s = 0, rest_s = 0;
  int64_t bytes = 0;
  bool fallback = d.fallback;
  std::span<const uint8_t> result;
  std::optional<std::vector<uint8_t>> reply;
  std::optional<wire::DecodedMessage> reply_msg;
  Status failed;
  if (c.kind == CandidateKind::kDeviceOnly) {
    ES_RETURN_IF_ERROR(RunHeld(*whole_, input, dtype, whole_s_, &host_s));
    head_s = whole_s_;
    result = whole_->output();
  } else {
    FinishProbe(true);  // a probe and a tensor must not share the server's receiver
    const Tensor* t = &whole_->input_tensor();
    std::span<const uint8_t> payload = input;
    int cut = 0;
    if (c.kind == CandidateKind::kSplit) {
      ES_RETURN_IF_ERROR(RunHeld(*seg.head, input, dtype, seg.head_s, &host_s));
      head_s = seg.head_s;
      t = &seg.head->output_tensor();
      payload = seg.head->output();
      cut = seg.head->last_cut_index();
    }
    const uint32_t link_id = next_id_++;
    std::vector<uint8_t> msg;
    ES_ASSIGN_OR_RETURN(size_t n, EncodeTensorMessage(wire::MessageType::kTensorRequest, link_id, cut, *t, payload, &msg));
    net::SendReport report;
    failed = to_server_->Send(std::span<const uint8_t>(msg.data(), n), link_id, WallDeadline(o_.request_timeout_s, 1.0), &report);
    if (failed.ok()) {
      bytes = report.message_bytes;
      transfer_s = report.transfer_s / scale_;
      ctrl_->OnTransfer(bytes, transfer_s);
      auto got = AwaitReply(link_id, WallDeadline(o_.request_timeout_s, 2.0));
      if (!got.ok()) failed = got.status();
      else if (!got->has_value()) failed = DeadlineExceeded("no reply from the server within " + std::to_string(o_.request_timeout_s) + " s");
      else {
        reply = std::move(*got);
        auto m = wire::DecodeMessage(*reply);
        if (!m.ok()) failed = m.status();
        else if (m->header.type == wire::MessageType::kError)
          failed = IoError("the server answered: " + std::string(m->payload.begin(), m->payload.end()));
        else if (m->header.type != wire::MessageType::kTensorResult)
          failed = IoError(std::string("the server answered with a ") + wire::MessageTypeName(m->header.type));
        else reply_msg = *m;
      }
    }
    if (failed.ok()) {
      service_s = reply_msg->header.service_time_us * 1e-6;
      if (c.tail_s > 0) ctrl_->OnServerReport({service_s / c.tail_s, reply_msg->header.queue_length});
      result = reply_msg->payload;
    } else {
      // Finish here: the rest of this candidate, or the whole model for server-only.
      last_failure_ = "request " + std::to_string(id) + " to the server failed: " + failed.message();
      ctrl_->OnFailure(Now());
      fallback = true;
      (void)MakeServerSender();  // a fresh socket/connection for when the server is back
      if (c.kind == CandidateKind::kSplit) {
        ES_RETURN_IF_ERROR(RunHeld(*seg.rest, seg.head->output(), seg.head->output_tensor().dtype, seg.rest_s, &host_s));
        rest_s = seg.rest_s;
        result = seg.rest->output();
      } else {
        ES_RETURN_IF_ERROR(RunHeld(*whole_, input, dtype, whole_s_, &host_s));
        rest_s = whole_s_;
        result = whole_->output();
      }
    }
  }
  ES_ASSIGN_OR_RETURN(size_t n, EncodeTensorMessage(wire::MessageType::kTensorResult, id, whole_->last_cut_index(),
                                                    whole_->output_tensor(), result, &out_));
  const Status sent = to_client_->Send(std::span<const uint8_t>(out_.data(), n), id, net::DeadlineIn(10), nullptr);
  ev["split"] = c.name;
  ev["candidate"] = d.candidate;
  ev["cut_index"] = c.cut_index;
  ev["reason"] = DecisionReasonName(d.reason);
  ev["fallback"] = fallback;
  ev["fallback_reason"] = fallback ? last_failure_ : "";
  ev["probe"] = d.probe;
  ev["rate_estimate_bytes_per_s"] = rate_before;
  ev["rate_estimate_after"] = ctrl_->rate_estimate();
  ev["load_estimate"] = load_before;
  ev["true_rate_bytes_per_s"] = rate_;
  ev["head_compute_s"] = head_s;
  ev["transfer_s"] = transfer_s;
  ev["bytes"] = bytes;
  ev["server_service_s"] = service_s;
  ev["local_rest_s"] = rest_s;
  ev["host_compute_s"] = host_s;
  ev["overrun_s"] = std::max(0.0, net::SecondsSince(t0) / scale_ - (head_s + transfer_s + service_s + rest_s));
  if (!sent.ok()) ev["send_error"] = sent.message();
  detail::EmitEvent(events_, ev);
  return Status::Ok();
}

Status Head::Loop() {
  while (!detail::StopRequested()) {
    FinishProbe(false);
    ES_ASSIGN_OR_RETURN(std::optional<std::vector<uint8_t>> bytes, from_client_->Receive(net::DeadlineIn(0.05)));
    if (!bytes) continue;
    auto msg = wire::DecodeMessage(*bytes);
    if (!msg.ok()) {
      detail::EmitEvent(events_, Json{{"event", "rejected"}, {"message", msg.status().message()}});
      continue;
    }
    const uint32_t id = msg->header.request_id;
    if (msg->header.type == wire::MessageType::kPing) {
      auto c = ParseDynamicControl(msg->payload);
      if (!c.ok()) detail::EmitEvent(events_, Json{{"event", "rejected"}, {"message", c.status().message()}});
      else HandleControl(*c);
      continue;
    }
    if (msg->header.type != wire::MessageType::kTensorRequest) {
      detail::EmitEvent(events_, Json{{"event", "error"}, {"request_id", id},
                                      {"message", std::string("unexpected message type ") + wire::MessageTypeName(msg->header.type)}});
      continue;
    }
    if (Status s = HandleRequest(id, msg->payload, msg->header.dtype); !s.ok()) {
      const Status e = s.WithContext("head request " + std::to_string(id));
      if (EncodeErrorMessage(id, e, &out_).ok()) (void)to_client_->Send(out_, id, net::DeadlineIn(5), nullptr);
      detail::EmitEvent(events_, Json{{"event", "error"}, {"request_id", id}, {"message", e.message()}});
    }
  }
  return Status::Ok();
}

}  // namespace

Status RunDynamicHead(const DynamicNodeOptions& options, std::FILE* events) {
  return detail::RunLiveNode<Head>(options, events);
}

}  // namespace edgesplit::runtime
