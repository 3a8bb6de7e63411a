// The edge server's TCP end: every connection served at once by one Asio I/O
// thread, with idle and partial-frame timeouts and a connection limit.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <atomic>
#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "asio_wait.h"
#include "edgesplit/net_server.h"
#include "io_thread.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/wire.h"
#include "secure_session.h"
#include "server_stats.h"

namespace edgesplit::net {
namespace {

using asio::ip::tcp;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

class StreamServer final : public ServerTransport {
 public:
  // `security`: every frame sealed after a handshake per connection; null: plain.
  StreamServer(const ChannelOptions& options, const ServerLimits& limits, OnMessage on_message,
               const LinkSecurity* security = nullptr)
      : options_(options), limits_(limits), on_message_(std::move(on_message)) {
    if (security)
      secure_ = std::make_unique<detail::ServerSessions>(*security, static_cast<size_t>(limits.max_connections),
                                                         limits.idle_timeout_s + limits.frame_timeout_s);
  }

  Status Start(const Endpoint& local) {
    asio::error_code ec;
    const asio::ip::address address = asio::ip::make_address(local.host, ec);
    if (ec) return InvalidArgument("'" + local.host + "' is not an IP address");
    const tcp::endpoint ep(address, local.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) detail::SetCloseOnExec(acceptor_.native_handle());
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return IoError("cannot listen on TCP " + local.ToString() + ": " + detail::ErrorText(ec));
    AcceptNext();
    if (secure_) SweepLater();
    thread_ = std::thread([this] {
      detail::ScheduleIoThread(detail::IoWakeups::kPreempt);
      io_.run();
    });
    return Status::Ok();
  }
  ~StreamServer() override {
    asio::post(io_, [this] {
      asio::error_code ec;
      acceptor_.close(ec);
      for (auto& [id, c] : connections_) Close(*c);
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }

  Endpoint local_endpoint() const override {
    asio::error_code ec;
    const auto ep = acceptor_.local_endpoint(ec);
    return Endpoint{ep.address().to_string(), ep.port()};
  }

  void Reply(PeerId peer, std::vector<uint8_t> message, uint32_t /*request_id*/) override {
    ++pending_;
    asio::post(io_, [this, peer, m = std::move(message)]() mutable {
      auto it = connections_.find(peer);
      if (it == connections_.end() || !it->second->open || (secure_ && !SealFrame(peer, &m))) {
        --pending_;
        CountFailedReply();
        return;
      }
      Connection& c = *it->second;
      c.outbox.push_back(std::move(m));
      if (!c.writing) WriteNext(it->second);
    });
  }
  void Recycle(std::vector<uint8_t>&& buffer) override {
    if (buffer.capacity() < kSmallestRecycled || buffer.capacity() > limits_.max_message_bytes) return;
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (static_cast<int>(pool_.size()) < kRecycledBuffers) pool_.push_back(std::move(buffer));
  }
  int64_t pending_replies() const override { return pending_.load(); }
  ServerStats stats() const override { return counters_.Snapshot(connection_count_.load()); }

 private:
  struct Connection {
    PeerId id = 0;
    uint32_t source = 0;  // IPv4 address (handshake rate limit)
    tcp::socket socket;
    asio::steady_timer timer;
    std::vector<uint8_t> in;  // bytes of the message being read
    size_t have = 0;
    size_t need = 0;  // whole message size once the fixed header is in (0 before)
    // Plain links: the CRC of the message's body so far, over in[0, crc_done),
    // advanced as bytes arrive (hot in cache) instead of in one pass at the end.
    uint32_t crc = 0;
    size_t crc_done = 0;
    std::deque<std::vector<uint8_t>> outbox;
    bool writing = false, open = true, closing = false;
    Connection(asio::io_context& io, tcp::socket s) : socket(std::move(s)), timer(io) {}
  };
  using ConnectionPtr = std::shared_ptr<Connection>;

  void Reject(const std::string& why) { counters_.Reject(why); }
  void CountFailedReply() { counters_.FailedReply(); }

  void AcceptNext() {
    acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec) {
        if (static_cast<int>(connections_.size()) >= limits_.max_connections) {
          Reject("connection refused: " + std::to_string(limits_.max_connections) + " connections already open");
          asio::error_code ignored;
          socket.close(ignored);
        } else {
          asio::error_code ignored;
          detail::SetCloseOnExec(socket.native_handle());
          socket.set_option(tcp::no_delay(true), ignored);
          auto c = std::make_shared<Connection>(io_, std::move(socket));
          c->id = next_id_++;
          const auto remote = c->socket.remote_endpoint(ignored);
          if (remote.address().is_v4()) c->source = remote.address().to_v4().to_uint();
          c->in.resize(wire::kMessageFixedHeaderBytes);
          connections_[c->id] = c;
          connection_count_ = static_cast<int64_t>(connections_.size());
          ArmTimer(c);
          ReadMore(c);
        }
      }
      AcceptNext();
    });
  }

