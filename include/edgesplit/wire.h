// The wire format: versioned tensor messages, their fragmentation into
// datagrams, reassembly, selective acknowledgement and bounded retransmission.
//
// Two layers (byte layouts in docs/wire.md, all integers little-endian):
//  * A *message* (EncodeMessage/DecodeMessage) is one self-delimiting frame:
//    magic "ESWF", version, type, request id, cut id, dtype, shape, quantization,
//    server-side fields (load, batch, server id), model hash, codec and
//    sealed-frame fields, payload length, payload, then CRC32 over header and payload.
//    Stream transports (TCP) send messages as they are (MessageSizeFromPrefix
//    tells how many bytes to read).
//  * A *datagram* (ESP-NOW, BLE, UDP) carries either one fragment of a message
//    (request id, fragment index, count, total length, its own CRC32) or a SACK.
//    FragmentSender and Reassembler are the two ends of the ARQ.
//
// Portable core (no exceptions, no RTTI, no OS calls, no heap on the success
// path): the caller owns every buffer, and time is passed in as `now_us` from
// any monotonic clock, so net/runtime drive these state machines with real
// clocks and tests with fake ones. Error Statuses carry a message naming the
// field and the values (building that message is the only allocation, and only
// on rejection). Nothing here is thread-safe: one object per thread or a lock
// held by the caller. All functions are safe on arbitrary input bytes: bad
// bytes are rejected with a Status, never read out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "edgesplit/dtype.h"
#include "edgesplit/status.h"

