// Sessions of the sealed transports: envelopes, the server's per-peer
// handshake state and the device's session (secure_session.h).
#include "secure_session.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "edgesplit/net.h"
#include "edgesplit/wire.h"

namespace edgesplit::net {

void EnrolledKeys::Replace(std::vector<crypto::Bytes32> keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_ = std::set<crypto::Bytes32>(keys.begin(), keys.end());
  ++generation_;
}
bool EnrolledKeys::Allowed(const crypto::Bytes32& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return keys_.count(key) > 0;
}
uint64_t EnrolledKeys::generation() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return generation_;
}
size_t EnrolledKeys::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return keys_.size();
}

bool IsRefusal(const Status& status) { return !status.ok() && status.message().find("refused: ") != std::string::npos; }
std::string RefusalReason(const Status& status) {
  const size_t at = status.message().find("refused: ");
  return at == std::string::npos ? status.message() : status.message().substr(at + 9);
}

namespace detail {
namespace {

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint32_t RandomU32() {
  uint32_t v = 0;
  while (v == 0) {  // 0 is never a session id
    uint8_t b[4];
    RandomBytes(b);
    v = GetU32(b);
  }
  return v;
}
crypto::Bytes32 RandomKey() {
  crypto::Bytes32 k;
  RandomBytes(k);
  return k;
}

bool AllowEnrolled(const crypto::Bytes32& key, void* context) {
  const auto* enrolled = static_cast<const EnrolledKeys*>(context);
  return enrolled && enrolled->Allowed(key);
}

}  // namespace

void RandomBytes(std::span<uint8_t> out) {
  for (size_t done = 0; done < out.size();) {
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) std::abort();  // no entropy: no safe key can be made
    done += static_cast<size_t>(n);
  }
}

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

Session MakeSession(const secure::SessionKeys& keys) {
  Session s;
  s.send = std::make_unique<secure::Sealer>(keys.send_key);
  s.receive = std::make_unique<secure::Opener>(keys.receive_key);
  s.local_id = keys.local_session;
  s.peer_id = keys.peer_session;
  s.peer_identity = keys.peer_identity;
  return s;
}

std::vector<uint8_t> HandshakeEnvelope(std::span<const uint8_t> message) {
  std::vector<uint8_t> e{kEnvelopeMarker, static_cast<uint8_t>(EnvelopeKind::kHandshake)};
  e.insert(e.end(), message.begin(), message.end());
  return e;
}

std::vector<uint8_t> NoticeEnvelope(NoticeCode code, uint32_t session, const std::string& reason) {
  std::vector<uint8_t> e{kEnvelopeMarker, static_cast<uint8_t>(EnvelopeKind::kNotice), static_cast<uint8_t>(code), 0, 0, 0, 0};
  PutU32(e.data() + 3, session);
  e.insert(e.end(), reason.begin(), reason.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(reason.size(), 160)));
  return e;
}

Result<EnvelopeKind> PeekEnvelope(std::span<const uint8_t> e) {
  if (e.size() < 2 || e[0] != kEnvelopeMarker) return InvalidArgument("not a secure-link envelope (no marker)");
  if (e[1] < 1 || e[1] > 3) return InvalidArgument("secure-link envelope of unknown kind " + std::to_string(e[1]));
  return static_cast<EnvelopeKind>(e[1]);
}

Status SealEnvelope(Session& s, std::span<const uint8_t> inner, std::vector<uint8_t>* out) {
  out->resize(inner.size() + kSealedDatagramOverhead);
  (*out)[0] = kEnvelopeMarker;
  (*out)[1] = static_cast<uint8_t>(EnvelopeKind::kSealed);
  PutU32(out->data() + 2, s.peer_id);
  return s.send->Seal(std::span<const uint8_t>(out->data(), kSealedHeaderBytes), inner,
                      std::span<uint8_t>(out->data() + kSealedHeaderBytes, out->size() - kSealedHeaderBytes));
}

