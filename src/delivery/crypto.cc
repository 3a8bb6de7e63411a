// SHA-256, Ed25519 signatures over manifests, and the key files' text form (libsodium).
#include <sodium.h>

#include <cstring>

#include "edgesplit/delivery.h"

namespace edgesplit::delivery {
namespace {

constexpr std::string_view kPublicTag = "edgesplit-ed25519-public";
constexpr std::string_view kSecretTag = "edgesplit-ed25519-secret";

// The bytes a signature covers: the manifest chunk up to the end of its hash.
Result<std::vector<uint8_t>> SignedBytes(const Manifest& m) {
  Manifest unsigned_copy = m;
  unsigned_copy.has_signature = true;  // the flag is part of what is signed
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> chunk, EncodeManifestChunk(unsigned_copy));
  chunk.resize(chunk.size() - kSignatureBytes);
  return chunk;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "<tag> <hex>" into `out`; names what is wrong otherwise.
Status ParseKeyLine(std::string_view text, std::string_view tag, std::string_view other_tag, std::span<uint8_t> out) {
  text = Trim(text);
  const std::string kind(tag.substr(tag.rfind('-') + 1));
  if (text.substr(0, other_tag.size()) == other_tag)
    return InvalidArgument("this is an Ed25519 " + std::string(other_tag.substr(other_tag.rfind('-') + 1)) + " key; a " + kind +
                           " key is needed here");
  if (text.substr(0, tag.size()) != tag || text.size() <= tag.size() || text[tag.size()] != ' ')
    return InvalidArgument("not an edgesplit key file: expected a line \"" + std::string(tag) + " <hex>\" (write one with edgesplit keygen)");
  const std::string_view hex = Trim(text.substr(tag.size() + 1));
  if (hex.size() != 2 * out.size())
    return InvalidArgument(kind + " key has " + std::to_string(hex.size()) + " hex digits, expected " + std::to_string(2 * out.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument(kind + " key: character " + std::to_string(2 * i + (hi < 0 ? 0 : 1) + 1) + " is not hex");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return Status::Ok();
}

}  // namespace

Status InitCrypto() {
  if (sodium_init() < 0) return Internal("libsodium failed to initialise");
  return Status::Ok();
}

Sha256Digest Sha256(std::span<const uint8_t> bytes) {
  Sha256Digest d;
  // Idempotent; libsodium picks its fastest implementation here. SHA-256 works
  // without it, so a failure only costs speed.
  [[maybe_unused]] static const bool ready = sodium_init() >= 0;
  crypto_hash_sha256(d.data(), bytes.data(), bytes.size());
  return d;
}

Status GenerateKeyPair(PublicKey* public_key, SecretKey* secret_key) {
  ES_RETURN_IF_ERROR(InitCrypto());
  static_assert(crypto_sign_PUBLICKEYBYTES == kPublicKeyBytes && crypto_sign_SECRETKEYBYTES == kSecretKeyBytes &&
                crypto_sign_BYTES == kSignatureBytes && crypto_hash_sha256_BYTES == kSha256Bytes);
  if (crypto_sign_keypair(public_key->bytes.data(), secret_key->bytes.data()) != 0) return Internal("Ed25519 key generation failed");
  return Status::Ok();
}

PublicKey PublicKeyOf(const SecretKey& secret_key) {
  PublicKey pk;
  crypto_sign_ed25519_sk_to_pk(pk.bytes.data(), secret_key.bytes.data());
  return pk;
}

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * bytes.size(), '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return s;
}

std::string FormatPublicKey(const PublicKey& key) { return std::string(kPublicTag) + " " + Hex(key.bytes) + "\n"; }
std::string FormatSecretKey(const SecretKey& key) { return std::string(kSecretTag) + " " + Hex(key.bytes) + "\n"; }

Result<PublicKey> ParsePublicKey(std::string_view text) {
  PublicKey k;
  ES_RETURN_IF_ERROR(ParseKeyLine(text, kPublicTag, kSecretTag, k.bytes));
  return k;
}

Result<SecretKey> ParseSecretKey(std::string_view text) {
  ES_RETURN_IF_ERROR(InitCrypto());
  SecretKey k;
  ES_RETURN_IF_ERROR(ParseKeyLine(text, kSecretTag, kPublicTag, k.bytes));
  // libsodium's secret key is seed + public key: a damaged file shows as a mismatch.
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, k.bytes.data());
  if (std::memcmp(pk, k.bytes.data() + crypto_sign_SEEDBYTES, kPublicKeyBytes) != 0)
    return InvalidArgument("secret key is damaged: its public half does not match its seed");
  return k;
}

Status SignManifest(Manifest* m, const SecretKey& key) {
  ES_RETURN_IF_ERROR(InitCrypto());
  m->has_signature = true;
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, SignedBytes(*m));
  if (crypto_sign_detached(m->signature.data(), nullptr, bytes.data(), bytes.size(), key.bytes.data()) != 0)
    return Internal("Ed25519 signing failed");
  return Status::Ok();
}

Status VerifyManifest(const Manifest& m, const PublicKey& key) {
  if (!m.has_signature) return InvalidArgument("the manifest is not signed");
  ES_RETURN_IF_ERROR(InitCrypto());
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, SignedBytes(m));
  if (crypto_sign_verify_detached(m.signature.data(), bytes.data(), bytes.size(), key.bytes.data()) != 0)
    return InvalidArgument("the manifest's Ed25519 signature does not verify with the configured key");
  return Status::Ok();
}

}  // namespace edgesplit::delivery
