// Over-the-air segment delivery, the byte level (module `delivery`, portable:
// no exceptions, no RTTI, no OS calls; libsodium for SHA-256 and Ed25519).
//
// A delivery moves one flat segment file (edgesplit/segment.h) from the
// coordinator to a node as a sequence of *chunks*, each the payload of one
// wire message of type kSegmentChunk (wire.h; the transport fragments and
// repairs it like a tensor). The node answers with one kSegmentAck whose
// payload is an *ack*. Byte layouts and the protocol are in docs/mcu.md
// ("Over-the-air delivery"); all integers little-endian.
//
//   manifest chunk  the header: sequence number, model, segment index, cuts,
//                   dtype, file size, SHA-256 of the file, and (optionally) an
//                   Ed25519 signature over everything before it.
//   data chunks     the file's bytes, in order (each says its offset).
//   end chunk       "that was all": the node checks size and hash now.
//
// DeliveryReceiver is the node's state machine: it refuses a malformed,
// unsigned (when a key is configured), wrongly signed, replayed (sequence not
// above the newest accepted one), oversized, out-of-order, truncated or
// corrupted delivery with a RejectReason and a message naming the values.
// It never touches the segment the node already runs: the caller swaps only
// after it has loaded the completed file, then calls Accept().
//
// Every decoder is safe on arbitrary bytes (fuzzed: fuzz/delivery_fuzz.cc).
// Nothing here is thread-safe; call InitCrypto() once before signing or verifying.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgesplit/graph.h"  // DType
#include "edgesplit/status.h"

