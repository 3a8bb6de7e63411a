// Sender half of the ARQ: rounds of unacknowledged fragments, SACK-driven
// retransmission, bounded rounds and an absolute deadline (docs/wire.md).
#include <cstring>
#include <limits>
#include <string>

#include "edgesplit/wire.h"

namespace edgesplit::wire {
namespace {

std::string N(uint64_t v) { return std::to_string(v); }

std::string Rounds(uint32_t n) { return N(n) + (n == 1 ? " round" : " rounds"); }

// A rejecting SACK carries no reason (the receiver reports it on its side).
Status Rejection(uint32_t request_id) {
  return Unsupported("receiver rejected request " + N(request_id) +
                     " (a message too large for its buffers, one that failed verification, or a replayed or"
                     " stale request id)");
}

}  // namespace

bool FragmentSender::IsAcked(uint32_t index) const { return (acked_[index / 8] >> (index % 8)) & 1u; }

Status FragmentSender::Start(std::span<const uint8_t> message, uint32_t request_id, const ArqConfig& config,
                             uint64_t now_us, uint64_t deadline_us) {
  active_ = done_ = in_round_ = rejected_ = sack_pending_ = false;
  if (config.datagram_bytes < kMinDatagramBytes || config.datagram_bytes > kMaxDatagramBytes)
    return InvalidArgument("datagram size " + N(config.datagram_bytes) + " outside [" + N(kMinDatagramBytes) +
                           ", " + N(kMaxDatagramBytes) + "]");
  if (config.rto_us == 0 || config.max_rounds == 0)
    return InvalidArgument("ARQ needs a retransmission timeout > 0 and at least one round");
  if (deadline_us <= now_us) return InvalidArgument("request deadline is not in the future");
  if (message.empty()) return InvalidArgument("nothing to send: the message is empty");
  if (message.size() > kMaxMessageBytes)
    return OutOfRange("message of " + N(message.size()) + " bytes exceeds the 24-bit wire limit " +
                      N(kMaxMessageBytes));
  const size_t count = FragmentCount(message.size(), config.datagram_bytes);
  if (count > kMaxFragments)
    return OutOfRange("message of " + N(message.size()) + " bytes needs " + N(count) + " fragments of " +
                      N(FragmentPayloadBytes(config.datagram_bytes)) + " bytes, more than " + N(kMaxFragments));
  if (BitmapBytes(count) > acked_.size())
    return OutOfRange("ack bitmap of " + N(acked_.size()) + " bytes is too small for " + N(count) + " fragments");
  std::memset(acked_.data(), 0, BitmapBytes(count));
  message_ = message;
  config_ = config;
  request_id_ = request_id;
  count_ = static_cast<uint32_t>(count);
  acked_count_ = rounds_ = 0;
  deadline_us_ = deadline_us;
  datagrams_sent_ = retransmissions_ = 0;
  active_ = true;
  StartRound(now_us, /*probe_only=*/false);
  return Status::Ok();
}

void FragmentSender::StartRound(uint64_t now_us, bool probe_only) {
  ++rounds_;
  in_round_ = true;
  sack_pending_ = false;
  cursor_ = 0;
  // The poll flag rides on the last fragment still missing.
  last_in_round_ = count_ - 1;
  if (acked_count_ < count_)
    while (IsAcked(last_in_round_)) --last_in_round_;
  // Alone, it is a probe: after a timeout (the poll or its SACK was lost, and
  // most of the round probably arrived) and when everything is acknowledged
  // but no "complete" came. The SACK it draws names exactly what to resend,
  // which costs one round trip instead of a whole round of duplicates.
  force_last_ = probe_only || acked_count_ == count_;
  if (force_last_) cursor_ = last_in_round_;
  round_sent_us_ = now_us;
}

Result<size_t> FragmentSender::Poll(uint64_t now_us, std::span<uint8_t> out) {
  if (done_) return size_t{0};
  if (!active_) return InvalidArgument("fragment sender has no request in progress");
  if (rejected_) return Rejection(request_id_);
  if (now_us >= deadline_us_)
    return DeadlineExceeded("request " + N(request_id_) + ": deadline passed after " + Rounds(rounds_) + ", " +
                            N(acked_count_) + " of " + N(count_) + " fragments acknowledged");
  if (!in_round_) {
    const bool timed_out = now_us >= round_sent_us_ + config_.rto_us;
    if (!sack_pending_ && !timed_out) return size_t{0};
    if (rounds_ >= config_.max_rounds)
      return DeadlineExceeded("request " + N(request_id_) + ": not delivered after " + Rounds(rounds_) + " (" +
                              N(acked_count_) + " of " + N(count_) + " fragments acknowledged)");
    StartRound(now_us, /*probe_only=*/!sack_pending_);
  }
  // Next fragment of this round that is still unacknowledged (a SACK that
  // arrived mid-round can have acknowledged some of them).
  while (cursor_ <= last_in_round_ && IsAcked(cursor_) && !(force_last_ && cursor_ == last_in_round_)) ++cursor_;
  if (cursor_ > last_in_round_) {
    in_round_ = false;
    round_sent_us_ = now_us;
    return size_t{0};
  }
  const uint32_t index = cursor_++;
  const size_t chunk = FragmentPayloadBytes(config_.datagram_bytes);
  const size_t offset = static_cast<size_t>(index) * chunk;
  const size_t size = message_.size() - offset < chunk ? message_.size() - offset : chunk;
  FragmentHeader h;
  h.flags = index == last_in_round_ ? kFragmentFlagPoll : 0;
  h.request_id = request_id_;
  h.index = static_cast<uint16_t>(index);
  h.count = static_cast<uint16_t>(count_);
  h.total_length = static_cast<uint32_t>(message_.size());
  ES_ASSIGN_OR_RETURN(size_t written, EncodeFragment(h, message_.subspan(offset, size), out));
  ++datagrams_sent_;
  if (rounds_ > 1) ++retransmissions_;
  if (index == last_in_round_) {
    in_round_ = false;
    round_sent_us_ = now_us;
  }
  return written;
}

Status FragmentSender::OnDatagram(std::span<const uint8_t> datagram, uint64_t now_us) {
  ES_ASSIGN_OR_RETURN(DatagramKind kind, PeekDatagramKind(datagram));
  if (kind != DatagramKind::kSack) return Status::Ok();
  ES_ASSIGN_OR_RETURN(Sack sack, DecodeSack(datagram));
  if (!active_ || done_ || sack.request_id != request_id_) return Status::Ok();  // stale or someone else's
  if (sack.flags & kSackFlagRejected) {
    rejected_ = true;
    return Rejection(request_id_);
  }
  if (sack.fragment_count != count_)
    return InvalidArgument("SACK for request " + N(request_id_) + " names " + N(sack.fragment_count) +
                           " fragments, " + N(count_) + " were sent");
  if (sack.flags & kSackFlagComplete) {
    done_ = true;
    in_round_ = false;
    acked_count_ = count_;
    return Status::Ok();
  }
  auto mark = [&](uint32_t i) {
    if (!IsAcked(i)) {
      acked_[i / 8] = static_cast<uint8_t>(acked_[i / 8] | (1u << (i % 8)));
      ++acked_count_;
    }
  };
  for (uint32_t i = 0; i < sack.base_index; ++i) mark(i);
  for (size_t bit = 0; bit < 8 * sack.bitmap.size() && sack.base_index + bit < count_; ++bit)
    if ((sack.bitmap[bit / 8] >> (bit % 8)) & 1u) mark(static_cast<uint32_t>(sack.base_index + bit));
  // A SACK answers the last round's poll: resend what is missing right away
  // instead of waiting for the timeout.
  if (!in_round_) sack_pending_ = true;
  return Status::Ok();
}

uint64_t FragmentSender::next_wake_us() const {
  if (!active_ || done_) return std::numeric_limits<uint64_t>::max();
  if (in_round_ || sack_pending_ || rejected_) return 0;
  const uint64_t rto = round_sent_us_ + config_.rto_us;
  return rto < deadline_us_ ? rto : deadline_us_;
}

}  // namespace edgesplit::wire
