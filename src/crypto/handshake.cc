// The handshake's two state machines (secure_link.h, docs/security.md).
//
// Key schedule (all hashes SHA-256, HKDF-SHA-256):
//   th2 = H(label || M1 || M2[0..44) || responder public key)
//   prk = HKDF-Extract(salt = th2, ikm = X25519(e_i, E_r))
//   M2 seals the responder's signature of (label_r || th2) under Expand(prk, "response")
//   th3 = H(th2 || M2's sealed part); M3 seals (initiator public key, its
//   signature of label_i || th3) under Expand(prk, "auth" || th3)
//   th4 = H(th3 || M3); Expand(prk, "session" || th4) -> i->r key, r->i key, finished key
// Handshake AEAD keys are used once each, so their nonce is zero.
#include <cstring>

#include "crypto_internal.h"
#include "edgesplit/secure_link.h"

namespace edgesplit::secure {
namespace {

using crypto::Bytes32;
using crypto::Bytes64;

constexpr char kLabel[] = "edgesplit secure link v1";
constexpr char kLabelResponder[] = "edgesplit secure link v1 responder";
constexpr char kLabelInitiator[] = "edgesplit secure link v1 initiator";
constexpr std::array<uint8_t, 12> kZeroNonce{};

std::span<const uint8_t> Text(const char* s) { return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)}; }

Bytes32 Hash2(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  crypto::Sha256Ctx h;
  h.Update(a);
  h.Update(b);
  return h.Final();
}

Bytes32 Th2(std::span<const uint8_t> m1, std::span<const uint8_t> m2_prefix, const Bytes32& responder_public) {
  crypto::Sha256Ctx h;
  h.Update(Text(kLabel));
  h.Update(m1);
  h.Update(m2_prefix);
  h.Update(responder_public);
  return h.Final();
}

Bytes32 Expand(const Bytes32& prk, const char* label, std::span<const uint8_t> context) {
  uint8_t info[64];
  const size_t n = std::strlen(label);
  std::memcpy(info, label, n);
  if (!context.empty()) std::memcpy(info + n, context.data(), context.size());
  Bytes32 k;
  (void)crypto::HkdfExpand(prk, std::span<const uint8_t>(info, n + context.size()), k);
  return k;
}

// What each side signs: its role's label, then a transcript hash.
Bytes64 SignTranscript(const Identity& id, const char* label, const Bytes32& th) {
  return crypto::Ed25519Sign(id.secret_key, Hash2(Text(label), th));
}
bool VerifyTranscript(const Bytes32& key, const char* label, const Bytes32& th, std::span<const uint8_t> sig) {
  Bytes64 s;
  std::memcpy(s.data(), sig.data(), 64);
  return crypto::Ed25519Verify(key, Hash2(Text(label), th), s);
}

// The session's traffic keys and the finished key from th4.
void DeriveSession(const Bytes32& prk, const Bytes32& th4, Bytes32* i2r, Bytes32* r2i, Bytes32* finished) {
  uint8_t info[7 + 32];
  std::memcpy(info, "session", 7);
  std::memcpy(info + 7, th4.data(), 32);
  uint8_t okm[96];
  (void)crypto::HkdfExpand(prk, info, okm);
  std::memcpy(i2r->data(), okm, 32);
  std::memcpy(r2i->data(), okm + 32, 32);
  std::memcpy(finished->data(), okm + 64, 32);
  crypto::SecureZero(okm, sizeof okm);
}

Status CheckOut(std::span<uint8_t> out, size_t need, size_t* written) {
  *written = 0;
  if (out.size() < need)
    return InvalidArgument("handshake: output buffer has " + std::to_string(out.size()) + " bytes, " + std::to_string(need) + " needed");
  return Status::Ok();
}

}  // namespace

// ---------------- Initiator ----------------

Initiator::~Initiator() {
  crypto::SecureZero(&self_, sizeof self_);
  crypto::SecureZero(ephemeral_secret_.data(), 32);
  crypto::SecureZero(&keys_, sizeof keys_);
  crypto::SecureZero(finished_key_.data(), 32);
}