namespace edgesplit::delivery {

inline constexpr uint8_t kDeliveryVersion = 1;  // of chunks and acks; other versions are refused
inline constexpr size_t kChunkHeaderBytes = 16;
inline constexpr size_t kManifestFixedBytes = 20;  // then model, SHA-256, signature
inline constexpr size_t kAckFixedBytes = 46;       // then the detail text
inline constexpr size_t kSha256Bytes = 32;
inline constexpr size_t kSignatureBytes = 64;
inline constexpr size_t kPublicKeyBytes = 32;
inline constexpr size_t kSecretKeyBytes = 64;  // libsodium's form: seed + public key
inline constexpr size_t kMaxModelBytes = 1024;
inline constexpr size_t kMaxDetailBytes = 1024;
// File bytes per data chunk: a node buffers one chunk message at a time, so a
// device needs this much RAM for it (4 KiB = one flash sector on an ESP32).
inline constexpr size_t kDefaultChunkBytes = 4096;
inline constexpr uint32_t kDefaultMaxFileBytes = 16u << 20;

using Sha256Digest = std::array<uint8_t, kSha256Bytes>;
using Signature = std::array<uint8_t, kSignatureBytes>;

// ---- Crypto (libsodium) -----------------------------------------------------
struct PublicKey {
  std::array<uint8_t, kPublicKeyBytes> bytes{};
};
struct SecretKey {
  std::array<uint8_t, kSecretKeyBytes> bytes{};
};
// sodium_init(); fails only when libsodium cannot start (no entropy source).
Status InitCrypto();
Sha256Digest Sha256(std::span<const uint8_t> bytes);
Status GenerateKeyPair(PublicKey* public_key, SecretKey* secret_key);
PublicKey PublicKeyOf(const SecretKey& secret_key);
std::string Hex(std::span<const uint8_t> bytes);  // lower case
// Key files are one text line: "edgesplit-ed25519-public <64 hex>" or
// "edgesplit-ed25519-secret <128 hex>". Parsing says which kind it found when
// it is the other one, and which character is not hex.
std::string FormatPublicKey(const PublicKey& key);
std::string FormatSecretKey(const SecretKey& key);
Result<PublicKey> ParsePublicKey(std::string_view text);
Result<SecretKey> ParseSecretKey(std::string_view text);

// ---- Chunks -------------------------------------------------------------------
enum class ChunkKind : uint8_t { kManifest = 1, kData = 2, kEnd = 3 };

struct ChunkHeader {
  ChunkKind kind = ChunkKind::kData;
  uint32_t sequence = 0;  // the delivery's sequence number, in every chunk
  uint32_t offset = 0;    // data: where the body goes in the file; manifest/end: 0
};
struct DecodedChunk {
  ChunkHeader header;
  std::span<const uint8_t> body;  // points into the decoded bytes
};
// Header + body into `out` (>= kChunkHeaderBytes + body.size()); returns the size.
Result<size_t> EncodeChunk(const ChunkHeader& header, std::span<const uint8_t> body, std::span<uint8_t> out);
// Checks magic "ESDL", version, kind, reserved bytes (0), offset 0 on
// manifest/end chunks, an empty end chunk and a non-empty data chunk.
Result<DecodedChunk> DecodeChunk(std::span<const uint8_t> bytes);

// ---- Manifest -----------------------------------------------------------------
struct Manifest {
  uint32_t sequence = 0;  // >= 1; a node accepts only sequences above its newest accepted one
  std::string model;      // the model spec the segment was cut from (informational)
  uint32_t segment_index = 0;
  uint32_t cut_before = 0, cut_after = 0;  // the model's cut indices (analysis.h)
  DType dtype = DType::kInt8;              // f32 or int8: the segment's execution dtype
  bool final_segment = false;              // ends at the model's output (the node replies a result)
  uint32_t file_bytes = 0;
  Sha256Digest sha256{};
  bool has_signature = false;
  Signature signature{};
};
// The whole manifest chunk (chunk header included).
Result<std::vector<uint8_t>> EncodeManifestChunk(const Manifest& manifest);
// From a decoded manifest chunk: checks the dtype, flags, lengths, sequence >= 1
// and that the body ends exactly after the signature (or the hash when unsigned).
Result<Manifest> DecodeManifest(const DecodedChunk& chunk);
// Signs: sets has_signature and the signature over the manifest chunk's bytes
// from its first byte through the SHA-256 (header, sequence, every field, hash).
Status SignManifest(Manifest* manifest, const SecretKey& key);
// OK when `manifest` carries a signature that `key` made over those bytes.
Status VerifyManifest(const Manifest& manifest, const PublicKey& key);

// ---- Acks -----------------------------------------------------------------------
enum class RejectReason : uint8_t {
  kNone = 0,
  kMalformed = 1,       // a chunk or manifest that does not decode, or a chunk with no delivery
  kUnsigned = 2,        // a key is configured and the manifest carries no signature
  kBadSignature = 3,    // the signature does not verify with the configured key
  kReplayed = 4,        // sequence <= the newest accepted one
  kTooLarge = 5,        // the declared file exceeds the node's limit
  kOutOfOrder = 6,      // a data chunk not at the next offset
  kTruncated = 7,       // the end came (or the chunks stopped) before the declared size
  kCorrupted = 8,       // the file's SHA-256 differs from the manifest's
  kInvalidSegment = 9,  // the segment verifier refused the file
  kMismatch = 10,       // the file's own header disagrees with the manifest (cuts, dtype)
  kLoadFailed = 11,     // a valid file the node cannot execute
};
const char* RejectReasonName(RejectReason reason);  // "corrupted", ...; "unknown" otherwise

struct Ack {
  bool accepted = false;
  RejectReason reason = RejectReason::kNone;  // kNone exactly when accepted
  uint32_t sequence = 0;
  Sha256Digest sha256{};  // accepted: of the loaded file; rejected: the manifest's claim (or zeros)
  std::string detail;     // rejected: the node's message (at most kMaxDetailBytes, cut there)
};
std::vector<uint8_t> EncodeAck(const Ack& ack);
// Checks magic "ESDA", version, verdict/reason consistency, detail length.
Result<Ack> DecodeAck(std::span<const uint8_t> bytes);

// ---- The coordinator's side ------------------------------------------------------------
// The chunk payloads of one delivery: the manifest (signed with `key` when
// given; file_bytes and sha256 are filled in from `file`), ceil(size /
// chunk_bytes) data chunks, the end chunk.
Result<std::vector<std::vector<uint8_t>>> BuildChunks(Manifest manifest, std::span<const uint8_t> file,
                                                      const SecretKey* key, size_t chunk_bytes = kDefaultChunkBytes);

// ---- The node's side -------------------------------------------------------------------
struct ReceiverConfig {
  std::optional<PublicKey> verify_key;  // set: only deliveries it signed are accepted
  uint32_t replay_floor = 0;            // the newest accepted sequence so far (a restarted node's NodeState)
  uint32_t max_file_bytes = kDefaultMaxFileBytes;
  uint64_t idle_timeout_us = 30000000;  // a delivery with no chunk this long is truncated
};

struct DeliveryStep {
  enum Event : uint8_t {
    kNothing,   // ignored (the rest of a refused delivery)
    kProgress,  // stored; more to come
    kComplete,  // the file is whole and matches its hash: load it, then Accept() or Reject()
    kRejected,  // refused: reason and detail say why; nothing kept
  } event = kNothing;
  uint32_t sequence = 0;
  RejectReason reason = RejectReason::kNone;
  std::string detail;
};

class DeliveryReceiver {
 public:
  explicit DeliveryReceiver(const ReceiverConfig& config) : config_(config), newest_accepted_(config.replay_floor) {}
  DeliveryReceiver(const DeliveryReceiver&) = delete;
  DeliveryReceiver& operator=(const DeliveryReceiver&) = delete;