Result<uint32_t> SealedSessionId(std::span<const uint8_t> e) {
  if (e.size() < kSealedDatagramOverhead) return InvalidArgument("sealed frame truncated (" + std::to_string(e.size()) + " bytes)");
  return GetU32(e.data() + 2);
}

Status OpenEnvelope(Session& s, std::span<const uint8_t> e, std::vector<uint8_t>* plain) {
  ES_ASSIGN_OR_RETURN(uint32_t id, SealedSessionId(e));
  if (id != s.local_id) return InvalidArgument("sealed frame for another session");
  plain->resize(e.size() - kSealedDatagramOverhead);
  return s.receive->Open(e.first(kSealedHeaderBytes), e.subspan(kSealedHeaderBytes), *plain);
}

// ---------------- Server ----------------

int64_t ServerSessions::BoundBytes(size_t max_peers) {
  // A hash-table entry: the pair, its next pointer and about one bucket pointer.
  constexpr int64_t kNode = 2 * sizeof(void*);
  const int64_t peer = static_cast<int64_t>(sizeof(std::pair<const uint64_t, Peer>) + sizeof(secure::Sealer) + sizeof(secure::Opener)) + kNode;
  const int64_t bucket = static_cast<int64_t>(sizeof(std::pair<const uint32_t, Bucket>)) + kNode;
  return static_cast<int64_t>(max_peers) * (peer + 4 * bucket);
}

ServerSessions::ServerSessions(const LinkSecurity& security, size_t max_peers, double idle_timeout_s)
    : security_(security), max_peers_(max_peers), idle_ms_(static_cast<uint64_t>(idle_timeout_s * 1e3)),
      max_frames_(std::min(security.max_frames_per_key, secure::kMaxFramesPerKey)) {
  if (security_.enrolled) seen_generation_ = security_.enrolled->generation();
}