namespace edgesplit::wire {

// Version 2 (the edge server): model hash, batch size, codec id, flags,
// sealed-frame fields and a sender id joined the message header. Version 1
// frames are refused with an error naming both versions.
inline constexpr uint8_t kWireVersion = 2;  // of both layers; a decoder rejects any other
inline constexpr size_t kMaxRank = 6;       // shape rank limit on the wire

// ---------------------------------------------------------------------------
// CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor
// 0xFFFFFFFF; "123456789" -> 0xCBF43926). Incremental: pass the previous
// result as `crc` to continue over more bytes (0 to start).
uint32_t Crc32(std::span<const uint8_t> bytes, uint32_t crc = 0);
// The portable slicing-by-8 loop the device builds use; on the host Crc32 is
// ISA-L's (same results, faster). Exposed so tests compare the two.
uint32_t Crc32Portable(std::span<const uint8_t> bytes, uint32_t crc = 0);

// ---------------------------------------------------------------------------
// Messages.

enum class MessageType : uint8_t {
  kTensorRequest = 1,  // client -> server: the head's output tensor at `cut_id`
  kTensorResult = 2,   // server -> client: the tail's output, with queue_length/service_time_us
  kError = 3,          // either way: payload is a UTF-8 reason, error_code says which kind
  kPing = 4,           // probe: payload is arbitrary bytes (sized to measure the data rate)
  kPong = 5,           // reply to a ping: echoes its payload, with the server-side fields
  // Over-the-air segment delivery: the payload is a delivery chunk / ack
  // (edgesplit/delivery.h, docs/mcu.md); rank 0, opaque to this layer.
  kSegmentChunk = 16,
  kSegmentAck = 17,
};
const char* MessageTypeName(MessageType type);  // "tensor_request", ...; "unknown" otherwise

// Why a kError message was sent (the sender's StatusCode, widened).
// StatusCode::kBusy is the server's BUSY reply: the request was not run
// (queue full, or it could not start before its deadline); the device may
// finish it locally.
using WireErrorCode = uint16_t;

// Codec ids (the payload's encoding): kCodecRaw is the tensor's bytes as they
// are; every other id is a cut-tensor codec (edgesplit/codec.h, CodecId), whose
// payload starts with the codec's own header and decodes to the tensor the
// dims and dtype describe (the receiver checks that; this layer checks only
// that the id is known, the message is a tensor and the payload holds the
// 12-byte codec header). A decoder rejects an id it does not know.
inline constexpr uint8_t kCodecRaw = 0;
// Flags. kMessageFlagSealed is reserved for sealed frames (secure links: the
// payload is then a sealed envelope whose session id and counter that issue
// defines); this build rejects it, and any unknown bit.
inline constexpr uint8_t kMessageFlagSealed = 0x01;
inline constexpr uint8_t kKnownMessageFlags = 0;
// A sender id (the server's id in replies, a device's name in requests) is at
// most this many bytes (UTF-8, not terminated).
inline constexpr size_t kMaxSenderIdBytes = 64;

// The header fields of one message. Tensor types (request/result) carry a
// tensor: payload_length == product(dims) * dtype size. Other types have
// rank 0 and an opaque payload.
struct MessageHeader {
  MessageType type = MessageType::kTensorRequest;
  uint32_t request_id = 0;  // chosen by the client, increasing; the reply repeats it
  uint16_t cut_id = 0;      // the cut index the tensor crosses (analysis.h's cut numbering)
  DType dtype = DType::kFloat32;
  uint8_t rank = 0;
  uint32_t dims[kMaxRank] = {};
  float quant_scale = 0.0f;      // int8/uint8: real = scale * (q - zero_point); 0 = not quantized
  int32_t quant_zero_point = 0;
  WireErrorCode error_code = 0;  // kError only
  uint32_t deadline_budget_us = 0;  // request: time the client still allows (0 = none given)
  // Result: how long it queued behind other work before its batch started
  // (0: it found the server idle). Encoded in the deadline budget's slot,
  // which only requests use.
  uint32_t queue_wait_us = 0;
  uint32_t queue_length = 0;        // result/pong: requests queued at the server when it replied
  uint32_t service_time_us = 0;     // result/pong: server time from full receipt to reply
  // Version 2.
  uint32_t model_hash = 0;   // the execution graph's hash (ModelHash); 0 = not checked
  uint16_t batch_size = 0;   // result: how many requests ran in the same batch (0 = not batched/not said)
  uint8_t codec = kCodecRaw; // payload encoding
  uint8_t flags = 0;
  uint8_t sender_id_length = 0;
  char sender_id[kMaxSenderIdBytes] = {};  // replies: the server id; requests: the device (may be empty)
};
// Sets header.sender_id from `id` (cut to kMaxSenderIdBytes).
void SetSenderId(MessageHeader* header, std::span<const char> id);


// Limits a decoder enforces (oversized input is rejected before any copy).
struct WireLimits {
  uint32_t max_payload_bytes = 16u << 20;  // payload_length beyond this is rejected
  uint8_t max_rank = kMaxRank;              // rank beyond this (or kMaxRank) is rejected
};

inline constexpr size_t kMessageFixedHeaderBytes = 49;  // then 4 bytes per dim, then the sender id
inline constexpr size_t kMessageCrcBytes = 4;           // CRC32 trailer
// Header bytes of a message with this rank and sender id (payload starts here).
constexpr size_t MessageHeaderBytes(size_t rank, size_t sender_id_bytes = 0) {
  return kMessageFixedHeaderBytes + 4 * rank + sender_id_bytes;
}
inline size_t MessageHeaderBytes(const struct MessageHeader& h) { return MessageHeaderBytes(h.rank, h.sender_id_length); }
// Whole encoded size: header + payload + CRC trailer.
constexpr size_t EncodedMessageBytes(size_t rank, size_t payload_bytes, size_t sender_id_bytes = 0) {
  return MessageHeaderBytes(rank, sender_id_bytes) + payload_bytes + kMessageCrcBytes;
}
inline size_t EncodedMessageBytes(const struct MessageHeader& h, size_t payload_bytes) {
  return EncodedMessageBytes(h.rank, payload_bytes, h.sender_id_length);
}
// Bytes of one element of `dtype` on the wire: DTypeSize (edgesplit/dtype.h), the one table.
[[deprecated("use DTypeSize (edgesplit/dtype.h)")]] constexpr size_t WireDTypeSize(DType dtype) { return DTypeSize(dtype); }

// Checks `header` against the type's rules (rank, dims product vs payload
// length) and `limits`. EncodeMessage calls it; exposed so
// callers can validate before filling a buffer.
Status ValidateHeader(const MessageHeader& header, size_t payload_bytes, const WireLimits& limits = {});

// Writes header + payload + CRC into `out` (which must hold
// EncodedMessageBytes(header, payload.size())). Returns the bytes written.
Result<size_t> EncodeMessage(const MessageHeader& header, std::span<const uint8_t> payload,
                             std::span<uint8_t> out, const WireLimits& limits = {});
// Zero-copy variant: the caller has already written `payload_bytes` of payload
// at out[MessageHeaderBytes(header)...] (e.g. the executor's output copied
// or computed there); this writes the header in front and the CRC behind.
Result<size_t> EncodeMessageInPlace(const MessageHeader& header, size_t payload_bytes,
                                    std::span<uint8_t> out, const WireLimits& limits = {});

// A decoded message. `payload` points into the decoded bytes (no copy): valid
// while they are.
struct DecodedMessage {
  MessageHeader header;
  std::span<const uint8_t> payload;
};
// Decodes exactly one message occupying all of `bytes`. Rejects (with a Status
// naming the field): short input, bad magic, other versions, unknown types, unknown dtype, rank > limit, payload over the limit, dims
// product != payload length, trailing or missing bytes, CRC mismatch.
Result<DecodedMessage> DecodeMessage(std::span<const uint8_t> bytes, const WireLimits& limits = {});
// DecodeMessage without the CRC pass, for bytes a transport has just checked
// with DecodeMessage (what net::ServerTransport hands its callback): the CRC
// of a 600 KB request is the largest cost on a server's I/O thread, and
// computing it twice was pure waste. Never for bytes straight from outside.
Result<DecodedMessage> DecodeCheckedMessage(std::span<const uint8_t> bytes, const WireLimits& limits = {});
// DecodeMessage with the CRC of the message's body (all but its 4-byte
// trailer) already computed by the caller, piece by piece as the bytes
// arrived while they were hot in cache (Crc32 is incremental): the trailer is
// checked against it. The stream server's path.
Result<DecodedMessage> DecodeMessageWithCrc(std::span<const uint8_t> bytes, uint32_t body_crc, const WireLimits& limits = {});
// For stream transports: from the first kMessageFixedHeaderBytes of a message,
// its whole encoded size (so the reader knows how much more to read). Checks
// magic, version, rank and payload limit; the rest is checked by DecodeMessage.
Result<size_t> MessageSizeFromPrefix(std::span<const uint8_t> prefix, const WireLimits& limits = {});

// ---------------------------------------------------------------------------
// Datagrams: fragments and SACKs.

enum class DatagramKind : uint8_t { kFragment = 1, kSack = 2 };

// Per-datagram overhead of a fragment: magic, version|kind, flags, request id,
// fragment index, fragment count, total length (24 bits), CRC32 of the datagram.
inline constexpr size_t kFragmentHeaderBytes = 18;
// A SACK is kSackFixedBytes + its bitmap bytes.
inline constexpr size_t kSackFixedBytes = 16;
inline constexpr size_t kMinDatagramBytes = 20;     // BLE's default ATT MTU 23 - 3
inline constexpr size_t kMaxDatagramBytes = 65507;  // largest UDP/IPv4 payload
inline constexpr uint32_t kMaxFragments = 65535;
inline constexpr uint32_t kMaxMessageBytes = (1u << 24) - 1;  // 24-bit total length

// Message bytes carried per fragment for a transport payload of `datagram_bytes`
// (ESP-NOW 250 -> 232, BLE 244 -> 226, BLE 20 -> 2, UDP 1460 -> 1442).
constexpr size_t FragmentPayloadBytes(size_t datagram_bytes) {
  return datagram_bytes > kFragmentHeaderBytes ? datagram_bytes - kFragmentHeaderBytes : 0;
}
// Fragments for a message of `message_bytes` (at least 1); 0 if datagram_bytes is too small.
constexpr size_t FragmentCount(size_t message_bytes, size_t datagram_bytes) {
  const size_t chunk = FragmentPayloadBytes(datagram_bytes);
  if (chunk == 0) return 0;
  return message_bytes == 0 ? 1 : (message_bytes + chunk - 1) / chunk;
}
// Bytes a lossless transfer puts on the link for a message of `message_bytes`
// (fragment headers included, SACKs not): what a link model should charge.
constexpr size_t LinkBytesForMessage(size_t message_bytes, size_t datagram_bytes) {
  return message_bytes + FragmentCount(message_bytes, datagram_bytes) * kFragmentHeaderBytes;
}
// Bitmap storage (one bit per fragment) a sender or reassembler needs.
constexpr size_t BitmapBytes(size_t fragments) { return (fragments + 7) / 8; }

// Fragment flags.
inline constexpr uint8_t kFragmentFlagPoll = 0x01;  // the sender asks for a SACK now (end of a round)
// SACK flags.
inline constexpr uint8_t kSackFlagComplete = 0x01;  // whole message received and its CRC verified
inline constexpr uint8_t kSackFlagRejected = 0x02;  // receiver refuses this request (see the docs)

struct FragmentHeader {
  uint8_t flags = 0;
  uint32_t request_id = 0;
  uint16_t index = 0;
  uint16_t count = 0;
  uint32_t total_length = 0;  // of the whole message
};
// Writes one fragment datagram (header + chunk + CRC) into `out`; returns its size.
Result<size_t> EncodeFragment(const FragmentHeader& header, std::span<const uint8_t> chunk,
                              std::span<uint8_t> out);
struct DecodedFragment {
  FragmentHeader header;
  std::span<const uint8_t> chunk;  // points into the datagram
};
// Checks magic, version, kind, CRC, index < count, count/total consistency.
Result<DecodedFragment> DecodeFragment(std::span<const uint8_t> datagram);

struct Sack {
  uint8_t flags = 0;
  uint32_t request_id = 0;
  uint16_t fragment_count = 0;
  uint16_t base_index = 0;  // every fragment below this has been received
  // Bit i (LSB first within each byte) = fragment base_index + i received.
  std::span<const uint8_t> bitmap;
};
// Writes a SACK datagram into `out` (bitmap at most 255 bytes); returns its size.
Result<size_t> EncodeSack(const Sack& sack, std::span<uint8_t> out);
// `bitmap` of the result points into `datagram`.
Result<Sack> DecodeSack(std::span<const uint8_t> datagram);
// Kind of a datagram from its first bytes (after magic/version checks), for dispatch.
Result<DatagramKind> PeekDatagramKind(std::span<const uint8_t> datagram);

// ---------------------------------------------------------------------------
// Replay protection: a sliding window over request ids (as IPsec's anti-replay
// window). An id is fresh if never accepted and newer than highest - 63.
class ReplayWindow {
 public:
  static constexpr uint32_t kWindow = 64;
  // OK if `request_id` would be accepted; else why not (replayed or too old).
  Status Check(uint32_t request_id) const;
  // Records `request_id` as delivered (call after Check succeeded).
  void Mark(uint32_t request_id);
  bool Seen(uint32_t request_id) const;  // delivered and still inside the window
  // Forgets everything: for a new session (e.g. a peer that restarted).
  void Reset() { *this = ReplayWindow(); }
  uint32_t highest() const { return highest_; }

