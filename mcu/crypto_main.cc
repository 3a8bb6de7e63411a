// Crypto firmware (docs/mcu.md, docs/security.md): times the portable crypto
// on the Cortex-M4 with the SysTick clock and prints, one line each,
//   op <name> bytes <n> reps <r> ticks <t>
// for ChaCha20-Poly1305 seal and open of an ESP-NOW payload (226 bytes) and of
// the int8 cut tensor (5488 bytes), X25519 (fixed and variable base),
// Ed25519 sign and verify, and one whole handshake per side (initiator and
// responder, in one process), then "sealed_frame <hex>": the 5,488-byte test
// pattern (byte i = i * 131 + 7) sealed by a secure::Sealer under key 0x42..
// with aad "edgesplit-mcu", which tests/mcu_test.cc opens on the host with
// libsodium; then "ticks_hz <hz>" and "done". Under QEMU with -icount shift=0 one
// tick is 40 instructions (docs/mcu.md). No heap: every buffer is static.
#include <cstring>

#include "edgesplit/crypto.h"
#include "edgesplit/secure_link.h"
#include "output.h"
#include "platform.h"

namespace {

using edgesplit::mcu::Output;
using edgesplit::mcu::OutputNumber;
using namespace edgesplit;

void Report(const char* name, uint64_t bytes, uint64_t reps, uint64_t ticks) {
  Output("op ");
  Output(name);
  Output(" bytes ");
  OutputNumber(bytes);
  Output(" reps ");
  OutputNumber(reps);
  Output(" ticks ");
  OutputNumber(ticks);
  Output("\n");
}

crypto::Bytes32 Filled(uint8_t b) {
  crypto::Bytes32 x;
  for (auto& v : x) v = b;
  return x;
}

uint8_t g_plain[5488], g_sealed[5488 + 16];
bool AllowAll(const crypto::Bytes32&, void*) { return true; }

}  // namespace

int main() {
  edgesplit::mcu::LockHeap();
  for (size_t i = 0; i < sizeof g_plain; ++i) g_plain[i] = static_cast<uint8_t>(i * 131 + 7);
  const crypto::Bytes32 key = Filled(0x42);
  const std::array<uint8_t, 12> nonce{};
  bool ok = true;
  for (size_t n : {size_t{226}, size_t{5488}}) {
    const int reps = n < 1000 ? 20 : 2;
    uint64_t t0 = mcu::Ticks();
    for (int r = 0; r < reps; ++r) ok &= crypto::AeadSeal(key, nonce, {}, std::span(g_plain, n), std::span(g_sealed, n + 16));
    Report("aead_seal", n, reps, mcu::Ticks() - t0);
    t0 = mcu::Ticks();
    for (int r = 0; r < reps; ++r) ok &= crypto::AeadOpen(key, nonce, {}, std::span(g_sealed, n + 16), std::span(g_plain, n));
    Report("aead_open", n, reps, mcu::Ticks() - t0);
  }
  crypto::Bytes32 shared;
  uint64_t t0 = mcu::Ticks();
  const crypto::Bytes32 pub = crypto::X25519Base(Filled(1));
  Report("x25519_base", 0, 1, mcu::Ticks() - t0);
  t0 = mcu::Ticks();
  ok &= crypto::X25519(Filled(2), pub, &shared);
  Report("x25519", 0, 1, mcu::Ticks() - t0);
  const crypto::Ed25519KeyPair kp = crypto::Ed25519FromSeed(Filled(3));
  t0 = mcu::Ticks();
  const crypto::Bytes64 sig = crypto::Ed25519Sign(kp.secret_key, std::span(g_plain, 64));
  Report("ed25519_sign", 64, 1, mcu::Ticks() - t0);
  t0 = mcu::Ticks();
  ok &= crypto::Ed25519Verify(kp.public_key, std::span(g_plain, 64), sig);
  Report("ed25519_verify", 64, 1, mcu::Ticks() - t0);

  // One handshake, each side timed on its own steps.
  const crypto::Ed25519KeyPair dev = crypto::Ed25519FromSeed(Filled(4)), srv = crypto::Ed25519FromSeed(Filled(5));
  const secure::Identity device{dev.public_key, dev.secret_key}, server{srv.public_key, srv.secret_key};
  secure::Initiator ini;  // on the stack: a static with a destructor needs atexit support
  secure::Responder res;
  static uint8_t m1[secure::kMaxHandshakeBytes], m2[secure::kMaxHandshakeBytes], m3[secure::kMaxHandshakeBytes],
      m4[secure::kMaxHandshakeBytes];
  size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
  uint64_t device_ticks = 0, server_ticks = 0;
  t0 = mcu::Ticks();
  ok &= ini.Start(device, server.public_key, Filled(6), 1, 0, m1, &n1).ok();
  device_ticks += mcu::Ticks() - t0;
  t0 = mcu::Ticks();
  ok &= res.OnHello(std::span(m1, n1), server, Filled(7), 2, 0, m2, &n2).ok();
  server_ticks += mcu::Ticks() - t0;
  t0 = mcu::Ticks();
  ok &= ini.OnResponse(std::span(m2, n2), 0, m3, &n3).ok();
  device_ticks += mcu::Ticks() - t0;
  t0 = mcu::Ticks();
  ok &= res.OnAuth(std::span(m3, n3), AllowAll, nullptr, 0, m4, &n4).ok();
  server_ticks += mcu::Ticks() - t0;
  t0 = mcu::Ticks();
  ok &= ini.OnFinished(std::span(m4, n4), 0).ok();
  device_ticks += mcu::Ticks() - t0;
  Report("handshake_initiator", n1 + n3, 1, device_ticks);
  Report("handshake_responder", n2 + n4, 1, server_ticks);

  // A sealed frame the host opens (the device seals, the host verifies).
  for (size_t i = 0; i < sizeof g_plain; ++i) g_plain[i] = static_cast<uint8_t>(i * 131 + 7);
  static uint8_t frame[sizeof g_plain + secure::kSealOverhead];
  secure::Sealer sealer(key);
  static const char kAad[] = "edgesplit-mcu";
  ok &= sealer.Seal(std::span(reinterpret_cast<const uint8_t*>(kAad), sizeof kAad - 1), g_plain, frame).ok();
  Output("sealed_frame ");
  static const char kDigits[] = "0123456789abcdef";
  for (uint8_t b : frame) {
    const char pair[2] = {kDigits[b >> 4], kDigits[b & 15]};
    Output(pair, 2);
  }
  Output("\n");

  Output("ticks_hz ");
  OutputNumber(mcu::TicksPerSecond());
  Output(ok ? "\ndone\n" : "\nFAILED\n");
  mcu::Exit(ok);
}
