// Transports (module `net`, Asio): how messages move between the processes of
// a split-inference chain on one Linux host.
//
//  * Links: `udp` uses 1460-byte datagram payloads (as the ESP32 sketches
//    did); the radios that do not exist here are emulated over loopback
//    datagrams with their real framing limits: `espnow` 250 B, `espnow-v2`
//    1470 B, `ble` ATT MTU - 3 bytes per write; `tcp` is a real TCP stream.
//  * Shaping (ShaperConfig): a sender's frames take the link profile's time
//    (per-message latency, per-frame airtime, byte rate, BLE connection
//    events) and are dropped at the profile's (or an override) loss rate, from
//    a seeded generator. Times are multiplied by `time_scale`, so tests can run
//    a 3.6 s emulated round trip in tens of milliseconds. TCP is paced without
//    loss (TCP loss is real: scripts/netns.sh + netem).
//  * MessageSender / MessageReceiver: reliable messages over a transport. The
//    sockets and the shaper under them are the module's own (src/net/sockets.h).
//
// Every blocking call takes a deadline and returns by it: a timeout is a
// Result holding std::nullopt (receive) or a failed Status naming what timed
// out (send). Errors are Status values naming the endpoint and the OS error;
// nothing throws out of this module.
//
// Thread-safety: an object is used by one thread at a time (each owns its own
// asio::io_context). Different objects may be used from different threads.
// Ownership: objects own their sockets; they close them on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgesplit/cost.h"
#include "edgesplit/status.h"

namespace edgesplit::net {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// A deadline `seconds` from now.
Deadline DeadlineIn(double seconds);
double SecondsUntil(Deadline deadline);  // <= 0 once passed
double SecondsSince(Clock::time_point t);

// An IPv4 address and port: "127.0.0.1:5000" (a bare port means 127.0.0.1).
// Port 0 asks the OS for a free port when binding.
struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};
Result<Endpoint> ParseEndpoint(const std::string& text);

// The radio a link profile's `transport` names and its framing limit.
enum class TransportKind : uint8_t { kUdp, kTcp, kEspNow, kBle };
const char* TransportKindName(TransportKind kind);  // "udp", "tcp", "espnow", "ble"
Result<TransportKind> ParseTransportKind(const std::string& name);
inline bool IsDatagram(TransportKind kind) { return kind != TransportKind::kTcp; }

// UDP payload used by the `udp` transport: 1460 B, as the paper's sketches sent.
inline constexpr int64_t kUdpPayloadBytes = 1460;
// Payload bytes of one radio frame for `link`: udp 1460; espnow the profile's
// payload_bytes (250, or 1470 for espnow-v2); ble att_mtu - 3; tcp the MSS.
int64_t FramePayloadBytes(const LinkProfile& link, TransportKind kind);

// ---- Link shaper ------------------------------------------------------------
struct ShaperConfig {
  bool enabled = false;          // disabled: frames leave at once, nothing dropped
  double per_message_s = 0;      // once per message, before its first frame
  double per_frame_s = 0;        // per frame (preamble, ACK, backoff)
  double bytes_per_s = 0;        // payload airtime; 0 = unlimited
  int frames_per_interval = 0;   // BLE: writes per connection event; 0 = no events
  double interval_s = 0;         // BLE connection interval
  double loss = 0;               // frame drop probability in [0, 1)
  double time_scale = 1;         // every duration is multiplied by this
  uint64_t seed = 1;
};

// The shaper for `link` (loss < 0 keeps the profile's loss). BLE profiles give
// connection_interval_s and writes_per_connection_interval (extra profile keys
// read by LoadShaperExtras).
ShaperConfig ShaperForLink(const LinkProfile& link, double time_scale, double loss, uint64_t seed);

// BLE connection-event fields that the planner's LinkProfile does not carry,
// read from the same profile file; zeros when absent or not BLE.
struct LinkExtras {
  int att_mtu = 0;
  double connection_interval_s = 0;
  int writes_per_connection_interval = 0;
};
Result<LinkExtras> LoadLinkExtras(const std::string& profiles_dir, const std::string& link_name);
void ApplyLinkExtras(const LinkExtras& extras, ShaperConfig* config);

// Sleeps until `t` (returns at once when it has passed).
void SleepUntil(Clock::time_point t);

// ---- Reliable messages over a transport ----------------------------------------
// A message is one encoded wire message (edgesplit/wire.h). Over datagram
// transports it crosses as wire fragments of `datagram_bytes`, driven by
// wire::FragmentSender / wire::Reassembler (selective ACK, bounded rounds,
// deadline); the sender's frames go through its shaper (pacing and loss; SACKs
// travel back unshaped and lossless, like ESP-NOW's MAC ACK inside per_frame_s).
// Over TCP a message is written as it is and read back with
// wire::MessageSizeFromPrefix.
struct ChannelOptions {
  TransportKind kind = TransportKind::kUdp;
  int64_t datagram_bytes = kUdpPayloadBytes;  // one radio frame's payload (TCP: the pacing chunk)
  ShaperConfig shaper;                         // the sender's pacing and loss
  double rto_s = 0.05;                         // wait for a SACK after a round
  int max_rounds = 24;                         // transmission rounds before giving up
  uint32_t max_message_bytes = 16u << 20;      // larger messages are rejected by the receiver
};

struct SendReport {
  int64_t message_bytes = 0;
  int64_t fragments = 0;        // datagrams of one full transmission (TCP: pacing chunks)
  int64_t retransmissions = 0;  // datagrams sent again (TCP: the kernel's retransmitted segments)
  int64_t dropped = 0;          // frames the shaper's emulated medium lost
  double transfer_s = 0;        // wall seconds from the first frame to the final SACK / last write
};

// Sends messages to one peer. Not thread-safe.
class MessageSender {
 public:
  // Datagram kinds bind an ephemeral UDP port now; TCP connects on the first Send.
  static Result<std::unique_ptr<MessageSender>> Create(const ChannelOptions& options, const Endpoint& peer);
  virtual ~MessageSender() = default;
  // Delivers `message` as request `request_id` by `deadline`, or fails saying
  // why (DeadlineExceeded when the rounds or the time ran out, IoError...).
  virtual Status Send(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline, SendReport* report) = 0;
  const Endpoint& peer() const { return peer_; }

 protected:
  explicit MessageSender(const Endpoint& peer) : peer_(peer) {}
  Endpoint peer_;
};

// Receives messages on a local address. A background thread acknowledges and
// reassembles (datagrams) or reads (TCP) while the owner computes, and queues
// complete messages. Receive may be called from one thread; the destructor
// stops and joins the background thread.
class MessageReceiver {
 public:
  static Result<std::unique_ptr<MessageReceiver>> Create(const ChannelOptions& options, const Endpoint& local);
  virtual ~MessageReceiver() = default;
  virtual Endpoint local_endpoint() const = 0;
  // The next complete message (CRC-checked, not yet decoded) by `deadline`;
  // nullopt on timeout.
  virtual Result<std::optional<std::vector<uint8_t>>> Receive(Deadline deadline) = 0;
  // Datagrams or streams refused so far (corrupt, replayed, oversized...) and the last reason.
  virtual int64_t rejected() const = 0;
  virtual std::string last_rejection() const = 0;
};

}  // namespace edgesplit::net
