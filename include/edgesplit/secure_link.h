// Secure links (issue 13; docs/security.md): the handshake that gives two
// enrolled identities a forward-secret session, and the sealed-frame layer.
//
// Handshake (SIGMA-I style, 2 round trips, initiator = device, responder = server):
//   M1 I->R  ephemeral X25519 key                                     40 bytes
//   M2 R->I  ephemeral key, AEAD{ Ed25519 sig of responder }         124 bytes
//   M3 I->R  AEAD{ initiator's Ed25519 public key, its sig }         124 bytes
//   M4 R->I  AEAD{} confirmation                                      28 bytes
// Both signatures cover a hash of the whole transcript and the responder's
// public key; the initiator's identity travels encrypted. Keys come from
// HKDF-SHA-256 over the ephemeral X25519 secret, so a later leak of either
// static key reveals no past session. Every message fits one ESP-NOW frame.
//
// Portable core: no heap, no OS, no randomness and no clock of its own: the
// caller passes 32 random bytes for the ephemeral secret and the time in
// milliseconds, and owns every output buffer. Not thread-safe: one state
// machine per session, driven by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "edgesplit/crypto.h"
#include "edgesplit/status.h"

namespace edgesplit::secure {

// ---- Message layouts (docs/security.md) ----
constexpr uint8_t kProtocolVersion = 1;
constexpr uint8_t kSuiteX25519Ed25519ChaChaPolySha256 = 1;
enum class HandshakeType : uint8_t { kHello = 1, kResponse = 2, kAuth = 3, kFinished = 4 };
constexpr size_t kHeaderBytes = 4;  // type, version, suite, reserved (0)
constexpr size_t kHelloBytes = kHeaderBytes + 4 + 32;                            // 40
constexpr size_t kResponseBytes = kHeaderBytes + 8 + 32 + 64 + crypto::kAeadTagBytes;  // 124
constexpr size_t kAuthBytes = kHeaderBytes + 8 + 32 + 64 + crypto::kAeadTagBytes;      // 124
constexpr size_t kFinishedBytes = kHeaderBytes + 8 + crypto::kAeadTagBytes;            // 28
constexpr size_t kMaxHandshakeBytes = kResponseBytes;

struct Hello {
  uint32_t initiator_session = 0;
  crypto::Bytes32 ephemeral{};
};
struct Response {
  uint32_t initiator_session = 0, responder_session = 0;
  crypto::Bytes32 ephemeral{};
  std::array<uint8_t, 64 + crypto::kAeadTagBytes> sealed_signature{};
};
struct Auth {
  uint32_t responder_session = 0, initiator_session = 0;
  std::array<uint8_t, 96 + crypto::kAeadTagBytes> sealed_identity{};  // public key, then signature
};
struct Finished {
  uint32_t initiator_session = 0, responder_session = 0;
  std::array<uint8_t, crypto::kAeadTagBytes> tag{};
};

// The type byte of a handshake message, or InvalidArgument naming why not.
Result<HandshakeType> PeekHandshakeType(std::span<const uint8_t> bytes);
// Each decoder checks the exact size, type, version, suite and reserved byte.
Result<Hello> DecodeHello(std::span<const uint8_t> bytes);
Result<Response> DecodeResponse(std::span<const uint8_t> bytes);
Result<Auth> DecodeAuth(std::span<const uint8_t> bytes);
Result<Finished> DecodeFinished(std::span<const uint8_t> bytes);
void EncodeHello(const Hello& m, std::span<uint8_t, kHelloBytes> out);
void EncodeResponse(const Response& m, std::span<uint8_t, kResponseBytes> out);
void EncodeAuth(const Auth& m, std::span<uint8_t, kAuthBytes> out);
void EncodeFinished(const Finished& m, std::span<uint8_t, kFinishedBytes> out);

// ---- Identities and session keys ----
struct Identity {
  crypto::Bytes32 public_key{};  // Ed25519, as `edgesplit keygen` writes it
  crypto::Bytes64 secret_key{};  // seed || public key
};

// What a finished handshake yields: one key per direction, the sessions' ids
// (each side picks its own, so a receiver finds the session of a frame by its
// own id), and the authenticated peer identity.
struct SessionKeys {
  crypto::Bytes32 send_key{}, receive_key{};
  uint32_t local_session = 0, peer_session = 0;
  crypto::Bytes32 peer_identity{};
};

// Retransmission and expiry of a pending handshake (loss is handled by
// sending the last message again; a duplicate is answered from state).
struct HandshakeTiming {
  uint64_t retransmit_ms = 300;
  uint64_t expire_ms = 10000;  // the "refused within 10 s"
};

// Public-key operations per handshake (the cost model's unit; profiles'
// handshake_*_ms keys price them): the same on both sides.
struct PublicKeyOps {
  int x25519_base = 1, x25519 = 1, ed25519_sign = 1, ed25519_verify = 1;
};
constexpr PublicKeyOps kOpsPerHandshake{};

// ---- Initiator (device) ----
class Initiator {
 public:
  enum class State : uint8_t { kIdle, kAwaitResponse, kAwaitFinished, kEstablished, kFailed };

  // Writes M1 into `out` (kHelloBytes). `ephemeral_secret`: 32 fresh random bytes.
  Status Start(const Identity& self, const crypto::Bytes32& responder_public, const crypto::Bytes32& ephemeral_secret,
               uint32_t session_id, uint64_t now_ms, std::span<uint8_t> out, size_t* written,
               HandshakeTiming timing = HandshakeTiming{});
  // M2 in, M3 out. A response that does not verify fails the handshake (the
  // caller may Start again with a fresh ephemeral).
  Status OnResponse(std::span<const uint8_t> m2, uint64_t now_ms, std::span<uint8_t> out, size_t* written);
  // M4 in: the session is established.
  Status OnFinished(std::span<const uint8_t> m4, uint64_t now_ms);
  // Due for a resend: writes the last message again (*written > 0); nothing
  // due: *written = 0. DeadlineExceeded once expire_ms passed since Start.
  Status Poll(uint64_t now_ms, std::span<uint8_t> out, size_t* written);

