// Secure links on the edge server's transports (issue 13, docs/security.md):
// the handshake of edgesplit/secure_link.h run over a ServerTransport /
// RequestClient, and every datagram or TCP frame after it sealed.
//
//  * Datagram links (UDP, emulated ESP-NOW/BLE): every datagram is an
//    envelope (below). Handshake messages are retransmitted by the device like
//    any message and each fits one 250-byte ESP-NOW frame. After the
//    handshake every datagram, fragments and SACKs alike, is sealed with the
//    per-direction key and a counter nonce; a datagram that does not open
//    (forged, tampered, truncated, replayed, outside the 256-frame window,
//    another session) is dropped and counted before the reassembler sees it.
//    The inner datagrams are kSealedDatagramOverhead bytes smaller than the
//    link's, so the sealed envelope still fits the radio frame.
//  * TCP: one handshake per connection; every frame is a 4-byte length and an
//    envelope. Before the handshake finishes a connection may send only
//    handshake-sized frames, so an unauthenticated peer makes the server
//    allocate nothing large.
//  * Enrolment: the server asks EnrolledKeys (thread-safe) whether a device's
//    authenticated public key is enrolled. Replace() (SIGHUP) ends the
//    sessions of removed keys: their next frame is answered "unknown session",
//    the device handshakes again and is refused.
//  * Refusal: an unenrolled device, or a handshake that does not finish
//    within 10 s, fails with a Status whose message holds "refused: <reason>"
//    (IsRefusal / RefusalReason).
//  * Re-keying: a session is replaced by a new handshake when its counter
//    reaches secure::kMaxFramesPerKey, and a device whose server restarted
//    (frames answered "unknown session") handshakes again and resends.
//
// Envelope (all integers little-endian):
//   0xE5 | kind 1 (handshake) | handshake message (40/124/124/28 bytes)
//   0xE5 | kind 2 (sealed)    | receiver's session id (4) | counter (8) | ciphertext | tag (16)
//        (AEAD aad: the first 6 bytes)
//   0xE5 | kind 3 (notice)    | code (1: unknown session, 2: refused) | session id (4) | reason text
// Notices are not authenticated (they carry no secret): a device acts on one
// only when it names its own current session id, which an off-path sender
// does not know.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "edgesplit/crypto.h"
#include "edgesplit/net_server.h"
#include "edgesplit/secure_link.h"

namespace edgesplit::net {

inline constexpr uint8_t kEnvelopeMarker = 0xE5;
enum class EnvelopeKind : uint8_t { kHandshake = 1, kSealed = 2, kNotice = 3 };
enum class NoticeCode : uint8_t { kUnknownSession = 1, kRefused = 2 };
inline constexpr size_t kSealedHeaderBytes = 6;  // marker, kind, receiver's session id
// Bytes sealing adds to every datagram (and TCP frame, plus its 4-byte length).
inline constexpr size_t kSealedDatagramOverhead = kSealedHeaderBytes + secure::kSealOverhead;  // 30

// The enrolled device keys of a server; shared by its transport and whoever
// reloads the allow file. Any thread.
class EnrolledKeys {
 public:
  explicit EnrolledKeys(std::vector<crypto::Bytes32> keys = {}) { Replace(std::move(keys)); }
  // Replaces the set; sessions of keys no longer in it end (the transport
  // notices the new generation on its I/O thread within ~100 ms).
  void Replace(std::vector<crypto::Bytes32> keys);
  bool Allowed(const crypto::Bytes32& key) const;
  uint64_t generation() const;
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::set<crypto::Bytes32> keys_;
  uint64_t generation_ = 0;
};

// Turns a transport secure. Server: identity + enrolled; client: identity +
// server_public.
struct LinkSecurity {
  secure::Identity identity;
  std::shared_ptr<EnrolledKeys> enrolled;  // server
  crypto::Bytes32 server_public{};         // client
  // Per source IPv4 address (token bucket): new handshakes (M1 with a new
  // ephemeral) cost the server an X25519 and a signature; beyond the rate
  // they are dropped and counted (the device retransmits M1). The burst is
  // sized for a loadgen's many clients on one host.
  double handshakes_per_s = 50;
  int handshake_burst = 256;
  secure::HandshakeTiming timing{};
  // Frames per key before a new handshake (a test may lower it to see re-keying).
  uint64_t max_frames_per_key = secure::kMaxFramesPerKey;
};

// A sealed ServerTransport / RequestClient over `options.kind` (datagram kinds
// and TCP). `options.datagram_bytes` is the link's frame: the inner wire
// datagrams are kSealedDatagramOverhead smaller.
Result<std::unique_ptr<ServerTransport>> CreateSecureServer(const ChannelOptions& options, const Endpoint& local,
                                                            const ServerLimits& limits, const LinkSecurity& security,
                                                            ServerTransport::OnMessage on_message);
Result<std::unique_ptr<RequestClient>> CreateSecureClient(const ChannelOptions& options, const Endpoint& server,
                                                          const LinkSecurity& security);

// The most memory a sealed server's session layer holds under `limits`, on
// top of ServerTransport::MemoryBoundBytes: per peer (datagram links:
// max_peers; TCP: max_connections) its pending handshake and established
// session (keys, replay window), the per-source handshake buckets (4 per
// peer), and on datagram links the one buffer every datagram is opened into.
int64_t SecureSessionBoundBytes(const ChannelOptions& options, const ServerLimits& limits);

// A refusal (unenrolled or revoked device, no handshake answer in time).
bool IsRefusal(const Status& status);
std::string RefusalReason(const Status& status);  // the text after "refused: "

}  // namespace edgesplit::net
