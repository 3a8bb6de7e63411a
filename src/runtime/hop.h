// One hop of a static chain on the edge server's transport (net_server.h,
// secure_transport.h): the receiving end is a ServerTransport (per-sender
// reassembly, limits, sealed sessions when keyed), the sending end a
// RequestClient. The receiver answers every tensor or error it takes with a
// small "accepted" reply (a kPong of no payload) at once, from the transport's
// I/O thread, so a sender's Send returns when the hop is delivered, as an
// acknowledgement would, while the receiver computes. The result itself goes
// on down the chain (the last node sends it to the client the same way): a
// chain's topology and timing stay those of its links (docs/runtime.md).
//
// Pings are answered with their pong by the receiver and go no further.
// Replays: each sender (a datagram address or a TCP connection) has its own
// window of request ids (wire::ReplayWindow), so a replayed id is taken once
// and a sender that jumps its ids ahead locks only itself out.
// Thread-safety: HopReceiver's Pop/Reply/stats from any one thread (the
// callback runs on the transport's I/O thread); HopSender: one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "edgesplit/net_server.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/wire.h"

namespace edgesplit::runtime {

// What a hop's receiver took: a whole CRC-checked wire message and its sender,
// or (`rejected` set, no bytes) a message it refused before anyone computed.
struct HopMessage {
  net::PeerId peer = 0;
  std::vector<uint8_t> bytes;
  std::string rejected;
  bool answered = false;  // the receiver replied already (tensors; delivery data chunks)
};

// The reply that says "taken": a kPong with no payload for `request_id`.
std::vector<uint8_t> AcceptedMessage(uint32_t request_id);

// A hop's receiving transport's limits: its timeouts stretched to
// `request_timeout_s` (a slow emulated link may take a request's whole budget
// to move one message), messages above `max_message_bytes` (0: the
// transport's default) refused.
net::ServerLimits HopLimits(double request_timeout_s, uint32_t max_message_bytes);
// A hop's receiving transport on `local`: `channel`'s transport and framing,
// its replies (acceptances, delivery acks) unshaped and lossless like a
// link's acknowledgements, sealed with `security`. What HopReceiver and a
// node (node.cc) listen on.
Result<std::unique_ptr<net::ServerTransport>> CreateHopTransport(const net::ChannelOptions& channel, const net::Endpoint& local,
                                                                const std::optional<net::LinkSecurity>& security,
                                                                const net::ServerLimits& limits,
                                                                net::ServerTransport::OnMessage on_message);

// The checks every hop makes on its transport's I/O thread before anything
// is queued: the bytes decode as a message and its id is fresh from this
// sender (each sender its own wire::ReplayWindow); a ping is answered here
// and goes no further. I/O thread only.
class HopGate {
 public:
  enum class Verdict { kPass, kAnswered, kRejected };
  // kPass: *message is the decoded message (its payload points into `bytes`);
  // kRejected: *why says what was refused; kAnswered: a ping, answered.
  Verdict Check(net::ServerTransport& transport, net::PeerId peer, std::span<const uint8_t> bytes,
                wire::DecodedMessage* message, std::string* why);

 private:
  std::unordered_map<net::PeerId, wire::ReplayWindow> windows_;
};

// Whether `message` is answered "accepted" as soon as it is taken: tensors,
// errors and a delivery's data chunks. A delivery's manifest and end chunks
// are answered once handled (with its verdict, or "go on"); a refusal a data
// chunk causes is the answer to the end chunk, which the coordinator sends
// in any case.
bool AcceptedAtOnce(const wire::DecodedMessage& message);

class HopReceiver {
 public:
  // Listens on `local` with `channel`'s transport and framing. Its replies
  // (acceptances, delivery acks) leave unshaped and lossless, like a link's
  // acknowledgements. `security`: sealed (identity + enrolled senders).
  static Result<std::unique_ptr<HopReceiver>> Create(const net::ChannelOptions& channel, const net::Endpoint& local,
                                                     const std::optional<net::LinkSecurity>& security, double request_timeout_s);
  ~HopReceiver();
  net::Endpoint local_endpoint() const { return transport_->local_endpoint(); }
  // The next message or refusal by `deadline`; nullopt on timeout.
  std::optional<HopMessage> Pop(net::Deadline deadline);
  // A reply to `peer` (delivery acks; tensors were answered already).
  void Reply(net::PeerId peer, std::vector<uint8_t> message, uint32_t request_id) {
    transport_->Reply(peer, std::move(message), request_id);
  }
  net::ServerStats stats() const { return transport_->stats(); }

 private:
  HopReceiver() = default;
  void OnMessage(net::PeerId peer, std::vector<uint8_t> bytes);  // I/O thread
  void Push(HopMessage m);

  std::unique_ptr<net::ServerTransport> transport_;
  std::atomic<net::ServerTransport*> live_{nullptr};  // set once transport_ is
  HopGate gate_;  // I/O thread only
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<HopMessage> queue_;
};

class HopSender {
 public:
  // To `peer` over `channel` (shaped as the link says); sealed with `security`
  // (identity + the receiver's public key in server_public).
  static Result<std::unique_ptr<HopSender>> Create(const net::ChannelOptions& channel, const net::Endpoint& peer,
                                                    const std::optional<net::LinkSecurity>& security);
  // Sealed: the handshake now (so it is set-up, not part of a request); plain: nothing.
  Status Connect(net::Deadline deadline) { return client_->Connect(deadline); }
  // Delivers `message` as request `request_id` and waits for the receiver's
  // acceptance. `report` is the transfer (first frame to the final SACK or the
  // last write); `*delivered_at`, if given, is when that transfer ended. An
  // error reply fails with the receiver's message.
  Status Send(std::span<const uint8_t> message, uint32_t request_id, net::Deadline deadline, net::SendReport* report,
              net::Clock::time_point* delivered_at = nullptr);
  // The receiver's reply as it is (delivery chunks are answered with acks).
  Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, net::Deadline deadline,
                                    net::SendReport* report);
  const net::Endpoint& peer() const { return client_->server(); }

 private:
  std::unique_ptr<net::RequestClient> client_;
};

}  // namespace edgesplit::runtime
