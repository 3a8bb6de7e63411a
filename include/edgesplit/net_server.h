// Many-peer transports for the edge server (module `net`): one listening
// socket that receives requests from any number of devices at once and sends
// each reply back to the sender it came from, and the device side that sends
// a request and waits for its reply over the same socket or connection.
//
//  * ServerTransport (UDP and the emulated radios): one reassembler per sender
//    address, so concurrent devices never cancel each other's fragments; each
//    reply is its own fragment ARQ to the sender's address, paced by the link
//    shaper without blocking other peers. Per-sender state is created on the
//    first fragment and dropped after `idle_timeout_s`; at most `max_peers`
//    senders hold state at once (a new sender beyond that is refused and
//    counted), which bounds memory: see MemoryBoundBytes().
//  * ServerTransport (TCP): connections are served concurrently by one I/O
//    thread (Asio), each with an idle timeout (no bytes of a new message) and
//    a partial-frame timeout (a message started but not finished), and at most
//    `max_connections` at once (further ones are closed at once and counted).
//    A connection that sends bytes that are not a message is closed.
//  * RequestClient: a device's end. Call() sends one request and returns the
//    reply with the same request id; retransmission runs until the call's
//    deadline (never a fixed count), so a server paused for seconds is waited
//    for as long as the caller allows.
//
// Messages are whole wire messages (edgesplit/wire.h) whose CRC was checked;
// the transports do not look inside them beyond the request id.
// Thread-safety: a ServerTransport's callback runs on its I/O thread; Reply()
// and the stats may be called from any thread. A RequestClient is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edgesplit/net.h"
#include "edgesplit/status.h"

namespace edgesplit::net {

// Identifies a sender to reply to (a datagram address or a TCP connection);
// meaningful only to the transport that produced it.
using PeerId = uint64_t;

struct ServerLimits {
  uint32_t max_message_bytes = 16u << 20;  // larger requests are refused before any buffer grows
  int max_peers = 1024;                    // datagram senders holding state at once
  int max_connections = 1024;              // TCP connections at once
  double idle_timeout_s = 30;              // no new message for this long: state/connection dropped
  double frame_timeout_s = 10;             // a message started and not finished for this long: dropped
  double reply_timeout_s = 10;             // a reply not acknowledged by then is abandoned
};

struct ServerStats {
  int64_t rejected = 0;        // datagrams, frames or connections refused (corrupt, too large, over a limit)
  std::string last_rejection;  // why the last one was refused
  int64_t peers = 0;           // senders (datagram) or connections (TCP) holding state now
  int64_t replies_failed = 0;  // replies abandoned (peer gone, timeout)
  int64_t frames_dropped = 0;  // reply frames the emulated medium lost (shaped links)
  // Sealed transports (secure_transport.h); 0 on plain ones.
  int64_t security_dropped = 0;         // envelopes refused (forged, tampered, replayed, unknown session, ...), in rejected too
  int64_t handshakes = 0;               // handshakes started (new M1s answered)
  int64_t handshakes_rate_limited = 0;  // M1s dropped by the per-source rate limit
  int64_t refused = 0;                  // devices refused (not enrolled)
};

class ServerTransport {
 public:
  // Called on the I/O thread with every complete, CRC-checked message and the
  // peer to reply to. It must not block for long (enqueue and return).
  using OnMessage = std::function<void(PeerId peer, std::vector<uint8_t> message)>;

