// A static chain's hop on the server transport (hop.h).
#include "hop.h"

#include <algorithm>

#include "edgesplit/delivery.h"

namespace edgesplit::runtime {
namespace {

// Senders whose replay windows are kept; beyond it (a flood of one-shot
// senders on a plain link) the windows start over. Sealed links need them
// less: a replayed sealed frame never opens.
constexpr size_t kMaxWindows = 4096;

}  // namespace

std::vector<uint8_t> AcceptedMessage(uint32_t request_id) {
  wire::MessageHeader h;
  h.type = wire::MessageType::kPong;
  h.request_id = request_id;
  h.dtype = DType::kUInt8;
  std::vector<uint8_t> m(wire::EncodedMessageBytes(h, 0));
  (void)wire::EncodeMessage(h, {}, m);  // a fixed header: cannot fail
  return m;
}

net::ServerLimits HopLimits(double request_timeout_s, uint32_t max_message_bytes) {
  net::ServerLimits limits;
  if (max_message_bytes > 0) limits.max_message_bytes = max_message_bytes;
  limits.frame_timeout_s = std::max(limits.frame_timeout_s, request_timeout_s);
  limits.idle_timeout_s = std::max(limits.idle_timeout_s, request_timeout_s);
  limits.reply_timeout_s = std::max(limits.reply_timeout_s, request_timeout_s);
  return limits;
}

Result<std::unique_ptr<net::ServerTransport>> CreateHopTransport(const net::ChannelOptions& channel, const net::Endpoint& local,
                                                                const std::optional<net::LinkSecurity>& security,
                                                                const net::ServerLimits& limits,
                                                                net::ServerTransport::OnMessage on_message) {
  net::ChannelOptions quiet = channel;  // replies are acknowledgements: not paced, not lost
  quiet.shaper.enabled = false;
  quiet.shaper.loss = 0;
  if (security) return net::CreateSecureServer(quiet, local, limits, *security, std::move(on_message));
  return net::ServerTransport::Create(quiet, local, limits, std::move(on_message));
}

HopGate::Verdict HopGate::Check(net::ServerTransport& transport, net::PeerId peer, std::span<const uint8_t> bytes,
                                wire::DecodedMessage* m, std::string* why) {
  Result<wire::DecodedMessage> decoded = wire::DecodeMessage(bytes);
  if (!decoded.ok()) {
    *why = decoded.status().message();
    return Verdict::kRejected;
  }
  *m = *decoded;
  const uint32_t id = m->header.request_id;
  const wire::MessageType type = m->header.type;
  if (windows_.size() >= kMaxWindows && !windows_.count(peer)) windows_.clear();
  wire::ReplayWindow& window = windows_[peer];
  if (Status fresh = window.Check(id); !fresh.ok()) {
    *why = std::string(wire::MessageTypeName(type)) + " " + std::to_string(id) + ": " + fresh.message();
    return Verdict::kRejected;
  }
  window.Mark(id);
  if (type != wire::MessageType::kPing) return Verdict::kPass;
  // A probe: answered here, never passed on down the chain.
  wire::MessageHeader h = m->header;
  h.type = wire::MessageType::kPong;
  std::vector<uint8_t> pong(wire::EncodedMessageBytes(h, m->payload.size()));
  if (wire::EncodeMessage(h, m->payload, pong).ok()) transport.Reply(peer, std::move(pong), id);
  return Verdict::kAnswered;
}

bool AcceptedAtOnce(const wire::DecodedMessage& m) {
  if (m.header.type != wire::MessageType::kSegmentChunk) return true;
  Result<delivery::DecodedChunk> chunk = delivery::DecodeChunk(m.payload);
  return chunk.ok() && chunk->header.kind == delivery::ChunkKind::kData;
}

Result<std::unique_ptr<HopReceiver>> HopReceiver::Create(const net::ChannelOptions& channel, const net::Endpoint& local,
                                                         const std::optional<net::LinkSecurity>& security,
                                                         double request_timeout_s) {
  std::unique_ptr<HopReceiver> r(new HopReceiver());
  HopReceiver* self = r.get();
  auto on_message = [self](net::PeerId peer, std::vector<uint8_t> bytes) { self->OnMessage(peer, std::move(bytes)); };
  ES_ASSIGN_OR_RETURN(r->transport_, CreateHopTransport(channel, local, security, HopLimits(request_timeout_s, 0), on_message));
  r->live_ = r->transport_.get();
  return r;
}

HopReceiver::~HopReceiver() { transport_.reset(); }  // joins the I/O thread before the queue goes

void HopReceiver::Push(HopMessage m) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(m));
  }
  ready_.notify_one();
}

void HopReceiver::OnMessage(net::PeerId peer, std::vector<uint8_t> bytes) {
  net::ServerTransport* transport = live_.load();
  if (!transport) return;  // a message before Create returned: the sender retransmits
  wire::DecodedMessage m;
  std::string why;
  switch (gate_.Check(*transport, peer, bytes, &m, &why)) {
    case HopGate::Verdict::kAnswered: return;
    case HopGate::Verdict::kRejected: return Push({peer, {}, why});
    case HopGate::Verdict::kPass: break;
  }
  const bool answered = AcceptedAtOnce(m);
  if (answered) transport->Reply(peer, AcceptedMessage(m.header.request_id), m.header.request_id);
  Push({peer, std::move(bytes), "", answered});
}

std::optional<HopMessage> HopReceiver::Pop(net::Deadline deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) return std::nullopt;
  HopMessage m = std::move(queue_.front());
  queue_.pop_front();
  return m;
}

Result<std::unique_ptr<HopSender>> HopSender::Create(const net::ChannelOptions& channel, const net::Endpoint& peer,
                                                     const std::optional<net::LinkSecurity>& security) {
  std::unique_ptr<HopSender> s(new HopSender());
  if (security) {
    ES_ASSIGN_OR_RETURN(s->client_, net::CreateSecureClient(channel, peer, *security));
  } else {
    ES_ASSIGN_OR_RETURN(s->client_, net::RequestClient::Create(channel, peer));
  }
  return s;
}

Result<std::vector<uint8_t>> HopSender::Call(std::span<const uint8_t> message, uint32_t request_id, net::Deadline deadline,
                                             net::SendReport* report) {
  net::CallReport call;
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> reply, client_->Call(message, request_id, deadline, &call));
  if (report) *report = call.request;
  return reply;
}

Status HopSender::Send(std::span<const uint8_t> message, uint32_t request_id, net::Deadline deadline, net::SendReport* report,
                       net::Clock::time_point* delivered_at) {
  const auto t0 = net::Clock::now();
  net::SendReport sent;
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> reply, Call(message, request_id, deadline, &sent));
  if (report) *report = sent;
  if (delivered_at)
    *delivered_at = t0 + std::chrono::duration_cast<net::Clock::duration>(std::chrono::duration<double>(sent.transfer_s));
  ES_ASSIGN_OR_RETURN(wire::DecodedMessage m, wire::DecodeMessage(reply));
  if (m.header.type == wire::MessageType::kPong) return Status::Ok();
  const std::string where = "request " + std::to_string(request_id) + " to " + peer().ToString();
  if (m.header.type == wire::MessageType::kError)
    return Status(StatusCode::kInternal, where + ": refused: " + std::string(m.payload.begin(), m.payload.end()));
  return Internal(where + ": unexpected " + wire::MessageTypeName(m.header.type) + " reply");
}

}  // namespace edgesplit::runtime