 private:
  uint32_t highest_ = 0;
  uint64_t seen_ = 0;  // bit k: highest_ - k delivered
  bool any_ = false;
};

// ---------------------------------------------------------------------------
// Sender side of the ARQ over a datagram transport.
//
// Rounds: the sender sends every unacknowledged fragment once, the last of the
// round with kFragmentFlagPoll, then waits for a SACK. A SACK marks fragments
// received and immediately starts the next round with the missing ones. With
// no SACK within rto_us, the next round is a probe: the last unacknowledged
// fragment alone, with the poll flag, whose SACK says what to resend. After
// max_rounds rounds, or at the deadline, Poll() fails with kDeadlineExceeded
// and a message that says which limit was hit.
struct ArqConfig {
  size_t datagram_bytes = 250;  // the transport's payload size
  uint64_t rto_us = 200000;     // wait for a SACK after a round
  // First transmission + retransmission/probe rounds. 16 delivers a 5.5 KB
  // tensor over ESP-NOW-sized datagrams at 20% loss both ways in 4000 of 4000
  // seeded trials (8 fails 2%); docs/wire.md.
  uint32_t max_rounds = 16;
};

class FragmentSender {
 public:
  // `ack_bitmap` (caller-owned, >= BitmapBytes(fragments)) must outlive the sender.
  explicit FragmentSender(std::span<uint8_t> ack_bitmap) : acked_(ack_bitmap) {}
  FragmentSender(const FragmentSender&) = delete;
  FragmentSender& operator=(const FragmentSender&) = delete;

