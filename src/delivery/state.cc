// The node's persistent delivery state (edgesplit node --state FILE): the
// replay floor and what was accepted at it, as a fixed 112-byte record
// authenticated by an HMAC under the node's state key (layout in delivery.h
// and docs/mcu.md; the portable HMAC of edgesplit/crypto.h). Pure bytes: the file I/O is the
// runtime's (src/runtime/delivery_state.cc), so a device can keep the same
// record in a flash sector.
#include <cstring>

#include "internal/byte_io.h"  // little-endian field access, shared with the wire module
#include "edgesplit/crypto.h"
#include "edgesplit/delivery.h"

namespace edgesplit::delivery {
namespace {

using wire::internal::GetU32;
using wire::internal::PutU32;

constexpr uint8_t kStateMagic[4] = {'E', 'S', 'D', 'S'};
constexpr size_t kOffFloor = 8, kOffFileBytes = 12, kOffSha = 16, kOffKeyId = 48, kOffCheck = 80;
constexpr char kStateKeyLabel[] = "edgesplit node state key v2";
static_assert(kOffCheck + kSha256Bytes == kNodeStateBytes);

std::string N(uint64_t v) { return std::to_string(v); }

crypto::Bytes32 Mac(const StateKey& key, const uint8_t* record) {
  return crypto::HmacSha256(key, std::span<const uint8_t>(record, kOffCheck));
}

}  // namespace

StateKey NodeStateKey(const SecretKey& node_key) {
  // The seed half of the Ed25519 secret is the secret; HKDF separates this use from signing.
  const crypto::Bytes32 prk = crypto::HkdfExtract(std::span<const uint8_t>(), std::span<const uint8_t>(node_key.bytes.data(), 32));
  StateKey k;
  (void)crypto::HkdfExpand(prk, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kStateKeyLabel), sizeof kStateKeyLabel - 1), k);
  return k;
}

Sha256Digest VerifyKeyId(const std::optional<PublicKey>& key) {
  return key ? Sha256(key->bytes) : Sha256Digest{};
}

std::array<uint8_t, kNodeStateBytes> EncodeNodeState(const NodeState& s, const StateKey& key) {
  std::array<uint8_t, kNodeStateBytes> out{};
  uint8_t* p = out.data();
  std::memcpy(p, kStateMagic, 4);
  p[4] = kNodeStateVersion;  // bytes 5..7 reserved, zero
  PutU32(p + kOffFloor, s.replay_floor);
  PutU32(p + kOffFileBytes, s.file_bytes);
  std::memcpy(p + kOffSha, s.sha256.data(), kSha256Bytes);
  std::memcpy(p + kOffKeyId, s.key_id.data(), kSha256Bytes);
  const crypto::Bytes32 mac = Mac(key, p);
  std::memcpy(p + kOffCheck, mac.data(), kSha256Bytes);
  return out;
}

Result<NodeState> DecodeNodeState(std::span<const uint8_t> bytes, const StateKey& key) {
  // Size, then magic and version (what the file is), then the MAC (is it
  // whole and written with this node's key), then the fields' meaning: each refusal says which step failed.
  if (bytes.size() < kNodeStateBytes)
    return InvalidArgument("truncated: " + N(bytes.size()) + " of the " + N(kNodeStateBytes) + " bytes of a node state file");
  if (bytes.size() > kNodeStateBytes)
    return InvalidArgument("trailing bytes: " + N(bytes.size()) + " bytes, a node state file has exactly " + N(kNodeStateBytes));
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kStateMagic, 4) != 0) return InvalidArgument("not an edgesplit node state file: bad magic (expected \"ESDS\")");
  if (p[4] != kNodeStateVersion)
    return Unsupported("node state version " + N(p[4]) + " (this build reads version " + N(kNodeStateVersion) + ")");
  if (!crypto::ConstantTimeEqual(Mac(key, p), bytes.subspan(kOffCheck)))
    return InvalidArgument("authentication failed: the node state file is damaged or was not written with this node's state key");
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