  // Idle (no byte of a new message) or partial-frame timeout, re-armed on every read.
  void ArmTimer(const ConnectionPtr& c) {
    c->timer.expires_after(Seconds(c->have == 0 ? limits_.idle_timeout_s : limits_.frame_timeout_s));
    c->timer.async_wait([this, c](const asio::error_code& ec) {
      if (ec || !c->open) return;
      if (c->have > 0) Reject("connection " + std::to_string(c->id) + ": message not finished within the frame timeout");
      Drop(c);
    });
  }

  void ReadMore(const ConnectionPtr& c) {
    c->socket.async_read_some(asio::buffer(c->in.data() + c->have, c->in.size() - c->have),
                              [this, c](const asio::error_code& ec, size_t n) {
                                if (!c->open) return;
                                if (ec) {
                                  if (c->have > 0) Reject("connection " + std::to_string(c->id) + " ended inside a message");
                                  Drop(c);
                                  return;
                                }
                                c->have += n;
                                if (!Parse(c)) return;
                                ArmTimer(c);
                                ReadMore(c);
                              });
  }

  // A sealed connection's frames: 4-byte length, envelope. Until its
  // handshake is done only handshake-sized frames are taken.
  bool ParseSealed(const ConnectionPtr& c) {
    for (;;) {
      if (c->need == 0) {
        if (c->have < 4) return true;
        const uint32_t size = uint32_t{c->in[0]} | uint32_t{c->in[1]} << 8 | uint32_t{c->in[2]} << 16 | uint32_t{c->in[3]} << 24;
        const size_t limit = secure_->Established(c->id) ? limits_.max_message_bytes + kSealedDatagramOverhead
                                                         : 2 + secure::kMaxHandshakeBytes;
        if (size < 2 || size > limit) {
          secure_drop(c, "frame of " + std::to_string(size) + " bytes (at most " + std::to_string(limit) + " now)");
          return false;
        }
        c->need = 4 + size;
        if (c->in.size() < c->need) c->in.resize(c->need);
      }
      if (c->have < c->need) return true;
      const std::span<const uint8_t> envelope(c->in.data() + 4, c->need - 4);
      const auto outcome = secure_->OnEnvelope(c->id, c->source, envelope, &opened_);
      const size_t rest = c->have - c->need;
      std::memmove(c->in.data(), c->in.data() + c->need, rest);
      c->have = rest;
      c->need = 0;
      if (c->in.size() > (1u << 20) && c->have < 4) {
        c->in.resize(4);  // give a large request's buffer back
        c->in.shrink_to_fit();
      }
      if (c->in.size() < 4) c->in.resize(4);
      counters_.Handshakes(secure_->handshakes(), secure_->rate_limited(), secure_->refused());
      if (outcome.action == detail::ServerSessions::Action::kReply) {
        ++pending_;
        c->outbox.push_back(Framed(opened_));
        if (!c->writing) WriteNext(c);
      }
      if (!outcome.dropped.empty()) {  // a stream cannot resynchronise after a bad frame
        secure_drop(c, outcome.dropped);
        return false;
      }
      if (outcome.action != detail::ServerSessions::Action::kDeliver) continue;
      wire::WireLimits limits;
      limits.max_payload_bytes = limits_.max_message_bytes;
      if (auto decoded = wire::DecodeMessage(opened_, limits); !decoded.ok()) {
        Reject("connection " + std::to_string(c->id) + ": " + decoded.status().message());
        Drop(c);
        return false;
      }
      on_message_(c->id, opened_);
    }
  }
  void secure_drop(const ConnectionPtr& c, const std::string& why) {
    counters_.SecurityDrop("connection " + std::to_string(c->id) + ": " + why);
    if (c->outbox.empty()) return Drop(c);
    // A refusal notice is queued: let it go out, then close.
    c->closing = true;
  }
  static std::vector<uint8_t> Framed(std::span<const uint8_t> envelope) {
    std::vector<uint8_t> f(4 + envelope.size());
    const uint32_t n = static_cast<uint32_t>(envelope.size());
    for (int i = 0; i < 4; ++i) f[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
    std::copy(envelope.begin(), envelope.end(), f.begin() + 4);
    return f;
  }
  bool SealFrame(PeerId peer, std::vector<uint8_t>* m) {
    if (!secure_->Seal(peer, *m, &sealed_).ok()) return false;
    *m = Framed(sealed_);
    return true;
  }
  void SweepLater() {
    sweep_timer_.expires_after(std::chrono::milliseconds(100));
    sweep_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      for (PeerId revoked : secure_->Sweep())
        if (auto it = connections_.find(revoked); it != connections_.end()) Drop(ConnectionPtr(it->second));
      SweepLater();
    });
  }

