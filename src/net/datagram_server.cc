// The edge server's datagram end: per-sender reassembly and one reply ARQ per
// request, all driven by one I/O thread over one socket.
#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "edgesplit/net_server.h"
#include "io_thread.h"
#include "edgesplit/wire.h"
#include "edgesplit/secure_transport.h"
#include "message_queue.h"
#include "secure_session.h"
#include "server_stats.h"

namespace edgesplit::net {
namespace {

using detail::FromUs;
using detail::NowUs;

// An IPv4 address and port packed into a PeerId, and back.
Result<PeerId> PeerOf(const Endpoint& e) {
  in_addr a{};
  if (inet_pton(AF_INET, e.host.c_str(), &a) != 1) return InvalidArgument("'" + e.host + "' is not an IPv4 address");
  return (static_cast<PeerId>(ntohl(a.s_addr)) << 16) | e.port;
}
PeerId PeerOf(const DatagramSocket::Ipv4Address& a) { return (static_cast<PeerId>(a.address) << 16) | a.port; }
DatagramSocket::Ipv4Address AddressOf(PeerId peer) {
  return {static_cast<uint32_t>(peer >> 16), static_cast<uint16_t>(peer & 0xFFFF)};
}
Endpoint EndpointOf(PeerId peer) {
  in_addr a{};
  a.s_addr = htonl(static_cast<uint32_t>(peer >> 16));
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, text, sizeof text);
  return Endpoint{text, static_cast<uint16_t>(peer & 0xFFFF)};
}

// One reply in flight: its bytes, its ARQ and its pacing.
struct ReplyTx {
  std::vector<uint8_t> message, bitmap;
  std::unique_ptr<wire::FragmentSender> sender;
  LinkShaper shaper;
  std::vector<uint8_t> pending;  // a frame waiting for its release time
  Clock::time_point pending_at{};
  explicit ReplyTx(const ShaperConfig& c) : shaper(c) {}
};

struct PeerState {
  // Not zero-filled: a new peer's first request would wait for 16 MB of
  // memset (tens of ms on a VM, past a 20 ms retransmission timer). Pages are
  // touched only as fragments land; only a complete message is ever read.
  std::unique_ptr<uint8_t[]> buffer;
  std::vector<uint8_t> bitmap;
  std::unique_ptr<wire::Reassembler> rx;
  std::map<uint32_t, std::unique_ptr<ReplyTx>> replies;  // by request id
  Clock::time_point last_active{};
};

// Datagrams taken per recvmmsg call; MemoryBoundBytes counts their slots.
constexpr size_t kBurstDatagrams = 32;

class DatagramServer final : public ServerTransport {
  static constexpr int kReceiveBurst = 8;  // recvmmsg calls per wake-up (up to 256 datagrams)

 public:
  // `security`: sealed (options.datagram_bytes is then the inner size); null: plain.
  DatagramServer(const ChannelOptions& options, const ServerLimits& limits, std::unique_ptr<DatagramSocket> socket,
                 OnMessage on_message, const LinkSecurity* security = nullptr)
      : options_(options), limits_(limits), socket_(std::move(socket)), on_message_(std::move(on_message)),
        datagram_(wire::kMaxDatagramBytes), sack_(std::max<size_t>(static_cast<size_t>(options.datagram_bytes), 300)),
        frame_(static_cast<size_t>(options.datagram_bytes)) {
    if (security) {
      secure_ = std::make_unique<detail::ServerSessions>(*security, static_cast<size_t>(limits.max_peers), limits.idle_timeout_s);
      opened_.reserve(wire::kMaxDatagramBytes);  // nothing grows per datagram
      overhead_ = kSealedDatagramOverhead;
    }
    self_ = socket_->local_endpoint();
    if (self_.host == "0.0.0.0") self_.host = "127.0.0.1";
    // Burst slots as large as any UDP datagram, so none is cut short; pages
    // are touched only as far as datagrams reach (a link's frame size).
    const size_t slot = wire::kMaxDatagramBytes;
    burst_bytes_.reset(new uint8_t[slot * kBurstDatagrams]);
    for (size_t i = 0; i < kBurstDatagrams; ++i) slots_.emplace_back(burst_bytes_.get() + i * slot, slot);
    received_.resize(kBurstDatagrams);
    thread_ = std::thread([this] {
      detail::ScheduleIoThread(detail::IoWakeups::kDefer);
      Loop();
    });
  }
  ~DatagramServer() override {
    stop_ = true;
    Wake();
    thread_.join();
  }
  Endpoint local_endpoint() const override { return socket_->local_endpoint(); }
  bool SetReplyPacing(double bytes_per_s, double rto_s) override {
    if (!(bytes_per_s > 0) || !(rto_s > 0)) return false;
    reply_rate_ = bytes_per_s;
    reply_rto_ = rto_s;
    return true;
  }

