// The session layer under the sealed transports (secure_transport.h): the
// server's sessions per peer (handshake answers, per-source rate limit,
// revocation) and the device's one session. Both are driven by one thread
// (the transport's I/O thread / the client's caller) and never block.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "edgesplit/secure_transport.h"

namespace edgesplit::net::detail {

void RandomBytes(std::span<uint8_t> out);  // getrandom(2); aborts the process if the kernel has none
uint64_t NowMs();

// One established session's keys: the sender and the replay-window opener.
struct Session {
  std::unique_ptr<secure::Sealer> send;
  std::unique_ptr<secure::Opener> receive;
  uint32_t local_id = 0, peer_id = 0;
  crypto::Bytes32 peer_identity{};
};
Session MakeSession(const secure::SessionKeys& keys);

// Writes an envelope around a handshake message / a notice.
std::vector<uint8_t> HandshakeEnvelope(std::span<const uint8_t> message);
std::vector<uint8_t> NoticeEnvelope(NoticeCode code, uint32_t session, const std::string& reason);
// Seals `inner` for the peer whose session id is s.peer_id into `out`
// (inner.size() + kSealedDatagramOverhead bytes).
Status SealEnvelope(Session& s, std::span<const uint8_t> inner, std::vector<uint8_t>* out);
// The receiver's session id of a sealed envelope (after the size check).
Result<uint32_t> SealedSessionId(std::span<const uint8_t> envelope);
// Opens a sealed envelope into `plain` (resized); refusals name why.
Status OpenEnvelope(Session& s, std::span<const uint8_t> envelope, std::vector<uint8_t>* plain);
Result<EnvelopeKind> PeekEnvelope(std::span<const uint8_t> envelope);

// ---- Server ----
class ServerSessions {
 public:
  ServerSessions(const LinkSecurity& security, size_t max_peers, double idle_timeout_s);

  enum class Action { kNone, kDeliver, kReply };
  struct Outcome {
    Action action = Action::kNone;
    std::string dropped;  // non-empty: the envelope was refused (count it)
    // A handshake installed a new session for the peer: a new device (or the
    // same one restarted) whose request ids start over; transport state kept
    // per peer address (datagram reassembly, its replay window) starts afresh.
    bool new_session = false;
  };
  // One envelope from `peer` (a datagram address or a connection), whose
  // source IP is `source` (rate-limit bucket). kDeliver: `*out` holds the
  // opened inner bytes; kReply: `*out` holds an envelope to send back.
  Outcome OnEnvelope(uint64_t peer, uint32_t source, std::span<const uint8_t> envelope, std::vector<uint8_t>* out);
  // Seals `inner` to `peer`; NotFound when it has no session (revoked,
  // expired, re-keyed): the reply is dropped and the device re-handshakes.
  Status Seal(uint64_t peer, std::span<const uint8_t> inner, std::vector<uint8_t>* out);
  bool Established(uint64_t peer) const;
  void Forget(uint64_t peer) { peers_.erase(peer); }
  // Ends the sessions of revoked keys and forgets idle peers; returns the
  // peers whose sessions were revoked.
  std::vector<uint64_t> Sweep();

  // The most memory the sessions of `max_peers` peers and their buckets hold.
  static int64_t BoundBytes(size_t max_peers);

  int64_t handshakes() const { return handshakes_; }
  int64_t rate_limited() const { return rate_limited_; }
  int64_t refused() const { return refused_; }

 private:
  struct Peer {
    secure::Responder pending;
    std::array<uint8_t, secure::kHelloBytes> last_hello{};
    std::optional<Session> session;
    uint64_t last_active_ms = 0;
  };
  struct Bucket {
    double tokens = 0;
    uint64_t at_ms = 0;
  };
  bool TakeToken(uint32_t source, uint64_t now_ms);
  Outcome OnHandshake(uint64_t peer, uint32_t source, std::span<const uint8_t> message, std::vector<uint8_t>* out);

  LinkSecurity security_;
  size_t max_peers_;
  uint64_t idle_ms_;
  uint64_t max_frames_;
  std::unordered_map<uint64_t, Peer> peers_;
  std::unordered_map<uint32_t, Bucket> buckets_;
  uint64_t seen_generation_ = 0;
  int64_t handshakes_ = 0, rate_limited_ = 0, refused_ = 0;
};

// ---- One-shot sealing (MQTT: any replica of the group opens any request) ----
// request = 0xE5 | 4 | E (32) | AEAD_kid{device public key} (48) | AEAD_kreq{message} (+16)
// reply   = 0xE5 | 5 | nonce (12, random) | AEAD_krep{message} (+16)
// es = X25519(e, S), ss = X25519(d, S) with the Ed25519 keys in Montgomery
// form; kid from es, kreq/krep from es || ss: only the enrolled device's
// secret makes a request that opens. Refusals: a notice naming E's first 4 bytes.
inline constexpr size_t kOneShotRequestOverhead = 2 + 32 + 48 + crypto::kAeadTagBytes;  // 98
inline constexpr size_t kOneShotReplyOverhead = 2 + 12 + crypto::kAeadTagBytes;         // 30
struct OneShotKeys {
  crypto::Bytes32 reply{};
  uint32_t tag = 0;  // E's first 4 bytes: what a refusal notice names
};
Status SealOneShot(const LinkSecurity& device, std::span<const uint8_t> message, std::vector<uint8_t>* out, OneShotKeys* keys);
// Server side; a device that is not enrolled is refused ("refused: ...").
Status OpenOneShot(const LinkSecurity& server, std::span<const uint8_t> sealed, std::vector<uint8_t>* message, OneShotKeys* keys);
Status SealOneShotReply(const OneShotKeys& keys, std::span<const uint8_t> message, std::vector<uint8_t>* out);
// The reply, or a refusal naming this request; other bytes: InvalidArgument.
Status OpenOneShotReply(const OneShotKeys& keys, std::span<const uint8_t> sealed, std::vector<uint8_t>* message);

// ---- Device ----
class ClientSession {
 public:
  explicit ClientSession(const LinkSecurity& security) : security_(security) {}
  // Builds M1 of a new handshake (any old session is dropped).
  std::vector<uint8_t> Start();
  enum class Event { kNone, kSend, kEstablished, kDeliver, kSessionLost };
  // One envelope from the server. kSend: `*out` is an envelope to send;
  // kDeliver: `*out` holds the opened inner bytes. A refusal is an error
  // status "refused: <reason>"; other bad envelopes are dropped (kNone).
  Result<Event> OnEnvelope(std::span<const uint8_t> envelope, std::vector<uint8_t>* out);
  // A handshake message due for resending (empty if none); the refusal once
  // the handshake expired.
  Result<std::vector<uint8_t>> Poll();
  bool established() const { return session_.has_value(); }
  bool needs_rekey() const;
  Status Seal(std::span<const uint8_t> inner, std::vector<uint8_t>* out);
  void Drop() { session_.reset(); }
  uint64_t retransmit_ms() const { return security_.timing.retransmit_ms; }

 private:
  LinkSecurity security_;
  secure::Initiator initiator_;
  std::optional<Session> session_;
  std::string server_;  // for messages
};

}  // namespace edgesplit::net::detail
