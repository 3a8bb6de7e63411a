// A device's end of the edge server: one request out, its reply back, over
// one UDP socket (fragment ARQ both ways) or one TCP connection.
#include <algorithm>

#include "edgesplit/net_server.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/wire.h"
#include "message_queue.h"
#include "secure_session.h"

namespace edgesplit::net {
namespace {

using detail::FromUs;
using detail::NowUs;

std::string Where(uint32_t id, const Endpoint& server) {
  return "request " + std::to_string(id) + " to " + server.ToString();
}

class DatagramClient final : public RequestClient {
 public:
  // `security`: sealed (options.datagram_bytes is then the inner size); null: plain.
  DatagramClient(const ChannelOptions& options, const Endpoint& server, std::unique_ptr<DatagramSocket> socket,
                 const LinkSecurity* security = nullptr)
      : options_(options), server_(server), socket_(std::move(socket)), shaped_(socket_.get(), options.shaper),
        frame_(static_cast<size_t>(options.datagram_bytes)), datagram_(wire::kMaxDatagramBytes),
        sack_(std::max<size_t>(static_cast<size_t>(options.datagram_bytes), 300)),
        reply_buffer_(options.max_message_bytes),
        reply_bitmap_(wire::BitmapBytes(wire::FragmentCount(options.max_message_bytes, frame_.size()))) {
    wire::ReassemblerConfig config;
    config.datagram_bytes = frame_.size();
    config.limits.max_payload_bytes = options.max_message_bytes;
    rx_ = std::make_unique<wire::Reassembler>(reply_buffer_, reply_bitmap_, config);
    if (security) {
      session_ = std::make_unique<detail::ClientSession>(*security);
      opened_.reserve(wire::kMaxDatagramBytes);
    }
  }
  const Endpoint& server() const override { return server_; }

  Status Connect(Deadline deadline) override {
    if (!session_ || (session_->established() && !session_->needs_rekey())) return Status::Ok();
    return Handshake(deadline);
  }

  Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                    CallReport* report) override {
    if (!session_) return CallOnce(message, request_id, deadline, report);
    for (int attempt = 0;; ++attempt) {  // the server lost our session (restart, re-key): handshake, send again
      ES_RETURN_IF_ERROR(Connect(deadline).WithContext(Where(request_id, server_)));
      auto reply = CallOnce(message, request_id, deadline, report);
      if (reply.ok() || session_->established() || attempt == 2) return reply;
    }
  }

 private:
  // Sends one datagram: sealed under the session when secure.
  Status Send(const Endpoint& to, std::span<const uint8_t> d, bool shaped) {
    if (session_) {
      ES_RETURN_IF_ERROR(session_->Seal(d, &sealed_));
      d = sealed_;
    }
    return shaped ? shaped_.SendFrame(to, d) : socket_->SendTo(to, d);
  }

  // The handshake, retransmitted until answered, refused, or expired (10 s).
  Status Handshake(Deadline deadline) {
    std::vector<uint8_t> out = session_->Start();
    shaped_.BeginMessage();
    ES_RETURN_IF_ERROR(shaped_.SendFrame(server_, out));
    for (;;) {
      ES_ASSIGN_OR_RETURN(std::vector<uint8_t> again, session_->Poll());
      if (!again.empty()) ES_RETURN_IF_ERROR(shaped_.SendFrame(server_, again));
      if (Clock::now() >= deadline) return DeadlineExceeded("handshake with " + server_.ToString() + " not done before the deadline");
      Endpoint from;
      const Deadline wake = std::min(deadline, Clock::now() + std::chrono::milliseconds(session_->retransmit_ms()));
      ES_ASSIGN_OR_RETURN(std::optional<size_t> got, socket_->ReceiveFrom(datagram_, &from, wake));
      if (!got || *got == 0) continue;
      ES_ASSIGN_OR_RETURN(detail::ClientSession::Event e,
                          session_->OnEnvelope(std::span<const uint8_t>(datagram_.data(), *got), &opened_));
      if (e == detail::ClientSession::Event::kSend) ES_RETURN_IF_ERROR(shaped_.SendFrame(server_, opened_));
      if (e == detail::ClientSession::Event::kEstablished) return Status::Ok();
    }
  }

