// Messages over TCP: a wire message is self-delimiting, so the reader takes its
// fixed header, asks wire for the whole size and reads the rest.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <atomic>
#include <thread>

#include "edgesplit/net.h"
#include "edgesplit/wire.h"
#include "message_queue.h"

namespace edgesplit::net {
namespace {

class StreamSender final : public MessageSender {
 public:
  StreamSender(const ChannelOptions& options, const Endpoint& peer) : MessageSender(peer), options_(options) {}

  Status Send(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline, SendReport* report) override {
    const auto t0 = Clock::now();
    // One reconnect: the peer may have restarted since the last request.
    for (int attempt = 0;; ++attempt) {
      if (!stream_) {
        auto s = TcpStream::Connect(peer_, deadline);
        if (!s.ok()) return s.status().WithContext("request " + std::to_string(request_id));
        stream_ = std::move(s).value();
        if (options_.shaper.enabled) stream_->SetPacing(options_.shaper, options_.datagram_bytes);
      }
      const Status s = stream_->WriteAll(message, deadline);
      if (s.ok()) break;
      stream_.reset();
      if (attempt == 1 || Clock::now() >= deadline) return s.WithContext("request " + std::to_string(request_id) + " to " + peer_.ToString());
    }
    if (report) {
      const int64_t chunk = std::max<int64_t>(1, options_.datagram_bytes);
      report->message_bytes = static_cast<int64_t>(message.size());
      report->fragments = (report->message_bytes + chunk - 1) / chunk;
      report->retransmissions = stream_->retransmitted_segments() - last_retransmits_;
      last_retransmits_ = stream_->retransmitted_segments();
      report->dropped = 0;
      report->transfer_s = SecondsSince(t0);
    }
    return Status::Ok();
  }

 private:
  ChannelOptions options_;
  std::unique_ptr<TcpStream> stream_;
  int64_t last_retransmits_ = 0;
};

class StreamReceiver final : public MessageReceiver {
 public:
  StreamReceiver(const ChannelOptions& options, std::unique_ptr<TcpListener> listener)
      : options_(options), listener_(std::move(listener)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StreamReceiver() override {
    stop_ = true;
    thread_.join();
  }
  Endpoint local_endpoint() const override { return listener_->local_endpoint(); }
  Result<std::optional<std::vector<uint8_t>>> Receive(Deadline deadline) override { return queue_.Pop(deadline); }
  int64_t rejected() const override { return queue_.rejected(); }
  std::string last_rejection() const override { return queue_.last_rejection(); }

 private:
  void Loop() {
    while (!stop_) {
      auto accepted = listener_->Accept(DeadlineIn(0.02));
      if (!accepted.ok() || !accepted->has_value()) continue;
      std::unique_ptr<TcpStream> stream = std::move(**accepted);
      while (!stop_ && ReadOne(*stream)) {
      }
    }
  }

  // One message from `stream`; false when the connection is finished (closed,
  // broken or sending garbage: a stream cannot resynchronise after bad bytes).
  bool ReadOne(TcpStream& stream) {
    wire::WireLimits limits;
    limits.max_payload_bytes = options_.max_message_bytes;
    std::vector<uint8_t> message(wire::kMessageFixedHeaderBytes);
    // Wait for the first byte in short steps (to notice stop_), then give the
    // rest of the message a generous deadline: a paced BLE message takes seconds.
    for (;;) {
      if (stop_) return false;
      auto first = stream.ReadExact(std::span<uint8_t>(message.data(), 1), DeadlineIn(0.02));
      if (first.ok() && !*first) return false;  // peer closed
      if (first.ok()) break;
      if (first.status().message().find("timed out") == std::string::npos) return false;
    }
    auto rest = stream.ReadExact(std::span<uint8_t>(message.data() + 1, message.size() - 1), DeadlineIn(kMessageSeconds));
    if (!rest.ok() || !*rest) {
      queue_.Reject(rest.ok() ? "stream ended inside a message header" : rest.status().message());
      return false;
    }
    auto size = wire::MessageSizeFromPrefix(message, limits);
    if (!size.ok()) {
      queue_.Reject(size.status().message());
      return false;
    }
    message.resize(*size);
    auto body = stream.ReadExact(std::span<uint8_t>(message.data() + wire::kMessageFixedHeaderBytes,
                                                    message.size() - wire::kMessageFixedHeaderBytes),
                                 DeadlineIn(kMessageSeconds));
    if (!body.ok() || !*body) {
      queue_.Reject(body.ok() ? "stream ended inside a message" : body.status().message());
      return false;
    }
    auto decoded = wire::DecodeMessage(message, limits);
    if (!decoded.ok()) {
      queue_.Reject(decoded.status().message());
      return false;
    }
    queue_.Push(std::move(message));
    return true;
  }

  static constexpr double kMessageSeconds = 120;
  ChannelOptions options_;
  std::unique_ptr<TcpListener> listener_;
  detail::MessageQueue queue_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<MessageSender>> CreateDatagramSender(const ChannelOptions& options, const Endpoint& peer);
Result<std::unique_ptr<MessageReceiver>> CreateDatagramReceiver(const ChannelOptions& options, const Endpoint& local);

Result<std::unique_ptr<MessageSender>> MessageSender::Create(const ChannelOptions& options, const Endpoint& peer) {
  if (IsDatagram(options.kind)) return CreateDatagramSender(options, peer);
  return std::unique_ptr<MessageSender>(new StreamSender(options, peer));
}

Result<std::unique_ptr<MessageReceiver>> MessageReceiver::Create(const ChannelOptions& options, const Endpoint& local) {
  if (IsDatagram(options.kind)) return CreateDatagramReceiver(options, local);
  ES_ASSIGN_OR_RETURN(std::unique_ptr<TcpListener> listener, TcpListener::Listen(local));
  return std::unique_ptr<MessageReceiver>(new StreamReceiver(options, std::move(listener)));
}

}  // namespace edgesplit::net
