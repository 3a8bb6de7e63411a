// Sealed frames and the replay window (secure_link.h, docs/security.md).
#include <cstring>

#include "crypto_internal.h"
#include "edgesplit/secure_link.h"

namespace edgesplit::secure {
namespace {

constexpr int kWords = static_cast<int>(kReplayWindow / 64);

// The AEAD nonce of a frame: 4 zero bytes, then the 64-bit counter (little-endian).
std::array<uint8_t, 12> NonceOf(uint64_t counter) {
  std::array<uint8_t, 12> n{};
  crypto::internal::StoreLe64(n.data() + 4, counter);
  return n;
}

}  // namespace

Status Sealer::Seal(std::span<const uint8_t> aad, std::span<const uint8_t> plaintext, std::span<uint8_t> out) {
  if (out.size() != plaintext.size() + kSealOverhead)
    return InvalidArgument("seal: output has " + std::to_string(out.size()) + " bytes, expected " +
                           std::to_string(plaintext.size() + kSealOverhead));
  if (counter_ >= kMaxFramesPerKey) return OutOfRange("seal: the key sealed its last frame; a new handshake is needed");
  const uint64_t counter = counter_++;
  crypto::internal::StoreLe64(out.data(), counter);
  (void)crypto::AeadSeal(key_, NonceOf(counter), aad, plaintext, out.subspan(kCounterBytes));
  return Status::Ok();
}

bool Opener::Fresh(uint64_t counter) const {
  if (!any_ || counter > highest_) return true;
  const uint64_t back = highest_ - counter;
  if (back >= kReplayWindow) return false;
  return ((seen_[back / 64] >> (back % 64)) & 1) == 0;
}

void Opener::Accept(uint64_t counter) {
  if (!any_ || counter > highest_) {
    // Slide: bit i (highest - i) moves to bit i + shift.
    const uint64_t shift = any_ ? counter - highest_ : kReplayWindow;
    const int word_shift = shift >= kReplayWindow ? kWords : static_cast<int>(shift / 64);
    const int bit_shift = static_cast<int>(shift % 64);
    for (int k = kWords - 1; k >= 0; --k) {
      const int src = k - word_shift;
      uint64_t v = src >= 0 ? seen_[src] << bit_shift : 0;
      if (bit_shift != 0 && src >= 1) v |= seen_[src - 1] >> (64 - bit_shift);
      seen_[k] = v;
    }
    highest_ = counter, any_ = true;
    seen_[0] |= 1;
    return;
  }
  const uint64_t back = highest_ - counter;
  seen_[back / 64] |= uint64_t{1} << (back % 64);
}

Status Opener::Open(std::span<const uint8_t> aad, std::span<const uint8_t> sealed, std::span<uint8_t> plaintext) {
  if (sealed.size() < kSealOverhead)
    return InvalidArgument("sealed frame truncated: " + std::to_string(sealed.size()) + " bytes, at least " + std::to_string(kSealOverhead) +
                           " needed");
  if (plaintext.size() != sealed.size() - kSealOverhead)
    return InvalidArgument("open: plaintext buffer has " + std::to_string(plaintext.size()) + " bytes, expected " +
                           std::to_string(sealed.size() - kSealOverhead));
  const uint64_t counter = crypto::internal::LoadLe64(sealed.data());
  if (!Fresh(counter)) {
    if (highest_ - counter >= kReplayWindow)
      return InvalidArgument("sealed frame too old: counter " + std::to_string(counter) + " is more than " + std::to_string(kReplayWindow) +
                             " behind " + std::to_string(highest_));
    return InvalidArgument("sealed frame replayed: counter " + std::to_string(counter) + " was already accepted");
  }
  if (!crypto::AeadOpen(key_, NonceOf(counter), aad, sealed.subspan(kCounterBytes), plaintext))
    return InvalidArgument("sealed frame does not authenticate (forged, tampered or wrong key)");
  Accept(counter);
  return Status::Ok();
}

}  // namespace edgesplit::secure