  void Reply(PeerId peer, std::vector<uint8_t> message, uint32_t request_id) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      outbox_.push_back({peer, request_id, std::move(message)});
      ++pending_;
    }
    Wake();
  }
  int64_t pending_replies() const override { return pending_.load(); }
  ServerStats stats() const override { return counters_.Snapshot(static_cast<int64_t>(peer_count_.load())); }

 private:
  struct Outgoing {
    PeerId peer;
    uint32_t request_id;
    std::vector<uint8_t> message;
  };

  // A zero-length datagram to our own port ends the I/O thread's wait.
  void Wake() { (void)socket_->SendTo(self_, {}); }

  void Reject(const std::string& why) { counters_.Reject(why); }
  void CountFailedReply() { counters_.FailedReply(); }

  // Every datagram to a peer goes out here: sealed under its session when secure.
  void Send(PeerId peer, std::span<const uint8_t> d) {
    if (!secure_) {
      (void)socket_->SendTo(AddressOf(peer), d);
      return;
    }
    if (secure_->Seal(peer, d, &sealed_).ok()) (void)socket_->SendTo(AddressOf(peer), sealed_);
  }
  static std::string From(PeerId peer) { return "from " + EndpointOf(peer).ToString() + ": "; }

  // Opens a sealed envelope (answering handshakes); false when nothing is left for the reassembler.
  bool Unseal(std::span<const uint8_t>* d, PeerId id) {
    const auto outcome = secure_->OnEnvelope(id, static_cast<uint32_t>(id >> 16), *d, &opened_);
    if (!outcome.dropped.empty()) counters_.SecurityDrop(From(id) + outcome.dropped);
    if (outcome.action == detail::ServerSessions::Action::kReply) (void)socket_->SendTo(AddressOf(id), opened_);
    // A new session from this address is a new client (a device restarted, or
    // a new process given the port of one that left): its request ids start
    // over, so the old one's replay window must not refuse them as replays,
    // nor the old one's unacknowledged replies (same ids) reach it.
    if (outcome.new_session) ForgetPeer(id);
    if (outcome.action != detail::ServerSessions::Action::kDeliver)
      counters_.Handshakes(secure_->handshakes(), secure_->rate_limited(), secure_->refused());
    if (outcome.action != detail::ServerSessions::Action::kDeliver) return false;
    *d = opened_;
    return true;
  }

  PeerState* FindOrCreatePeer(PeerId id, Clock::time_point now) {
    auto it = peers_.find(id);
    if (it != peers_.end()) return &it->second;
    if (static_cast<int>(peers_.size()) >= limits_.max_peers) return nullptr;
    PeerState& p = peers_[id];
    const size_t max_message = MaxMessageBytes();
    p.buffer = std::make_unique_for_overwrite<uint8_t[]>(max_message);
    p.bitmap.resize(wire::BitmapBytes(wire::FragmentCount(max_message, static_cast<size_t>(options_.datagram_bytes))));
    wire::ReassemblerConfig config;
    config.datagram_bytes = static_cast<size_t>(options_.datagram_bytes);
    config.reassembly_timeout_us = static_cast<uint64_t>(limits_.frame_timeout_s * 1e6);
    config.limits.max_payload_bytes = static_cast<uint32_t>(max_message);
    p.rx = std::make_unique<wire::Reassembler>(std::span<uint8_t>(p.buffer.get(), max_message), p.bitmap, config);
    p.last_active = now;
    peer_count_ = peers_.size();
    return &p;
  }

  // Drops a peer's partial message, replay window and replies (counted failed).
  void ForgetPeer(PeerId id) {
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    for (size_t i = 0; i < it->second.replies.size(); ++i) {
      --pending_;
      CountFailedReply();
    }
    peers_.erase(it);
    peer_count_ = peers_.size();
  }

  size_t MaxMessageBytes() const {
    const uint64_t by_fragments =
        uint64_t{wire::kMaxFragments} * wire::FragmentPayloadBytes(static_cast<size_t>(options_.datagram_bytes));
    return static_cast<size_t>(std::min<uint64_t>({limits_.max_message_bytes, by_fragments, wire::kMaxMessageBytes}));
  }

  void OnDatagram(std::span<const uint8_t> d, PeerId id, Clock::time_point now) {
    if (secure_ && !Unseal(&d, id)) return;
    auto kind = wire::PeekDatagramKind(d);
    if (!kind.ok()) return Reject(From(id) + kind.status().message());
    if (*kind == wire::DatagramKind::kSack) {
      auto sack = wire::DecodeSack(d);
      if (!sack.ok()) return Reject(From(id) + sack.status().message());
      auto p = peers_.find(id);
      if (p == peers_.end()) return;
      auto r = p->second.replies.find(sack->request_id);
      if (r == p->second.replies.end()) return;
      (void)r->second->sender->OnDatagram(d, NowUs(now));
      p->second.last_active = now;
      return;
    }
    PeerState* peer = FindOrCreatePeer(id, now);
    if (!peer) return Reject(From(id) + std::to_string(limits_.max_peers) + " senders already hold state");
    peer->last_active = now;
    const wire::ReceiveResult r = peer->rx->OnDatagram(d, NowUs(now), sack_);
    if (r.reply_bytes > 0) Send(id, std::span<const uint8_t>(sack_.data(), r.reply_bytes));
    if (r.event == wire::ReceiveEvent::kRejected) Reject(From(id) + r.status.message());
    if (r.event == wire::ReceiveEvent::kComplete) {
      const auto m = peer->rx->message();
      on_message_(id, std::vector<uint8_t>(m.begin(), m.end()));
    }
  }

  void StartReplies(Clock::time_point now) {
    std::deque<Outgoing> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(outbox_);
    }
    for (Outgoing& o : batch) {
      PeerState* peer = FindOrCreatePeer(o.peer, now);
      if (!peer) {
        CountFailedReply();
        --pending_;
        continue;
      }
      ShaperConfig pacing = options_.shaper;
      const double rate = reply_rate_.load(), rto = reply_rto_.load();
      if (rate > 0) pacing.bytes_per_s = rate;
      auto tx = std::make_unique<ReplyTx>(pacing);
      tx->message = std::move(o.message);
      tx->bitmap.assign(wire::BitmapBytes(wire::FragmentCount(tx->message.size(), frame_.size())), 0);
      tx->sender = std::make_unique<wire::FragmentSender>(tx->bitmap);
      wire::ArqConfig arq;
      arq.datagram_bytes = frame_.size();
      arq.rto_us = static_cast<uint64_t>((rto > 0 ? rto : options_.rto_s) * 1e6);
      arq.max_rounds = 1u << 30;  // the reply's deadline decides, not a count
      const uint64_t t = NowUs(now);
      if (!tx->sender->Start(tx->message, o.request_id, arq, t, t + static_cast<uint64_t>(limits_.reply_timeout_s * 1e6))
               .ok()) {
        CountFailedReply();
        --pending_;
        continue;
      }
      tx->shaper.BeginMessage(now);
      auto& slot = peer->replies[o.request_id];
      if (slot) --pending_;  // a newer reply to the same id replaces the old one
      slot = std::move(tx);
      peer->last_active = now;
    }
  }

  // Sends what is due; returns when the next thing is due.
  Clock::time_point PollReplies(Clock::time_point now) {
    Clock::time_point wake = now + std::chrono::milliseconds(50);
    for (auto& [id, peer] : peers_) {
      for (auto it = peer.replies.begin(); it != peer.replies.end();) {
        ReplyTx& tx = *it->second;
        bool finished = false;
        for (;;) {
          if (!tx.pending.empty()) {
            if (tx.pending_at > now) {
              wake = std::min(wake, tx.pending_at);
              break;
            }
            if (!tx.shaper.Drop()) Send(id, tx.pending);
            else counters_.DroppedFrame();
            tx.pending.clear();
          }
          auto due = tx.sender->Poll(NowUs(now), frame_);
          if (!due.ok()) {
            CountFailedReply();
            finished = true;
            break;
          }
          if (tx.sender->done()) {
            finished = true;
            break;
          }
          if (*due == 0) {
            wake = std::min(wake, FromUs(tx.sender->next_wake_us()));
            break;
          }
          tx.pending.assign(frame_.begin(), frame_.begin() + static_cast<std::ptrdiff_t>(*due));
          tx.pending_at = options_.shaper.enabled ? tx.shaper.Release(now, static_cast<int64_t>(*due + overhead_)) : now;
        }
        if (finished) {
          it = peer.replies.erase(it);
          --pending_;
        } else {
          ++it;
        }
      }
    }
    return wake;
  }

  void ExpirePeers(Clock::time_point now) {
    if (secure_)  // revoked devices: their sessions, partial messages and replies go
      for (PeerId revoked : secure_->Sweep()) ForgetPeer(revoked);
    const auto idle = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits_.idle_timeout_s));
    for (auto it = peers_.begin(); it != peers_.end();) {
      it->second.rx->Expire(NowUs(now));
      if (it->second.replies.empty() && !it->second.rx->in_progress() && now - it->second.last_active > idle)
        it = peers_.erase(it);
      else
        ++it;
    }
    peer_count_ = peers_.size();
  }

  void Loop() {
    Clock::time_point next_expiry = Clock::now();
    while (!stop_) {
      Clock::time_point now = Clock::now();
      StartReplies(now);
      const Clock::time_point wake = PollReplies(now);
      Endpoint from;
      auto got = socket_->ReceiveFrom(datagram_, &from, std::max(wake, Clock::now()));
      now = Clock::now();
      if (got.ok() && got->has_value() && **got > 0) {
        if (auto id = PeerOf(from); id.ok()) OnDatagram(std::span<const uint8_t>(datagram_.data(), **got), *id, now);
        else Reject(id.status().message());
        // Then what else is queued, without the event loop or address text per
        // datagram (a 600 KB request is ~400 of them); a bounded burst, so
        // replies due meanwhile are not held back.
        for (int burst = 0; burst < kReceiveBurst; ++burst) {
          auto more = socket_->TryReceiveMany(slots_, received_);
          if (!more.ok() || *more == 0) break;
          const Clock::time_point at = Clock::now();
          for (size_t i = 0; i < *more; ++i) {
            const DatagramSocket::Received& r = received_[i];
            if (r.truncated) Reject(From(PeerOf(r.from)) + "datagram longer than " + std::to_string(slots_[i].size()) + " bytes");
            else if (r.bytes > 0) OnDatagram(std::span<const uint8_t>(slots_[i].data(), r.bytes), PeerOf(r.from), at);
          }
          if (*more < slots_.size()) break;
        }
        now = Clock::now();
      }
      if (now >= next_expiry) {
        ExpirePeers(now);
        next_expiry = now + std::chrono::milliseconds(100);
      }
    }
  }

  ChannelOptions options_;
  ServerLimits limits_;
  std::unique_ptr<DatagramSocket> socket_;
  OnMessage on_message_;
  Endpoint self_;
  std::vector<uint8_t> datagram_, sack_, frame_;
  std::unique_ptr<uint8_t[]> burst_bytes_;  // default-initialised: no page touched up front
  std::vector<std::span<uint8_t>> slots_;
  std::vector<DatagramSocket::Received> received_;
  std::unique_ptr<detail::ServerSessions> secure_;  // I/O thread only; null: plain
  std::vector<uint8_t> opened_, sealed_;
  size_t overhead_ = 0;  // link bytes sealing adds per datagram (the shaper charges them)
  std::unordered_map<PeerId, PeerState> peers_;  // I/O thread only
  std::atomic<size_t> peer_count_{0};
  std::mutex mutex_;  // outbox_
  std::deque<Outgoing> outbox_;
  detail::ServerStatsCounter counters_;
  std::atomic<int64_t> pending_{0};
  std::atomic<double> reply_rate_{0}, reply_rto_{0};  // SetReplyPacing (0: options_)
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<ServerTransport>> CreateStreamServer(const ChannelOptions& options, const Endpoint& local,
                                                            const ServerLimits& limits, ServerTransport::OnMessage on_message);