  // Starts sending `message` (caller-owned, must stay valid until done() or
  // failure) as request `request_id`. `deadline_us` (> now_us) is absolute, on
  // the same clock as now_us: every request has one. Fails on a message too
  // large for the fragment count, the bitmap or the 24-bit length, or a bad config.
  Status Start(std::span<const uint8_t> message, uint32_t request_id, const ArqConfig& config,
               uint64_t now_us, uint64_t deadline_us);
  // The next datagram due at `now_us`, written into `out` (>= datagram_bytes):
  // its size, or 0 when nothing is due before next_wake_us(). Fails once the
  // deadline has passed or max_rounds rounds went unanswered; 0 after done().
  Result<size_t> Poll(uint64_t now_us, std::span<uint8_t> out);
  // Feeds a received datagram. SACKs for this request update the state; others
  // are ignored (OK). Corrupt datagrams and rejecting SACKs return an error;
  // after a rejecting SACK, Poll() fails too.
  Status OnDatagram(std::span<const uint8_t> datagram, uint64_t now_us);

  bool active() const { return active_; }
  bool done() const { return done_; }
  // When Poll() has something to do next (a retransmission or the deadline).
  uint64_t next_wake_us() const;
  uint32_t request_id() const { return request_id_; }
  uint32_t fragment_count() const { return count_; }
  uint32_t rounds() const { return rounds_; }
  uint64_t datagrams_sent() const { return datagrams_sent_; }
  uint64_t retransmissions() const { return retransmissions_; }

