// Chunk, manifest and ack layouts (docs/mcu.md, "Over-the-air delivery").
#include <cstring>

#include "internal/byte_io.h"  // little-endian field access, shared with the wire module
#include "edgesplit/delivery.h"

namespace edgesplit::delivery {
namespace {

using wire::internal::GetU16;
using wire::internal::GetU32;
using wire::internal::PutU16;
using wire::internal::PutU32;

constexpr uint8_t kChunkMagic[4] = {'E', 'S', 'D', 'L'};
constexpr uint8_t kAckMagic[4] = {'E', 'S', 'D', 'A'};
constexpr uint8_t kFlagSigned = 0x01, kFlagFinal = 0x02;

std::string N(uint64_t v) { return std::to_string(v); }

// The wire's dtype codes (docs/wire.md); a segment executes in f32 or int8.
uint8_t DTypeCode(DType d) { return d == DType::kFloat32 ? 1 : d == DType::kInt8 ? 2 : 0; }
bool DTypeFromCode(uint8_t code, DType* d) {
  if (code != 1 && code != 2) return false;
  *d = code == 1 ? DType::kFloat32 : DType::kInt8;
  return true;
}

// Manifest body offsets (after the chunk header).
constexpr size_t kOffDType = 0, kOffFlags = 1, kOffModelLength = 2, kOffIndex = 4, kOffCutBefore = 8, kOffCutAfter = 12,
                 kOffFileBytes = 16;

}  // namespace

Result<size_t> EncodeChunk(const ChunkHeader& h, std::span<const uint8_t> body, std::span<uint8_t> out) {
  if (out.size() < kChunkHeaderBytes + body.size())
    return OutOfRange("chunk of " + N(kChunkHeaderBytes + body.size()) + " bytes does not fit a buffer of " + N(out.size()));
  uint8_t* p = out.data();
  std::memcpy(p, kChunkMagic, 4);
  p[4] = kDeliveryVersion;
  p[5] = static_cast<uint8_t>(h.kind);
  PutU16(p + 6, 0);
  PutU32(p + 8, h.sequence);
  PutU32(p + 12, h.offset);
  if (!body.empty()) std::memcpy(p + kChunkHeaderBytes, body.data(), body.size());
  return kChunkHeaderBytes + body.size();
}

Result<DecodedChunk> DecodeChunk(std::span<const uint8_t> bytes) {
  if (bytes.size() < kChunkHeaderBytes)
    return InvalidArgument("delivery chunk of " + N(bytes.size()) + " bytes is shorter than its " + N(kChunkHeaderBytes) + "-byte header");
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kChunkMagic, 4) != 0) return InvalidArgument("not a delivery chunk: bad magic (expected \"ESDL\")");
  if (p[4] != kDeliveryVersion)
    return Unsupported("delivery chunk version " + N(p[4]) + " (this build speaks version " + N(kDeliveryVersion) + ")");
  if (p[5] < 1 || p[5] > 3) return InvalidArgument("unknown delivery chunk kind " + N(p[5]));
  if (GetU16(p + 6) != 0) return InvalidArgument("delivery chunk reserved bytes are not zero");
  DecodedChunk c;
  c.header.kind = static_cast<ChunkKind>(p[5]);
  c.header.sequence = GetU32(p + 8);
  c.header.offset = GetU32(p + 12);
  c.body = bytes.subspan(kChunkHeaderBytes);
  if (c.header.kind != ChunkKind::kData && c.header.offset != 0)
    return InvalidArgument("manifest/end chunk with offset " + N(c.header.offset) + " (must be 0)");
  if (c.header.kind == ChunkKind::kEnd && !c.body.empty())
    return InvalidArgument("end chunk carries " + N(c.body.size()) + " bytes (must be empty)");
  if (c.header.kind == ChunkKind::kData && c.body.empty()) return InvalidArgument("data chunk carries no bytes");
  return c;
}