  // Hands every complete message on; false when the connection was dropped.
  bool Parse(const ConnectionPtr& c) {
    if (secure_) return ParseSealed(c);
    wire::WireLimits limits;
    limits.max_payload_bytes = limits_.max_message_bytes;
    for (;;) {
      if (c->need == 0) {
        if (c->have < wire::kMessageFixedHeaderBytes) return true;
        auto size = wire::MessageSizeFromPrefix(std::span<const uint8_t>(c->in.data(), wire::kMessageFixedHeaderBytes), limits);
        if (!size.ok() || *size > limits_.max_message_bytes) {
          Reject("connection " + std::to_string(c->id) + ": " +
                 (size.ok() ? "message of " + std::to_string(*size) + " bytes exceeds the limit" : size.status().message()));
          Drop(c);
          return false;
        }
        c->need = *size;
        if (c->in.size() < c->need) c->in.resize(c->need);
      }
      const size_t body = c->need - wire::kMessageCrcBytes;  // MessageSizeFromPrefix: need > the trailer
      const size_t upto = std::min(c->have, body);
      if (upto > c->crc_done) {
        c->crc = wire::Crc32(std::span<const uint8_t>(c->in.data() + c->crc_done, upto - c->crc_done), c->crc);
        c->crc_done = upto;
      }
      if (c->have < c->need) return true;
      auto decoded = wire::DecodeMessageWithCrc(std::span<const uint8_t>(c->in.data(), c->need), c->crc, limits);
      c->crc = 0;
      c->crc_done = 0;
      if (!decoded.ok()) {  // a stream cannot resynchronise after bad bytes
        Reject("connection " + std::to_string(c->id) + ": " + decoded.status().message());
        Drop(c);
        return false;
      }
      const size_t rest = c->have - c->need;
      std::vector<uint8_t> message;
      if (rest == 0 && c->need >= kSmallestRecycled) {
        // The usual case, one request at a time: hand the buffer itself on
        // and read the next request into a recycled one (no copy).
        message = std::move(c->in);
        message.resize(c->need);
        c->in = TakeRecycled();
      } else {
        message.assign(c->in.begin(), c->in.begin() + static_cast<std::ptrdiff_t>(c->need));
        std::memmove(c->in.data(), c->in.data() + c->need, rest);
      }
      c->have = rest;
      c->need = 0;
      if (c->in.size() > (1u << 20) && c->have < wire::kMessageFixedHeaderBytes) {
        c->in.resize(wire::kMessageFixedHeaderBytes);  // give a large request's buffer back
        c->in.shrink_to_fit();
      }
      if (c->in.size() < wire::kMessageFixedHeaderBytes) c->in.resize(wire::kMessageFixedHeaderBytes);
      on_message_(c->id, std::move(message));
    }
  }