namespace {
Status CheckLimits(const ServerLimits& limits) {
  if (limits.max_peers < 1 || limits.max_connections < 1)
    return InvalidArgument("a server needs room for at least one peer and one connection");
  if (!(limits.idle_timeout_s > 0) || !(limits.frame_timeout_s > 0) || !(limits.reply_timeout_s > 0))
    return InvalidArgument("server timeouts must be positive");
  return Status::Ok();
}
}  // namespace

Result<std::unique_ptr<ServerTransport>> ServerTransport::Create(const ChannelOptions& options, const Endpoint& local,
                                                                 const ServerLimits& limits, OnMessage on_message) {
  ES_RETURN_IF_ERROR(CheckLimits(limits));
  if (!IsDatagram(options.kind)) return CreateStreamServer(options, local, limits, std::move(on_message));
  if (options.datagram_bytes <= static_cast<int64_t>(wire::kFragmentHeaderBytes) ||
      options.datagram_bytes > static_cast<int64_t>(wire::kMaxDatagramBytes))
    return InvalidArgument("datagram payload of " + std::to_string(options.datagram_bytes) + " bytes is out of range");
  ES_RETURN_IF_ERROR(PeerOf(local.host == "0.0.0.0" ? Endpoint{"127.0.0.1", 0} : local).status());
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DatagramSocket> socket, DatagramSocket::Bind(local));
  return std::unique_ptr<ServerTransport>(new DatagramServer(options, limits, std::move(socket), std::move(on_message)));
}

