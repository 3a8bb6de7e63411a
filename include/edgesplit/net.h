// Transports (module `net`, Asio): how bytes move between the processes of a
// split-inference chain on one Linux host.
//
//  * DatagramSocket: a UDP socket. One datagram = one radio frame. `udp` uses
//    1460-byte payloads (as the ESP32 sketches did); the radios that do not exist
//    here are emulated over loopback datagrams with their real framing limits:
//    `espnow` 250 B, `espnow-v2` 1470 B, `ble` ATT MTU - 3 bytes per write.
//  * LinkShaper: paces a sender's frames so that they take the link profile's
//    time (per-message latency, per-frame airtime, byte rate, BLE connection
//    events) and drops frames at the profile's (or an override) loss rate, from
//    a seeded generator. Times are multiplied by `time_scale`, so tests can run
//    a 3.6 s emulated round trip in tens of milliseconds.
//  * TcpStream / TcpListener: real TCP sockets (TCP_NODELAY), optionally paced by
//    a shaper without loss (TCP loss is real: scripts/netns.sh + netem).
//
// Every blocking call takes a deadline and returns by it: a timeout is a
// Result holding std::nullopt (receive/accept) or a failed Status naming what
// timed out (send/connect). Errors are Status values naming the endpoint and
// the OS error; nothing throws out of this module.
//
// Thread-safety: an object is used by one thread at a time (each owns its own
// asio::io_context). Different objects may be used from different threads.
// Ownership: objects own their sockets; they close them on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
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

// Decides when each frame of a sender may leave and whether the medium loses
// it. Pure bookkeeping (no sleeping, no sockets): the caller sleeps until
// Release(). Not thread-safe; one per sender.
class LinkShaper {
 public:
  explicit LinkShaper(const ShaperConfig& config);
  const ShaperConfig& config() const { return config_; }
  // Starts a message: the next frame waits per_message_s more.
  void BeginMessage(Clock::time_point now);
  // The time frame of `bytes` payload may leave; the medium is busy until then.
  Clock::time_point Release(Clock::time_point now, int64_t bytes);
  // Whether the medium loses the frame just released (seeded draw).
  bool Drop();
  // Unscaled seconds one message of `bytes` in `frames` frames takes (for tests).
  double MessageSeconds(int64_t bytes, int64_t frames) const;

 private:
  ShaperConfig config_;
  Clock::time_point busy_until_{};
  Clock::time_point event_start_{};
  int frames_in_event_ = 0;
  bool message_pending_ = false;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
};

// Sleeps until `t` (returns at once when it has passed).
void SleepUntil(Clock::time_point t);

// ---- UDP ----------------------------------------------------------------------
class DatagramSocket {
 public:
  // Binds to `local` (port 0: any free port). Fails naming the endpoint.
  static Result<std::unique_ptr<DatagramSocket>> Bind(const Endpoint& local);
  ~DatagramSocket();
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;

  Endpoint local_endpoint() const;
  // Sends one datagram now (unshaped).
  Status SendTo(const Endpoint& to, std::span<const uint8_t> bytes);
  // Receives one datagram into `buffer` by `deadline`: its size, or nullopt on
  // timeout. A datagram larger than `buffer` is truncated (size = buffer size).
  Result<std::optional<size_t>> ReceiveFrom(std::span<uint8_t> buffer, Endpoint* from, Deadline deadline);

  // A server's fast path (no event loop, no address text per datagram): an
  // IPv4 sender as numbers, host byte order.
  struct Ipv4Address {
    uint32_t address = 0;
    uint16_t port = 0;
  };
  // Non-blocking: one datagram already queued on the socket (its size), or
  // nullopt when none is. Truncation as ReceiveFrom.
  Result<std::optional<size_t>> TryReceiveFrom(std::span<uint8_t> buffer, Ipv4Address* from);
  Status SendTo(const Ipv4Address& to, std::span<const uint8_t> bytes);

 private:
  struct Impl;
  explicit DatagramSocket(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A DatagramSocket whose sends go through a LinkShaper: SendFrame sleeps until
// the frame's release time, then sends it unless the shaper drops it.
class ShapedSender {
 public:
  ShapedSender(DatagramSocket* socket, const ShaperConfig& config) : socket_(socket), shaper_(config) {}
  void BeginMessage() { shaper_.BeginMessage(Clock::now()); }
  // Returns OK when sent or deliberately dropped; `dropped` says which.
  Status SendFrame(const Endpoint& to, std::span<const uint8_t> frame, bool* dropped = nullptr);
  LinkShaper& shaper() { return shaper_; }
  int64_t frames_sent() const { return frames_sent_; }
  int64_t frames_dropped() const { return frames_dropped_; }

 private:
  DatagramSocket* socket_;
  LinkShaper shaper_;
  int64_t frames_sent_ = 0, frames_dropped_ = 0;
};

// ---- TCP ----------------------------------------------------------------------
class TcpStream {
 public:
  // Connects to `to` by `deadline` (TCP_NODELAY set). Fails naming the endpoint.
  static Result<std::unique_ptr<TcpStream>> Connect(const Endpoint& to, Deadline deadline);
  ~TcpStream();
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // Writes all of `bytes` by `deadline`. With a pacing shaper (loss ignored),
  // writes go out in `chunk_bytes` pieces at the shaper's release times.
  Status WriteAll(std::span<const uint8_t> bytes, Deadline deadline);
  void SetPacing(const ShaperConfig& config, int64_t chunk_bytes);
  // Reads exactly buffer.size() bytes by `deadline`: false on a clean end of
  // stream before the first byte; a failed Status on timeout, reset or a
  // stream ending mid-buffer.
  Result<bool> ReadExact(std::span<uint8_t> buffer, Deadline deadline);
  Endpoint remote_endpoint() const;
  // Segments the kernel retransmitted on this connection so far (TCP_INFO).
  int64_t retransmitted_segments() const;

 private:
  friend class TcpListener;
  struct Impl;
  explicit TcpStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::optional<LinkShaper> pacing_;
  int64_t chunk_bytes_ = 0;
};

class TcpListener {
 public:
  static Result<std::unique_ptr<TcpListener>> Listen(const Endpoint& local);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  Endpoint local_endpoint() const;
  // The next connection by `deadline`, or nullopt on timeout.
  Result<std::optional<std::unique_ptr<TcpStream>>> Accept(Deadline deadline);

 private:
  struct Impl;
  explicit TcpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

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