  // Feeds one chunk payload (a kSegmentChunk message's payload). A manifest
  // starts a delivery and abandons a partial one (its sender gave up on it).
  DeliveryStep OnChunk(std::span<const uint8_t> payload, uint64_t now_us);
  // A delivery idle for idle_timeout_us is refused as truncated.
  DeliveryStep Expire(uint64_t now_us);

  // After kComplete, until Accept/Reject: the manifest and the whole file.
  const Manifest& manifest() const { return manifest_; }
  std::span<const uint8_t> file() const { return state_ == State::kComplete ? std::span<const uint8_t>(file_) : std::span<const uint8_t>(); }
  // The caller loaded the file: its sequence becomes the replay floor; the buffer is freed.
  void Accept();
  // The caller could not load it: refused with `reason`/`detail` (floor unchanged).
  DeliveryStep Reject(RejectReason reason, std::string detail);

  uint32_t newest_accepted() const { return newest_accepted_; }
  bool in_progress() const { return state_ == State::kReceiving; }

 private:
  enum class State : uint8_t { kIdle, kReceiving, kComplete, kRefused };
  DeliveryStep Refuse(uint32_t sequence, RejectReason reason, std::string detail);
  DeliveryStep OnManifest(const DecodedChunk& chunk);

  ReceiverConfig config_;
  State state_ = State::kIdle;
  Manifest manifest_;
  std::vector<uint8_t> file_;
  size_t received_ = 0;
  uint32_t newest_accepted_ = 0;
  uint32_t refused_sequence_ = 0;  // the rest of this delivery's chunks are ignored
  uint64_t last_chunk_us_ = 0;
};

// ---- The node's persistent state --------------------------------------------------------
// What a node must remember across restarts to refuse replays: the replay
// floor and the delivery accepted at it. A fixed record (no heap), little-endian:
//    0  4  magic "ESDS"          4  1  version (2)     5  3  reserved (0)
//    8  4  replay floor (>= 1)  12  4  that delivery's file size (>= 1)
//   16 32  that file's SHA-256
//   48 32  VerifyKeyId of the key it was accepted under (zeros: no key)
//   80 32  HMAC-SHA-256 of bytes 0..79 under the node's state key
//          (authenticity: a record forged or edited without the key, even
//          with a recomputed checksum, is refused; version 1 had a bare SHA-256)
// The runtime writes it (atomically) before it acknowledges a delivery.
inline constexpr uint8_t kNodeStateVersion = 2;
inline constexpr size_t kNodeStateBytes = 112;
struct NodeState {
  uint32_t replay_floor = 0;
  uint32_t file_bytes = 0;
  Sha256Digest sha256{};
  Sha256Digest key_id{};
};
// The secret that authenticates a node's state record (32 bytes).
using StateKey = std::array<uint8_t, 32>;
// A state key derived from a node's Ed25519 secret key (HKDF-SHA-256 with its
// own label), for nodes that hold an identity key (secure links, issue 13).
StateKey NodeStateKey(const SecretKey& node_key);
// SHA-256 of the public key; zeros without one. Ties a state to its signer.
Sha256Digest VerifyKeyId(const std::optional<PublicKey>& key);
std::array<uint8_t, kNodeStateBytes> EncodeNodeState(const NodeState& state, const StateKey& key);
// Canonical: exactly kNodeStateBytes, magic, version, MAC (constant-time
// compare), reserved 0, floor and size >= 1; the message says which
// ("truncated: ...", "authentication failed: ...", ...). Whether key_id
// matches the node's verify key is the caller's check.
Result<NodeState> DecodeNodeState(std::span<const uint8_t> bytes, const StateKey& key);

}  // namespace edgesplit::delivery
