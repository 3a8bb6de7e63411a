// The net module's sockets and shaper (private to src/net; tests reach them
// as "net/sockets.h"): what MessageSender / MessageReceiver and the servers
// (net_server.h) are built on. Users send messages (edgesplit/net.h), not frames.
//
//  * LinkShaper: paces a sender's frames so that they take the link profile's
//    time and drops frames at its loss rate (ShaperConfig, edgesplit/net.h).
//  * DatagramSocket: a UDP socket. One datagram = one radio frame.
//  * ShapedSender: a DatagramSocket whose sends go through a LinkShaper.
//  * TcpStream / TcpListener: real TCP sockets (TCP_NODELAY), optionally paced
//    by a shaper without loss.
//
// Deadlines, errors, threads and ownership as edgesplit/net.h says.
#pragma once

#include <memory>
#include <optional>
#include <random>
#include <span>

#include "edgesplit/net.h"

namespace edgesplit::net {

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
  // Non-blocking, one system call (recvmmsg) for a burst: up to slots.size()
  // datagrams already queued, datagram i in slots[i] with its size and sender
  // in got[i] (got.size() >= slots.size()); a datagram longer than its slot
  // is truncated and marked. The count received, 0 when none is queued.
  struct Received {
    size_t bytes = 0;
    Ipv4Address from;
    bool truncated = false;
  };
  Result<size_t> TryReceiveMany(std::span<const std::span<uint8_t>> slots, std::span<Received> got);
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

}  // namespace edgesplit::net
