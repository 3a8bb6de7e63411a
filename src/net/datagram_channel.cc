// Reliable messages over UDP datagrams: wire's fragment ARQ driven by real
// clocks, the sender paced (and its frames lost) by the link shaper.
#include <algorithm>
#include <atomic>
#include <thread>

#include "edgesplit/net.h"
#include "edgesplit/wire.h"
#include "message_queue.h"

namespace edgesplit::net {
namespace {

using detail::FromUs;
using detail::NowUs;

class DatagramSender final : public MessageSender {
 public:
  DatagramSender(const ChannelOptions& options, const Endpoint& peer, std::unique_ptr<DatagramSocket> socket)
      : MessageSender(peer), options_(options), socket_(std::move(socket)), shaped_(socket_.get(), options.shaper),
        frame_(static_cast<size_t>(options.datagram_bytes)), reply_(wire::kMaxDatagramBytes) {}

  Status Send(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline, SendReport* report) override {
    const size_t count = wire::FragmentCount(message.size(), frame_.size());
    bitmap_.assign(wire::BitmapBytes(count), 0);
    wire::FragmentSender sender(bitmap_);
    wire::ArqConfig arq;
    arq.datagram_bytes = frame_.size();
    arq.rto_us = static_cast<uint64_t>(options_.rto_s * 1e6);
    arq.max_rounds = static_cast<uint32_t>(options_.max_rounds);
    const auto t0 = Clock::now();
    ES_RETURN_IF_ERROR(sender.Start(message, request_id, arq, NowUs(t0), NowUs(deadline)).WithContext(
        "request " + std::to_string(request_id) + " to " + peer_.ToString()));
    shaped_.BeginMessage();
    const int64_t dropped_before = shaped_.frames_dropped();
    while (!sender.done()) {
      auto due = sender.Poll(NowUs(), frame_);
      if (!due.ok())
        return due.status().WithContext("request " + std::to_string(request_id) + " to " + peer_.ToString());
      if (sender.done()) break;
      if (*due > 0) {
        ES_RETURN_IF_ERROR(shaped_.SendFrame(peer_, std::span<const uint8_t>(frame_.data(), *due)));
        continue;
      }
      const Deadline wake = std::min(FromUs(sender.next_wake_us()), deadline);
      Endpoint from;
      ES_ASSIGN_OR_RETURN(std::optional<size_t> got, socket_->ReceiveFrom(reply_, &from, std::max(wake, Clock::now())));
      if (got) {
        const Status s = sender.OnDatagram(std::span<const uint8_t>(reply_.data(), *got), NowUs());
        // A rejecting SACK ends the request; a corrupt datagram is just ignored.
        if (!s.ok() && !sender.active() && !sender.done())
          return s.WithContext("request " + std::to_string(request_id) + " to " + peer_.ToString());
      }
    }
    if (report) {
      report->message_bytes = static_cast<int64_t>(message.size());
      report->fragments = sender.fragment_count();
      report->retransmissions = static_cast<int64_t>(sender.retransmissions());
      report->dropped = shaped_.frames_dropped() - dropped_before;
      report->transfer_s = SecondsSince(t0);
    }
    return Status::Ok();
  }

 private:
  ChannelOptions options_;
  std::unique_ptr<DatagramSocket> socket_;
  ShapedSender shaped_;
  std::vector<uint8_t> frame_, reply_, bitmap_;
};

class DatagramReceiver final : public MessageReceiver {
 public:
  DatagramReceiver(const ChannelOptions& options, std::unique_ptr<DatagramSocket> socket)
      : socket_(std::move(socket)),
        buffer_(options.max_message_bytes),
        bitmap_(wire::BitmapBytes(wire::FragmentCount(options.max_message_bytes, static_cast<size_t>(options.datagram_bytes)))),
        datagram_(wire::kMaxDatagramBytes),
        reply_(std::max<size_t>(static_cast<size_t>(options.datagram_bytes), 300)) {
    wire::ReassemblerConfig config;
    config.datagram_bytes = static_cast<size_t>(options.datagram_bytes);
    config.limits.max_payload_bytes = options.max_message_bytes;
    reassembler_ = std::make_unique<wire::Reassembler>(buffer_, bitmap_, config);
    thread_ = std::thread([this] { Loop(); });
  }
  ~DatagramReceiver() override {
    stop_ = true;
    thread_.join();
  }
  Endpoint local_endpoint() const override { return socket_->local_endpoint(); }
  Result<std::optional<std::vector<uint8_t>>> Receive(Deadline deadline) override {
    if (failed_.load(std::memory_order_acquire)) return error_;
    return queue_.Pop(deadline);
  }
  int64_t rejected() const override { return queue_.rejected(); }
  std::string last_rejection() const override { return queue_.last_rejection(); }