Status Initiator::Fail(Status s) {
  state_ = State::kFailed;
  crypto::SecureZero(ephemeral_secret_.data(), 32);
  crypto::SecureZero(&keys_, sizeof keys_);
  return s;
}

Status Initiator::Start(const Identity& self, const Bytes32& responder_public, const Bytes32& ephemeral_secret, uint32_t session_id,
                        uint64_t now_ms, std::span<uint8_t> out, size_t* written, HandshakeTiming timing) {
  ES_RETURN_IF_ERROR(CheckOut(out, kHelloBytes, written));
  *this = Initiator();
  self_ = self, responder_public_ = responder_public, ephemeral_secret_ = ephemeral_secret, timing_ = timing;
  keys_.local_session = session_id;
  Hello m1{session_id, crypto::X25519Base(ephemeral_secret)};
  EncodeHello(m1, std::span<uint8_t, kHelloBytes>(last_.data(), kHelloBytes));
  last_size_ = kHelloBytes;
  std::memcpy(out.data(), last_.data(), last_size_);
  *written = last_size_;
  started_ms_ = last_sent_ms_ = now_ms;
  state_ = State::kAwaitResponse;
  return Status::Ok();
}

Status Initiator::OnResponse(std::span<const uint8_t> m2_bytes, uint64_t now_ms, std::span<uint8_t> out, size_t* written) {
  ES_RETURN_IF_ERROR(CheckOut(out, kAuthBytes, written));
  ES_ASSIGN_OR_RETURN(Response m2, DecodeResponse(m2_bytes));
  if (m2.initiator_session != keys_.local_session)
    return InvalidArgument("handshake: response for session " + std::to_string(m2.initiator_session) + ", not this one");
  if (state_ == State::kAwaitFinished && m2.responder_session == keys_.peer_session) {  // our M3 was lost: send it again
    std::memcpy(out.data(), last_.data(), last_size_);
    *written = last_size_;
    last_sent_ms_ = now_ms;
    return Status::Ok();
  }
  if (state_ != State::kAwaitResponse) return InvalidArgument("handshake: unexpected response (no hello pending)");
  Bytes32 dh;
  // A low-order ephemeral is an attack, not noise: the handshake fails.
  if (!crypto::X25519(ephemeral_secret_, m2.ephemeral, &dh)) return Fail(InvalidArgument("handshake: responder's ephemeral key has low order"));
  const Bytes32 th2 = Th2(std::span(last_).first(kHelloBytes), m2_bytes.first(44), responder_public_);
  const Bytes32 prk = crypto::HkdfExtract(th2, dh);
  crypto::SecureZero(dh.data(), 32);
  const Bytes32 response_key = Expand(prk, "response", {});
  uint8_t sig[64];
  if (!crypto::AeadOpen(response_key, kZeroNonce, m2_bytes.first(44), m2.sealed_signature, sig) ||
      !VerifyTranscript(responder_public_, kLabelResponder, th2, sig))
    return Fail(InvalidArgument("handshake: the responder's signature does not verify (wrong server key or forged response)"));
  const Bytes32 th3 = Hash2(th2, m2.sealed_signature);
  const Bytes32 auth_key = Expand(prk, "auth", th3);
  // M3: our identity and signature, sealed.
  uint8_t identity[96];
  std::memcpy(identity, self_.public_key.data(), 32);
  const Bytes64 my_sig = SignTranscript(self_, kLabelInitiator, th3);
  std::memcpy(identity + 32, my_sig.data(), 64);
  Auth m3;
  m3.responder_session = m2.responder_session, m3.initiator_session = keys_.local_session;
  EncodeAuth(m3, std::span<uint8_t, kAuthBytes>(last_.data(), kAuthBytes));  // header and ids: the AEAD's aad
  (void)crypto::AeadSeal(auth_key, kZeroNonce, std::span(last_).first(12), identity, std::span(last_).subspan(12, kAuthBytes - 12));
  last_size_ = kAuthBytes;
  const Bytes32 th4 = Hash2(th3, std::span(last_).first(kAuthBytes));
  DeriveSession(prk, th4, &keys_.send_key, &keys_.receive_key, &finished_key_);
  keys_.peer_session = m2.responder_session;
  keys_.peer_identity = responder_public_;
  crypto::SecureZero(ephemeral_secret_.data(), 32);  // forward secrecy: the ephemeral is gone now
  std::memcpy(out.data(), last_.data(), last_size_);
  *written = last_size_;
  last_sent_ms_ = now_ms;
  state_ = State::kAwaitFinished;
  return Status::Ok();
}