bool ServerSessions::TakeToken(uint32_t source, uint64_t now_ms) {
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= 4 * max_peers_) {  // bounded: drop full buckets (they grant a burst anyway)
      for (auto b = buckets_.begin(); b != buckets_.end();)
        b = now_ms - b->second.at_ms > 60000 ? buckets_.erase(b) : std::next(b);
      if (buckets_.size() >= 4 * max_peers_) return false;
    }
    it = buckets_.emplace(source, Bucket{static_cast<double>(security_.handshake_burst), now_ms}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min<double>(security_.handshake_burst, b.tokens + (now_ms - b.at_ms) * security_.handshakes_per_s / 1e3);
  b.at_ms = now_ms;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

ServerSessions::Outcome ServerSessions::OnHandshake(uint64_t peer_key, uint32_t source, std::span<const uint8_t> m,
                                                    std::vector<uint8_t>* out) {
  auto type = secure::PeekHandshakeType(m);
  if (!type.ok()) return {Action::kNone, type.status().message()};
  const uint64_t now = NowMs();
  auto it = peers_.find(peer_key);
  uint8_t reply[secure::kMaxHandshakeBytes];
  size_t written = 0;
  if (*type == secure::HandshakeType::kHello) {
    if (m.size() != secure::kHelloBytes) return {Action::kNone, "handshake: hello of " + std::to_string(m.size()) + " bytes"};
    // Only a resend of the M1 still awaiting its M3 is answered for free (from state).
    const bool repeat = it != peers_.end() && it->second.pending.state() == secure::Responder::State::kAwaitAuth &&
                        std::equal(m.begin(), m.end(), it->second.last_hello.begin());
    if (!repeat) {
      if (!TakeToken(source, now)) {
        ++rate_limited_;
        return {Action::kNone, "handshake rate limit of the source reached"};
      }
      if (it == peers_.end()) {
        if (peers_.size() >= max_peers_) return {Action::kNone, std::to_string(max_peers_) + " peers already hold sessions"};
        it = peers_.emplace(peer_key, Peer{}).first;
      }
    }
    Peer& p = it->second;
    const crypto::Bytes32 eph = RandomKey();
    // A spoofed M1 restarts only the pending handshake, never the live session.
    const Status s = p.pending.OnHello(m, security_.identity, eph, RandomU32(), now, reply, &written, security_.timing);
    if (!s.ok()) return {Action::kNone, s.message()};
    std::copy(m.begin(), m.end(), p.last_hello.begin());
    p.last_active_ms = now;
    if (!repeat) ++handshakes_;
    *out = HandshakeEnvelope(std::span<const uint8_t>(reply, written));
    return {Action::kReply, ""};
  }
  if (*type != secure::HandshakeType::kAuth) return {Action::kNone, "handshake: a server takes only hello and auth messages"};
  if (it == peers_.end()) return {Action::kNone, "handshake: auth message with no hello"};
  Peer& p = it->second;
  const bool was_established = p.pending.state() == secure::Responder::State::kEstablished;
  auto decoded = secure::DecodeAuth(m);
  const Status s = p.pending.OnAuth(m, AllowEnrolled, security_.enrolled.get(), now, reply, &written);
  if (!s.ok()) {
    if (!IsRefusal(s)) return {Action::kNone, s.message()};
    ++refused_;
    *out = NoticeEnvelope(NoticeCode::kRefused, decoded.ok() ? decoded->initiator_session : 0, RefusalReason(s));
    return {Action::kReply, s.message()};
  }
  // Install the new session once (a repeated M3 only re-sends M4: re-installing
  // would restart the counters and reuse nonces).
  if (!was_established) p.session = MakeSession(p.pending.keys());
  p.last_active_ms = now;
  *out = HandshakeEnvelope(std::span<const uint8_t>(reply, written));
  return {Action::kReply, "", !was_established};
}

ServerSessions::Outcome ServerSessions::OnEnvelope(uint64_t peer_key, uint32_t source, std::span<const uint8_t> e,
                                                   std::vector<uint8_t>* out) {
  auto kind = PeekEnvelope(e);
  if (!kind.ok()) return {Action::kNone, kind.status().message()};
  if (*kind == EnvelopeKind::kHandshake) return OnHandshake(peer_key, source, e.subspan(2), out);
  if (*kind != EnvelopeKind::kSealed) return {Action::kNone, "a notice sent to a server"};
  auto id = SealedSessionId(e);
  if (!id.ok()) return {Action::kNone, id.status().message()};
  auto it = peers_.find(peer_key);
  if (it == peers_.end() || !it->second.session || it->second.session->local_id != *id) {
    // Tell the device to handshake again (its session ended: restart, revocation, re-key).
    *out = NoticeEnvelope(NoticeCode::kUnknownSession, *id, "");
    return {Action::kReply, "sealed frame for an unknown session"};
  }
  Session& s = *it->second.session;
  const Status opened = OpenEnvelope(s, e, out);
  if (!opened.ok()) return {Action::kNone, opened.message()};
  it->second.last_active_ms = NowMs();
  return {Action::kDeliver, ""};
}

Status ServerSessions::Seal(uint64_t peer_key, std::span<const uint8_t> inner, std::vector<uint8_t>* out) {
  auto it = peers_.find(peer_key);
  if (it == peers_.end() || !it->second.session) return NotFound("no session with the peer (revoked, expired or re-keyed)");
  Session& s = *it->second.session;
  if (s.send->next_counter() >= max_frames_) {  // key used up: the device's next frame is told to re-handshake
    it->second.session.reset();
    return NotFound("the session's key reached its frame limit; the device handshakes again");
  }
  return SealEnvelope(s, inner, out);
}

bool ServerSessions::Established(uint64_t peer_key) const {
  auto it = peers_.find(peer_key);
  return it != peers_.end() && it->second.session.has_value();
}

std::vector<uint64_t> ServerSessions::Sweep() {
  std::vector<uint64_t> revoked;
  const uint64_t now = NowMs();
  const uint64_t generation = security_.enrolled ? security_.enrolled->generation() : 0;
  const bool reload = generation != seen_generation_;
  seen_generation_ = generation;
  for (auto it = peers_.begin(); it != peers_.end();) {
    Peer& p = it->second;
    if (reload && p.session && !AllowEnrolled(p.session->peer_identity, security_.enrolled.get())) {
      revoked.push_back(it->first);
      it = peers_.erase(it);
      continue;
    }
    if (now - p.last_active_ms > idle_ms_) {
      it = peers_.erase(it);
      continue;
    }
    ++it;
  }
  return revoked;
}

// ---------------- Device ----------------

std::vector<uint8_t> ClientSession::Start() {
  session_.reset();
  uint8_t m1[secure::kHelloBytes];
  size_t written = 0;
  crypto::Bytes32 eph = RandomKey();
  (void)initiator_.Start(security_.identity, security_.server_public, eph, RandomU32(), NowMs(), m1, &written, security_.timing);
  crypto::SecureZero(eph.data(), eph.size());
  return HandshakeEnvelope(std::span<const uint8_t>(m1, written));
}

Result<ClientSession::Event> ClientSession::OnEnvelope(std::span<const uint8_t> e, std::vector<uint8_t>* out) {
  auto kind = PeekEnvelope(e);
  if (!kind.ok()) return Event::kNone;
  if (*kind == EnvelopeKind::kNotice) {
    if (e.size() < 7) return Event::kNone;
    const uint32_t id = GetU32(e.data() + 3);
    const std::string reason(e.begin() + 7, e.end());
    if (e[2] == static_cast<uint8_t>(NoticeCode::kRefused) && !session_ &&
        initiator_.state() != secure::Initiator::State::kIdle && id == initiator_.keys().local_session)
      return InvalidArgument("refused: " + (reason.empty() ? std::string("by the server") : reason));
    if (e[2] == static_cast<uint8_t>(NoticeCode::kUnknownSession) && session_ && id == session_->peer_id) {
      session_.reset();
      return Event::kSessionLost;
    }
    return Event::kNone;
  }
  if (*kind == EnvelopeKind::kSealed) {
    if (!session_) return Event::kNone;
    if (!OpenEnvelope(*session_, e, out).ok()) return Event::kNone;  // dropped: forged, replayed, old
    return Event::kDeliver;
  }
  const std::span<const uint8_t> m = e.subspan(2);
  auto type = secure::PeekHandshakeType(m);
  if (!type.ok()) return Event::kNone;
  const uint64_t now = NowMs();
  if (*type == secure::HandshakeType::kResponse) {
    if (initiator_.state() != secure::Initiator::State::kAwaitResponse &&
        initiator_.state() != secure::Initiator::State::kAwaitFinished)
      return Event::kNone;
    uint8_t m3[secure::kAuthBytes];
    size_t written = 0;
    const Status s = initiator_.OnResponse(m, now, m3, &written);
    if (!s.ok()) {
      // A response that does not verify ends the handshake: the server is not
      // the one whose key we hold.
      if (initiator_.state() == secure::Initiator::State::kFailed)
        return InvalidArgument("refused: " + s.message() + " (check --server-key)");
      return Event::kNone;
    }
    *out = HandshakeEnvelope(std::span<const uint8_t>(m3, written));
    return Event::kSend;
  }
  if (*type == secure::HandshakeType::kFinished) {
    if (session_ || !initiator_.OnFinished(m, now).ok()) return Event::kNone;
    session_ = MakeSession(initiator_.keys());
    return Event::kEstablished;
  }
  return Event::kNone;
}

Result<std::vector<uint8_t>> ClientSession::Poll() {
  uint8_t m[secure::kMaxHandshakeBytes];
  size_t written = 0;
  const Status s = initiator_.Poll(NowMs(), m, &written);
  if (!s.ok()) return InvalidArgument("refused: " + s.message() + " (server down, wrong --server-key, or rate-limited)");
  if (written == 0) return std::vector<uint8_t>();
  return HandshakeEnvelope(std::span<const uint8_t>(m, written));
}

bool ClientSession::needs_rekey() const {
  return session_ && session_->send->next_counter() >= std::min(security_.max_frames_per_key, secure::kMaxFramesPerKey);
}

Status ClientSession::Seal(std::span<const uint8_t> inner, std::vector<uint8_t>* out) {
  if (!session_) return InvalidArgument("no secure session");
  return SealEnvelope(*session_, inner, out);
}

// ---------------- One-shot (MQTT) ----------------
namespace {
constexpr std::string_view kOneShotLabel = "edgesplit one-shot v1";
constexpr uint8_t kZeroNonce[12] = {};

struct OneShotSchedule {
  crypto::Bytes32 identity_key{}, prk1{};
};
OneShotSchedule FirstKeys(const crypto::Bytes32& e_pub, const crypto::Bytes32& server_ed, const crypto::Bytes32& es) {
  std::vector<uint8_t> salt(kOneShotLabel.begin(), kOneShotLabel.end());
  salt.insert(salt.end(), e_pub.begin(), e_pub.end());
  salt.insert(salt.end(), server_ed.begin(), server_ed.end());
  OneShotSchedule k;
  k.prk1 = crypto::HkdfExtract(crypto::Sha256(salt), es);
  (void)crypto::HkdfExpand(k.prk1, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("identity"), 8), k.identity_key);
  return k;
}
void SecondKeys(const crypto::Bytes32& prk1, const crypto::Bytes32& es, const crypto::Bytes32& ss, crypto::Bytes32* request,
                crypto::Bytes32* reply) {
  uint8_t ikm[64];
  std::memcpy(ikm, es.data(), 32);
  std::memcpy(ikm + 32, ss.data(), 32);
  const crypto::Bytes32 prk2 = crypto::HkdfExtract(prk1, ikm);
  crypto::SecureZero(ikm, sizeof ikm);
  (void)crypto::HkdfExpand(prk2, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("request"), 7), *request);
  (void)crypto::HkdfExpand(prk2, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("reply"), 5), *reply);
}
}  // namespace

