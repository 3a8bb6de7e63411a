// SHA-256 and SHA-512 (FIPS 180-4), HMAC-SHA-256 (RFC 2104), HKDF (RFC 5869).
// Hashes process public-length input with no data-dependent branches, so they
// are constant time for secret content as needed by HMAC and Ed25519.
#include <cstring>

#include "crypto_internal.h"
#include "edgesplit/crypto.h"

namespace edgesplit::crypto {
namespace {

constexpr uint32_t kK256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
    0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
    0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
    0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
    0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint64_t kK512[80] = {
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538, 0x59f111f1b605d019,
    0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65, 0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
    0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
    0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
    0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b, 0xa2bfe8a14cf10364, 0xa81a664bbc423001,
    0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c, 0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
    0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec, 0x6c44198c4a475817};

inline uint32_t Ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
inline uint64_t Ror64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

void Block256(uint32_t h[8], const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) w[i] = internal::LoadBe32(p + 4 * i);
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = Ror32(w[i - 15], 7) ^ Ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = Ror32(w[i - 2], 17) ^ Ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 = k + (Ror32(e, 6) ^ Ror32(e, 11) ^ Ror32(e, 25)) + ((e & f) ^ (~e & g)) + kK256[i] + w[i];
    const uint32_t t2 = (Ror32(a, 2) ^ Ror32(a, 13) ^ Ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void Block512(uint64_t h[8], const uint8_t* p) {
  uint64_t w[80];
  for (int i = 0; i < 16; ++i) w[i] = internal::LoadBe64(p + 8 * i);
  for (int i = 16; i < 80; ++i) {
    const uint64_t s0 = Ror64(w[i - 15], 1) ^ Ror64(w[i - 15], 8) ^ (w[i - 15] >> 7);
    const uint64_t s1 = Ror64(w[i - 2], 19) ^ Ror64(w[i - 2], 61) ^ (w[i - 2] >> 6);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint64_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 80; ++i) {
    const uint64_t t1 = k + (Ror64(e, 14) ^ Ror64(e, 18) ^ Ror64(e, 41)) + ((e & f) ^ (~e & g)) + kK512[i] + w[i];
    const uint64_t t2 = (Ror64(a, 28) ^ Ror64(a, 34) ^ Ror64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

// The shared Merkle-Damgard buffering of both hashes: whole blocks go straight
// to `block_fn`, a partial one waits in `buf`.
template <size_t kBlock, typename State, typename Fn>
void Absorb(State* h, uint8_t* buf, uint64_t* length, std::span<const uint8_t> in, Fn block_fn) {
  size_t used = *length % kBlock;
  *length += in.size();
  size_t i = 0;
  if (used != 0) {
    const size_t take = in.size() < kBlock - used ? in.size() : kBlock - used;
    std::memcpy(buf + used, in.data(), take);
    i = take, used += take;
    if (used < kBlock) return;
    block_fn(h, buf);
  }
  for (; i + kBlock <= in.size(); i += kBlock) block_fn(h, in.data() + i);
  if (i < in.size()) std::memcpy(buf, in.data() + i, in.size() - i);
}

// Appends 0x80, zeros and the bit length (in the last `len_bytes` bytes of the final block).
template <size_t kBlock, typename State, typename Fn>
void Pad(State* h, uint8_t* buf, uint64_t length, size_t len_bytes, Fn block_fn) {
  size_t used = length % kBlock;
  buf[used++] = 0x80;
  if (used > kBlock - len_bytes) {
    std::memset(buf + used, 0, kBlock - used);
    block_fn(h, buf);
    used = 0;
  }
  std::memset(buf + used, 0, kBlock - used);
  const uint64_t bits = length * 8;  // the high 64 bits of SHA-512's 128-bit length stay zero
  for (int b = 0; b < 8; ++b) buf[kBlock - 1 - b] = static_cast<uint8_t>(bits >> (8 * b));
  block_fn(h, buf);
}

}  // namespace

Sha256Ctx::Sha256Ctx()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}, block_{} {}

void Sha256Ctx::Update(std::span<const uint8_t> bytes) { Absorb<64>(h_, block_, &length_, bytes, Block256); }

Bytes32 Sha256Ctx::Final() {
  Pad<64>(h_, block_, length_, 8, Block256);
  Bytes32 out;
  for (int i = 0; i < 8; ++i) internal::StoreBe32(out.data() + 4 * i, h_[i]);
  SecureZero(block_, sizeof block_);
  return out;
}

Sha512Ctx::Sha512Ctx()
    : h_{0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
         0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179},
      block_{} {}

void Sha512Ctx::Update(std::span<const uint8_t> bytes) { Absorb<128>(h_, block_, &length_, bytes, Block512); }

Bytes64 Sha512Ctx::Final() {
  Pad<128>(h_, block_, length_, 16, Block512);
  Bytes64 out;
  for (int i = 0; i < 8; ++i) internal::StoreBe64(out.data() + 8 * i, h_[i]);
  SecureZero(block_, sizeof block_);
  return out;
}

Bytes32 Sha256(std::span<const uint8_t> bytes) {
  Sha256Ctx c;
  c.Update(bytes);
  return c.Final();
}

Bytes64 Sha512(std::span<const uint8_t> bytes) {
  Sha512Ctx c;
  c.Update(bytes);
  return c.Final();
}

namespace internal {
Bytes32 HmacSha256Parts(std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> parts) {
  uint8_t k[64] = {};
  if (key.size() > 64) {
    const Bytes32 hk = Sha256(key);
    std::memcpy(k, hk.data(), 32);
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t pad[64];
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x36;
  Sha256Ctx inner;
  inner.Update(pad);
  for (std::span<const uint8_t> part : parts) inner.Update(part);
  const Bytes32 ih = inner.Final();
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x5c;
  Sha256Ctx outer;
  outer.Update(pad);
  outer.Update(ih);
  SecureZero(k, sizeof k);
  SecureZero(pad, sizeof pad);
  return outer.Final();
}
}  // namespace internal

Bytes32 HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message) {
  return internal::HmacSha256Parts(key, {message});
}

Bytes32 HkdfExtract(std::span<const uint8_t> salt, std::span<const uint8_t> ikm) { return HmacSha256(salt, ikm); }

bool HkdfExpand(const Bytes32& prk, std::span<const uint8_t> info, std::span<uint8_t> out) {
  if (out.size() > 255 * 32) {
    std::memset(out.data(), 0, out.size());
    return false;
  }
  // T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty.
  Bytes32 t{};
  size_t done = 0;
  for (uint8_t i = 1; done < out.size(); ++i) {
    const std::span<const uint8_t> prev = i > 1 ? std::span<const uint8_t>(t) : std::span<const uint8_t>();
    t = internal::HmacSha256Parts(prk, {prev, info, std::span<const uint8_t>(&i, 1)});
    const size_t take = out.size() - done < 32 ? out.size() - done : 32;
    std::memcpy(out.data() + done, t.data(), take);
    done += take;
  }
  SecureZero(t.data(), t.size());
  return true;
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return internal::ValueBarrier(diff) == 0;
}

void SecureZero(void* p, size_t n) {
  volatile uint8_t* v = static_cast<volatile uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) v[i] = 0;
}

}  // namespace edgesplit::crypto
