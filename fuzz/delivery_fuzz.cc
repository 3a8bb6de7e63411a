// libFuzzer target for over-the-air delivery's byte level (edgesplit/delivery.h):
//  1. the input as one chunk (DecodeChunk, DecodeManifest, VerifyManifest) and
//     as one ack (DecodeAck): rejected with a Status or accepted, and an
//     accepted manifest or ack re-encodes to exactly the same bytes (the
//     signature is checked over a re-encoding, so decoding must be canonical);
//  2. the input as a sequence of chunks (each prefixed by a 2-byte length) fed
//     to a DeliveryReceiver with and without a verify key: no crash, no
//     out-of-bounds access, a completed file always matches its manifest's
//     size and SHA-256. Mutations almost always break the hash, so a second
//     pass fixes each manifest's size and hash up to the data chunks' bytes
//     (reaching the complete path), as wire_fuzz reseals CRCs;
//  3. the input as a node state record (DecodeNodeState, the --state file,
//     under a fixed state key): an accepted record re-encodes to the same
//     bytes. Mutations break its MAC, so the input's first 80 bytes are also
//     tried resealed with the key's HMAC-SHA-256.
// Seeds: fuzz/seeds/delivery/. Any violated property aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <array>
#include <cstring>
#include <vector>

#include "edgesplit/crypto.h"
#include "edgesplit/delivery.h"

namespace {

using namespace edgesplit::delivery;

void Require(bool property) {
  if (!property) std::abort();
}

struct KeysHolder {
  PublicKey pub;
  SecretKey secret;
};

KeysHolder MakeKeys() {
  KeysHolder k;
  Require(InitCrypto().ok());
  Require(GenerateKeyPair(&k.pub, &k.secret).ok());
  return k;
}

// The state key of the seed in fuzz/seeds/delivery/node_state: bytes 0x40, 0x41, ...
const StateKey kStateKey = [] {
  StateKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x40 + i);
  return k;
}();

void CheckState(std::span<const uint8_t> bytes) {
  edgesplit::Result<NodeState> s = DecodeNodeState(bytes, kStateKey);
  if (!s.ok()) return;
  const std::array<uint8_t, kNodeStateBytes> again = EncodeNodeState(*s, kStateKey);
  Require(bytes.size() == kNodeStateBytes && std::memcmp(again.data(), bytes.data(), kNodeStateBytes) == 0);
}

// The record's MAC made right, so the field checks behind it are reached.
void CheckResealedState(std::span<const uint8_t> bytes) {
  if (bytes.size() < kNodeStateBytes - kSha256Bytes) return;
  std::array<uint8_t, kNodeStateBytes> b{};
  const size_t body = kNodeStateBytes - kSha256Bytes;
  std::memcpy(b.data(), bytes.data(), body);
  const edgesplit::crypto::Bytes32 mac = edgesplit::crypto::HmacSha256(kStateKey, std::span<const uint8_t>(b.data(), body));
  std::memcpy(b.data() + body, mac.data(), kSha256Bytes);
  CheckState(b);
}

void CheckOne(std::span<const uint8_t> bytes, const PublicKey& key) {
  edgesplit::Result<DecodedChunk> c = DecodeChunk(bytes);
  if (c.ok() && c->header.kind == ChunkKind::kManifest) {
    edgesplit::Result<Manifest> m = DecodeManifest(*c);
    if (m.ok()) {
      edgesplit::Result<std::vector<uint8_t>> again = EncodeManifestChunk(*m);
      Require(again.ok() && again->size() == bytes.size() && std::memcmp(again->data(), bytes.data(), bytes.size()) == 0);
      (void)VerifyManifest(*m, key);
    }
  }
  CheckState(bytes);
  edgesplit::Result<Ack> a = DecodeAck(bytes);
  if (a.ok()) {
    const std::vector<uint8_t> again = EncodeAck(*a);
    Require(again.size() == bytes.size() && std::memcmp(again.data(), bytes.data(), bytes.size()) == 0);
  }
}

std::vector<std::vector<uint8_t>> SplitRecords(std::span<const uint8_t> data) {
  std::vector<std::vector<uint8_t>> out;
  size_t i = 0;
  while (i + 2 <= data.size() && out.size() < 256) {
    const size_t n = data[i] | (data[i + 1] << 8);
    i += 2;
    const size_t take = n < data.size() - i ? n : data.size() - i;
    out.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(i), data.begin() + static_cast<std::ptrdiff_t>(i + take));
    i += take;
  }
  return out;
}

// Each decodable manifest gets the size and hash of the data chunks' bytes.
void FixUp(std::vector<std::vector<uint8_t>>* records) {
  std::vector<uint8_t> file;
  for (const auto& r : *records) {
    edgesplit::Result<DecodedChunk> c = DecodeChunk(r);
    if (c.ok() && c->header.kind == ChunkKind::kData) file.insert(file.end(), c->body.begin(), c->body.end());
  }
  if (file.empty()) return;
  for (auto& r : *records) {
    edgesplit::Result<DecodedChunk> c = DecodeChunk(r);
    if (!c.ok() || c->header.kind != ChunkKind::kManifest) continue;
    edgesplit::Result<Manifest> m = DecodeManifest(*c);
    if (!m.ok()) continue;
    m->file_bytes = static_cast<uint32_t>(file.size());
    m->sha256 = Sha256(file);
    edgesplit::Result<std::vector<uint8_t>> again = EncodeManifestChunk(*m);
    if (again.ok()) r = std::move(again).value();
  }
}

void Feed(const std::vector<std::vector<uint8_t>>& records, const ReceiverConfig& config) {
  DeliveryReceiver receiver(config);
  uint64_t now = 1;
  for (const auto& r : records) {
    const DeliveryStep s = receiver.OnChunk(r, now);
    now += 1000;
    Require((s.event == DeliveryStep::kRejected) == (s.reason != RejectReason::kNone));
    if (s.event != DeliveryStep::kComplete) continue;
    const std::span<const uint8_t> file = receiver.file();
    Require(file.size() == receiver.manifest().file_bytes && Sha256(file) == receiver.manifest().sha256);
    if (r.size() % 2) receiver.Accept();  // else refuse it, as a node whose loader failed
    else (void)receiver.Reject(RejectReason::kInvalidSegment, "fuzz");
  }
  (void)receiver.Expire(now + config.idle_timeout_us);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const KeysHolder keys = MakeKeys();
  const std::span<const uint8_t> bytes(data, size);
  CheckOne(bytes, keys.pub);
  CheckResealedState(bytes);
  std::vector<std::vector<uint8_t>> records = SplitRecords(bytes);
  for (const auto& r : records) CheckOne(r, keys.pub);
  ReceiverConfig open, keyed;
  open.max_file_bytes = keyed.max_file_bytes = 1 << 20;
  keyed.verify_key = keys.pub;
  Feed(records, open);
  Feed(records, keyed);
  FixUp(&records);
  Feed(records, open);
  return 0;
}