  // Binds `local` (port 0: a free port) for `options.kind` and starts the I/O thread.
  static Result<std::unique_ptr<ServerTransport>> Create(const ChannelOptions& options, const Endpoint& local,
                                                         const ServerLimits& limits, OnMessage on_message);
  virtual ~ServerTransport() = default;  // stops and joins the I/O thread
  virtual Endpoint local_endpoint() const = 0;
  // Queues `message` (a whole wire message answering `request_id`) to `peer`.
  // Never blocks; a reply to a peer that is gone is counted in replies_failed.
  virtual void Reply(PeerId peer, std::vector<uint8_t> message, uint32_t request_id) = 0;
  // Replies queued or in flight (not yet acknowledged or written).
  virtual int64_t pending_replies() const = 0;
  virtual ServerStats stats() const = 0;
  // Emulation only: replies started from now on are paced at `bytes_per_s`
  // (> 0) with retransmission timeout `rto_s` (what a run's schedule changes on
  // a shaped link). Returns false where the transport does not pace replies
  // itself (TCP, MQTT): their rate stays as created.
  virtual bool SetReplyPacing(double bytes_per_s, double rto_s) {
    (void)bytes_per_s, (void)rto_s;
    return false;
  }
  // Gives back a buffer that OnMessage handed over, once its bytes are no
  // longer needed: the next large request is read into it instead of a new
  // allocation and a copy. Any thread; a transport may keep a few
  // (kRecycledBuffers) and frees the rest. Optional: dropping it is fine.
  virtual void Recycle(std::vector<uint8_t>&& buffer) { (void)buffer; }
  static constexpr int kRecycledBuffers = 8;
  // The most memory the transport's buffers can hold at once under `limits`
  // (receive state per peer or connection and recycled buffers, excluding
  // replies in flight).
  static int64_t MemoryBoundBytes(const ChannelOptions& options, const ServerLimits& limits);
};

struct CallReport {
  SendReport request;        // the request's transfer
  double reply_transfer_s = 0;  // first reply byte/fragment to the whole reply
};

class RequestClient {
 public:
  // Datagram kinds bind an ephemeral port now; TCP connects on the first call
  // (and once more if the connection broke since the last one).
  static Result<std::unique_ptr<RequestClient>> Create(const ChannelOptions& options, const Endpoint& server);
  virtual ~RequestClient() = default;
  // Sends `message` as request `request_id` (ids must increase from call to
  // call) and returns the reply message with that id (a result, an error or a
  // BUSY error: the caller decodes it) by `deadline`, or DeadlineExceeded.
  virtual Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                            CallReport* report) = 0;
  virtual const Endpoint& server() const = 0;
  // Replies that arrived for a request already answered (or abandoned) and
  // were not handed to the caller (MQTT: a retried request served twice).
  virtual int64_t suppressed_duplicates() const { return 0; }
  // Sealed clients (secure_transport.h): runs the handshake now, so a refusal
  // shows before the first request; plain clients: nothing to do.
  virtual Status Connect(Deadline /*deadline*/) { return Status::Ok(); }
};

// ---- Over an MQTT broker (libmosquitto) ---------------------------------------
// Replicas of a server share one subscription ($share/GROUP/...): the broker
// hands each request to one of them. Devices publish on
// edgesplit/<model hash>/req/<device> and get replies on .../reply/<device>.
struct MqttOptions {
  uint32_t model_hash = 0;      // the topic prefix: a model's devices and servers meet there
  std::string group = "edgesplit";  // server: the shared subscription's group
  std::string client_id;        // server: its id; device: its name (one topic level, unique per broker)
  double retry_s = 2;           // device: publish again when no reply came within this (a replica died)
};
std::string MqttTopicPrefix(uint32_t model_hash);  // "edgesplit/0123abcd"
struct LinkSecurity;  // secure_transport.h
// With `security` every request and reply is sealed one-shot (docs/security.md:
// any replica of the group opens any request; all replicas share the server key).
// Connects, subscribes and returns once the broker acknowledged the
// subscription (named in `subscription`), or fails within 10 s saying why.
Result<std::unique_ptr<ServerTransport>> CreateMqttServer(const Endpoint& broker, const MqttOptions& options,
                                                          const ServerLimits& limits, ServerTransport::OnMessage on_message,
                                                          std::string* subscription = nullptr,
                                                          const LinkSecurity* security = nullptr);
Result<std::unique_ptr<RequestClient>> CreateMqttClient(const Endpoint& broker, const MqttOptions& options,
                                                        uint32_t max_message_bytes, const LinkSecurity* security = nullptr);

}  // namespace edgesplit::net