Status SealOneShot(const LinkSecurity& device, std::span<const uint8_t> message, std::vector<uint8_t>* out, OneShotKeys* keys) {
  crypto::Bytes32 server_x;
  if (!crypto::Ed25519PublicToX25519(device.server_public, &server_x)) return InvalidArgument("the server key has no X25519 form");
  crypto::Bytes32 e = RandomKey(), es, ss;
  const crypto::Bytes32 e_pub = crypto::X25519Base(e);
  const bool ok = crypto::X25519(e, server_x, &es) &&
                  crypto::X25519(crypto::Ed25519SecretToX25519(device.identity.secret_key), server_x, &ss);
  crypto::SecureZero(e.data(), e.size());
  if (!ok) return InvalidArgument("the server key has low order");
  out->assign(message.size() + kOneShotRequestOverhead, 0);
  uint8_t* o = out->data();
  o[0] = kEnvelopeMarker;
  o[1] = 4;
  std::memcpy(o + 2, e_pub.data(), 32);
  const OneShotSchedule k1 = FirstKeys(e_pub, device.server_public, es);
  (void)crypto::AeadSeal(k1.identity_key, kZeroNonce, std::span<const uint8_t>(o, 34), device.identity.public_key,
                         std::span<uint8_t>(o + 34, 48));
  crypto::Bytes32 request_key;
  SecondKeys(k1.prk1, es, ss, &request_key, &keys->reply);
  keys->tag = GetU32(o + 2);
  (void)crypto::AeadSeal(request_key, kZeroNonce, std::span<const uint8_t>(o, 82), message,
                         std::span<uint8_t>(o + 82, message.size() + crypto::kAeadTagBytes));
  crypto::SecureZero(request_key.data(), 32);
  return Status::Ok();
}