  Result<std::vector<uint8_t>> CallOnce(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                        CallReport* report) {
    bitmap_.assign(wire::BitmapBytes(wire::FragmentCount(message.size(), frame_.size())), 0);
    wire::FragmentSender sender(bitmap_);
    wire::ArqConfig arq;
    arq.datagram_bytes = frame_.size();
    arq.rto_us = static_cast<uint64_t>(options_.rto_s * 1e6);
    arq.max_rounds = 1u << 30;  // the deadline decides: a paused server is waited for
    const auto t0 = Clock::now();
    ES_RETURN_IF_ERROR(sender.Start(message, request_id, arq, NowUs(t0), NowUs(deadline)).WithContext(Where(request_id, server_)));
    shaped_.BeginMessage();
    const int64_t dropped_before = shaped_.frames_dropped();
    bool sent = false;
    Clock::time_point reply_started{};
    for (;;) {
      if (!sender.done() && sender.active()) {
        auto due = sender.Poll(NowUs(), frame_);
        if (!due.ok()) return due.status().WithContext(Where(request_id, server_));
        if (*due > 0) {
          ES_RETURN_IF_ERROR(Send(server_, std::span<const uint8_t>(frame_.data(), *due), true));
          continue;
        }
      }
      if (sender.done() && !sent) {
        sent = true;
        if (report) {
          report->request.message_bytes = static_cast<int64_t>(message.size());
          report->request.fragments = sender.fragment_count();
          report->request.retransmissions = static_cast<int64_t>(sender.retransmissions());
          report->request.dropped = shaped_.frames_dropped() - dropped_before;
          report->request.transfer_s = SecondsSince(t0);
        }
      }
      if (Clock::now() >= deadline)
        return DeadlineExceeded(Where(request_id, server_) + ": no reply before the deadline");
      Deadline wake = deadline;
      if (!sender.done()) wake = std::min(wake, FromUs(sender.next_wake_us()));
      Endpoint from;
      ES_ASSIGN_OR_RETURN(std::optional<size_t> got, socket_->ReceiveFrom(datagram_, &from, std::max(wake, Clock::now())));
      if (!got || *got == 0) continue;
      std::span<const uint8_t> d(datagram_.data(), *got);
      if (session_) {  // nothing unauthenticated reaches the ARQ or the reassembler
        ES_ASSIGN_OR_RETURN(detail::ClientSession::Event e, session_->OnEnvelope(d, &opened_));
        if (e == detail::ClientSession::Event::kSessionLost)
          return IoError(Where(request_id, server_) + ": the server lost the session (restart, revocation or re-key)");
        if (e != detail::ClientSession::Event::kDeliver) continue;
        d = opened_;
      }
      auto kind = wire::PeekDatagramKind(d);
      if (!kind.ok()) continue;  // corrupt: the ARQ resends
      if (*kind == wire::DatagramKind::kSack) {
        const Status s = sender.OnDatagram(d, NowUs());
        if (!s.ok() && !sender.active() && !sender.done()) return s.WithContext(Where(request_id, server_));
        continue;
      }
      if (reply_started == Clock::time_point{}) reply_started = Clock::now();
      const wire::ReceiveResult r = rx_->OnDatagram(d, NowUs(), sack_);
      if (r.reply_bytes > 0) (void)Send(from, std::span<const uint8_t>(sack_.data(), r.reply_bytes), false);
      if (r.event == wire::ReceiveEvent::kComplete && r.request_id == request_id) {
        if (report) {
          report->reply_transfer_s = SecondsSince(reply_started);
          if (!sent) {  // the reply implies the request arrived; its last SACK was lost
            report->request.message_bytes = static_cast<int64_t>(message.size());
            report->request.fragments = sender.fragment_count();
            report->request.retransmissions = static_cast<int64_t>(sender.retransmissions());
            report->request.dropped = shaped_.frames_dropped() - dropped_before;
            report->request.transfer_s = SecondsSince(t0);
          }
        }
        const auto m = rx_->message();
        return std::vector<uint8_t>(m.begin(), m.end());
      }
    }
  }

