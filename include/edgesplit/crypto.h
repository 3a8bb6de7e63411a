// Portable cryptography for secure links (issue 13; docs/security.md).
//
// Written from the RFCs for the device side, where libsodium does not run:
//   SHA-256 / SHA-512 (FIPS 180-4), HMAC-SHA-256 (RFC 2104), HKDF-SHA-256 (RFC 5869),
//   ChaCha20, Poly1305 and the ChaCha20-Poly1305 IETF AEAD (RFC 8439),
//   X25519 (RFC 7748) and Ed25519 (RFC 8032, pure, not ph/ctx).
// Portable core: no exceptions, no RTTI, no heap, no OS calls; every buffer is
// the caller's. Every operation on secrets runs in time independent of the
// secret values (no secret-dependent branches or table indexes); Ed25519
// verification works on public data only and is allowed to branch.
// Randomness is the caller's: nothing here draws random bytes.
// Thread-safe: no function keeps state between calls except the explicit
// *Ctx objects, which a caller must not share between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace edgesplit::crypto {

using Bytes32 = std::array<uint8_t, 32>;
using Bytes64 = std::array<uint8_t, 64>;

// ---- Hashes (FIPS 180-4) ----
class Sha256Ctx {
 public:
  Sha256Ctx();
  void Update(std::span<const uint8_t> bytes);
  Bytes32 Final();  // the context is spent afterwards

 private:
  uint32_t h_[8];
  uint8_t block_[64];
  uint64_t length_ = 0;  // bytes so far
};
class Sha512Ctx {
 public:
  Sha512Ctx();
  void Update(std::span<const uint8_t> bytes);
  Bytes64 Final();

 private:
  uint64_t h_[8];
  uint8_t block_[128];
  uint64_t length_ = 0;  // bytes so far (messages are far below 2^64 bytes)
};
Bytes32 Sha256(std::span<const uint8_t> bytes);
Bytes64 Sha512(std::span<const uint8_t> bytes);

// ---- HMAC-SHA-256 and HKDF-SHA-256 ----
Bytes32 HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message);
Bytes32 HkdfExtract(std::span<const uint8_t> salt, std::span<const uint8_t> ikm);
// Fills `out` (at most 255 * 32 bytes; more returns false and leaves it zeroed).
bool HkdfExpand(const Bytes32& prk, std::span<const uint8_t> info, std::span<uint8_t> out);

// ---- ChaCha20, Poly1305, AEAD (RFC 8439) ----
constexpr size_t kAeadKeyBytes = 32, kAeadNonceBytes = 12, kAeadTagBytes = 16;
// XORs the ChaCha20 key stream starting at block `counter` into `in` -> `out`
// (same size; may alias exactly).
void ChaCha20Xor(const Bytes32& key, std::span<const uint8_t, 12> nonce, uint32_t counter, std::span<const uint8_t> in,
                 std::span<uint8_t> out);
std::array<uint8_t, 16> Poly1305(const Bytes32& one_time_key, std::span<const uint8_t> message);
// out = ciphertext || tag: out.size() must be plaintext.size() + 16 (else false,
// nothing written). plaintext and out may start at the same address.
bool AeadSeal(const Bytes32& key, std::span<const uint8_t, 12> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, std::span<uint8_t> out);
// sealed = ciphertext || tag. Verifies the tag (constant time) before it
// decrypts: on false `plaintext` is untouched. plaintext.size() must be
// sealed.size() - 16 and may start at sealed.data().
bool AeadOpen(const Bytes32& key, std::span<const uint8_t, 12> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> sealed, std::span<uint8_t> plaintext);

// ---- X25519 (RFC 7748) ----
// out = scalar * point (u-coordinate). False when the result is all zero (a
// low-order peer point): the caller must refuse such a key exchange.
bool X25519(const Bytes32& scalar, const Bytes32& point, Bytes32* out);
Bytes32 X25519Base(const Bytes32& scalar);  // scalar * 9
// An Ed25519 identity used for X25519 (RFC 7748 §4.1's birational map, as
// libsodium's crypto_sign_ed25519_{pk,sk}_to_curve25519): u = (1 + y) / (1 - y);
// false for a key whose y is not canonical or is 1 (no u). The secret scalar
// is SHA-512(seed)[0..32] (X25519 clamps it).
bool Ed25519PublicToX25519(const Bytes32& ed25519_public, Bytes32* x25519_public);
Bytes32 Ed25519SecretToX25519(const Bytes64& ed25519_secret);

// ---- Ed25519 (RFC 8032 §5.1) ----
// The secret key is libsodium's 64-byte form: the 32-byte seed, then the public key.
struct Ed25519KeyPair {
  Bytes32 public_key;
  Bytes64 secret_key;
};
Ed25519KeyPair Ed25519FromSeed(const Bytes32& seed);
Bytes64 Ed25519Sign(const Bytes64& secret_key, std::span<const uint8_t> message);
// Rejects a non-canonical S (>= L), a public key or R that does not decode,
// and a small-order public key.
bool Ed25519Verify(const Bytes32& public_key, std::span<const uint8_t> message, const Bytes64& signature);

// ---- Helpers ----
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);  // false on size mismatch
void SecureZero(void* p, size_t n);  // not removed by the optimiser

}  // namespace edgesplit::crypto
