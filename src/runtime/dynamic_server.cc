// The live dynamic run's server node: the tail of every candidate, keyed by the
// cut id a tensor arrives with, an emulated load that stretches its service
// time, and a report (service time, load) in every reply.
#include <atomic>
#include <map>

#include "dynamic_internal.h"
#include "edgesplit/dynamic_runtime.h"
#include "messages.h"

namespace edgesplit::runtime {
namespace {

using Json = nlohmann::ordered_json;
using net::Clock;

struct Tail {
  std::unique_ptr<SegmentRunner> runner;
  double unloaded_s = 0;  // predicted on the server device
};

class Server {
 public:
  Server(const DynamicNodeOptions& o, std::FILE* events) : o_(o), events_(events), scale_(o.link.time_scale) {}
  Status Init();
  Status Loop();

 private:
  void Reply(std::span<const uint8_t> message, uint32_t id, const std::string& what);
  void HandleControl(uint32_t id, const DynamicControl& c);
  void HandleTensor(const wire::DecodedMessage& msg);

  DynamicNodeOptions o_;
  std::FILE* events_;
  double scale_;
  ResolvedLink link_;
  DeviceProfile device_;
  std::map<int, Tail> tails_;  // by first cut index (exec graph numbering)
  std::unique_ptr<net::MessageReceiver> receiver_;
  std::unique_ptr<net::MessageSender> reply_;  // to the head, once a probe said where
  std::optional<net::Endpoint> reply_to_;
  double rate_ = 0, load_ = 1;
  std::vector<uint8_t> out_;
};

Status Server::Init() {
  ES_ASSIGN_OR_RETURN(detail::LiveNode node, detail::LoadLiveNode(o_, o_.policy.server_device));
  link_ = node.link;
  device_ = node.device;
  rate_ = node.rate;
  load_ = node.load;
  for (const SplitCandidate& c : node.policy->candidates()) {
    if (c.kind == CandidateKind::kDeviceOnly) continue;
    Tail t;
    ES_ASSIGN_OR_RETURN(t.runner, node.Segment(o_.policy, c.kind == CandidateKind::kServerOnly ? "input" : c.name, "output"));
    t.unloaded_s = t.runner->PredictedSeconds(device_);
    const int key = t.runner->first_cut_index();
    tails_[key] = std::move(t);
  }
  ES_ASSIGN_OR_RETURN(receiver_, net::MessageReceiver::Create(link_.channel, o_.listen));
  detail::EmitEvent(events_, Json{{"event", "listening"}, {"address", receiver_->local_endpoint().ToString()}, {"tails", tails_.size()}});
  return Status::Ok();
}

void Server::Reply(std::span<const uint8_t> message, uint32_t id, const std::string& what) {
  if (!reply_) {
    detail::EmitEvent(events_, Json{{"event", "unanswered"}, {"link_id", id}, {"message", what + ": no reply address yet (no probe seen)"}});
    return;
  }
  const Status s = reply_->Send(message, id, net::DeadlineIn(std::max(o_.request_timeout_s * scale_, 2.0)), nullptr);
  if (!s.ok()) detail::EmitEvent(events_, Json{{"event", "unanswered"}, {"link_id", id}, {"message", what + ": " + s.message()}});
}

void Server::HandleControl(uint32_t id, const DynamicControl& c) {
  bool relink = false;
  if (c.flags & kControlSetRate) rate_ = c.rate_bytes_per_s, relink = true;
  if (c.flags & kControlSetLoad) load_ = c.load;
  if ((c.flags & kControlReplyTo) && (!reply_to_ || !(*reply_to_ == c.reply_to))) reply_to_ = c.reply_to, relink = true;
  if (relink && reply_to_) {
    auto s = net::MessageSender::Create(detail::ChannelAtRate(link_, rate_, scale_), *reply_to_);
    if (s.ok()) reply_ = std::move(s).value();
    else detail::EmitEvent(events_, Json{{"event", "error"}, {"link_id", id}, {"message", s.status().message()}});
  }
  if (!(c.flags & kControlProbe)) return;
  DynamicControl pong;
  pong.flags = kControlSetLoad;
  pong.load = load_;
  auto n = detail::EncodeControlMessage(wire::MessageType::kPong, id, pong, 0, &out_);
  if (n.ok()) Reply(std::span<const uint8_t>(out_.data(), *n), id, "pong");
}

void Server::HandleTensor(const wire::DecodedMessage& msg) {
  const uint32_t id = msg.header.request_id;
  auto it = tails_.find(msg.header.cut_id);
  Status s = it == tails_.end() ? NotFound("no tail starts at cut " + std::to_string(msg.header.cut_id)) : Status::Ok();
  const auto t0 = Clock::now();
  if (s.ok()) s = it->second.runner->Run(msg.payload, msg.header.dtype);
  if (!s.ok()) {
    const Status e = s.WithContext("server " + receiver_->local_endpoint().ToString() + " link message " + std::to_string(id));
    detail::EmitEvent(events_, Json{{"event", "error"}, {"link_id", id}, {"message", e.message()}});
    if (EncodeErrorMessage(id, e, &out_).ok()) Reply(out_, id, "error");
    return;
  }
  const double host_s = net::SecondsSince(t0);
  // The emulated device serves in unloaded x load; the host's own slowness
  // beyond that is overrun, not load (it is reported, not fed to the head).
  const double service_s = it->second.unloaded_s * load_;
  net::SleepUntil(t0 + detail::Scaled(service_s, scale_));
  const SegmentRunner& r = *it->second.runner;
  wire::MessageHeader h;
  auto n = EncodeTensorMessage(wire::MessageType::kTensorResult, id, r.last_cut_index(), r.output_tensor(), r.output(), &out_);
  if (!n.ok()) {
    detail::EmitEvent(events_, Json{{"event", "error"}, {"link_id", id}, {"message", n.status().message()}});
    return;
  }
  // The report travels in the result's header fields (docs/wire.md): patch and re-seal.
  auto decoded = wire::DecodeMessage(std::span<const uint8_t>(out_.data(), *n));
  if (decoded.ok()) {
    h = decoded->header;
    h.service_time_us = static_cast<uint32_t>(std::min(service_s * 1e6, 4.0e9));
    h.queue_length = 0;  // one request in flight at a time
    (void)wire::EncodeMessageInPlace(h, decoded->payload.size(), std::span<uint8_t>(out_.data(), *n));
  }
  Reply(std::span<const uint8_t>(out_.data(), *n), id, "result");
  detail::EmitEvent(events_, Json{{"event", "served"}, {"link_id", id}, {"cut", msg.header.cut_id}, {"load", load_},
                                  {"service_s", service_s}, {"host_compute_s", host_s},
                                  {"overrun_s", std::max(0.0, host_s / scale_ - service_s)}});
}

Status Server::Loop() {
  while (!detail::StopRequested()) {
    ES_ASSIGN_OR_RETURN(std::optional<std::vector<uint8_t>> bytes, receiver_->Receive(net::DeadlineIn(0.05)));
    if (!bytes) continue;
    auto msg = wire::DecodeMessage(*bytes);
    if (!msg.ok()) {
      detail::EmitEvent(events_, Json{{"event", "rejected"}, {"message", msg.status().message()}});
      continue;
    }
    if (msg->header.type == wire::MessageType::kPing) {
      auto c = ParseDynamicControl(msg->payload);
      if (!c.ok()) detail::EmitEvent(events_, Json{{"event", "rejected"}, {"message", c.status().message()}});
      else HandleControl(msg->header.request_id, *c);
    } else if (msg->header.type == wire::MessageType::kTensorRequest) {
      HandleTensor(*msg);
    } else {
      detail::EmitEvent(events_, Json{{"event", "rejected"},
                                      {"message", std::string("unexpected message type ") + wire::MessageTypeName(msg->header.type)}});
    }
  }
  return Status::Ok();
}

}  // namespace

Status RunDynamicServer(const DynamicNodeOptions& options, std::FILE* events) {
  return detail::RunLiveNode<Server>(options, events);
}

}  // namespace edgesplit::runtime