Result<std::unique_ptr<ServerTransport>> CreateSecureStreamServer(const ChannelOptions& options, const Endpoint& local,
                                                                  const ServerLimits& limits, const LinkSecurity& security,
                                                                  ServerTransport::OnMessage on_message);

Result<std::unique_ptr<ServerTransport>> CreateSecureServer(const ChannelOptions& options, const Endpoint& local,
                                                            const ServerLimits& limits, const LinkSecurity& security,
                                                            ServerTransport::OnMessage on_message) {
  if (!security.enrolled) return InvalidArgument("a secure server needs its enrolled device keys (--allow FILE)");
  ES_RETURN_IF_ERROR(CheckLimits(limits));
  if (!IsDatagram(options.kind)) {
    return CreateSecureStreamServer(options, local, limits, security, std::move(on_message));
  }
  // The wire datagrams inside are smaller by the envelope, so the sealed one still fits the link's frame.
  ChannelOptions inner = options;
  inner.datagram_bytes -= static_cast<int64_t>(kSealedDatagramOverhead);
  if (inner.datagram_bytes <= static_cast<int64_t>(wire::kFragmentHeaderBytes) ||
      options.datagram_bytes > static_cast<int64_t>(wire::kMaxDatagramBytes))
    return InvalidArgument("datagram payload of " + std::to_string(options.datagram_bytes) +
                           " bytes is out of range for sealed frames (" + std::to_string(kSealedDatagramOverhead) +
                           " bytes of envelope)");
  ES_RETURN_IF_ERROR(PeerOf(local.host == "0.0.0.0" ? Endpoint{"127.0.0.1", 0} : local).status());
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DatagramSocket> socket, DatagramSocket::Bind(local));
  auto server = new DatagramServer(inner, limits, std::move(socket), std::move(on_message), &security);
  return std::unique_ptr<ServerTransport>(server);
}

int64_t ServerTransport::MemoryBoundBytes(const ChannelOptions& options, const ServerLimits& limits) {
  const int64_t message = limits.max_message_bytes;
  if (!IsDatagram(options.kind)) return static_cast<int64_t>(limits.max_connections + kRecycledBuffers) * message;
  const int64_t bitmap = static_cast<int64_t>(
      wire::BitmapBytes(wire::FragmentCount(static_cast<size_t>(message), static_cast<size_t>(options.datagram_bytes))));
  const int64_t burst = static_cast<int64_t>(kBurstDatagrams * wire::kMaxDatagramBytes);
  return static_cast<int64_t>(limits.max_peers) * (message + bitmap) + burst;
}

}  // namespace edgesplit::net
