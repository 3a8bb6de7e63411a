// The node's delivery state machine and the coordinator's chunking.
#include <algorithm>
#include <cstring>

#include "edgesplit/delivery.h"

namespace edgesplit::delivery {
namespace {
std::string N(uint64_t v) { return std::to_string(v); }
DeliveryStep Step(DeliveryStep::Event event, uint32_t sequence, RejectReason reason = RejectReason::kNone, std::string detail = {}) {
  DeliveryStep s;
  s.event = event;
  s.sequence = sequence;
  s.reason = reason;
  s.detail = std::move(detail);
  return s;
}
}  // namespace

Result<std::vector<std::vector<uint8_t>>> BuildChunks(Manifest m, std::span<const uint8_t> file, const SecretKey* key,
                                                      size_t chunk_bytes) {
  if (file.empty()) return InvalidArgument("nothing to deliver: the segment file is empty");
  if (file.size() > UINT32_MAX) return OutOfRange("segment file of " + N(file.size()) + " bytes exceeds the manifest's 32-bit size");
  if (chunk_bytes == 0) return InvalidArgument("chunk size must be > 0");
  m.file_bytes = static_cast<uint32_t>(file.size());
  m.sha256 = Sha256(file);
  m.has_signature = false;
  if (key) ES_RETURN_IF_ERROR(SignManifest(&m, *key));
  std::vector<std::vector<uint8_t>> chunks;
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> manifest, EncodeManifestChunk(m));
  chunks.push_back(std::move(manifest));
  for (size_t off = 0; off < file.size(); off += chunk_bytes) {
    const std::span<const uint8_t> body = file.subspan(off, std::min(chunk_bytes, file.size() - off));
    std::vector<uint8_t> c(kChunkHeaderBytes + body.size());
    ES_RETURN_IF_ERROR(EncodeChunk({ChunkKind::kData, m.sequence, static_cast<uint32_t>(off)}, body, c).status());
    chunks.push_back(std::move(c));
  }
  std::vector<uint8_t> end(kChunkHeaderBytes);
  ES_RETURN_IF_ERROR(EncodeChunk({ChunkKind::kEnd, m.sequence, 0}, {}, end).status());
  chunks.push_back(std::move(end));
  return chunks;
}

DeliveryStep DeliveryReceiver::Refuse(uint32_t sequence, RejectReason reason, std::string detail) {
  state_ = State::kRefused;
  refused_sequence_ = sequence;
  file_ = {};
  received_ = 0;
  return Step(DeliveryStep::kRejected, sequence, reason, std::move(detail));
}

DeliveryStep DeliveryReceiver::OnManifest(const DecodedChunk& chunk) {
  const uint32_t seq = chunk.header.sequence;
  Result<Manifest> m = DecodeManifest(chunk);
  if (!m.ok()) return Refuse(seq, RejectReason::kMalformed, m.status().message());
  if (m->file_bytes > config_.max_file_bytes)
    return Refuse(seq, RejectReason::kTooLarge,
                  "segment file of " + N(m->file_bytes) + " bytes exceeds this node's limit of " + N(config_.max_file_bytes));
  if (config_.verify_key) {
    if (!m->has_signature)
      return Refuse(seq, RejectReason::kUnsigned, "delivery " + N(seq) + " is not signed and this node has a verify key");
    const Status v = VerifyManifest(*m, *config_.verify_key);
    if (!v.ok()) return Refuse(seq, RejectReason::kBadSignature, "delivery " + N(seq) + ": " + v.message());
  }
  // Checked after the signature: an unauthenticated sequence number means nothing.
  if (seq <= newest_accepted_)
    return Refuse(seq, RejectReason::kReplayed,
                  "delivery sequence " + N(seq) + " is not above the newest accepted one (" + N(newest_accepted_) + ")");
  manifest_ = std::move(m).value();
  file_.assign(manifest_.file_bytes, 0);
  received_ = 0;
  state_ = State::kReceiving;
  return Step(DeliveryStep::kProgress, seq);
}

DeliveryStep DeliveryReceiver::OnChunk(std::span<const uint8_t> payload, uint64_t now_us) {
  Result<DecodedChunk> chunk = DecodeChunk(payload);
  if (!chunk.ok()) {
    // Undecodable: refuse it, but keep a delivery in progress (its own chunks may still come).
    return Step(DeliveryStep::kRejected, 0, RejectReason::kMalformed, chunk.status().message());
  }
  const ChunkHeader& h = chunk->header;
  last_chunk_us_ = now_us;
  if (h.kind == ChunkKind::kManifest) return OnManifest(*chunk);
  if (state_ == State::kRefused && h.sequence == refused_sequence_) return {};  // the rest of a refused delivery
  if (state_ != State::kReceiving || h.sequence != manifest_.sequence)
    return Refuse(h.sequence, RejectReason::kMalformed,
                  std::string(h.kind == ChunkKind::kEnd ? "end" : "data") + " chunk of delivery " + N(h.sequence) +
                      " without its manifest" + (state_ == State::kReceiving ? " (delivery " + N(manifest_.sequence) + " is in progress)" : ""));
  if (h.kind == ChunkKind::kData) {
    if (h.offset != received_)
      return Refuse(h.sequence, RejectReason::kOutOfOrder,
                    "data chunk at offset " + N(h.offset) + ", expected " + N(received_) + " (chunks come in order)");
    if (chunk->body.size() > file_.size() - received_)
      return Refuse(h.sequence, RejectReason::kMalformed,
                    "data chunk of " + N(chunk->body.size()) + " bytes at offset " + N(h.offset) + " overruns the declared " +
                        N(file_.size()) + "-byte file");
    std::memcpy(file_.data() + received_, chunk->body.data(), chunk->body.size());
    received_ += chunk->body.size();
    return Step(DeliveryStep::kProgress, h.sequence);
  }
  // The end: whole, and the bytes the manifest promised?
  if (received_ != file_.size())
    return Refuse(h.sequence, RejectReason::kTruncated,
                  "delivery " + N(h.sequence) + " ended after " + N(received_) + " of " + N(file_.size()) + " bytes");
  const Sha256Digest got = Sha256(file_);
  if (got != manifest_.sha256)
    return Refuse(h.sequence, RejectReason::kCorrupted,
                  "SHA-256 of the received file is " + Hex(got) + ", the manifest says " + Hex(manifest_.sha256));
  state_ = State::kComplete;
  return Step(DeliveryStep::kComplete, h.sequence);
}

DeliveryStep DeliveryReceiver::Expire(uint64_t now_us) {
  if (state_ != State::kReceiving || now_us < last_chunk_us_ || now_us - last_chunk_us_ < config_.idle_timeout_us) return {};
  return Refuse(manifest_.sequence, RejectReason::kTruncated,
                "delivery " + N(manifest_.sequence) + " stopped after " + N(received_) + " of " + N(file_.size()) + " bytes (no chunk for " +
                    N(config_.idle_timeout_us / 1000) + " ms)");
}

void DeliveryReceiver::Accept() {
  if (state_ != State::kComplete) return;
  newest_accepted_ = manifest_.sequence;
  state_ = State::kIdle;
  file_ = {};
  received_ = 0;
}

DeliveryStep DeliveryReceiver::Reject(RejectReason reason, std::string detail) {
  return Refuse(manifest_.sequence, reason, std::move(detail));
}

}  // namespace edgesplit::delivery