  State state() const { return state_; }
  // Filled in once M3 is sent (can_send()): the initiator may seal data right
  // after M3, and the responder opens it once it has taken M3.
  const SessionKeys& keys() const { return keys_; }
  bool can_send() const { return state_ == State::kAwaitFinished || state_ == State::kEstablished; }
  ~Initiator();

 private:
  Status Fail(Status s);
  State state_ = State::kIdle;
  Identity self_{};
  crypto::Bytes32 responder_public_{}, ephemeral_secret_{}, finished_key_{};
  SessionKeys keys_{};
  HandshakeTiming timing_{};
  uint64_t started_ms_ = 0, last_sent_ms_ = 0;
  std::array<uint8_t, kMaxHandshakeBytes> last_{};
  size_t last_size_ = 0;
};

// ---- Responder (server/node) ----
// Decides whether an authenticated initiator identity is enrolled.
using AllowFn = bool (*)(const crypto::Bytes32& initiator_public, void* context);

class Responder {
 public:
  enum class State : uint8_t { kIdle, kAwaitAuth, kEstablished, kFailed };

  // M1 in, M2 out. A repeated M1 (same ephemeral) is answered with the same M2.
  Status OnHello(std::span<const uint8_t> m1, const Identity& self, const crypto::Bytes32& ephemeral_secret, uint32_t session_id,
                 uint64_t now_ms, std::span<uint8_t> out, size_t* written, HandshakeTiming timing = HandshakeTiming{});
  // M3 in, M4 out; `allow` refuses unenrolled identities (InvalidArgument
  // "refused: device key is not enrolled"). A repeated M3 after success re-sends M4.
  Status OnAuth(std::span<const uint8_t> m3, AllowFn allow, void* allow_context, uint64_t now_ms, std::span<uint8_t> out,
                size_t* written);
  bool Expired(uint64_t now_ms) const { return state_ == State::kAwaitAuth && now_ms - started_ms_ >= timing_.expire_ms; }

  State state() const { return state_; }
  const SessionKeys& keys() const { return keys_; }
  ~Responder();

 private:
  Status Fail(Status s);
  State state_ = State::kIdle;
  crypto::Bytes32 self_public_{}, auth_key_{}, finished_key_{}, peer_ephemeral_{};
  crypto::Bytes32 prk_{}, transcript_{}, th4_{};  // transcript_: th3 once M2 is sent
  SessionKeys keys_{};
  HandshakeTiming timing_{};
  uint64_t started_ms_ = 0;
  std::array<uint8_t, kMaxHandshakeBytes> last_{};
  size_t last_size_ = 0;
};

// ---- Sealed frames ----
// A sealed frame is counter (8 bytes, little-endian) || ciphertext || tag (16):
// 24 bytes of overhead. The AEAD nonce is 4 zero bytes || the counter; the key
// is per direction, so the two directions never share a nonce. The caller's
// `aad` (e.g. the clear wire header) is authenticated too.
constexpr size_t kCounterBytes = 8;
constexpr size_t kSealOverhead = kCounterBytes + crypto::kAeadTagBytes;
// After this many frames a key must be replaced by a new handshake (far below
// the AEAD's limits; Seal refuses beyond it, so a counter never repeats).
constexpr uint64_t kMaxFramesPerKey = uint64_t{1} << 48;

class Sealer {
 public:
  explicit Sealer(const crypto::Bytes32& key) : key_(key) {}
  ~Sealer() { crypto::SecureZero(key_.data(), key_.size()); }
  // out.size() must be plaintext.size() + kSealOverhead. OutOfRange once the
  // counter reached kMaxFramesPerKey (re-key).
  Status Seal(std::span<const uint8_t> aad, std::span<const uint8_t> plaintext, std::span<uint8_t> out);
  uint64_t next_counter() const { return counter_; }
  bool needs_rekey() const { return counter_ >= kMaxFramesPerKey; }

 private:
  crypto::Bytes32 key_;
  uint64_t counter_ = 0;
};

// Accepts each counter at most once: any counter above the highest seen, or
// one up to kReplayWindow below it that has not been seen (datagram links
// reorder); older ones and repeats are dropped. Only frames whose tag
// verifies move the window, so forgeries cannot push it.
constexpr uint64_t kReplayWindow = 256;

class Opener {
 public:
  explicit Opener(const crypto::Bytes32& key) : key_(key) {}
  ~Opener() { crypto::SecureZero(key_.data(), key_.size()); }
  // plaintext.size() must be sealed.size() - kSealOverhead. Refusals name the
  // reason (truncated, replayed, too old, authentication failed); `plaintext`
  // is written only on success. No allocation on success.
  Status Open(std::span<const uint8_t> aad, std::span<const uint8_t> sealed, std::span<uint8_t> plaintext);
  // The cheap pre-check (no MAC): would this counter be accepted? Lets a
  // receiver drop a replay before it does anything else.
  bool Fresh(uint64_t counter) const;
  uint64_t highest() const { return highest_; }

 private:
  void Accept(uint64_t counter);
  crypto::Bytes32 key_;
  bool any_ = false;
  uint64_t highest_ = 0;
  uint64_t seen_[kReplayWindow / 64] = {};  // bit i: highest_ - i was accepted
};

}  // namespace edgesplit::secure
