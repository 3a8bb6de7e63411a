// Ed25519 (RFC 8032 §5.1): points in extended twisted Edwards coordinates,
// arithmetic mod the group order L, key generation, signing and verification.
// Signing multiplies by secret scalars with a masked-swap ladder (constant
// time); verification handles public data and may take data-dependent paths.
#include <cstring>

#include "edgesplit/crypto.h"
#include "field25519.h"

namespace edgesplit::crypto {
namespace {

using internal::Fe;
using internal::FeAdd;
using internal::FeMul;
using internal::FeSq;
using internal::FeSub;

// d = -121665 / 121666 and sqrt(-1) = 2^((p-1)/4), computed at compile time.
constexpr Fe FeNeg(const Fe& a) { return FeSub(Fe{}, a); }
constexpr Fe SmallFe(int64_t x) {  // 0 <= x < 2^32
  Fe f;
  f.v[0] = x & 0xffff, f.v[1] = x >> 16;
  return f;
}
constexpr Fe kD = FeMul(FeNeg(SmallFe(121665)), internal::FeInvert(SmallFe(121666)));
constexpr Fe kD2 = FeAdd(kD, kD);
constexpr Fe kSqrtM1 = [] {
  // 2^((p-1)/4) = 2^(2^253 - 5): square-and-multiply over the exponent's bits
  // (252..0 set but bit 2; 2^253 - 5 = ...11011).
  Fe c = SmallFe(2);
  for (int i = 251; i >= 0; --i) {
    c = FeSq(c);
    if (i != 2) c = FeMul(c, SmallFe(2));
  }
  return c;
}();

struct Point {
  Fe x, y, z, t;  // x = X/Z, y = Y/Z, x*y = T/Z
};

constexpr Point Identity() { return Point{Fe{}, internal::FeFromInt(1), internal::FeFromInt(1), Fe{}}; }

// The unified addition law for a = -1 (Hisil-Wong-Carter-Dawson 2008 §3.1):
// complete on Ed25519, so it doubles too and has no exceptional cases.
constexpr Point Add(const Point& p, const Point& q) {
  const Fe a = FeMul(FeSub(p.y, p.x), FeSub(q.y, q.x));
  const Fe b = FeMul(FeAdd(p.y, p.x), FeAdd(q.y, q.x));
  const Fe c = FeMul(FeMul(p.t, q.t), kD2);
  const Fe zz = FeMul(p.z, q.z);
  const Fe d = FeAdd(zz, zz);
  const Fe e = FeSub(b, a), f = FeSub(d, c), g = FeAdd(d, c), h = FeAdd(b, a);
  return Point{FeMul(e, f), FeMul(g, h), FeMul(f, g), FeMul(e, h)};
}

// dbl-2008-hwcd (a = -1): 4 squarings and 4 multiplications.
constexpr Point Double(const Point& p) {
  const Fe a = FeSq(p.x), b = FeSq(p.y), zz = FeSq(p.z);
  const Fe c = FeAdd(zz, zz);
  const Fe e = FeSub(FeSub(FeSq(FeAdd(p.x, p.y)), a), b);
  const Fe g = FeSub(b, a);  // D + B with D = -A
  const Fe f = FeSub(g, c);
  const Fe h = FeSub(FeNeg(a), b);
  return Point{FeMul(e, f), FeMul(g, h), FeMul(f, g), FeMul(e, h)};
}

constexpr void Cswap(Point& p, Point& q, int64_t bit) {
  internal::FeCswap(p.x, q.x, bit), internal::FeCswap(p.y, q.y, bit);
  internal::FeCswap(p.z, q.z, bit), internal::FeCswap(p.t, q.t, bit);
}

// 0*p .. 15*p, for 4-bit windows.
using Table = Point[16];
constexpr void FillTable(const Point& p, Table& t) {
  t[0] = Point{Fe{}, internal::FeFromInt(1), internal::FeFromInt(1), Fe{}};
  t[1] = p;
  for (int i = 2; i < 16; ++i) t[i] = Add(t[i - 1], p);
}

// The 4-bit digit i (0..63) of a little-endian 256-bit scalar.
constexpr int Nibble(const uint8_t s[32], int i) { return (s[i >> 1] >> (4 * (i & 1))) & 15; }

constexpr void Encode(uint8_t out[32], const Point& p) {
  const Fe zi = internal::FeInvert(p.z);
  internal::FePack(out, FeMul(p.y, zi));
  out[31] |= static_cast<uint8_t>(internal::FeParity(FeMul(p.x, zi)) << 7);
}

// RFC 8032 §5.1.3. False for a non-canonical y, a y with no x, or x = 0 with the sign bit set.
constexpr bool Decode(const uint8_t in[32], Point* out) {
  const Fe y = internal::FeUnpack(in);
  uint8_t canon[32] = {};
  internal::FePack(canon, y);
  for (int i = 0; i < 31; ++i)
    if (canon[i] != in[i]) return false;
  if (canon[31] != (in[31] & 0x7f)) return false;
  const int sign = in[31] >> 7;
  const Fe y2 = FeSq(y);
  const Fe u = FeSub(y2, internal::FeFromInt(1));
  const Fe v = FeAdd(FeMul(kD, y2), internal::FeFromInt(1));
  const Fe v3 = FeMul(FeSq(v), v);
  const Fe v7 = FeMul(FeSq(v3), v);
  Fe x = FeMul(FeMul(u, v3), internal::FePow2523(FeMul(u, v7)));
  const Fe vx2 = FeMul(v, FeSq(x));
  if (!internal::FeEqual(vx2, u)) {
    if (!internal::FeEqual(vx2, FeNeg(u))) return false;
    x = FeMul(x, kSqrtM1);
  }
  if (internal::FeIsZero(x) && sign == 1) return false;
  if (internal::FeParity(x) != sign) x = FeNeg(x);
  *out = Point{x, y, internal::FeFromInt(1), FeMul(x, y)};
  return true;
}

// The base point: y = 4/5 with x even (RFC 8032 §5.1).
constexpr Point kBase = [] {
  uint8_t enc[32] = {};
  internal::FePack(enc, FeMul(SmallFe(4), internal::FeInvert(SmallFe(5))));
  Point b{};
  Decode(enc, &b);
  return b;
}();

struct BaseTable {
  Table t;
};
constexpr BaseTable kBaseTable = [] {
  BaseTable bt{};
  FillTable(kBase, bt.t);
  return bt;
}();

// s * p for a secret 256-bit little-endian s: 4-bit windows, each table entry
// read by masks (every entry touched, the wanted one swapped in), so neither
// the branches nor the memory addresses depend on s.
Point ScalarMul(const uint8_t s[32], const Table& table) {
  Point r = Identity();
  for (int i = 63; i >= 0; --i) {
    r = Double(Double(Double(Double(r))));
    const uint64_t digit = static_cast<uint64_t>(Nibble(s, i));
    Point pick = Identity();
    for (uint64_t k = 0; k < 16; ++k) {
      Point candidate = table[k];
      Cswap(pick, candidate, static_cast<int64_t>(((k ^ digit) - 1) >> 63));  // 1 exactly when k == digit
    }
    r = Add(r, pick);
  }
  return r;
}

// ---- Scalars mod L = 2^252 + delta ----
// delta = 27742317777372353535851937790883648493, little-endian bytes.
constexpr int64_t kDelta[16] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14};

// Carries limbs 0..n-2 into [0, 256); limb n-1 keeps the signed rest.
void Normalize(int64_t* x, int n) {
  for (int k = 0; k + 1 < n; ++k) {
    const int64_t c = x[k] >> 8;
    x[k] -= c * 256;
    x[k + 1] += c;
  }
}

// x (64 signed 8-bit-radix limbs) mod L into 32 bytes. 2^256 = 16 * 2^252 =
// -16 * delta (mod L), and 2^252 = -delta: each fold replaces high bits by a
// multiple of delta. The fold count is fixed, so the run time is too.
void ReduceModL(int64_t x[64], uint8_t out[32]) {
  for (int i = 63; i >= 32; --i) {
    for (int k = 0; k < 16; ++k) x[i - 32 + k] -= 16 * x[i] * kDelta[k];
    x[i] = 0;
  }
  Normalize(x, 32);
  // Three folds of the bits above 2^252 leave the value in [-delta, L).
  for (int fold = 0; fold < 3; ++fold) {
    const int64_t q = x[31] >> 4;
    x[31] -= q * 16;
    for (int k = 0; k < 16; ++k) x[k] -= q * kDelta[k];
    Normalize(x, 32);
  }
  const int64_t negative = x[31] >> 63;  // all ones if the value is below 0: add L once
  for (int k = 0; k < 16; ++k) x[k] += kDelta[k] & negative;
  x[31] += 16 & negative;
  Normalize(x, 32);
  for (int k = 0; k < 32; ++k) out[k] = static_cast<uint8_t>(x[k]);
}

void HashModL(const Bytes64& h, uint8_t out[32]) {
  int64_t x[64];
  for (int i = 0; i < 64; ++i) x[i] = h[i];
  ReduceModL(x, out);
}

// S < L (RFC 8032 §5.1.7 step 1); public data.
bool IsCanonicalScalar(const uint8_t s[32]) {
  uint8_t l[32] = {};
  for (int k = 0; k < 16; ++k) l[k] = static_cast<uint8_t>(kDelta[k]);
  l[31] = 0x10;
  for (int i = 31; i >= 0; --i)
    if (s[i] != l[i]) return s[i] < l[i];
  return false;
}

bool HasSmallOrder(const Point& p) { return internal::FeIsZero(Double(Double(Double(p))).x); }

Bytes64 HashParts(std::span<const uint8_t> a, std::span<const uint8_t> b, std::span<const uint8_t> c) {
  Sha512Ctx h;
  h.Update(a);
  h.Update(b);
  h.Update(c);
  return h.Final();
}

// The clamped secret scalar and the nonce prefix from the seed (§5.1.5).
void ExpandSeed(const uint8_t seed[32], uint8_t scalar[32], uint8_t prefix[32]) {
  Bytes64 h = Sha512(std::span<const uint8_t>(seed, 32));
  std::memcpy(scalar, h.data(), 32);
  std::memcpy(prefix, h.data() + 32, 32);
  scalar[0] &= 248, scalar[31] &= 127, scalar[31] |= 64;
  SecureZero(h.data(), h.size());
}

}  // namespace

