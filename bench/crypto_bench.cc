// The portable crypto (edgesplit/crypto.h) against libsodium in the same run:
// ChaCha20-Poly1305 IETF seal and open throughput at an ESP-NOW frame (226
// bytes of payload after the 24-byte seal overhead), a UDP datagram (1460), the
// paper's int8 cut tensor (5488) and 64 KiB, and the public-key operations of
// one handshake (X25519, Ed25519 sign and verify).
// The whole set runs in kRounds rounds; each round runs every portable case
// right beside its libsodium twin, and the table at the end gives, per case, the
// median over rounds of (portable CPU time / libsodium CPU time) with its min..max.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "edgesplit/crypto.h"

namespace {

using namespace edgesplit::crypto;

constexpr size_t kSizes[] = {226, 1460, 5488, 65536};
constexpr int kRounds = 5;

std::vector<uint8_t> Filled(size_t n) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
  return b;
}
const Bytes32 kKey = [] {
  Bytes32 k;
  for (int i = 0; i < 32; ++i) k[i] = static_cast<uint8_t>(i * 7 + 1);
  return k;
}();
const std::array<uint8_t, 12> kNonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
const std::vector<uint8_t> kAad = Filled(12);

void SealPortable(benchmark::State& state, size_t n) {
  const std::vector<uint8_t> m = Filled(n);
  std::vector<uint8_t> out(n + 16);
  for (auto _ : state) {
    AeadSeal(kKey, kNonce, kAad, m, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
void SealSodium(benchmark::State& state, size_t n) {
  const std::vector<uint8_t> m = Filled(n);
  std::vector<uint8_t> out(n + 16);
  unsigned long long len = 0;
  for (auto _ : state) {
    crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &len, m.data(), n, kAad.data(), kAad.size(), nullptr, kNonce.data(), kKey.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
void OpenPortable(benchmark::State& state, size_t n) {
  std::vector<uint8_t> sealed(n + 16), out(n);
  AeadSeal(kKey, kNonce, kAad, Filled(n), sealed);
  for (auto _ : state) {
    if (!AeadOpen(kKey, kNonce, kAad, sealed, out)) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
void OpenSodium(benchmark::State& state, size_t n) {
  std::vector<uint8_t> sealed(n + 16), out(n);
  AeadSeal(kKey, kNonce, kAad, Filled(n), sealed);
  unsigned long long len = 0;
  for (auto _ : state) {
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, sealed.data(), sealed.size(), kAad.data(), kAad.size(),
                                                  kNonce.data(), kKey.data()) != 0)
      state.SkipWithError("open failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

void X25519Portable(benchmark::State& state) {
  Bytes32 k = kKey, out;
  const Bytes32 u = X25519Base(kKey);
  for (auto _ : state) {
    X25519(k, u, &out);
    k[0] ^= out[1];
  }
}
void X25519Sodium(benchmark::State& state) {
  Bytes32 k = kKey, out;
  const Bytes32 u = X25519Base(kKey);
  for (auto _ : state) {
    if (crypto_scalarmult(out.data(), k.data(), u.data()) != 0) state.SkipWithError("x25519 failed");
    k[0] ^= out[1];
  }
}
void SignPortable(benchmark::State& state) {
  const Ed25519KeyPair kp = Ed25519FromSeed(kKey);
  const std::vector<uint8_t> m = Filled(64);
  for (auto _ : state) benchmark::DoNotOptimize(Ed25519Sign(kp.secret_key, m));
}
void SignSodium(benchmark::State& state) {
  const Ed25519KeyPair kp = Ed25519FromSeed(kKey);
  const std::vector<uint8_t> m = Filled(64);
  Bytes64 sig;
  for (auto _ : state) {
    crypto_sign_detached(sig.data(), nullptr, m.data(), m.size(), kp.secret_key.data());
    benchmark::DoNotOptimize(sig.data());
  }
}
void VerifyPortable(benchmark::State& state) {
  const Ed25519KeyPair kp = Ed25519FromSeed(kKey);
  const std::vector<uint8_t> m = Filled(64);
  const Bytes64 sig = Ed25519Sign(kp.secret_key, m);
  for (auto _ : state)
    if (!Ed25519Verify(kp.public_key, m, sig)) state.SkipWithError("verify failed");
}
void VerifySodium(benchmark::State& state) {
  const Ed25519KeyPair kp = Ed25519FromSeed(kKey);
  const std::vector<uint8_t> m = Filled(64);
  const Bytes64 sig = Ed25519Sign(kp.secret_key, m);
  for (auto _ : state)
    if (crypto_sign_verify_detached(sig.data(), m.data(), m.size(), kp.public_key.data()) != 0) state.SkipWithError("verify failed");
}

// CPU time per iteration, per round, by benchmark name (CPU, not wall time:
// the shared build machine runs other work beside the bench).
class Capture : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::vector<double>> seconds;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.iterations > 0 && r.run_type == Run::RT_Iteration)
        seconds[r.benchmark_name()].push_back(r.cpu_accumulated_time / static_cast<double>(r.iterations));
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  std::vector<std::pair<std::string, size_t>> cases;  // name stem, bytes (0: per operation)
  for (size_t n : kSizes) {
    const std::string s = std::to_string(n);
    benchmark::RegisterBenchmark(("Seal/portable/" + s).c_str(), SealPortable, n);
    benchmark::RegisterBenchmark(("Seal/sodium/" + s).c_str(), SealSodium, n);
    benchmark::RegisterBenchmark(("Open/portable/" + s).c_str(), OpenPortable, n);
    benchmark::RegisterBenchmark(("Open/sodium/" + s).c_str(), OpenSodium, n);
    cases.push_back({"Seal/%s/" + s, n});
    cases.push_back({"Open/%s/" + s, n});
  }
  benchmark::RegisterBenchmark("X25519/portable", X25519Portable);
  benchmark::RegisterBenchmark("X25519/sodium", X25519Sodium);
  benchmark::RegisterBenchmark("Ed25519Sign/portable", SignPortable);
  benchmark::RegisterBenchmark("Ed25519Sign/sodium", SignSodium);
  benchmark::RegisterBenchmark("Ed25519Verify/portable", VerifyPortable);
  benchmark::RegisterBenchmark("Ed25519Verify/sodium", VerifySodium);
  for (const char* op : {"X25519/%s", "Ed25519Sign/%s", "Ed25519Verify/%s"}) cases.push_back({op, 0});
  benchmark::Initialize(&argc, argv);
  Capture reporter;
  for (int round = 0; round < kRounds; ++round) benchmark::RunSpecifiedBenchmarks(&reporter);

  auto name = [](const std::string& pattern, const char* impl) {
    char b[96];
    std::snprintf(b, sizeof b, pattern.c_str(), impl);
    return std::string(b);
  };
  std::printf("\n%-22s %14s %14s %26s\n", "case", "portable", "libsodium", "portable/libsodium time");
  std::printf("%-22s %14s %14s %26s\n", "", "(median)", "(median)", "median [min..max], rounds");
  for (const auto& [pattern, bytes] : cases) {
    const std::vector<double>& p = reporter.seconds[name(pattern, "portable")];
    const std::vector<double>& s = reporter.seconds[name(pattern, "sodium")];
    if (p.empty() || p.size() != s.size()) continue;
    std::vector<double> ratios, ps = p, ss = s;
    for (size_t i = 0; i < p.size(); ++i) ratios.push_back(p[i] / s[i]);
    std::sort(ratios.begin(), ratios.end());
    std::sort(ps.begin(), ps.end());
    std::sort(ss.begin(), ss.end());
    const double pm = ps[ps.size() / 2], sm = ss[ss.size() / 2];
    char pv[32], sv[32];
    if (bytes > 0) {
      std::snprintf(pv, sizeof pv, "%.1f MB/s", bytes / pm / 1e6);
      std::snprintf(sv, sizeof sv, "%.1f MB/s", bytes / sm / 1e6);
    } else {
      std::snprintf(pv, sizeof pv, "%.1f us", pm * 1e6);
      std::snprintf(sv, sizeof sv, "%.1f us", sm * 1e6);
    }
    std::printf("%-22s %14s %14s %12.2f [%.2f..%.2f], %zu\n", name(pattern, "*").c_str(), pv, sv, ratios[ratios.size() / 2],
                ratios.front(), ratios.back(), ratios.size());
  }
  return 0;
}