 private:
  bool IsAcked(uint32_t index) const;
  void StartRound(uint64_t now_us, bool probe_only);

  std::span<uint8_t> acked_;
  std::span<const uint8_t> message_;
  ArqConfig config_;
  uint32_t request_id_ = 0, count_ = 0, acked_count_ = 0;
  uint32_t cursor_ = 0;       // next fragment index to consider in this round
  uint32_t last_in_round_ = 0;
  uint32_t rounds_ = 0;
  bool active_ = false, done_ = false, in_round_ = false, rejected_ = false;
  bool sack_pending_ = false;  // a SACK arrived after the round: start the next one now
  bool force_last_ = false;   // this round is one probe: the last unacked fragment, sent even if acked
  uint64_t deadline_us_ = 0, round_sent_us_ = 0;
  uint64_t datagrams_sent_ = 0, retransmissions_ = 0;
};

// ---------------------------------------------------------------------------
// Receiver side: reassembly into a caller buffer, SACK generation, replay check.
//
// One message at a time. A fragment of a newer request than the one in
// progress abandons it (the client has moved on). A fragment identical to one
// of the message just delivered is answered with a complete SACK (its sender
// missed the first one) and never delivered twice. Fragments of replayed ids
// (delivered before, but different bytes: e.g. a restarted client reusing ids),
// of ids older than the replay window or than the request in progress, and of
// messages too large for the buffers are rejected with a rejecting SACK, so the
// sender fails at once with a clear error. Request ids must therefore be fresh
// for the receiver: after a restart, start above the last id used (or call
// replay_window().Reset() on both sides for a new session).
struct ReassemblerConfig {
  size_t datagram_bytes = 250;             // the transport's payload size (bounds the SACK)
  uint64_t reassembly_timeout_us = 2000000;  // a partial message idle this long is dropped
  WireLimits limits;                       // checked on the reassembled message
};

enum class ReceiveEvent : uint8_t {
  kIgnored,           // nothing to do (e.g. a SACK meant for a sender)
  kRejected,          // corrupt, stale, oversized...: `status` says why
  kFragment,          // a new fragment was stored
  kDuplicate,         // a fragment already held (not stored again)
  kComplete,          // message() now holds a whole, CRC-checked, fresh message
  kAlreadyDelivered,  // a retransmitted fragment of the message just delivered (answered "complete")
};

struct ReceiveResult {
  ReceiveEvent event = ReceiveEvent::kIgnored;
  uint32_t request_id = 0;
  size_t reply_bytes = 0;  // > 0: send reply[0, reply_bytes) (a SACK) back to the sender
  Status status;           // non-OK exactly when event == kRejected
};

class Reassembler {
 public:
  // `buffer` bounds the largest message accepted; `bitmap` must hold
  // BitmapBytes(fragments of that message). Both caller-owned, outlive this.
  Reassembler(std::span<uint8_t> buffer, std::span<uint8_t> bitmap, const ReassemblerConfig& config);
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Feeds one received datagram; `reply` (>= config.datagram_bytes) receives a SACK to send.
  ReceiveResult OnDatagram(std::span<const uint8_t> datagram, uint64_t now_us, std::span<uint8_t> reply);
  // Drops a partial message idle for reassembly_timeout_us; true if one was dropped.
  bool Expire(uint64_t now_us);

  // After kComplete: the whole message (decode with DecodeMessage); valid until
  // the next OnDatagram call that starts another message.
  std::span<const uint8_t> message() const { return complete_ ? buffer_.first(total_) : std::span<const uint8_t>(); }
  bool in_progress() const { return active_ && !complete_; }
  uint32_t request_id() const { return request_id_; }
  ReplayWindow& replay_window() { return replay_; }

 private:
  size_t WriteSack(uint8_t flags, uint32_t request_id, uint16_t count, std::span<uint8_t> reply) const;
  bool IsRetransmissionOfDelivered(const FragmentHeader& h, std::span<const uint8_t> chunk) const;

  std::span<uint8_t> buffer_, bitmap_;
  ReassemblerConfig config_;
  ReplayWindow replay_;
  uint32_t request_id_ = 0, total_ = 0, chunk_ = 0;
  uint32_t count_ = 0, received_ = 0;
  bool active_ = false, complete_ = false;
  uint64_t last_activity_us_ = 0;
};

}  // namespace edgesplit::wire
