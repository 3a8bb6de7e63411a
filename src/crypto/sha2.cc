// SHA-256 and SHA-512 (FIPS 180-4), HMAC-SHA-256 (RFC 2104), HKDF (RFC 5869).
// Hashes process public-length input with no data-dependent branches, so they
// are constant time for secret content as needed by HMAC and Ed25519.
#include <cstring>

#include "crypto_internal.h"
#include "edgesplit/crypto.h"

namespace edgesplit::crypto {
namespace {

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
// SHA-256's constants are the high 32 bits of SHA-512's first 64 (both are
// the cube roots of the first primes' fractional parts, FIPS 180-4 §4.2).
constexpr struct K256 {
  uint32_t k[64];
  constexpr K256() : k() {
    for (int i = 0; i < 64; ++i) k[i] = static_cast<uint32_t>(kK512[i] >> 32);
  }
} kK256Table;
constexpr const uint32_t* kK256 = kK256Table.k;


// The SHA-2 compression function, shared by both sizes: W is the word type;
// the traits give the round constants, the word count per block and the
// rotation/shift amounts of FIPS 180-4 §4.1.2 / §4.1.3.
struct Sha256Traits {
  using W = uint32_t;
  static constexpr int kRounds = 64;
  static constexpr const W* kK = kK256;
  static constexpr int kSigma0[3] = {7, 18, 3}, kSigma1[3] = {17, 19, 10};  // small sigmas: ror, ror, shr
  static constexpr int kSum0[3] = {2, 13, 22}, kSum1[3] = {6, 11, 25};      // capital sigmas: ror x3
  static W Load(const uint8_t* p) { return internal::LoadBe32(p); }
  static void Store(uint8_t* p, W v) { internal::StoreBe32(p, v); }
};
struct Sha512Traits {
  using W = uint64_t;
  static constexpr int kRounds = 80;
  static constexpr const W* kK = kK512;
  static constexpr int kSigma0[3] = {1, 8, 7}, kSigma1[3] = {19, 61, 6};
  static constexpr int kSum0[3] = {28, 34, 39}, kSum1[3] = {14, 18, 41};
  static W Load(const uint8_t* p) { return internal::LoadBe64(p); }
  static void Store(uint8_t* p, W v) { internal::StoreBe64(p, v); }
};

template <typename W>
inline W Ror(W x, int n) {
  return (x >> n) | (x << (8 * sizeof(W) - n));
}

template <typename T>
void Block(typename T::W h[8], const uint8_t* p) {
  using W = typename T::W;
  W w[T::kRounds];
  for (int i = 0; i < 16; ++i) w[i] = T::Load(p + sizeof(W) * i);
  for (int i = 16; i < T::kRounds; ++i) {
    const W s0 = Ror(w[i - 15], T::kSigma0[0]) ^ Ror(w[i - 15], T::kSigma0[1]) ^ (w[i - 15] >> T::kSigma0[2]);
    const W s1 = Ror(w[i - 2], T::kSigma1[0]) ^ Ror(w[i - 2], T::kSigma1[1]) ^ (w[i - 2] >> T::kSigma1[2]);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  W a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < T::kRounds; ++i) {
    const W t1 = k + (Ror(e, T::kSum1[0]) ^ Ror(e, T::kSum1[1]) ^ Ror(e, T::kSum1[2])) + ((e & f) ^ (~e & g)) + T::kK[i] + w[i];
    const W t2 = (Ror(a, T::kSum0[0]) ^ Ror(a, T::kSum0[1]) ^ Ror(a, T::kSum0[2])) + ((a & b) ^ (a & c) ^ (b & c));
    k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

// The shared Merkle-Damgard buffering of both hashes: whole blocks go straight
// to `block_fn`, a partial one waits in `buf`.
template <size_t kBlock, typename State, typename Fn>
void Absorb(State* h, uint8_t* buf, uint64_t* length, std::span<const uint8_t> in, Fn block_fn) {
  if (in.empty()) return;  // an empty span may have a null data(): no memcpy from it
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

// Pads, runs the last block(s) and writes the eight state words big-endian;
// the length field is two words wide (FIPS 180-4 §5.1).
template <typename T, size_t kOut>
std::array<uint8_t, kOut> Finish(typename T::W h[8], uint8_t* block, uint64_t length) {
  constexpr size_t kWord = sizeof(typename T::W);
  Pad<16 * kWord>(h, block, length, 2 * kWord, Block<T>);
  std::array<uint8_t, kOut> out;
  for (int i = 0; i < 8; ++i) T::Store(out.data() + kWord * i, h[i]);
  SecureZero(block, 16 * kWord);
  return out;
}

}  // namespace

Sha256Ctx::Sha256Ctx()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}, block_{} {}

void Sha256Ctx::Update(std::span<const uint8_t> bytes) { Absorb<64>(h_, block_, &length_, bytes, Block<Sha256Traits>); }

Bytes32 Sha256Ctx::Final() { return Finish<Sha256Traits, 32>(h_, block_, length_); }

Sha512Ctx::Sha512Ctx()
    : h_{0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
         0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179},
      block_{} {}

void Sha512Ctx::Update(std::span<const uint8_t> bytes) { Absorb<128>(h_, block_, &length_, bytes, Block<Sha512Traits>); }

Bytes64 Sha512Ctx::Final() { return Finish<Sha512Traits, 64>(h_, block_, length_); }

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
