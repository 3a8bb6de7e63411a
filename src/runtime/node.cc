// A node's loop: receive a tensor (hop.h: the server transport, sealed when
// keyed), compute its segment, release the result at the emulated device's
// time, forward it, report one JSON event line.
#include <csignal>

#include <atomic>
#include <nlohmann/json.hpp>
#include <vector>

#include "edgesplit/runtime.h"
#include "edgesplit/runtime_delivery.h"
#include "delivery_roles.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "hop.h"
#include "messages.h"
#include "node_protocol.h"

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

// Encodes a tensor message (or an error) into `out`.
Result<size_t> EncodeTensor(wire::MessageType type, uint32_t request_id, int cut, const Tensor& t,
                            std::span<const uint8_t> payload, std::vector<uint8_t>* out) {
  ES_ASSIGN_OR_RETURN(wire::MessageHeader h, TensorHeader(type, t));
  h.request_id = request_id;
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

}  // namespace

Status RunNode(const NodeOptions& o, std::FILE* events) {
  ES_RETURN_IF_ERROR(CheckNodeOptions(o));
  std::unique_ptr<SegmentRunner> segment;  // none: an empty node waits for a delivery
  if (!o.segment.model.empty()) {
    ES_ASSIGN_OR_RETURN(segment, SegmentRunner::Load(o.segment));
  }
  ES_ASSIGN_OR_RETURN(ResolvedLink link, ResolveLink(o.link));
  ES_ASSIGN_OR_RETURN(std::unique_ptr<NodeDelivery> ota, NodeDelivery::Create(o));
  std::optional<DeviceProfile> device;
  if (!o.emulate_device.empty()) {
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(ProfilesDir(o.link.profiles_dir), o.emulate_device));
    device = std::move(d);
  }
  const double scale = o.link.time_scale;
  double predicted = device && segment ? segment->PredictedSeconds(*device) : 0.0;

  ResolvedLink in_link = link;  // the predecessor's link: its transport and framing
  if (o.in_link) {
    ES_ASSIGN_OR_RETURN(in_link, ResolveLink(*o.in_link));
  }
  ES_ASSIGN_OR_RETURN(std::optional<net::LinkSecurity> security, NodeSecurity(o));
  ES_ASSIGN_OR_RETURN(std::unique_ptr<HopReceiver> receiver, HopReceiver::Create(in_link.channel, o.listen, security, o.request_timeout_s));
  std::unique_ptr<HopSender> sender;
  if (o.next) {
    ES_ASSIGN_OR_RETURN(sender, HopSender::Create(link.channel, *o.next, security));
  }
  const std::string self = receiver->local_endpoint().ToString();
  if (!IsLoopback(o.listen.host)) std::fprintf(stderr, "edgesplit node: listening beyond loopback on %s\n", self.c_str());

  struct sigaction sa{};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup{};
  hup.sa_handler = OnReloadSignal;  // re-read --allow: removed senders are revoked
  sigaction(SIGHUP, &hup, nullptr);
  Emit(events, Json{{"event", "listening"}, {"address", self}, {"sealed", security.has_value()}});
  // The session with the next hop is set up before the first request (`run`
  // starts the next one first). One still down (started by hand) is met on
  // the first request, whose set-up then counts the handshake.
  bool session_up = !sender || !security || sender->Connect(net::DeadlineIn(2)).ok();

  // Only a hop to another node associates first (the paper's set-up time);
  // the last node answers the sensor over the link already up.
  // Set-up is emulated time: only on a shaped link.
  bool pays_setup = o.next && segment && !segment->ends_at_output() && o.link.shaped;
  bool cold = true;
  int handled = 0;
  std::vector<uint8_t> out;
  while (!g_stop && (o.max_requests == 0 || handled < o.max_requests)) {
    if (g_reload.exchange(false) && security) {
      auto senders = ReadAllowFile(o.allow);
      if (senders.ok()) security->enrolled->Replace(EnrolledKeysOf(*senders));
      std::fprintf(stderr, "edgesplit node: SIGHUP: %s\n",
                   senders.ok() ? (std::to_string(senders->size()) + " senders enrolled from " + o.allow).c_str()
                                : (senders.status().message() + " (enrolment unchanged)").c_str());
    }
    std::optional<HopMessage> got = receiver->Pop(net::DeadlineIn(0.1));
    if (!got) {
      ota->Poll(segment != nullptr, events);  // nobody waits for an expired delivery's refusal
      continue;
    }
    if (!got->rejected.empty()) {  // not computed: a replayed id, or bytes that are no message
      Emit(events, Json{{"event", "rejected"}, {"message", got->rejected}});
      continue;
    }
    const net::Deadline deadline = net::DeadlineIn(o.request_timeout_s);
    auto msg = wire::DecodeMessage(got->bytes);
    if (!msg.ok()) {
      Emit(events, Json{{"event", "rejected"}, {"message", msg.status().message()}});
      continue;
    }
    const uint32_t id = msg->header.request_id;
    if (msg->header.type == wire::MessageType::kSegmentChunk) {  // over-the-air delivery (runtime_delivery.h)
      if (std::unique_ptr<SegmentRunner> delivered = ota->OnChunk(*msg, segment.get(), events)) {
        segment = std::move(delivered);
        predicted = device ? segment->PredictedSeconds(*device) : 0.0;
        pays_setup = o.next && !segment->ends_at_output() && o.link.shaped;
      }
      if (!got->answered) {  // a manifest or end chunk: the delivery's verdict, or "go on"
        std::optional<std::vector<uint8_t>> ack = ota->TakeAck(id);
        receiver->Reply(got->peer, ack ? std::move(*ack) : AcceptedMessage(id), id);
      }
      continue;
    }
    ++handled;
    if (msg->header.type == wire::MessageType::kError) {  // pass an upstream error on to the client
      if (sender) (void)sender->Send(got->bytes, id, deadline, nullptr);
      continue;
    }
    NodeRequestEvent ev;
    ev.request_id = id;
    ev.cold = cold;
    const auto t0 = Clock::now();
    Status status = !segment ? InvalidArgument("no segment loaded yet: this node waits for a delivery")
                    : msg->header.type == wire::MessageType::kTensorRequest
                        ? segment->Run(msg->payload, msg->header.dtype)
                        : InvalidArgument(std::string("unexpected message type ") + wire::MessageTypeName(msg->header.type));
    const double host_s = net::SecondsSince(t0);
    if (status.ok() && device) net::SleepUntil(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(predicted * scale)));
    const double held_s = net::SecondsSince(t0);
    if (!status.ok()) {
      status = status.WithContext("node " + self + " request " + std::to_string(id));
      ev.error = status.message();
      Emit(events, NodeRequestEventJson(ev));
      if (sender && EncodeErrorMessage(id, status, &out).ok()) (void)sender->Send(out, id, deadline, nullptr);
      continue;
    }
    // One unit for every reported duration: emulated seconds (wall / scale)
    // whenever anything is emulated, so the parts add up to the client's RTT.
    const double unit = device || o.link.shaped ? scale : 1.0;
    ev.node.device = device ? device->name : "host";
    ev.node.compute_s = held_s / unit;
    ev.node.predicted_compute_s = predicted;
    ev.node.host_compute_s = host_s;
    ev.node.overrun_s = device ? std::max(0.0, host_s / scale - predicted) : 0.0;
    if (!sender) {
      Emit(events, NodeRequestEventJson(ev));
      continue;
    }
    const auto ts = Clock::now();
    const auto type = segment->ends_at_output() ? wire::MessageType::kTensorResult : wire::MessageType::kTensorRequest;
    auto encoded = EncodeTensor(type, id, segment->last_cut_index(), segment->output_tensor(), segment->output(), &out);
    if (!encoded.ok()) return encoded.status();
    const double serialize_s = net::SecondsSince(ts);
    double setup_s = 0;
    if (cold && pays_setup) {
      setup_s = link.profile.setup_s;
      net::SleepUntil(net::DeadlineIn(setup_s * scale));
    }
    if (!session_up) {  // the handshake is set-up too, not the hop's transfer
      const auto th = Clock::now();
      session_up = sender->Connect(deadline).ok();  // a refusal shows in the Send below
      setup_s += net::SecondsSince(th) / unit;
    }
    net::SendReport report;
    const Status sent = sender->Send(std::span<const uint8_t>(out.data(), *encoded), id, deadline, &report);
    if (!sent.ok()) {
      ev.error = sent.message();
      Emit(events, NodeRequestEventJson(ev));
      continue;  // the next request may find the peer back
    }
    cold = false;
    ev.setup_s = setup_s;
    HopRecord hop;
    hop.bytes = report.message_bytes;
    hop.fragments = report.fragments;
    hop.retransmissions = report.retransmissions;
    hop.tensor_bytes = static_cast<int64_t>(segment->output().size());
    hop.dropped = report.dropped;
    hop.serialize_s = serialize_s / unit;
    hop.transfer_s = report.transfer_s / unit;
    hop.predicted_transfer_s = TransferSeconds(link.profile, static_cast<int64_t>(segment->output().size()));
    hop.link = link.profile.name;
    ev.hop = hop;
    Emit(events, NodeRequestEventJson(ev));
  }
  return Status::Ok();
}

}  // namespace edgesplit::runtime
