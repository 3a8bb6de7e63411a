// A device's end of the edge server: one request out, its reply back, over
// one UDP socket (fragment ARQ both ways) or one TCP connection.
#include <algorithm>

#include "edgesplit/net_server.h"
#include "edgesplit/wire.h"
#include "message_queue.h"

namespace edgesplit::net {
namespace {

using detail::FromUs;
using detail::NowUs;

std::string Where(uint32_t id, const Endpoint& server) {
  return "request " + std::to_string(id) + " to " + server.ToString();
}

class DatagramClient final : public RequestClient {
 public:
  DatagramClient(const ChannelOptions& options, const Endpoint& server, std::unique_ptr<DatagramSocket> socket)
      : options_(options), server_(server), socket_(std::move(socket)), shaped_(socket_.get(), options.shaper),
        frame_(static_cast<size_t>(options.datagram_bytes)), datagram_(wire::kMaxDatagramBytes),
        sack_(std::max<size_t>(static_cast<size_t>(options.datagram_bytes), 300)),
        reply_buffer_(options.max_message_bytes),
        reply_bitmap_(wire::BitmapBytes(wire::FragmentCount(options.max_message_bytes, frame_.size()))) {
    wire::ReassemblerConfig config;
    config.datagram_bytes = frame_.size();
    config.limits.max_payload_bytes = options.max_message_bytes;
    rx_ = std::make_unique<wire::Reassembler>(reply_buffer_, reply_bitmap_, config);
  }
  const Endpoint& server() const override { return server_; }

  Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                    CallReport* report) override {
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
          ES_RETURN_IF_ERROR(shaped_.SendFrame(server_, std::span<const uint8_t>(frame_.data(), *due)));
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
      const std::span<const uint8_t> d(datagram_.data(), *got);
      auto kind = wire::PeekDatagramKind(d);
      if (!kind.ok()) continue;  // corrupt: the ARQ resends
      if (*kind == wire::DatagramKind::kSack) {
        const Status s = sender.OnDatagram(d, NowUs());
        if (!s.ok() && !sender.active() && !sender.done()) return s.WithContext(Where(request_id, server_));
        continue;
      }
      if (reply_started == Clock::time_point{}) reply_started = Clock::now();
      const wire::ReceiveResult r = rx_->OnDatagram(d, NowUs(), sack_);
      if (r.reply_bytes > 0) (void)socket_->SendTo(from, std::span<const uint8_t>(sack_.data(), r.reply_bytes));
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

 private:
  ChannelOptions options_;
  Endpoint server_;
  std::unique_ptr<DatagramSocket> socket_;
  ShapedSender shaped_;
  std::vector<uint8_t> frame_, datagram_, sack_, bitmap_, reply_buffer_, reply_bitmap_;
  std::unique_ptr<wire::Reassembler> rx_;
};

class StreamClient final : public RequestClient {
 public:
  StreamClient(const ChannelOptions& options, const Endpoint& server) : options_(options), server_(server) {}
  const Endpoint& server() const override { return server_; }
  int64_t suppressed_duplicates() const override { return suppressed_; }

  Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                    CallReport* report) override {
    const auto t0 = Clock::now();
    for (int attempt = 0;; ++attempt) {  // one reconnect: the server may have restarted since the last call
      if (!stream_) {
        auto s = TcpStream::Connect(server_, deadline);
        if (!s.ok()) return s.status().WithContext(Where(request_id, server_));
        stream_ = std::move(s).value();
        if (options_.shaper.enabled) stream_->SetPacing(options_.shaper, options_.datagram_bytes);
      }
      const Status s = stream_->WriteAll(message, deadline);
      if (s.ok()) break;
      stream_.reset();
      if (attempt == 1 || Clock::now() >= deadline) return s.WithContext(Where(request_id, server_));
    }
    if (report) {
      report->request.message_bytes = static_cast<int64_t>(message.size());
      report->request.fragments = 1;
      report->request.transfer_s = SecondsSince(t0);
    }
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

 private:
  Result<std::vector<uint8_t>> ReadMessage(Deadline deadline) {
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

}  // namespace edgesplit::net