Status Initiator::OnFinished(std::span<const uint8_t> m4_bytes, uint64_t now_ms) {
  ES_ASSIGN_OR_RETURN(Finished m4, DecodeFinished(m4_bytes));
  if (state_ == State::kEstablished) return Status::Ok();  // a duplicate
  if (state_ != State::kAwaitFinished) return InvalidArgument("handshake: unexpected finished message");
  if (m4.initiator_session != keys_.local_session || m4.responder_session != keys_.peer_session)
    return InvalidArgument("handshake: finished message for another session");
  uint8_t none[1];
  if (!crypto::AeadOpen(finished_key_, kZeroNonce, m4_bytes.first(12), m4.tag, std::span(none, 0)))
    return InvalidArgument("handshake: finished message does not authenticate");
  state_ = State::kEstablished;
  return Status::Ok();
}

Status Initiator::Poll(uint64_t now_ms, std::span<uint8_t> out, size_t* written) {
  *written = 0;
  if (state_ != State::kAwaitResponse && state_ != State::kAwaitFinished) return Status::Ok();
  if (now_ms - started_ms_ >= timing_.expire_ms)
    return Fail(DeadlineExceeded("handshake: no answer from the responder within " + std::to_string(timing_.expire_ms) + " ms"));
  if (now_ms - last_sent_ms_ < timing_.retransmit_ms) return Status::Ok();
  ES_RETURN_IF_ERROR(CheckOut(out, last_size_, written));
  std::memcpy(out.data(), last_.data(), last_size_);
  *written = last_size_;
  last_sent_ms_ = now_ms;
  return Status::Ok();
}

// ---------------- Responder ----------------

Responder::~Responder() {
  crypto::SecureZero(auth_key_.data(), 32);
  crypto::SecureZero(finished_key_.data(), 32);
  crypto::SecureZero(prk_.data(), 32);
  crypto::SecureZero(&keys_, sizeof keys_);
}

Status Responder::Fail(Status s) {
  state_ = State::kFailed;
  crypto::SecureZero(prk_.data(), 32);
  crypto::SecureZero(&keys_, sizeof keys_);
  return s;
}