  ChannelOptions options_;
  Endpoint server_;
  std::unique_ptr<DatagramSocket> socket_;
  ShapedSender shaped_;
  std::vector<uint8_t> frame_, datagram_, sack_, bitmap_, reply_buffer_, reply_bitmap_;
  std::unique_ptr<wire::Reassembler> rx_;
  std::unique_ptr<detail::ClientSession> session_;  // null: plain
  std::vector<uint8_t> opened_, sealed_;
};

class StreamClient final : public RequestClient {
 public:
  // `security`: one handshake per connection, every frame sealed; null: plain.
  StreamClient(const ChannelOptions& options, const Endpoint& server, const LinkSecurity* security = nullptr)
      : options_(options), server_(server) {
    if (security) session_ = std::make_unique<detail::ClientSession>(*security);
  }
  const Endpoint& server() const override { return server_; }
  int64_t suppressed_duplicates() const override { return suppressed_; }
  Status Connect(Deadline deadline) override {
    if (stream_ && (!session_ || !session_->needs_rekey())) return Status::Ok();
    stream_.reset();
    auto s = TcpStream::Connect(server_, deadline);
    if (!s.ok()) return s.status();
    stream_ = std::move(s).value();
    last_retransmits_ = 0;
    if (options_.shaper.enabled) stream_->SetPacing(options_.shaper, options_.datagram_bytes);
    if (!session_) return Status::Ok();
    const Status h = Handshake(std::min(deadline, Clock::now() + std::chrono::seconds(10)));
    if (!h.ok()) stream_.reset();
    return h;
  }

  Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                    CallReport* report) override {
    for (int round = 0;; ++round) {  // sealed: a connection the server closed (revocation, restart) gets a new handshake
      auto reply = CallOnce(message, request_id, deadline, report);
      if (reply.ok() || !session_ || round == 1 || reply.status().code() != StatusCode::kIoError || Clock::now() >= deadline)
        return reply;
    }
  }

 private:
  Result<std::vector<uint8_t>> CallOnce(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                        CallReport* report) {
    const auto t0 = Clock::now();
    for (int attempt = 0;; ++attempt) {  // one reconnect: the server may have restarted since the last call
      ES_RETURN_IF_ERROR(Connect(deadline).WithContext(Where(request_id, server_)));
      const Status s = WriteFrame(message, deadline);
      if (s.ok()) break;
      stream_.reset();
      if (attempt == 1 || Clock::now() >= deadline) return s.WithContext(Where(request_id, server_));
    }
    if (report) {  // as MessageSender reports TCP: pacing chunks, the kernel's retransmitted segments
      const int64_t chunk = std::max<int64_t>(1, options_.datagram_bytes);
      report->request.message_bytes = static_cast<int64_t>(message.size());
      report->request.fragments = (report->request.message_bytes + chunk - 1) / chunk;
      report->request.retransmissions = stream_->retransmitted_segments() - last_retransmits_;
      report->request.transfer_s = SecondsSince(t0);
    }
    last_retransmits_ = stream_->retransmitted_segments();
    // Replies to earlier, abandoned requests may still arrive: skip them.
    for (;;) {
      auto reply = ReadMessage(deadline);
      if (!reply.ok()) {
        stream_.reset();
        return reply.status().WithContext(Where(request_id, server_));
      }
      auto decoded = wire::DecodeMessage(*reply);
      if (decoded.ok() && decoded->header.request_id == request_id) return std::move(reply).value();
      ++suppressed_;
    }
  }

  // Sealed frames: 4-byte length (little-endian), envelope.
  Status WriteFrame(std::span<const uint8_t> message, Deadline deadline) {
    if (!session_) return stream_->WriteAll(message, deadline);
    ES_RETURN_IF_ERROR(session_->Seal(message, &sealed_));
    return WriteEnvelope(sealed_, deadline);
  }
  Status WriteEnvelope(std::span<const uint8_t> envelope, Deadline deadline) {
    std::vector<uint8_t> f(4 + envelope.size());
    for (int i = 0; i < 4; ++i) f[static_cast<size_t>(i)] = static_cast<uint8_t>(envelope.size() >> (8 * i));
    std::copy(envelope.begin(), envelope.end(), f.begin() + 4);
    return stream_->WriteAll(f, deadline);
  }
  Result<std::vector<uint8_t>> ReadEnvelope(Deadline deadline) {
    uint8_t n[4];
    ES_ASSIGN_OR_RETURN(bool got, stream_->ReadExact(n, deadline));
    if (!got) return IoError("the server closed the connection");
    const uint32_t size = uint32_t{n[0]} | uint32_t{n[1]} << 8 | uint32_t{n[2]} << 16 | uint32_t{n[3]} << 24;
    if (size < 2 || size > options_.max_message_bytes + kSealedDatagramOverhead)
      return InvalidArgument("sealed frame of " + std::to_string(size) + " bytes from the server");
    std::vector<uint8_t> e(size);
    ES_ASSIGN_OR_RETURN(bool rest, stream_->ReadExact(e, deadline));
    if (!rest) return IoError("the server closed the connection inside a frame");
    return e;
  }
  Status Handshake(Deadline deadline) {
    ES_RETURN_IF_ERROR(WriteEnvelope(session_->Start(), deadline));
    for (;;) {
      auto e = ReadEnvelope(deadline);
      if (!e.ok()) return e.status().code() == StatusCode::kDeadlineExceeded
                              ? InvalidArgument("refused: no handshake answer from " + server_.ToString() + " in time")
                              : e.status().WithContext("handshake with " + server_.ToString());
      ES_ASSIGN_OR_RETURN(detail::ClientSession::Event ev, session_->OnEnvelope(*e, &opened_));
      if (ev == detail::ClientSession::Event::kSend) ES_RETURN_IF_ERROR(WriteEnvelope(opened_, deadline));
      if (ev == detail::ClientSession::Event::kEstablished) return Status::Ok();
    }
  }