Ed25519KeyPair Ed25519FromSeed(const Bytes32& seed) {
  uint8_t a[32], prefix[32];
  ExpandSeed(seed.data(), a, prefix);
  Ed25519KeyPair kp;
  Encode(kp.public_key.data(), ScalarMul(a, kBaseTable.t));
  std::memcpy(kp.secret_key.data(), seed.data(), 32);
  std::memcpy(kp.secret_key.data() + 32, kp.public_key.data(), 32);
  SecureZero(a, sizeof a);
  SecureZero(prefix, sizeof prefix);
  return kp;
}

Bytes64 Ed25519Sign(const Bytes64& secret_key, std::span<const uint8_t> message) {
  uint8_t a[32], prefix[32], r[32], k[32];
  ExpandSeed(secret_key.data(), a, prefix);
  const std::span<const uint8_t> public_key(secret_key.data() + 32, 32);
  HashModL(HashParts(prefix, message, {}), r);
  Bytes64 sig;
  Encode(sig.data(), ScalarMul(r, kBaseTable.t));
  HashModL(HashParts(std::span<const uint8_t>(sig.data(), 32), public_key, message), k);
  // S = r + k * a mod L: schoolbook product in 8-bit limbs, then one reduction.
  int64_t x[64] = {};
  for (int i = 0; i < 32; ++i) x[i] = r[i];
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j) x[i + j] += int64_t{k[i]} * a[j];
  ReduceModL(x, sig.data() + 32);
  SecureZero(a, sizeof a), SecureZero(prefix, sizeof prefix), SecureZero(r, sizeof r), SecureZero(x, sizeof x);
  return sig;
}

