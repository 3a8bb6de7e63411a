// The handshake messages' byte layouts (secure_link.h, docs/security.md):
// fixed sizes, little-endian session ids, every field checked on decode.
#include <cstring>
#include <string>

#include "crypto_internal.h"
#include "edgesplit/secure_link.h"

namespace edgesplit::secure {
namespace {

using crypto::internal::LoadLe32;
using crypto::internal::StoreLe32;

const char* TypeName(HandshakeType t) {
  switch (t) {
    case HandshakeType::kHello: return "hello (M1)";
    case HandshakeType::kResponse: return "response (M2)";
    case HandshakeType::kAuth: return "auth (M3)";
    case HandshakeType::kFinished: return "finished (M4)";
  }
  return "?";
}

size_t SizeOf(HandshakeType t) {
  switch (t) {
    case HandshakeType::kHello: return kHelloBytes;
    case HandshakeType::kResponse: return kResponseBytes;
    case HandshakeType::kAuth: return kAuthBytes;
    case HandshakeType::kFinished: return kFinishedBytes;
  }
  return 0;
}

// Header and exact size of a message of type `want`.
Status CheckFrame(std::span<const uint8_t> b, HandshakeType want) {
  Result<HandshakeType> type = PeekHandshakeType(b);
  if (!type.ok()) return type.status();
  if (*type != want)
    return InvalidArgument(std::string("handshake: expected a ") + TypeName(want) + " message, got a " + TypeName(*type));
  const size_t size = SizeOf(want);
  if (b.size() != size)
    return InvalidArgument(std::string("handshake: ") + TypeName(want) + " has " + std::to_string(b.size()) + " bytes, expected " +
                           std::to_string(size));
  return Status::Ok();
}

void PutHeader(uint8_t* p, HandshakeType t) {
  p[0] = static_cast<uint8_t>(t), p[1] = kProtocolVersion, p[2] = kSuiteX25519Ed25519ChaChaPolySha256, p[3] = 0;
}

// M3 and M4 share a layout: header, two session ids, then one sealed blob.
template <typename M, uint32_t M::*kFirst, uint32_t M::*kSecond, auto kBlob>
Result<M> DecodeIdsAndBlob(std::span<const uint8_t> b, HandshakeType type) {
  ES_RETURN_IF_ERROR(CheckFrame(b, type));
  M m;
  m.*kFirst = LoadLe32(b.data() + 4);
  m.*kSecond = LoadLe32(b.data() + 8);
  std::memcpy((m.*kBlob).data(), b.data() + 12, (m.*kBlob).size());
  return m;
}
template <typename M, uint32_t M::*kFirst, uint32_t M::*kSecond, auto kBlob>
void EncodeIdsAndBlob(const M& m, uint8_t* out, HandshakeType type) {
  PutHeader(out, type);
  StoreLe32(out + 4, m.*kFirst);
  StoreLe32(out + 8, m.*kSecond);
  std::memcpy(out + 12, (m.*kBlob).data(), (m.*kBlob).size());
}

}  // namespace

Result<HandshakeType> PeekHandshakeType(std::span<const uint8_t> b) {
  if (b.size() < kHeaderBytes)
    return InvalidArgument("handshake: truncated, " + std::to_string(b.size()) + " bytes (a header has " + std::to_string(kHeaderBytes) + ")");
  if (b[0] < 1 || b[0] > 4) return InvalidArgument("handshake: unknown message type " + std::to_string(b[0]));
  if (b[1] != kProtocolVersion)
    return Unsupported("handshake: protocol version " + std::to_string(b[1]) + " (this build speaks " + std::to_string(kProtocolVersion) + ")");
  if (b[2] != kSuiteX25519Ed25519ChaChaPolySha256) return Unsupported("handshake: cipher suite " + std::to_string(b[2]) + " is not supported");
  if (b[3] != 0) return InvalidArgument("handshake: reserved byte is " + std::to_string(b[3]) + ", must be 0");
  return static_cast<HandshakeType>(b[0]);
}

Result<Hello> DecodeHello(std::span<const uint8_t> b) {
  ES_RETURN_IF_ERROR(CheckFrame(b, HandshakeType::kHello));
  Hello m;
  m.initiator_session = LoadLe32(b.data() + 4);
  std::memcpy(m.ephemeral.data(), b.data() + 8, 32);
  return m;
}

Result<Response> DecodeResponse(std::span<const uint8_t> b) {
  ES_RETURN_IF_ERROR(CheckFrame(b, HandshakeType::kResponse));
  Response m;
  m.initiator_session = LoadLe32(b.data() + 4);
  m.responder_session = LoadLe32(b.data() + 8);
  std::memcpy(m.ephemeral.data(), b.data() + 12, 32);
  std::memcpy(m.sealed_signature.data(), b.data() + 44, m.sealed_signature.size());
  return m;
}

Result<Auth> DecodeAuth(std::span<const uint8_t> b) {
  return DecodeIdsAndBlob<Auth, &Auth::responder_session, &Auth::initiator_session, &Auth::sealed_identity>(b, HandshakeType::kAuth);
}

Result<Finished> DecodeFinished(std::span<const uint8_t> b) {
  return DecodeIdsAndBlob<Finished, &Finished::initiator_session, &Finished::responder_session, &Finished::tag>(b,
                                                                                                               HandshakeType::kFinished);
}

void EncodeHello(const Hello& m, std::span<uint8_t, kHelloBytes> out) {
  PutHeader(out.data(), HandshakeType::kHello);
  StoreLe32(out.data() + 4, m.initiator_session);
  std::memcpy(out.data() + 8, m.ephemeral.data(), 32);
}

void EncodeResponse(const Response& m, std::span<uint8_t, kResponseBytes> out) {
  PutHeader(out.data(), HandshakeType::kResponse);
  StoreLe32(out.data() + 4, m.initiator_session);
  StoreLe32(out.data() + 8, m.responder_session);
  std::memcpy(out.data() + 12, m.ephemeral.data(), 32);
  std::memcpy(out.data() + 44, m.sealed_signature.data(), m.sealed_signature.size());
}

void EncodeAuth(const Auth& m, std::span<uint8_t, kAuthBytes> out) {
  EncodeIdsAndBlob<Auth, &Auth::responder_session, &Auth::initiator_session, &Auth::sealed_identity>(m, out.data(), HandshakeType::kAuth);
}

void EncodeFinished(const Finished& m, std::span<uint8_t, kFinishedBytes> out) {
  EncodeIdsAndBlob<Finished, &Finished::initiator_session, &Finished::responder_session, &Finished::tag>(m, out.data(),
                                                                                                         HandshakeType::kFinished);
}

}  // namespace edgesplit::secure
