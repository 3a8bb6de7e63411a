// Arithmetic mod p = 2^255 - 19 for X25519 and Ed25519 (not a public contract).
//
// An element is 16 signed limbs of 16 bits (radix 2^16) held in int64, so
// every product and its sum fit in 64 bits on any target with no 128-bit type,
// and a limb may go negative between carries (subtraction needs no bias).
// Every function runs the same instruction sequence whatever the values
// (constant time); the functions are constexpr so the curve constants are
// computed by the compiler from their definitions instead of typed in.
#pragma once

#include <cstdint>

namespace edgesplit::crypto::internal {

struct Fe {
  int64_t v[16] = {};
};

constexpr Fe FeFromInt(int64_t x) {  // 0 <= x < 2^16
  Fe r;
  r.v[0] = x;
  return r;
}

// Brings every limb into [0, 2^16) except limb 0, which takes 38 * the carry
// out of limb 15 (2^256 = 38 mod p). Two passes after a product bound all limbs.
constexpr void FeCarry(Fe& a) {
  for (int i = 0; i < 16; ++i) {
    const int64_t c = a.v[i] >> 16;  // arithmetic shift: floor division (C++20)
    a.v[i] -= c * 65536;
    if (i < 15) a.v[i + 1] += c;
    else a.v[0] += 38 * c;
  }
}

constexpr Fe FeAdd(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 16; ++i) r.v[i] = a.v[i] + b.v[i];
  return r;
}
constexpr Fe FeSub(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 16; ++i) r.v[i] = a.v[i] - b.v[i];
  return r;
}

constexpr Fe FeMul(const Fe& a, const Fe& b) {
  int64_t t[31] = {};
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) t[i + j] += a.v[i] * b.v[j];
  for (int i = 0; i < 15; ++i) t[i] += 38 * t[i + 16];  // limb 16+i weighs 2^256 * 2^(16i)
  Fe r;
  for (int i = 0; i < 16; ++i) r.v[i] = t[i];
  FeCarry(r);
  FeCarry(r);
  return r;
}
// a^2 with each cross product computed once and doubled (136 products, not 256).
constexpr Fe FeSq(const Fe& a) {
  int64_t t[31] = {};
  for (int i = 0; i < 16; ++i) {
    t[2 * i] += a.v[i] * a.v[i];
    const int64_t twice = 2 * a.v[i];
    for (int j = i + 1; j < 16; ++j) t[i + j] += twice * a.v[j];
  }
  for (int i = 0; i < 15; ++i) t[i] += 38 * t[i + 16];
  Fe r;
  for (int i = 0; i < 16; ++i) r.v[i] = t[i];
  FeCarry(r);
  FeCarry(r);
  return r;
}
constexpr Fe FeSqTimes(Fe a, int n) {  // a^(2^n)
  for (int i = 0; i < n; ++i) a = FeSq(a);
  return a;
}

// Swaps a and b when bit is 1, by masks.
constexpr void FeCswap(Fe& a, Fe& b, int64_t bit) {
  const int64_t mask = -bit;
  for (int i = 0; i < 16; ++i) {
    const int64_t t = mask & (a.v[i] ^ b.v[i]);
    a.v[i] ^= t, b.v[i] ^= t;
  }
}

// a^(2^250 - 1) and a^11, the shared start of both exponentiations below (an
// addition chain: 11 multiplications instead of one per set exponent bit).
// The exponent is public, so nothing here depends on secret values' bits.
constexpr void FePow2250(const Fe& a, Fe* a_2250_1, Fe* a11) {
  const Fe a2 = FeSq(a);
  const Fe a9 = FeMul(FeSqTimes(a2, 2), a);
  *a11 = FeMul(a9, a2);
  const Fe a_5 = FeMul(FeSq(*a11), a9);                 // 2^5 - 1
  const Fe a_10 = FeMul(FeSqTimes(a_5, 5), a_5);        // 2^10 - 1
  const Fe a_20 = FeMul(FeSqTimes(a_10, 10), a_10);     // 2^20 - 1
  const Fe a_40 = FeMul(FeSqTimes(a_20, 20), a_20);     // 2^40 - 1
  const Fe a_50 = FeMul(FeSqTimes(a_40, 10), a_10);     // 2^50 - 1
  const Fe a_100 = FeMul(FeSqTimes(a_50, 50), a_50);    // 2^100 - 1
  const Fe a_200 = FeMul(FeSqTimes(a_100, 100), a_100); // 2^200 - 1
  *a_2250_1 = FeMul(FeSqTimes(a_200, 50), a_50);        // 2^250 - 1
}
// 1/a = a^(p-2), p - 2 = (2^250 - 1) * 2^5 + 11.
constexpr Fe FeInvert(const Fe& a) {
  Fe t, a11;
  FePow2250(a, &t, &a11);
  return FeMul(FeSqTimes(t, 5), a11);
}
// a^((p-5)/8), (p - 5) / 8 = 2^252 - 3 = (2^250 - 1) * 4 + 1.
constexpr Fe FePow2523(const Fe& a) {
  Fe t, a11;
  FePow2250(a, &t, &a11);
  return FeMul(FeSqTimes(t, 2), a);
}

// The canonical little-endian bytes (fully reduced below p).
constexpr void FePack(uint8_t out[32], const Fe& a) {
  Fe t = a;
  FeCarry(t);
  FeCarry(t);
  FeCarry(t);
  // Now 0 <= t < 2^256 with limbs in [0, 2^16); subtract p twice, each time
  // keeping the difference only if it did not borrow.
  for (int pass = 0; pass < 2; ++pass) {
    Fe m;
    m.v[0] = t.v[0] - 0xffed;
    for (int i = 1; i < 15; ++i) {
      m.v[i] = t.v[i] - 0xffff - ((m.v[i - 1] >> 16) & 1);
      m.v[i - 1] &= 0xffff;
    }
    m.v[15] = t.v[15] - 0x7fff - ((m.v[14] >> 16) & 1);
    m.v[14] &= 0xffff;
    const int64_t borrow = (m.v[15] >> 16) & 1;
    m.v[15] &= 0xffff;
    FeCswap(t, m, 1 - borrow);
  }
  for (int i = 0; i < 16; ++i) {
    out[2 * i] = static_cast<uint8_t>(t.v[i] & 0xff);
    out[2 * i + 1] = static_cast<uint8_t>((t.v[i] >> 8) & 0xff);
  }
}

// Little-endian bytes to an element, ignoring the top bit (RFC 7748 §5).
constexpr Fe FeUnpack(const uint8_t in[32]) {
  Fe r;
  for (int i = 0; i < 16; ++i) r.v[i] = int64_t{in[2 * i]} | int64_t{in[2 * i + 1]} << 8;
  r.v[15] &= 0x7fff;
  return r;
}

constexpr bool FeIsZero(const Fe& a) {  // public values only (branches on the result)
  uint8_t b[32] = {};
  FePack(b, a);
  uint8_t acc = 0;
  for (uint8_t x : b) acc |= x;
  return acc == 0;
}
constexpr int FeParity(const Fe& a) {  // the low bit of the canonical value
  uint8_t b[32] = {};
  FePack(b, a);
  return b[0] & 1;
}
constexpr bool FeEqual(const Fe& a, const Fe& b) { return FeIsZero(FeSub(a, b)); }

}  // namespace edgesplit::crypto::internal