Status OpenOneShot(const LinkSecurity& server, std::span<const uint8_t> in, std::vector<uint8_t>* message, OneShotKeys* keys) {
  if (in.size() < kOneShotRequestOverhead || in[0] != kEnvelopeMarker || in[1] != 4)
    return InvalidArgument("not a sealed one-shot request (" + std::to_string(in.size()) + " bytes)");
  crypto::Bytes32 e_pub, es, ss, device, device_x, request_key;
  std::memcpy(e_pub.data(), in.data() + 2, 32);
  const crypto::Bytes32 s = crypto::Ed25519SecretToX25519(server.identity.secret_key);
  if (!crypto::X25519(s, e_pub, &es)) return InvalidArgument("one-shot request: ephemeral key of low order");
  const OneShotSchedule k1 = FirstKeys(e_pub, server.identity.public_key, es);
  if (!crypto::AeadOpen(k1.identity_key, kZeroNonce, in.first(34), in.subspan(34, 48), device))
    return InvalidArgument("one-shot request does not authenticate (identity)");
  keys->tag = GetU32(in.data() + 2);
  if (!AllowEnrolled(device, server.enrolled.get())) return InvalidArgument("refused: device key is not enrolled");
  if (!crypto::Ed25519PublicToX25519(device, &device_x) || !crypto::X25519(s, device_x, &ss))
    return InvalidArgument("one-shot request: the device key has no X25519 form");
  SecondKeys(k1.prk1, es, ss, &request_key, &keys->reply);
  message->resize(in.size() - kOneShotRequestOverhead);
  const bool ok = crypto::AeadOpen(request_key, kZeroNonce, in.first(82), in.subspan(82), *message);
  crypto::SecureZero(request_key.data(), 32);
  if (!ok) return InvalidArgument("one-shot request does not authenticate");
  return Status::Ok();
}