Result<std::vector<uint8_t>> EncodeManifestChunk(const Manifest& m) {
  if (m.model.size() > kMaxModelBytes)
    return InvalidArgument("model name of " + N(m.model.size()) + " bytes exceeds the manifest's " + N(kMaxModelBytes));
  if (DTypeCode(m.dtype) == 0) return Unsupported(std::string("a delivered segment runs in f32 or int8, not ") + DTypeName(m.dtype));
  if (m.sequence == 0) return InvalidArgument("delivery sequence numbers start at 1");
  const size_t body = kManifestFixedBytes + m.model.size() + kSha256Bytes + (m.has_signature ? kSignatureBytes : 0);
  std::vector<uint8_t> out(kChunkHeaderBytes + body);
  ES_RETURN_IF_ERROR(EncodeChunk({ChunkKind::kManifest, m.sequence, 0}, {}, out).status());
  uint8_t* p = out.data() + kChunkHeaderBytes;
  p[kOffDType] = DTypeCode(m.dtype);
  p[kOffFlags] = static_cast<uint8_t>((m.has_signature ? kFlagSigned : 0) | (m.final_segment ? kFlagFinal : 0));
  PutU16(p + kOffModelLength, static_cast<uint16_t>(m.model.size()));
  PutU32(p + kOffIndex, m.segment_index);
  PutU32(p + kOffCutBefore, m.cut_before);
  PutU32(p + kOffCutAfter, m.cut_after);
  PutU32(p + kOffFileBytes, m.file_bytes);
  uint8_t* q = p + kManifestFixedBytes;
  if (!m.model.empty()) std::memcpy(q, m.model.data(), m.model.size());
  q += m.model.size();
  std::memcpy(q, m.sha256.data(), kSha256Bytes);
  if (m.has_signature) std::memcpy(q + kSha256Bytes, m.signature.data(), kSignatureBytes);
  return out;
}

Result<Manifest> DecodeManifest(const DecodedChunk& chunk) {
  if (chunk.header.kind != ChunkKind::kManifest) return InvalidArgument("not a manifest chunk");
  const std::span<const uint8_t> b = chunk.body;
  if (b.size() < kManifestFixedBytes + kSha256Bytes)
    return InvalidArgument("manifest of " + N(b.size()) + " bytes is shorter than its fixed fields and hash (" +
                           N(kManifestFixedBytes + kSha256Bytes) + ")");
  Manifest m;
  m.sequence = chunk.header.sequence;
  if (m.sequence == 0) return InvalidArgument("manifest sequence 0 (sequence numbers start at 1)");
  if (!DTypeFromCode(b[kOffDType], &m.dtype)) return InvalidArgument("manifest dtype code " + N(b[kOffDType]) + " (1 f32, 2 int8)");
  const uint8_t flags = b[kOffFlags];
  if (flags & ~(kFlagSigned | kFlagFinal)) return InvalidArgument("manifest flags 0x" + Hex(std::span<const uint8_t>(&flags, 1)) + " has unknown bits");
  m.has_signature = flags & kFlagSigned;
  m.final_segment = flags & kFlagFinal;
  const size_t model_bytes = GetU16(b.data() + kOffModelLength);
  if (model_bytes > kMaxModelBytes) return InvalidArgument("manifest model name of " + N(model_bytes) + " bytes exceeds " + N(kMaxModelBytes));
  const size_t expected = kManifestFixedBytes + model_bytes + kSha256Bytes + (m.has_signature ? kSignatureBytes : 0);
  if (b.size() != expected)
    return InvalidArgument("manifest of " + N(b.size()) + " bytes; its fields say " + N(expected) +
                           (m.has_signature ? " (signed)" : " (unsigned)"));
  m.segment_index = GetU32(b.data() + kOffIndex);
  m.cut_before = GetU32(b.data() + kOffCutBefore);
  m.cut_after = GetU32(b.data() + kOffCutAfter);
  m.file_bytes = GetU32(b.data() + kOffFileBytes);
  if (m.cut_after <= m.cut_before)
    return InvalidArgument("manifest cuts " + N(m.cut_before) + ".." + N(m.cut_after) + " are empty or reversed");
  if (m.file_bytes == 0) return InvalidArgument("manifest declares an empty file");
  const uint8_t* q = b.data() + kManifestFixedBytes;
  m.model.assign(reinterpret_cast<const char*>(q), model_bytes);
  q += model_bytes;
  std::memcpy(m.sha256.data(), q, kSha256Bytes);
  if (m.has_signature) std::memcpy(m.signature.data(), q + kSha256Bytes, kSignatureBytes);
  return m;
}