Status Responder::OnHello(std::span<const uint8_t> m1_bytes, const Identity& self, const Bytes32& ephemeral_secret, uint32_t session_id,
                          uint64_t now_ms, std::span<uint8_t> out, size_t* written, HandshakeTiming timing) {
  ES_RETURN_IF_ERROR(CheckOut(out, kResponseBytes, written));
  ES_ASSIGN_OR_RETURN(Hello m1, DecodeHello(m1_bytes));
  if (state_ == State::kAwaitAuth && m1.initiator_session == keys_.peer_session && m1.ephemeral == peer_ephemeral_) {
    std::memcpy(out.data(), last_.data(), last_size_);  // our M2 was lost: the same answer, no new work
    *written = last_size_;
    return Status::Ok();
  }
  *this = Responder();
  timing_ = timing, started_ms_ = now_ms, self_public_ = self.public_key, peer_ephemeral_ = m1.ephemeral;
  keys_.local_session = session_id, keys_.peer_session = m1.initiator_session;
  Bytes32 dh;
  if (!crypto::X25519(ephemeral_secret, m1.ephemeral, &dh)) return Fail(InvalidArgument("handshake: initiator's ephemeral key has low order"));
  Response m2;
  m2.initiator_session = m1.initiator_session, m2.responder_session = session_id;
  m2.ephemeral = crypto::X25519Base(ephemeral_secret);
  EncodeResponse(m2, std::span<uint8_t, kResponseBytes>(last_.data(), kResponseBytes));
  const Bytes32 th2 = Th2(m1_bytes, std::span(last_).first(44), self.public_key);
  prk_ = crypto::HkdfExtract(th2, dh);
  crypto::SecureZero(dh.data(), 32);
  const Bytes64 sig = SignTranscript(self, kLabelResponder, th2);
  (void)crypto::AeadSeal(Expand(prk_, "response", {}), kZeroNonce, std::span(last_).first(44), sig, std::span(last_).subspan(44, 80));
  last_size_ = kResponseBytes;
  transcript_ = Hash2(th2, std::span(last_).subspan(44, 80));  // th3
  auth_key_ = Expand(prk_, "auth", transcript_);
  std::memcpy(out.data(), last_.data(), last_size_);
  *written = last_size_;
  state_ = State::kAwaitAuth;
  return Status::Ok();
}

Status Responder::OnAuth(std::span<const uint8_t> m3_bytes, AllowFn allow, void* allow_context, uint64_t now_ms, std::span<uint8_t> out,
                         size_t* written) {
  ES_RETURN_IF_ERROR(CheckOut(out, kFinishedBytes, written));
  ES_ASSIGN_OR_RETURN(Auth m3, DecodeAuth(m3_bytes));
  if (m3.responder_session != keys_.local_session || m3.initiator_session != keys_.peer_session)
    return InvalidArgument("handshake: auth message for another session");
  if (state_ == State::kEstablished) {  // our M4 was lost: resend it for the very same M3 only
    if (Hash2(transcript_, m3_bytes) != th4_) return InvalidArgument("handshake: a different auth message for an established session");
    std::memcpy(out.data(), last_.data(), last_size_);
    *written = last_size_;
    return Status::Ok();
  }
  if (state_ != State::kAwaitAuth) return InvalidArgument("handshake: unexpected auth message (no response pending)");
  if (Expired(now_ms)) return Fail(DeadlineExceeded("handshake: auth message arrived after the handshake expired"));
  uint8_t identity[96];
  if (!crypto::AeadOpen(auth_key_, kZeroNonce, m3_bytes.first(12), m3.sealed_identity, identity))
    return Fail(InvalidArgument("handshake: auth message does not authenticate"));
  Bytes32 peer;
  std::memcpy(peer.data(), identity, 32);
  if (allow == nullptr || !allow(peer, allow_context)) return Fail(InvalidArgument("refused: device key is not enrolled"));
  if (!VerifyTranscript(peer, kLabelInitiator, transcript_, std::span<const uint8_t>(identity + 32, 64)))
    return Fail(InvalidArgument("handshake: the initiator's signature does not verify"));
  th4_ = Hash2(transcript_, m3_bytes);
  DeriveSession(prk_, th4_, &keys_.receive_key, &keys_.send_key, &finished_key_);
  crypto::SecureZero(prk_.data(), 32);
  keys_.peer_identity = peer;
  Finished m4;
  m4.initiator_session = keys_.peer_session, m4.responder_session = keys_.local_session;
  EncodeFinished(m4, std::span<uint8_t, kFinishedBytes>(last_.data(), kFinishedBytes));
  (void)crypto::AeadSeal(finished_key_, kZeroNonce, std::span(last_).first(12), {}, std::span(last_).subspan(12, 16));
  last_size_ = kFinishedBytes;
  std::memcpy(out.data(), last_.data(), last_size_);
  *written = last_size_;
  state_ = State::kEstablished;
  return Status::Ok();
}

}  // namespace edgesplit::secure