Status SealOneShotReply(const OneShotKeys& keys, std::span<const uint8_t> message, std::vector<uint8_t>* out) {
  out->assign(message.size() + kOneShotReplyOverhead, 0);
  uint8_t* o = out->data();
  o[0] = kEnvelopeMarker;
  o[1] = 5;
  // A random nonce: two replicas may both answer one request under its one key.
  RandomBytes(std::span<uint8_t>(o + 2, 12));
  (void)crypto::AeadSeal(keys.reply, std::span<const uint8_t, 12>(o + 2, 12), std::span<const uint8_t>(o, 14), message,
                         std::span<uint8_t>(o + 14, message.size() + crypto::kAeadTagBytes));
  return Status::Ok();
}

Status OpenOneShotReply(const OneShotKeys& keys, std::span<const uint8_t> in, std::vector<uint8_t>* message) {
  if (in.size() >= 7 && in[0] == kEnvelopeMarker && in[1] == static_cast<uint8_t>(EnvelopeKind::kNotice) &&
      in[2] == static_cast<uint8_t>(NoticeCode::kRefused) && GetU32(in.data() + 3) == keys.tag)
    return InvalidArgument("refused: " + std::string(in.begin() + 7, in.end()));
  if (in.size() < kOneShotReplyOverhead || in[0] != kEnvelopeMarker || in[1] != 5)
    return InvalidArgument("not a sealed one-shot reply");
  message->resize(in.size() - kOneShotReplyOverhead);
  if (!crypto::AeadOpen(keys.reply, std::span<const uint8_t, 12>(in.data() + 2, 12), in.first(14), in.subspan(14), *message))
    return InvalidArgument("one-shot reply does not authenticate");
  return Status::Ok();
}

}  // namespace detail

int64_t SecureSessionBoundBytes(const ChannelOptions& options, const ServerLimits& limits) {
  if (!IsDatagram(options.kind)) return detail::ServerSessions::BoundBytes(static_cast<size_t>(limits.max_connections));
  return detail::ServerSessions::BoundBytes(static_cast<size_t>(limits.max_peers)) + static_cast<int64_t>(wire::kMaxDatagramBytes);
}

}  // namespace edgesplit::net
