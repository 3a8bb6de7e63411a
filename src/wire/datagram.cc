// Datagram layouts: fragments and SACKs, each with its own CRC32, so a damaged
// datagram is dropped alone and retransmitted instead of spoiling the message.
#include <cstring>
#include <string>

#include "internal/byte_io.h"
#include "edgesplit/wire.h"

namespace edgesplit::wire {
namespace {

using internal::GetU16;
using internal::GetU24;
using internal::GetU32;
using internal::kDatagramMagic;
using internal::PutU16;
using internal::PutU24;
using internal::PutU32;
using internal::VersionKindByte;

// Shared prefix of both kinds: magic, version|kind, flags, request id.
constexpr size_t kOffFlags = 2;
constexpr size_t kOffRequestId = 3;
// Fragment fields.
constexpr size_t kOffIndex = 7;
constexpr size_t kOffCount = 9;
constexpr size_t kOffTotal = 11;
constexpr size_t kOffChunk = 14;
static_assert(kOffChunk + 4 == kFragmentHeaderBytes);
// SACK fields.
constexpr size_t kOffSackCount = 7;
constexpr size_t kOffSackBase = 9;
constexpr size_t kOffSackBitmapBytes = 11;
constexpr size_t kOffSackBitmap = 12;
static_assert(kOffSackBitmap + 4 == kSackFixedBytes);

constexpr uint8_t kKnownFragmentFlags = kFragmentFlagPoll;
constexpr uint8_t kKnownSackFlags = kSackFlagComplete | kSackFlagRejected;

std::string N(uint64_t v) { return std::to_string(v); }

void SealDatagram(uint8_t* begin, size_t body) { PutU32(begin + body, Crc32({begin, body})); }

// Magic, version, kind, and the trailing CRC32 over everything before it.
Status CheckDatagram(std::span<const uint8_t> d, DatagramKind kind, size_t min_bytes) {
  ES_ASSIGN_OR_RETURN(DatagramKind actual, PeekDatagramKind(d));
  if (actual != kind)
    return InvalidArgument(std::string("expected a ") + (kind == DatagramKind::kFragment ? "fragment" : "SACK") +
                           " datagram");
  if (d.size() < min_bytes)
    return InvalidArgument("truncated datagram: " + N(d.size()) + " bytes, need at least " + N(min_bytes));
  const size_t body = d.size() - 4;
  if (GetU32(d.data() + body) != Crc32(d.first(body)))
    return InvalidArgument("datagram CRC32 mismatch: corrupted in transit");
  return Status::Ok();
}

}  // namespace

Result<DatagramKind> PeekDatagramKind(std::span<const uint8_t> d) {
  if (d.size() < 2) return InvalidArgument("truncated datagram: " + N(d.size()) + " bytes");
  if (d[0] != kDatagramMagic) return InvalidArgument("not an edgesplit datagram: bad magic");
  const uint8_t version = d[1] >> 4, kind = d[1] & 0x0F;
  if (version != kWireVersion)
    return Unsupported("datagram version " + N(version) + " (this build speaks version " + N(kWireVersion) + ")");
  if (kind != static_cast<uint8_t>(DatagramKind::kFragment) && kind != static_cast<uint8_t>(DatagramKind::kSack))
    return InvalidArgument("unknown datagram kind " + N(kind));
  return static_cast<DatagramKind>(kind);
}

Result<size_t> EncodeFragment(const FragmentHeader& h, std::span<const uint8_t> chunk, std::span<uint8_t> out) {
  if (chunk.empty()) return InvalidArgument("a fragment must carry at least one byte");
  if (h.count == 0 || h.index >= h.count)
    return InvalidArgument("fragment index " + N(h.index) + " is not below the count " + N(h.count));
  if (h.total_length > kMaxMessageBytes || chunk.size() > h.total_length)
    return OutOfRange("fragment of " + N(chunk.size()) + " bytes of a " + N(h.total_length) +
                      "-byte message is out of range");
  if ((h.flags & ~kKnownFragmentFlags) != 0) return InvalidArgument("unknown fragment flags " + N(h.flags));
  const size_t size = kFragmentHeaderBytes + chunk.size();
  if (out.size() < size) return OutOfRange("fragment needs " + N(size) + " bytes, the buffer has " + N(out.size()));
  uint8_t* p = out.data();
  p[0] = kDatagramMagic;
  p[1] = VersionKindByte(static_cast<uint8_t>(DatagramKind::kFragment));
  p[kOffFlags] = h.flags;
  PutU32(p + kOffRequestId, h.request_id);
  PutU16(p + kOffIndex, h.index);
  PutU16(p + kOffCount, h.count);
  PutU24(p + kOffTotal, h.total_length);
  std::memcpy(p + kOffChunk, chunk.data(), chunk.size());
  SealDatagram(p, size - 4);
  return size;
}

Result<DecodedFragment> DecodeFragment(std::span<const uint8_t> d) {
  ES_RETURN_IF_ERROR(CheckDatagram(d, DatagramKind::kFragment, kFragmentHeaderBytes + 1));
  DecodedFragment f;
  FragmentHeader& h = f.header;
  h.flags = d[kOffFlags];
  h.request_id = GetU32(d.data() + kOffRequestId);
  h.index = GetU16(d.data() + kOffIndex);
  h.count = GetU16(d.data() + kOffCount);
  h.total_length = GetU24(d.data() + kOffTotal);
  f.chunk = d.subspan(kOffChunk, d.size() - kFragmentHeaderBytes);
  if ((h.flags & ~kKnownFragmentFlags) != 0) return InvalidArgument("unknown fragment flags " + N(h.flags));
  if (h.count == 0 || h.index >= h.count)
    return InvalidArgument("fragment index " + N(h.index) + " is not below the count " + N(h.count));
  // Every fragment carries at least one byte, and none more than the message.
  if (h.total_length < h.count || f.chunk.size() > h.total_length)
    return InvalidArgument("fragment " + N(h.index) + "/" + N(h.count) + " of " + N(f.chunk.size()) +
                           " bytes is inconsistent with a total length of " + N(h.total_length));
  return f;
}

Result<size_t> EncodeSack(const Sack& s, std::span<uint8_t> out) {
  if (s.bitmap.size() > 255) return OutOfRange("SACK bitmap of " + N(s.bitmap.size()) + " bytes exceeds 255");
  if (s.base_index > s.fragment_count)
    return InvalidArgument("SACK base " + N(s.base_index) + " beyond the fragment count " + N(s.fragment_count));
  if ((s.flags & ~kKnownSackFlags) != 0) return InvalidArgument("unknown SACK flags " + N(s.flags));
  const size_t size = kSackFixedBytes + s.bitmap.size();
  if (out.size() < size) return OutOfRange("SACK needs " + N(size) + " bytes, the buffer has " + N(out.size()));
  uint8_t* p = out.data();
  p[0] = kDatagramMagic;
  p[1] = VersionKindByte(static_cast<uint8_t>(DatagramKind::kSack));
  p[kOffFlags] = s.flags;
  PutU32(p + kOffRequestId, s.request_id);
  PutU16(p + kOffSackCount, s.fragment_count);
  PutU16(p + kOffSackBase, s.base_index);
  p[kOffSackBitmapBytes] = static_cast<uint8_t>(s.bitmap.size());
  if (!s.bitmap.empty()) std::memcpy(p + kOffSackBitmap, s.bitmap.data(), s.bitmap.size());
  SealDatagram(p, size - 4);
  return size;
}

Result<Sack> DecodeSack(std::span<const uint8_t> d) {
  ES_RETURN_IF_ERROR(CheckDatagram(d, DatagramKind::kSack, kSackFixedBytes));
  Sack s;
  s.flags = d[kOffFlags];
  s.request_id = GetU32(d.data() + kOffRequestId);
  s.fragment_count = GetU16(d.data() + kOffSackCount);
  s.base_index = GetU16(d.data() + kOffSackBase);
  const size_t n = d[kOffSackBitmapBytes];
  if (d.size() != kSackFixedBytes + n)
    return InvalidArgument("SACK of " + N(d.size()) + " bytes declares a " + N(n) + "-byte bitmap");
  if ((s.flags & ~kKnownSackFlags) != 0) return InvalidArgument("unknown SACK flags " + N(s.flags));
  if (s.base_index > s.fragment_count)
    return InvalidArgument("SACK base " + N(s.base_index) + " beyond the fragment count " + N(s.fragment_count));
  s.bitmap = d.subspan(kOffSackBitmap, n);
  // A bit for a fragment that does not exist is a malformed SACK, not an ack.
  for (size_t bit = 0; bit < 8 * n; ++bit) {
    if (s.base_index + bit >= s.fragment_count && (s.bitmap[bit / 8] >> (bit % 8)) & 1u)
      return InvalidArgument("SACK acknowledges fragment " + N(s.base_index + bit) + " of " + N(s.fragment_count));
  }
  return s;
}

Status ReplayWindow::Check(uint32_t id) const {
  if (!any_ || id > highest_) return Status::Ok();
  const uint32_t age = highest_ - id;
  if (age >= kWindow)
    return InvalidArgument("request id " + N(id) + " is too old (newest delivered " + N(highest_) + ", window " +
                           N(kWindow) + ")");
  if ((seen_ >> age) & 1u) return InvalidArgument("request id " + N(id) + " was already delivered (replay)");
  return Status::Ok();
}

bool ReplayWindow::Seen(uint32_t id) const {
  if (!any_ || id > highest_) return false;
  const uint32_t age = highest_ - id;
  return age < kWindow && ((seen_ >> age) & 1u);
}

void ReplayWindow::Mark(uint32_t id) {
  if (!any_) {
    any_ = true;
    highest_ = id;
    seen_ = 1;
  } else if (id > highest_) {
    const uint32_t shift = id - highest_;
    seen_ = shift >= kWindow ? 0 : seen_ << shift;
    seen_ |= 1;
    highest_ = id;
  } else if (highest_ - id < kWindow) {
    seen_ |= uint64_t{1} << (highest_ - id);
  }
}

}  // namespace edgesplit::wire