  // A recycled buffer (its size kept: growing a vector zero-fills), or a
  // header-sized new one.
  std::vector<uint8_t> TakeRecycled() {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_.empty()) return std::vector<uint8_t>(wire::kMessageFixedHeaderBytes);
    std::vector<uint8_t> b = std::move(pool_.back());
    pool_.pop_back();
    return b;
  }

  void WriteNext(const ConnectionPtr& c) {
    if (c->outbox.empty() || !c->open) {
      c->writing = false;
      return;
    }
    c->writing = true;
    asio::async_write(c->socket, asio::buffer(c->outbox.front()), [this, c](const asio::error_code& ec, size_t) {
      c->outbox.pop_front();
      --pending_;
      if (ec) {
        CountFailedReply();
        Drop(c);
        return;
      }
      if (c->closing && c->outbox.empty()) {
        c->writing = false;
        Drop(c);
        return;
      }
      WriteNext(c);
    });
  }

  void Close(Connection& c) {
    if (!c.open) return;
    c.open = false;
    asio::error_code ignored;
    c.timer.cancel();
    c.socket.shutdown(tcp::socket::shutdown_both, ignored);
    c.socket.close(ignored);
  }
  void Drop(const ConnectionPtr& c) {
    Close(*c);
    for (size_t i = c->writing ? 1 : 0; i < c->outbox.size(); ++i) {
      --pending_;
      CountFailedReply();
    }
    c->outbox.resize(c->writing && !c->outbox.empty() ? 1 : 0);
    if (secure_) secure_->Forget(c->id);
    connections_.erase(c->id);  // may destroy *c when `c` refers to the map's own pointer
    connection_count_ = static_cast<int64_t>(connections_.size());
  }

  ChannelOptions options_;
  ServerLimits limits_;
  OnMessage on_message_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::map<PeerId, ConnectionPtr> connections_;  // I/O thread only
  PeerId next_id_ = 1;
  std::atomic<int64_t> connection_count_{0};
  std::atomic<int64_t> pending_{0};
  detail::ServerStatsCounter counters_;
  std::unique_ptr<detail::ServerSessions> secure_;  // I/O thread only; null: plain
  std::vector<uint8_t> opened_, sealed_;
  // Buffers given back by Recycle (kRecycledBuffers at most); smaller ones are not worth keeping.
  static constexpr size_t kSmallestRecycled = 64 * 1024;
  std::mutex pool_mutex_;
  std::vector<std::vector<uint8_t>> pool_;
  asio::steady_timer sweep_timer_{io_};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<ServerTransport>> CreateStreamServer(const ChannelOptions& options, const Endpoint& local,
                                                            const ServerLimits& limits, ServerTransport::OnMessage on_message) {
  auto server = std::make_unique<StreamServer>(options, limits, std::move(on_message));
  ES_RETURN_IF_ERROR(server->Start(local));
  return std::unique_ptr<ServerTransport>(std::move(server));
}

Result<std::unique_ptr<ServerTransport>> CreateSecureStreamServer(const ChannelOptions& options, const Endpoint& local,
                                                                  const ServerLimits& limits, const LinkSecurity& security,
                                                                  ServerTransport::OnMessage on_message) {
  auto server = std::make_unique<StreamServer>(options, limits, std::move(on_message), &security);
  ES_RETURN_IF_ERROR(server->Start(local));
  return std::unique_ptr<ServerTransport>(std::move(server));
}

}  // namespace edgesplit::net