 private:
  void Loop() {
    while (!stop_) {
      Endpoint from;
      auto got = socket_->ReceiveFrom(datagram_, &from, DeadlineIn(0.02));
      if (!got.ok()) {
        error_ = got.status();
        failed_.store(true, std::memory_order_release);
        return;
      }
      reassembler_->Expire(NowUs());
      if (!got->has_value()) continue;
      const wire::ReceiveResult r =
          reassembler_->OnDatagram(std::span<const uint8_t>(datagram_.data(), **got), NowUs(), reply_);
      if (r.reply_bytes > 0) (void)socket_->SendTo(from, std::span<const uint8_t>(reply_.data(), r.reply_bytes));
      if (r.event == wire::ReceiveEvent::kRejected) queue_.Reject(r.status.message());
      if (r.event == wire::ReceiveEvent::kComplete) {
        const auto m = reassembler_->message();
        queue_.Push(std::vector<uint8_t>(m.begin(), m.end()));
      }
    }
  }

  std::unique_ptr<DatagramSocket> socket_;
  std::vector<uint8_t> buffer_, bitmap_, datagram_, reply_;
  std::unique_ptr<wire::Reassembler> reassembler_;
  detail::MessageQueue queue_;
  Status error_;  // written by the thread before it sets failed_ and exits
  std::atomic<bool> failed_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<MessageSender>> CreateDatagramSender(const ChannelOptions& options, const Endpoint& peer) {
  if (options.datagram_bytes <= static_cast<int64_t>(wire::kFragmentHeaderBytes) ||
      options.datagram_bytes > static_cast<int64_t>(wire::kMaxDatagramBytes))
    return InvalidArgument("datagram payload of " + std::to_string(options.datagram_bytes) + " bytes is outside " +
                           std::to_string(wire::kFragmentHeaderBytes + 1) + ".." + std::to_string(wire::kMaxDatagramBytes));
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DatagramSocket> socket, DatagramSocket::Bind({peer.host, 0}));
  return std::unique_ptr<MessageSender>(new DatagramSender(options, peer, std::move(socket)));
}

Result<std::unique_ptr<MessageReceiver>> CreateDatagramReceiver(const ChannelOptions& options, const Endpoint& local) {
  if (options.datagram_bytes <= static_cast<int64_t>(wire::kFragmentHeaderBytes) ||
      options.datagram_bytes > static_cast<int64_t>(wire::kMaxDatagramBytes))
    return InvalidArgument("datagram payload of " + std::to_string(options.datagram_bytes) + " bytes is out of range");
  // The fragment count and the 24-bit length bound what one message can be.
  ChannelOptions o = options;
  const uint64_t by_fragments = uint64_t{wire::kMaxFragments} * wire::FragmentPayloadBytes(static_cast<size_t>(o.datagram_bytes));
  o.max_message_bytes = static_cast<uint32_t>(std::min<uint64_t>({o.max_message_bytes, by_fragments, wire::kMaxMessageBytes}));
  ES_ASSIGN_OR_RETURN(std::unique_ptr<DatagramSocket> socket, DatagramSocket::Bind(local));
  return std::unique_ptr<MessageReceiver>(new DatagramReceiver(o, std::move(socket)));
}

}  // namespace edgesplit::net
