// The node's persistent delivery state (edgesplit node --state FILE): the
// replay floor and what was accepted at it, as a fixed 112-byte record
// (layout in delivery.h and docs/mcu.md). Pure bytes: the file I/O is the
// runtime's (src/runtime/delivery_state.cc), so a device can keep the same
// record in a flash sector.
#include <cstring>

#include "../wire/byte_io.h"  // the wire module's little-endian field access
#include "edgesplit/delivery.h"

namespace edgesplit::delivery {
namespace {

using wire::internal::GetU32;
using wire::internal::PutU32;

constexpr uint8_t kStateMagic[4] = {'E', 'S', 'D', 'S'};
constexpr size_t kOffFloor = 8, kOffFileBytes = 12, kOffSha = 16, kOffKeyId = 48, kOffCheck = 80;
static_assert(kOffCheck + kSha256Bytes == kNodeStateBytes);

std::string N(uint64_t v) { return std::to_string(v); }

}  // namespace

Sha256Digest VerifyKeyId(const std::optional<PublicKey>& key) {
  return key ? Sha256(key->bytes) : Sha256Digest{};
}

std::array<uint8_t, kNodeStateBytes> EncodeNodeState(const NodeState& s) {
  std::array<uint8_t, kNodeStateBytes> out{};
  uint8_t* p = out.data();
  std::memcpy(p, kStateMagic, 4);
  p[4] = kNodeStateVersion;  // bytes 5..7 reserved, zero
  PutU32(p + kOffFloor, s.replay_floor);
  PutU32(p + kOffFileBytes, s.file_bytes);
  std::memcpy(p + kOffSha, s.sha256.data(), kSha256Bytes);
  std::memcpy(p + kOffKeyId, s.key_id.data(), kSha256Bytes);
  const Sha256Digest check = Sha256(std::span<const uint8_t>(p, kOffCheck));
  std::memcpy(p + kOffCheck, check.data(), kSha256Bytes);
  return out;
}

Result<NodeState> DecodeNodeState(std::span<const uint8_t> bytes) {
  // Size, then magic and version (what the file is), then the checksum (is it
  // whole), then the fields' meaning: each refusal says which step failed.
  if (bytes.size() < kNodeStateBytes)
    return InvalidArgument("truncated: " + N(bytes.size()) + " of the " + N(kNodeStateBytes) + " bytes of a node state file");
  if (bytes.size() > kNodeStateBytes)
    return InvalidArgument("trailing bytes: " + N(bytes.size()) + " bytes, a node state file has exactly " + N(kNodeStateBytes));
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kStateMagic, 4) != 0) return InvalidArgument("not an edgesplit node state file: bad magic (expected \"ESDS\")");
  if (p[4] != kNodeStateVersion)
    return Unsupported("node state version " + N(p[4]) + " (this build reads version " + N(kNodeStateVersion) + ")");
  const Sha256Digest check = Sha256(bytes.first(kOffCheck));
  if (std::memcmp(check.data(), p + kOffCheck, kSha256Bytes) != 0)
    return InvalidArgument("checksum mismatch: the node state file is damaged");
  if (p[5] != 0 || p[6] != 0 || p[7] != 0) return InvalidArgument("node state reserved bytes are not zero");
  NodeState s;
  s.replay_floor = GetU32(p + kOffFloor);
  s.file_bytes = GetU32(p + kOffFileBytes);
  // Written only when a delivery is accepted: both are >= 1 (manifests guarantee it).
  if (s.replay_floor == 0) return InvalidArgument("node state replay floor 0 (it is written only after a delivery with sequence >= 1)");
  if (s.file_bytes == 0) return InvalidArgument("node state records an empty segment file");
  std::memcpy(s.sha256.data(), p + kOffSha, kSha256Bytes);
  std::memcpy(s.key_id.data(), p + kOffKeyId, kSha256Bytes);
  return s;
}

}  // namespace edgesplit::delivery