const char* RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kNone: return "none";
    case RejectReason::kMalformed: return "malformed";
    case RejectReason::kUnsigned: return "unsigned";
    case RejectReason::kBadSignature: return "bad_signature";
    case RejectReason::kReplayed: return "replayed";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kOutOfOrder: return "out_of_order";
    case RejectReason::kTruncated: return "truncated";
    case RejectReason::kCorrupted: return "corrupted";
    case RejectReason::kInvalidSegment: return "invalid_segment";
    case RejectReason::kMismatch: return "mismatch";
    case RejectReason::kLoadFailed: return "load_failed";
  }
  return "unknown";
}

std::vector<uint8_t> EncodeAck(const Ack& a) {
  const size_t detail = a.detail.size() < kMaxDetailBytes ? a.detail.size() : kMaxDetailBytes;
  std::vector<uint8_t> out(kAckFixedBytes + detail);
  uint8_t* p = out.data();
  std::memcpy(p, kAckMagic, 4);
  p[4] = kDeliveryVersion;
  p[5] = a.accepted ? 0 : 1;
  p[6] = static_cast<uint8_t>(a.reason);
  p[7] = 0;
  PutU32(p + 8, a.sequence);
  std::memcpy(p + 12, a.sha256.data(), kSha256Bytes);
  PutU16(p + 44, static_cast<uint16_t>(detail));
  if (detail) std::memcpy(p + kAckFixedBytes, a.detail.data(), detail);
  return out;
}

Result<Ack> DecodeAck(std::span<const uint8_t> bytes) {
  if (bytes.size() < kAckFixedBytes)
    return InvalidArgument("delivery ack of " + N(bytes.size()) + " bytes is shorter than its " + N(kAckFixedBytes) + "-byte header");
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kAckMagic, 4) != 0) return InvalidArgument("not a delivery ack: bad magic (expected \"ESDA\")");
  if (p[4] != kDeliveryVersion)
    return Unsupported("delivery ack version " + N(p[4]) + " (this build speaks version " + N(kDeliveryVersion) + ")");
  if (p[5] > 1) return InvalidArgument("delivery ack verdict " + N(p[5]) + " (0 accepted, 1 rejected)");
  Ack a;
  a.accepted = p[5] == 0;
  if (p[6] > static_cast<uint8_t>(RejectReason::kLoadFailed)) return InvalidArgument("unknown rejection reason " + N(p[6]));
  a.reason = static_cast<RejectReason>(p[6]);
  if (a.accepted != (a.reason == RejectReason::kNone))
    return InvalidArgument(std::string("delivery ack says ") + (a.accepted ? "accepted" : "rejected") + " with reason " +
                           RejectReasonName(a.reason));
  if (p[7] != 0) return InvalidArgument("delivery ack reserved byte is not zero");
  a.sequence = GetU32(p + 8);
  std::memcpy(a.sha256.data(), p + 12, kSha256Bytes);
  const size_t detail = GetU16(p + 44);
  if (detail > kMaxDetailBytes || bytes.size() != kAckFixedBytes + detail)
    return InvalidArgument("delivery ack of " + N(bytes.size()) + " bytes says its detail has " + N(detail));
  a.detail.assign(reinterpret_cast<const char*>(p + kAckFixedBytes), detail);
  return a;
}

}  // namespace edgesplit::delivery
