// libFuzzer target for secure links (edgesplit/secure_link.h): the handshake
// message decoders, both handshake state machines fed outside bytes, and the
// sealed-frame opener with its replay window. Properties:
//  1. every decoder rejects with a Status or accepts, and an accepted message
//     re-encodes to exactly the input bytes;
//  2. a responder given the input as M1 or M3, and an initiator given it as M2
//     or M4 after a real M1, never crash; the initiator accepts the input as
//     M2 only when it is byte for byte the genuine M2 of a real responder
//     (any other accepted M2 would be a forgery), and the responder never
//     completes from outside bytes (no M3 can match its own fresh M2);
//  3. the input cut into frames (1-byte length prefix) is opened by an Opener
//     whose key no seed or mutation uses: nothing opens; then each frame's first 8 bytes are
//     used as a counter and the rest as plaintext, sealed genuinely and opened:
//     it must open exactly when the window says the counter is fresh, and the
//     plaintext must come back unchanged.
// Seeds: fuzz/seeds/secure_link/ (genuine M1..M4 and sealed frames).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "edgesplit/secure_link.h"

namespace {

using namespace edgesplit::secure;
using edgesplit::crypto::Bytes32;

void Require(bool property) {
  if (!property) std::abort();
}

Bytes32 Filled(uint8_t b) {
  Bytes32 x;
  x.fill(b);
  return x;
}

Identity MakeIdentity(uint8_t seed_byte) {
  const edgesplit::crypto::Ed25519KeyPair kp = edgesplit::crypto::Ed25519FromSeed(Filled(seed_byte));
  return Identity{kp.public_key, kp.secret_key};
}

template <size_t N, typename M, typename Enc>
void RoundTrip(const edgesplit::Result<M>& m, std::span<const uint8_t> in, Enc encode) {
  if (!m.ok()) return;
  uint8_t out[N];
  encode(*m, std::span<uint8_t, N>(out, N));
  Require(in.size() == N && std::memcmp(out, in.data(), N) == 0);
}

bool AllowAll(const Bytes32&, void*) { return true; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  (void)PeekHandshakeType(in);
  RoundTrip<kHelloBytes>(DecodeHello(in), in, EncodeHello);
  RoundTrip<kResponseBytes>(DecodeResponse(in), in, EncodeResponse);
  RoundTrip<kAuthBytes>(DecodeAuth(in), in, EncodeAuth);
  RoundTrip<kFinishedBytes>(DecodeFinished(in), in, EncodeFinished);

  static const Identity device = MakeIdentity(1), server = MakeIdentity(2);
  uint8_t out[kMaxHandshakeBytes];
  size_t n = 0;
  {
    Responder r;
    (void)r.OnHello(in, server, Filled(0x22), 9, 0, out, &n);
    // A well-formed M1 from the input is answered; its M3 must then fail.
    (void)r.OnAuth(in, AllowAll, nullptr, 1, out, &n);
    Require(r.state() != Responder::State::kEstablished);
  }
  static const std::vector<uint8_t> genuine_m2 = [] {
    Initiator i;
    Responder r;
    uint8_t m1[kMaxHandshakeBytes], m2[kMaxHandshakeBytes];
    size_t n1 = 0, n2 = 0;
    Require(i.Start(device, server.public_key, Filled(0x11), 7, 0, m1, &n1).ok());
    Require(r.OnHello(std::span<const uint8_t>(m1, n1), server, Filled(0x22), 9, 0, m2, &n2).ok());
    return std::vector<uint8_t>(m2, m2 + n2);
  }();
  static const Initiator started = [] {  // copied per input: no key generation per run
    Initiator i;
    uint8_t m1[kMaxHandshakeBytes];
    size_t n1 = 0;
    Require(i.Start(device, server.public_key, Filled(0x11), 7, 0, m1, &n1).ok());
    return i;
  }();
  {
    Initiator i = started;
    const bool accepted = i.OnResponse(in, 1, out, &n).ok();
    const bool genuine = size == genuine_m2.size() && std::memcmp(data, genuine_m2.data(), size) == 0;
    Require(accepted == genuine);
    Require(i.state() != Initiator::State::kEstablished);
    (void)i.OnFinished(in, 2);
    Require(i.state() != Initiator::State::kEstablished || genuine);
  }

  const Bytes32 key = Filled(0x5a);
  Opener forged(Filled(0xa5)), genuine(key);  // no input is sealed under 0xa5..: nothing may open there
  std::vector<uint8_t> plain, frame;
  for (size_t pos = 0; pos < size;) {
    const size_t len = data[pos++];
    const size_t take = len < size - pos ? len : size - pos;
    const std::span<const uint8_t> f(data + pos, take);
    pos += take;
    plain.assign(take >= kSealOverhead ? take - kSealOverhead : 0, 0);
    Require(!forged.Open({}, f, plain).ok());
    if (take < kCounterBytes) continue;
    uint64_t counter = 0;
    for (int b = 0; b < 8; ++b) counter |= uint64_t{f[b]} << (8 * b);
    const std::span<const uint8_t> body = f.subspan(kCounterBytes);
    frame.assign(body.size() + kSealOverhead, 0);
    for (int b = 0; b < 8; ++b) frame[b] = static_cast<uint8_t>(counter >> (8 * b));
    std::array<uint8_t, 12> nonce{};
    std::memcpy(nonce.data() + 4, frame.data(), 8);
    Require(edgesplit::crypto::AeadSeal(key, nonce, {}, body, std::span(frame).subspan(kCounterBytes)));
    const bool fresh = genuine.Fresh(counter);
    plain.assign(body.size(), 0);
    Require(genuine.Open({}, frame, plain).ok() == fresh);
    if (fresh && !body.empty()) Require(std::memcmp(plain.data(), body.data(), body.size()) == 0);
    Require(!genuine.Fresh(counter));
  }
  return 0;
}