  Result<std::vector<uint8_t>> ReadMessage(Deadline deadline) {
    if (session_)
      for (;;) {  // only frames that open under the session count
        ES_ASSIGN_OR_RETURN(std::vector<uint8_t> e, ReadEnvelope(deadline));
        ES_ASSIGN_OR_RETURN(detail::ClientSession::Event ev, session_->OnEnvelope(e, &opened_));
        if (ev == detail::ClientSession::Event::kSessionLost) return IoError("the server lost the session");
        if (ev == detail::ClientSession::Event::kDeliver) return opened_;
      }
    wire::WireLimits limits;
    limits.max_payload_bytes = options_.max_message_bytes;
    std::vector<uint8_t> m(wire::kMessageFixedHeaderBytes);
    ES_ASSIGN_OR_RETURN(bool got, stream_->ReadExact(m, deadline));
    if (!got) return IoError("the server closed the connection before replying");
    ES_ASSIGN_OR_RETURN(size_t size, wire::MessageSizeFromPrefix(m, limits));
    m.resize(size);
    ES_ASSIGN_OR_RETURN(bool rest, stream_->ReadExact(std::span<uint8_t>(m.data() + wire::kMessageFixedHeaderBytes,
                                                                         size - wire::kMessageFixedHeaderBytes),
                                                      deadline));
    if (!rest) return IoError("the server closed the connection inside a reply");
    return m;
  }

  ChannelOptions options_;
  Endpoint server_;
  std::unique_ptr<TcpStream> stream_;
  int64_t suppressed_ = 0;  // replies to earlier requests skipped
  int64_t last_retransmits_ = 0;  // the connection's retransmitted segments at the last call
  std::unique_ptr<detail::ClientSession> session_;  // null: plain
  std::vector<uint8_t> opened_, sealed_;
};

}  // namespace

Result<std::unique_ptr<RequestClient>> RequestClient::Create(const ChannelOptions& options, const Endpoint& server) {
  if (!IsDatagram(options.kind)) return std::unique_ptr<RequestClient>(new StreamClient(options, server));
  if (options.datagram_bytes <= static_cast<int64_t>(wire::kFragmentHeaderBytes) ||
      options.datagram_bytes > static_cast<int64_t>(wire::kMaxDatagramBytes))
    return InvalidArgument("datagram payload of " + std::to_string(options.datagram_bytes) + " bytes is out of range");
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DatagramSocket> socket, DatagramSocket::Bind({"0.0.0.0", 0}));
  return std::unique_ptr<RequestClient>(new DatagramClient(options, server, std::move(socket)));
}

Result<std::unique_ptr<RequestClient>> CreateSecureClient(const ChannelOptions& options, const Endpoint& server,
                                                          const LinkSecurity& security) {
  if (!IsDatagram(options.kind)) return std::unique_ptr<RequestClient>(new StreamClient(options, server, &security));
  ChannelOptions inner = options;  // the wire datagrams inside are smaller by the envelope
  inner.datagram_bytes -= static_cast<int64_t>(kSealedDatagramOverhead);
  if (inner.datagram_bytes <= static_cast<int64_t>(wire::kFragmentHeaderBytes) ||
      options.datagram_bytes > static_cast<int64_t>(wire::kMaxDatagramBytes))
    return InvalidArgument("datagram payload of " + std::to_string(options.datagram_bytes) +
                           " bytes is out of range for sealed frames");
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DatagramSocket> socket, DatagramSocket::Bind({"0.0.0.0", 0}));
  return std::unique_ptr<RequestClient>(new DatagramClient(inner, server, std::move(socket), &security));
}

}  // namespace edgesplit::net
