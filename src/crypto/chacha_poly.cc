// ChaCha20, Poly1305 and the ChaCha20-Poly1305 AEAD, as RFC 8439 §2.3-2.8
// specifies them. Poly1305 works in five 26-bit limbs with 64-bit products so
// a 32-bit MCU runs it without a 128-bit type.
#include <cstring>

#include "crypto_internal.h"
#include "edgesplit/crypto.h"

namespace edgesplit::crypto {
namespace {

using internal::LoadLe32;
using internal::StoreLe32;

inline uint32_t Rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

inline void QuarterRound(uint32_t* s, int a, int b, int c, int d) {
  s[a] += s[b], s[d] = Rol(s[d] ^ s[a], 16);
  s[c] += s[d], s[b] = Rol(s[b] ^ s[c], 12);
  s[a] += s[b], s[d] = Rol(s[d] ^ s[a], 8);
  s[c] += s[d], s[b] = Rol(s[b] ^ s[c], 7);
}

// One 64-byte key stream block (RFC 8439 §2.3).
void ChaChaBlock(const Bytes32& key, const uint8_t* nonce, uint32_t counter, uint8_t out[64]) {
  uint32_t in[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (int i = 0; i < 8; ++i) in[4 + i] = LoadLe32(key.data() + 4 * i);
  in[12] = counter;
  for (int i = 0; i < 3; ++i) in[13 + i] = LoadLe32(nonce + 4 * i);
  uint32_t s[16];
  std::memcpy(s, in, sizeof s);
  for (int round = 0; round < 10; ++round) {
    QuarterRound(s, 0, 4, 8, 12), QuarterRound(s, 1, 5, 9, 13), QuarterRound(s, 2, 6, 10, 14), QuarterRound(s, 3, 7, 11, 15);
    QuarterRound(s, 0, 5, 10, 15), QuarterRound(s, 1, 6, 11, 12), QuarterRound(s, 2, 7, 8, 13), QuarterRound(s, 3, 4, 9, 14);
  }
  for (int i = 0; i < 16; ++i) StoreLe32(out + 4 * i, s[i] + in[i]);
  SecureZero(s, sizeof s);
  SecureZero(in, sizeof in);
}

// Incremental Poly1305 (RFC 8439 §2.5): h = (h + block) * r mod 2^130 - 5.
class Poly1305State {
 public:
  explicit Poly1305State(const Bytes32& key) {
    const uint8_t* k = key.data();
    // r clamped as §2.5.1 says, split into 26-bit limbs.
    r_[0] = LoadLe32(k + 0) & 0x3ffffff;
    r_[1] = (LoadLe32(k + 3) >> 2) & 0x3ffff03;
    r_[2] = (LoadLe32(k + 6) >> 4) & 0x3ffc0ff;
    r_[3] = (LoadLe32(k + 9) >> 6) & 0x3f03fff;
    r_[4] = (LoadLe32(k + 12) >> 8) & 0x00fffff;
    for (int i = 0; i < 4; ++i) pad_[i] = LoadLe32(k + 16 + 4 * i);
  }
  ~Poly1305State() {
    SecureZero(r_, sizeof r_);
    SecureZero(h_, sizeof h_);
    SecureZero(pad_, sizeof pad_);
    SecureZero(buf_, sizeof buf_);
  }

  void Update(const uint8_t* m, size_t n) {
    if (n == 0) return;  // m may be null for an empty span
    if (used_ != 0) {
      const size_t take = n < 16 - used_ ? n : 16 - used_;
      std::memcpy(buf_ + used_, m, take);
      used_ += take, m += take, n -= take;
      if (used_ < 16) return;
      Block(buf_, 1u << 24);
      used_ = 0;
    }
    for (; n >= 16; m += 16, n -= 16) Block(m, 1u << 24);
    std::memcpy(buf_, m, n);
    used_ = n;
  }
  // Zero bytes up to the next multiple of 16 (the AEAD's padding).
  void PadTo16() {
    static constexpr uint8_t kZeros[16] = {};
    if (used_ != 0) Update(kZeros, 16 - used_);
  }

  std::array<uint8_t, 16> Final() {
    if (used_ != 0) {  // a short last block: append 1, then zeros, no 2^128 bit
      buf_[used_] = 1;
      std::memset(buf_ + used_ + 1, 0, 15 - used_);
      Block(buf_, 0);
    }
    uint32_t h0 = h_[0], h1 = h_[1], h2 = h_[2], h3 = h_[3], h4 = h_[4];
    uint32_t c = h1 >> 26;  // fully carry
    h1 &= 0x3ffffff, h2 += c, c = h2 >> 26, h2 &= 0x3ffffff, h3 += c, c = h3 >> 26, h3 &= 0x3ffffff;
    h4 += c, c = h4 >> 26, h4 &= 0x3ffffff, h0 += c * 5, c = h0 >> 26, h0 &= 0x3ffffff, h1 += c;
    // g = h + 5 - 2^130; use g when it does not underflow (h >= p), masks not branches.
    uint32_t g0 = h0 + 5;
    c = g0 >> 26, g0 &= 0x3ffffff;
    uint32_t g1 = h1 + c;
    c = g1 >> 26, g1 &= 0x3ffffff;
    uint32_t g2 = h2 + c;
    c = g2 >> 26, g2 &= 0x3ffffff;
    uint32_t g3 = h3 + c;
    c = g3 >> 26, g3 &= 0x3ffffff;
    const uint32_t g4 = h4 + c - (1u << 26);
    const uint32_t use_g = (g4 >> 31) - 1;  // all ones when g4 did not go negative
    h0 = (h0 & ~use_g) | (g0 & use_g), h1 = (h1 & ~use_g) | (g1 & use_g), h2 = (h2 & ~use_g) | (g2 & use_g);
    h3 = (h3 & ~use_g) | (g3 & use_g), h4 = (h4 & ~use_g) | (g4 & use_g);
    // h mod 2^128 in 32-bit words, plus s.
    const uint32_t w[4] = {h0 | h1 << 26, h1 >> 6 | h2 << 20, h2 >> 12 | h3 << 14, h3 >> 18 | h4 << 8};
    std::array<uint8_t, 16> tag;
    uint64_t f = 0;
    for (int i = 0; i < 4; ++i) {
      f = uint64_t{w[i]} + pad_[i] + (f >> 32);
      StoreLe32(tag.data() + 4 * i, static_cast<uint32_t>(f));
    }
    return tag;
  }

 private:
  void Block(const uint8_t* m, uint32_t hibit) {
    const uint32_t r0 = r_[0], r1 = r_[1], r2 = r_[2], r3 = r_[3], r4 = r_[4];
    const uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
    const uint64_t h0 = h_[0] + (LoadLe32(m + 0) & 0x3ffffff), h1 = h_[1] + ((LoadLe32(m + 3) >> 2) & 0x3ffffff),
                   h2 = h_[2] + ((LoadLe32(m + 6) >> 4) & 0x3ffffff), h3 = h_[3] + ((LoadLe32(m + 9) >> 6) & 0x3ffffff),
                   h4 = h_[4] + ((LoadLe32(m + 12) >> 8) | hibit);
    const uint64_t d0 = h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1;
    uint64_t d1 = h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2;
    uint64_t d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3;
    uint64_t d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4;
    uint64_t d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
    d1 += d0 >> 26, d2 += d1 >> 26, d3 += d2 >> 26, d4 += d3 >> 26;
    uint64_t n0 = (d0 & 0x3ffffff) + (d4 >> 26) * 5;
    h_[1] = static_cast<uint32_t>((d1 & 0x3ffffff) + (n0 >> 26));
    h_[0] = static_cast<uint32_t>(n0 & 0x3ffffff);
    h_[2] = static_cast<uint32_t>(d2 & 0x3ffffff), h_[3] = static_cast<uint32_t>(d3 & 0x3ffffff);
    h_[4] = static_cast<uint32_t>(d4 & 0x3ffffff);
  }

  uint32_t r_[5];
  uint32_t h_[5] = {};
  uint32_t pad_[4];
  uint8_t buf_[16] = {};
  size_t used_ = 0;
};

// The AEAD's tag over aad || pad || ciphertext || pad || lengths (§2.8).
std::array<uint8_t, 16> AeadTag(const Bytes32& key, const uint8_t* nonce, std::span<const uint8_t> aad,
                                std::span<const uint8_t> ciphertext) {
  uint8_t block0[64];
  ChaChaBlock(key, nonce, 0, block0);
  Bytes32 otk;
  std::memcpy(otk.data(), block0, 32);
  SecureZero(block0, sizeof block0);
  Poly1305State mac(otk);
  SecureZero(otk.data(), otk.size());
  mac.Update(aad.data(), aad.size());
  mac.PadTo16();
  mac.Update(ciphertext.data(), ciphertext.size());
  mac.PadTo16();
  uint8_t lengths[16];
  internal::StoreLe64(lengths, aad.size());
  internal::StoreLe64(lengths + 8, ciphertext.size());
  mac.Update(lengths, 16);
  return mac.Final();
}

}  // namespace

void ChaCha20Xor(const Bytes32& key, std::span<const uint8_t, 12> nonce, uint32_t counter, std::span<const uint8_t> in,
                 std::span<uint8_t> out) {
  uint8_t stream[64];
  const size_t n = in.size() < out.size() ? in.size() : out.size();
  for (size_t off = 0; off < n; off += 64, ++counter) {
    ChaChaBlock(key, nonce.data(), counter, stream);
    const size_t take = n - off < 64 ? n - off : 64;
    for (size_t i = 0; i < take; ++i) out[off + i] = in[off + i] ^ stream[i];
  }
  SecureZero(stream, sizeof stream);
}

std::array<uint8_t, 16> Poly1305(const Bytes32& one_time_key, std::span<const uint8_t> message) {
  Poly1305State mac(one_time_key);
  mac.Update(message.data(), message.size());
  return mac.Final();
}

bool AeadSeal(const Bytes32& key, std::span<const uint8_t, 12> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, std::span<uint8_t> out) {
  if (out.size() != plaintext.size() + kAeadTagBytes) return false;
  ChaCha20Xor(key, nonce, 1, plaintext, out.first(plaintext.size()));
  const std::array<uint8_t, 16> tag = AeadTag(key, nonce.data(), aad, out.first(plaintext.size()));
  std::memcpy(out.data() + plaintext.size(), tag.data(), kAeadTagBytes);
  return true;
}

bool AeadOpen(const Bytes32& key, std::span<const uint8_t, 12> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> sealed, std::span<uint8_t> plaintext) {
  if (sealed.size() < kAeadTagBytes || plaintext.size() != sealed.size() - kAeadTagBytes) return false;
  const std::span<const uint8_t> ciphertext = sealed.first(plaintext.size());
  const std::array<uint8_t, 16> tag = AeadTag(key, nonce.data(), aad, ciphertext);
  if (!ConstantTimeEqual(tag, sealed.last(kAeadTagBytes))) return false;
  ChaCha20Xor(key, nonce, 1, ciphertext, plaintext);
  return true;
}

}  // namespace edgesplit::crypto
