// Receiver half of the ARQ: fragments into the caller's buffer at
// index * chunk, a bitmap of what has arrived, SACKs, and the replay window.
#include <cstring>
#include <string>

#include "edgesplit/wire.h"

namespace edgesplit::wire {
namespace {

std::string N(uint64_t v) { return std::to_string(v); }

ReceiveResult Rejected(Status status, uint32_t request_id, size_t reply_bytes = 0) {
  ReceiveResult r;
  r.event = ReceiveEvent::kRejected;
  r.request_id = request_id;
  r.reply_bytes = reply_bytes;
  r.status = std::move(status);
  return r;
}

// The chunk size every fragment but the last carries, from any one fragment:
// a non-last fragment shows it, the last one implies (total - its size) / (count - 1).
// 0 when the fragment's numbers cannot come from a valid fragmentation.
uint32_t ChunkFromFragment(const FragmentHeader& h, size_t size) {
  uint64_t chunk = 0;
  if (h.count == 1) {
    chunk = size == h.total_length ? size : 0;
  } else if (h.index + 1u < h.count) {
    chunk = size;
  } else {
    const uint64_t rest = h.total_length - size;  // DecodeFragment guarantees size <= total
    if (rest % (h.count - 1u) != 0) return 0;
    chunk = rest / (h.count - 1u);
  }
  // The last fragment carries 1..chunk bytes.
  if (chunk == 0) return 0;
  const uint64_t before_last = chunk * (h.count - 1u);
  if (before_last >= h.total_length || h.total_length - before_last > chunk) return 0;
  return static_cast<uint32_t>(chunk);
}

}  // namespace

Reassembler::Reassembler(std::span<uint8_t> buffer, std::span<uint8_t> bitmap, const ReassemblerConfig& config)
    : buffer_(buffer), bitmap_(bitmap), config_(config) {}

bool Reassembler::Expire(uint64_t now_us) {
  if (!in_progress() || now_us < last_activity_us_ || now_us - last_activity_us_ < config_.reassembly_timeout_us)
    return false;
  active_ = false;
  return true;
}

bool Reassembler::IsRetransmissionOfDelivered(const FragmentHeader& h, std::span<const uint8_t> chunk) const {
  if (!complete_ || h.request_id != request_id_ || h.count != count_ || h.total_length != total_) return false;
  const uint64_t offset = static_cast<uint64_t>(h.index) * chunk_;
  return offset + chunk.size() <= total_ && std::memcmp(buffer_.data() + offset, chunk.data(), chunk.size()) == 0;
}

size_t Reassembler::WriteSack(uint8_t flags, uint32_t request_id, uint16_t count, std::span<uint8_t> reply) const {
  const size_t cap = reply.size() < config_.datagram_bytes ? reply.size() : config_.datagram_bytes;
  if (cap < kSackFixedBytes) return 0;
  Sack sack;
  sack.flags = flags;
  sack.request_id = request_id;
  sack.fragment_count = count;
  if (flags & kSackFlagComplete) {
    sack.base_index = count;
  } else if (!(flags & kSackFlagRejected)) {
    // Start the bitmap at the first byte with a gap, so it is a plain copy;
    // fragments below base_index are all received.
    const size_t bytes = BitmapBytes(count_);
    size_t first = 0;
    while (first < bytes && bitmap_[first] == 0xFF) ++first;
    sack.base_index = static_cast<uint16_t>(8 * first < count_ ? 8 * first : count_);
    size_t n = bytes - first;
    if (n > 255) n = 255;
    if (n > cap - kSackFixedBytes) n = cap - kSackFixedBytes;
    sack.bitmap = bitmap_.subspan(first, n);
  }
  Result<size_t> written = EncodeSack(sack, reply);
  return written.ok() ? *written : 0;
}

ReceiveResult Reassembler::OnDatagram(std::span<const uint8_t> datagram, uint64_t now_us, std::span<uint8_t> reply) {
  Result<DatagramKind> kind = PeekDatagramKind(datagram);
  if (!kind.ok()) return Rejected(kind.status(), 0);
  if (*kind != DatagramKind::kFragment) return ReceiveResult{};  // SACKs are for senders
  Result<DecodedFragment> fragment = DecodeFragment(datagram);
  if (!fragment.ok()) return Rejected(fragment.status(), 0);
  const FragmentHeader& h = fragment->header;
  const std::span<const uint8_t> chunk = fragment->chunk;
  const bool poll = h.flags & kFragmentFlagPoll;
  Expire(now_us);

  ReceiveResult r;
  r.request_id = h.request_id;
  // A retransmitted fragment of the message just delivered (its sender missed
  // the complete SACK): say "complete" again, never hand it up twice. Only if
  // the bytes match what was delivered: a client that restarted and reused the
  // id gets a rejection below, not a false "complete".
  if (IsRetransmissionOfDelivered(h, chunk)) {
    r.event = ReceiveEvent::kAlreadyDelivered;
    r.reply_bytes = WriteSack(kSackFlagComplete, h.request_id, h.count, reply);
    return r;
  }
  // Replayed, too old, or older than the request in progress: refused with a
  // rejecting SACK, so a live sender fails at once instead of at its deadline.
  Status fresh = replay_.Check(h.request_id);
  if (fresh.ok() && in_progress() && h.request_id < request_id_)
    fresh = InvalidArgument("fragment of request " + N(h.request_id) + ", older than request " + N(request_id_) +
                            " in progress");
  if (!fresh.ok()) return Rejected(fresh, h.request_id, WriteSack(kSackFlagRejected, h.request_id, h.count, reply));
  if (in_progress() && h.request_id != request_id_) active_ = false;  // newer: the client gave up on the old one
  if (!in_progress()) {
    Status fits = Status::Ok();
    if (h.total_length < EncodedMessageBytes(0, 0))
      fits = InvalidArgument("message of " + N(h.total_length) + " bytes is shorter than a message header");
    else if (h.total_length > buffer_.size())
      fits = OutOfRange("message of " + N(h.total_length) + " bytes exceeds the receive buffer of " +
                        N(buffer_.size()));
    else if (BitmapBytes(h.count) > bitmap_.size())
      fits = OutOfRange("message of " + N(h.count) + " fragments exceeds the reassembly bitmap of " +
                        N(8 * bitmap_.size()));
    if (!fits.ok())
      return Rejected(fits.WithContext("request " + N(h.request_id)), h.request_id,
                      WriteSack(kSackFlagRejected, h.request_id, h.count, reply));
    std::memset(bitmap_.data(), 0, BitmapBytes(h.count));
    request_id_ = h.request_id;
    total_ = h.total_length;
    count_ = h.count;
    chunk_ = 0;
    received_ = 0;
    active_ = true;
    complete_ = false;
  } else if (h.count != count_ || h.total_length != total_) {
    return Rejected(InvalidArgument("fragment " + N(h.index) + " of request " + N(h.request_id) + " says " +
                                    N(h.count) + " fragments / " + N(h.total_length) + " bytes, earlier ones said " +
                                    N(count_) + " / " + N(total_)),
                    h.request_id);
  }
  last_activity_us_ = now_us;

  if (chunk_ == 0) {
    chunk_ = ChunkFromFragment(h, chunk.size());
    if (chunk_ == 0)
      return Rejected(InvalidArgument("fragment " + N(h.index) + "/" + N(h.count) + " of " + N(chunk.size()) +
                                      " bytes cannot belong to a " + N(total_) + "-byte message"),
                      h.request_id);
  }
  const uint64_t offset = static_cast<uint64_t>(h.index) * chunk_;
  const uint64_t expected = h.index + 1u < count_ ? chunk_ : total_ - offset;
  if (chunk.size() != expected)
    return Rejected(InvalidArgument("fragment " + N(h.index) + " of request " + N(h.request_id) + " has " +
                                    N(chunk.size()) + " bytes, expected " + N(expected)),
                    h.request_id);

  uint8_t& bits = bitmap_[h.index / 8];
  const uint8_t mask = static_cast<uint8_t>(1u << (h.index % 8));
  if (bits & mask) {
    r.event = ReceiveEvent::kDuplicate;
    if (poll) r.reply_bytes = WriteSack(0, request_id_, static_cast<uint16_t>(count_), reply);
    return r;
  }
  std::memcpy(buffer_.data() + offset, chunk.data(), chunk.size());
  bits = static_cast<uint8_t>(bits | mask);
  ++received_;

  if (received_ < count_) {
    r.event = ReceiveEvent::kFragment;
    if (poll) r.reply_bytes = WriteSack(0, request_id_, static_cast<uint16_t>(count_), reply);
    return r;
  }
  // Every fragment is in: the message must decode (CRC, limits, shape) and
  // name the same request before it is delivered.
  active_ = false;
  Result<DecodedMessage> message = DecodeMessage(buffer_.first(total_), config_.limits);
  Status verdict = message.ok() ? Status::Ok() : message.status();
  if (verdict.ok() && message->header.request_id != request_id_)
    verdict = InvalidArgument("message header names request " + N(message->header.request_id) +
                              ", its fragments request " + N(request_id_));
  if (!verdict.ok())
    return Rejected(verdict.WithContext("request " + N(request_id_)), request_id_,
                    WriteSack(kSackFlagRejected, request_id_, static_cast<uint16_t>(count_), reply));
  replay_.Mark(request_id_);
  active_ = true;
  complete_ = true;
  r.event = ReceiveEvent::kComplete;
  r.reply_bytes = WriteSack(kSackFlagComplete, request_id_, static_cast<uint16_t>(count_), reply);
  return r;
}

}  // namespace edgesplit::wire