bool Ed25519Verify(const Bytes32& public_key, std::span<const uint8_t> message, const Bytes64& signature) {
  const uint8_t* s = signature.data() + 32;
  if (!IsCanonicalScalar(s)) return false;
  Point a, r;
  if (!Decode(public_key.data(), &a) || HasSmallOrder(a)) return false;
  if (Decode(signature.data(), &r) && HasSmallOrder(r)) return false;
  uint8_t k[32];
  HashModL(HashParts(std::span<const uint8_t>(signature.data(), 32), public_key, message), k);
  // [S]B - [k]A with one shared doubling chain and 4-bit windows (Straus);
  // public scalars, so plain branches and table indexes.
  Table neg_a;
  FillTable(Point{FeNeg(a.x), a.y, a.z, FeNeg(a.t)}, neg_a);
  Point acc = Identity();
  for (int i = 63; i >= 0; --i) {
    acc = Double(Double(Double(Double(acc))));
    if (const int d = Nibble(s, i)) acc = Add(acc, kBaseTable.t[d]);
    if (const int d = Nibble(k, i)) acc = Add(acc, neg_a[d]);
  }
  uint8_t check[32];
  Encode(check, acc);
  return ConstantTimeEqual(check, std::span<const uint8_t>(signature.data(), 32));
}

}  // namespace edgesplit::crypto
