// X25519 (RFC 7748 §5): the Montgomery ladder over the u-coordinate, with
// conditional swaps by mask so the scalar's bits never steer a branch.
#include "edgesplit/crypto.h"
#include "field25519.h"

namespace edgesplit::crypto {

using internal::Fe;

bool X25519(const Bytes32& scalar, const Bytes32& point, Bytes32* out) {
  uint8_t k[32];
  for (int i = 0; i < 32; ++i) k[i] = scalar[i];
  k[0] &= 248, k[31] &= 127, k[31] |= 64;  // decodeScalar25519
  const Fe x1 = internal::FeUnpack(point.data());
  Fe x2 = internal::FeFromInt(1), z2, x3 = x1, z3 = internal::FeFromInt(1);
  const Fe a24 = [] {  // (486662 - 2) / 4 = 121665 = 0x1db41, two limbs
    Fe f;
    f.v[0] = 0xdb41, f.v[1] = 1;
    return f;
  }();
  int64_t swap = 0;
  for (int t = 254; t >= 0; --t) {
    const int64_t bit = (k[t >> 3] >> (t & 7)) & 1;
    swap ^= bit;
    internal::FeCswap(x2, x3, swap);
    internal::FeCswap(z2, z3, swap);
    swap = bit;
    const Fe a = internal::FeAdd(x2, z2), aa = internal::FeSq(a);
    const Fe b = internal::FeSub(x2, z2), bb = internal::FeSq(b);
    const Fe e = internal::FeSub(aa, bb);
    const Fe c = internal::FeAdd(x3, z3), d = internal::FeSub(x3, z3);
    const Fe da = internal::FeMul(d, a), cb = internal::FeMul(c, b);
    x3 = internal::FeSq(internal::FeAdd(da, cb));
    z3 = internal::FeMul(x1, internal::FeSq(internal::FeSub(da, cb)));
    x2 = internal::FeMul(aa, bb);
    z2 = internal::FeMul(e, internal::FeAdd(aa, internal::FeMul(a24, e)));
  }
  internal::FeCswap(x2, x3, swap);
  internal::FeCswap(z2, z3, swap);
  internal::FePack(out->data(), internal::FeMul(x2, internal::FeInvert(z2)));
  SecureZero(k, sizeof k);
  uint8_t acc = 0;  // RFC 7748 §6.1: an all-zero shared secret means a low-order peer point
  for (uint8_t b : *out) acc |= b;
  return acc != 0;
}

Bytes32 X25519Base(const Bytes32& scalar) {
  Bytes32 base{};
  base[0] = 9;
  Bytes32 out;
  (void)X25519(scalar, base, &out);  // never zero: 9 generates the prime-order subgroup
  return out;
}

bool Ed25519PublicToX25519(const Bytes32& ed, Bytes32* out) {
  using namespace internal;
  uint8_t y_bytes[32];
  for (int i = 0; i < 32; ++i) y_bytes[i] = ed[static_cast<size_t>(i)];
  y_bytes[31] &= 0x7f;  // the sign of x does not change u
  const Fe y = FeUnpack(y_bytes);
  uint8_t canon[32] = {};
  FePack(canon, y);
  for (int i = 0; i < 32; ++i)
    if (canon[i] != y_bytes[i]) return false;
  const Fe one = FeFromInt(1);
  const Fe den = FeSub(one, y);
  if (FeIsZero(den)) return false;
  FePack(out->data(), FeMul(FeAdd(one, y), FeInvert(den)));
  return true;
}

Bytes32 Ed25519SecretToX25519(const Bytes64& secret) {
  const Bytes64 h = Sha512(std::span<const uint8_t>(secret.data(), 32));
  Bytes32 s;
  for (size_t i = 0; i < 32; ++i) s[i] = h[i];
  s[0] &= 248;
  s[31] &= 127;
  s[31] |= 64;
  return s;
}

}  // namespace edgesplit::crypto
