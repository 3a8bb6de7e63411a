// Wire format throughput against memcpy of the same bytes, in the same run:
// CRC32 (slicing-by-8, and the classic one-table loop as a second baseline),
// message encode (copy + CRC) and decode (CRC check, zero-copy payload), and a
// lossless fragment -> reassemble pass at ESP-NOW (250) and UDP (1460) sizes.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <algorithm>
#include <string>
#include <vector>

#include "edgesplit/wire.h"

namespace {

using namespace edgesplit::wire;
using Bytes = std::vector<uint8_t>;

// Tensor sizes: the paper's int8 cut tensor [1,112,7,7], a 224x224x3 int8
// input, and the same input in f32.
constexpr size_t kSizes[] = {5488, 150528, 602112};

Bytes Filled(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
  return b;
}

MessageHeader HeaderFor(size_t bytes) {
  MessageHeader h;
  h.dtype = edgesplit::DType::kUInt8;
  h.rank = 1;
  h.dims[0] = static_cast<uint32_t>(bytes);
  return h;
}

// Two encoded messages, requests 1 and 2, used alternately: a receiver answers
// a repeat of the message it just delivered with "complete" at the first
// fragment, which would skip the work being measured.
std::array<Bytes, 2> AlternatingFrames(size_t n, benchmark::State& state) {
  std::array<Bytes, 2> frames;
  for (uint32_t i = 0; i < 2; ++i) {
    MessageHeader h = HeaderFor(n);
    h.request_id = i + 1;
    frames[i].resize(EncodedMessageBytes(1, n));
    if (!EncodeMessage(h, Filled(n), frames[i]).ok()) state.SkipWithError("encode failed");
  }
  return frames;
}

// The textbook byte-at-a-time table CRC, as the baseline for slicing-by-8.
uint32_t BytewiseCrc32(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = (c >> 8) ^ table[(c ^ *p++) & 0xFFu];
  return ~c;
}

void Memcpy(benchmark::State& state, size_t n) {
  const Bytes src = Filled(n);
  Bytes dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

// The host's Crc32 (ISA-L's) and the portable slicing-by-8 loop the devices run.
void CrcHost(benchmark::State& state, size_t n) {
  const Bytes src = Filled(n);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32(src));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

void CrcSliced(benchmark::State& state, size_t n) {
  const Bytes src = Filled(n);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32Portable(src));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

void CrcBytewise(benchmark::State& state, size_t n) {
  const Bytes src = Filled(n);
  for (auto _ : state) benchmark::DoNotOptimize(BytewiseCrc32(src.data(), n));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

void Encode(benchmark::State& state, size_t n) {
  const Bytes payload = Filled(n);
  const MessageHeader h = HeaderFor(n);
  Bytes out(EncodedMessageBytes(1, n));
  for (auto _ : state) {
    if (!EncodeMessage(h, payload, out).ok()) state.SkipWithError("encode failed");
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

void Decode(benchmark::State& state, size_t n) {
  Bytes frame(EncodedMessageBytes(1, n));
  if (!EncodeMessage(HeaderFor(n), Filled(n), frame).ok()) state.SkipWithError("encode failed");
  for (auto _ : state) {
    auto m = DecodeMessage(frame);
    if (!m.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

// Sender -> reassembler without a channel: fragment CRC + copy on both sides,
// then the message CRC check. No loss, so one round.
void Reassemble(benchmark::State& state, size_t n, size_t datagram_bytes) {
  const std::array<Bytes, 2> frames = AlternatingFrames(n, state);
  Bytes acked(BitmapBytes(kMaxFragments)), bitmap(BitmapBytes(kMaxFragments)), buffer(frames[0].size());
  Bytes datagram(datagram_bytes), reply(datagram_bytes);
  ReassemblerConfig config;
  config.datagram_bytes = datagram_bytes;
  Reassembler rx(buffer, bitmap, config);
  FragmentSender tx(acked);
  ArqConfig arq;
  arq.datagram_bytes = datagram_bytes;
  uint32_t i = 0;
  int64_t completes = 0;
  for (auto _ : state) {
    rx.replay_window().Reset();  // ids 1, 2, 1, ...: not replays here
    const uint32_t which = i++ % 2;
    if (!tx.Start(frames[which], which + 1, arq, 0, 1000000).ok()) state.SkipWithError("start failed");
    for (auto k = tx.Poll(0, datagram); k.ok() && *k > 0; k = tx.Poll(0, datagram)) {
      const ReceiveResult r = rx.OnDatagram({datagram.data(), *k}, 0, reply);
      completes += r.event == ReceiveEvent::kComplete;
      if (r.reply_bytes > 0) (void)tx.OnDatagram({reply.data(), r.reply_bytes}, 0);
    }
    if (!tx.done()) state.SkipWithError("not delivered");
  }
  if (completes != state.iterations()) state.SkipWithError("a request completed without reassembly");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

// The ARQ over a seeded channel that drops `loss_percent` of datagrams both
// ways, on a fake clock (each datagram 100 us): reports the datagrams sent per
// fragment and the rounds, the cost of loss that the planner's link model sees.
void LossyArq(benchmark::State& state, size_t n, size_t datagram_bytes, int loss_percent) {
  const std::array<Bytes, 2> frames = AlternatingFrames(n, state);
  Bytes acked(BitmapBytes(kMaxFragments)), bitmap(BitmapBytes(kMaxFragments)), buffer(frames[0].size());
  Bytes datagram(datagram_bytes), reply(datagram_bytes);
  ReassemblerConfig config;
  config.datagram_bytes = datagram_bytes;
  Reassembler rx(buffer, bitmap, config);
  FragmentSender tx(acked);
  ArqConfig arq;
  arq.datagram_bytes = datagram_bytes;
  arq.rto_us = 10000;
  arq.max_rounds = 64;
  std::minstd_rand rng(42);
  auto lost = [&] { return static_cast<int>(rng() % 100) < loss_percent; };
  double datagrams = 0, rounds = 0, requests = 0;
  uint32_t i = 0;
  for (auto _ : state) {
    rx.replay_window().Reset();
    uint64_t now = 0;
    const uint32_t which = i++ % 2;
    if (!tx.Start(frames[which], which + 1, arq, now, 1000000000).ok()) state.SkipWithError("start failed");
    while (!tx.done()) {
      auto k = tx.Poll(now, datagram);
      if (!k.ok()) {
        state.SkipWithError("not delivered");
        break;
      }
      if (*k == 0) {
        now = std::max(now, tx.next_wake_us());
        continue;
      }
      now += 100;
      if (lost()) continue;
      const ReceiveResult r = rx.OnDatagram({datagram.data(), *k}, now, reply);
      if (r.reply_bytes > 0 && !lost()) (void)tx.OnDatagram({reply.data(), r.reply_bytes}, now);
    }
    datagrams += static_cast<double>(tx.datagrams_sent());
    rounds += tx.rounds();
    ++requests;
  }
  state.counters["datagrams_per_fragment"] = datagrams / requests / tx.fragment_count();
  state.counters["rounds"] = rounds / requests;
}

class Capture : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> seconds;  // CPU time per iteration (the machine is shared)
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.iterations > 0) seconds[r.benchmark_name()] = r.cpu_accumulated_time / static_cast<double>(r.iterations);
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  for (size_t n : kSizes) {
    const std::string s = "/" + std::to_string(n);
    benchmark::RegisterBenchmark(("Memcpy" + s).c_str(), Memcpy, n);
    benchmark::RegisterBenchmark(("Crc32Host" + s).c_str(), CrcHost, n);
    benchmark::RegisterBenchmark(("Crc32Sliced" + s).c_str(), CrcSliced, n);
    benchmark::RegisterBenchmark(("Crc32Bytewise" + s).c_str(), CrcBytewise, n);
    benchmark::RegisterBenchmark(("Encode" + s).c_str(), Encode, n);
    benchmark::RegisterBenchmark(("Decode" + s).c_str(), Decode, n);
    benchmark::RegisterBenchmark(("Reassemble" + s + "/250").c_str(), Reassemble, n, size_t{250});
    benchmark::RegisterBenchmark(("Reassemble" + s + "/1460").c_str(), Reassemble, n, size_t{1460});
  }
  for (int loss : {0, 5, 20})
    for (size_t datagram : {size_t{250}, size_t{1460}}) {
      const std::string name = "LossyArq/5488/" + std::to_string(datagram) + "/loss" + std::to_string(loss);
      benchmark::RegisterBenchmark(name.c_str(), LossyArq, size_t{5488}, datagram, loss);
    }
  benchmark::Initialize(&argc, argv);
  Capture reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Each operation's time as a multiple of memcpy of the same payload bytes,
  // slicing-by-8's speed-up over the one-table CRC loop, and the host CRC's over slicing-by-8.
  std::printf("\n%9s %11s %9s %9s %9s %13s %14s %12s %12s\n", "bytes", "memcpy GB/s", "crc/cpy", "enc/cpy", "dec/cpy",
              "reasm250/cpy", "reasm1460/cpy", "crc8 speedup", "host speedup");
  for (size_t n : kSizes) {
    const std::string s = "/" + std::to_string(n);
    auto t = [&](const std::string& name) {
      auto it = reporter.seconds.find(name);
      return it == reporter.seconds.end() ? -1.0 : it->second;
    };
    const double cpy = t("Memcpy" + s);
    if (cpy <= 0) continue;
    std::printf("%9zu %11.2f %9.1f %9.1f %9.1f %13.1f %14.1f %12.1f %12.1f\n", n, n / cpy / 1e9, t("Crc32Host" + s) / cpy,
                t("Encode" + s) / cpy, t("Decode" + s) / cpy, t("Reassemble" + s + "/250") / cpy,
                t("Reassemble" + s + "/1460") / cpy, t("Crc32Bytewise" + s) / t("Crc32Sliced" + s),
                t("Crc32Sliced" + s) / t("Crc32Host" + s));
  }
  return 0;
}
