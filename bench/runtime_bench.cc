// Split-vs-monolithic overhead of the runtime path, same run: ResNet50 f32 cut
// at conv4_block6_out, head -> wire message -> loopback TCP -> tail, against
// the whole model in one executor plus the measured wire time of that message
// alone. The bar: split <= 1.05 x (monolithic + wire).
//
// Node processes are replaced by a receiver thread in this process: the bench
// measures what the runtime adds (encoding, the socket, decoding, two
// executors instead of one), not process start-up.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>
#include <ctime>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/models.h"
#include "edgesplit/net.h"
#include "edgesplit/wire.h"

namespace edgesplit {
namespace {

struct Fixture {
  Graph graph;
  std::unique_ptr<SegmentExecutor> whole, head, tail;
  std::vector<float> input;
  std::unique_ptr<net::MessageReceiver> receiver;
  std::unique_ptr<net::MessageSender> sender;
  std::vector<uint8_t> message;
  wire::MessageHeader header;
};

Fixture& F() {
  static Fixture* f = [] {
    auto* x = new Fixture();
    auto g = LoadModel("resnet50");
    if (!g.ok()) std::abort();
    x->graph = std::move(g).value();
    auto cuts = FindCutPoints(x->graph);
    auto cut = ResolveCut(x->graph, *cuts, "conv4_block6_out");
    if (!cuts.ok() || !cut.ok()) std::abort();
    const int p = (*cuts)[*cut].position, n = static_cast<int>(x->graph.nodes.size());
    x->whole = std::move(SegmentExecutor::Create(x->graph, 0, n, ReferenceBackend()).value());
    x->head = std::move(SegmentExecutor::Create(x->graph, 0, p, ReferenceBackend()).value());
    x->tail = std::move(SegmentExecutor::Create(x->graph, p, n, ReferenceBackend()).value());
    x->input.resize(static_cast<size_t>(x->whole->input_bytes() / 4));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (float& v : x->input) v = u(rng);
    net::ChannelOptions tcp;
    tcp.kind = net::TransportKind::kTcp;
    x->receiver = std::move(net::MessageReceiver::Create(tcp, {"127.0.0.1", 0}).value());
    x->sender = std::move(net::MessageSender::Create(tcp, x->receiver->local_endpoint()).value());
    const Tensor& t = x->head->output_tensor();
    x->header.type = wire::MessageType::kTensorRequest;
    x->header.dtype = DType::kFloat32;
    x->header.rank = static_cast<uint8_t>(t.shape.size());
    for (size_t i = 0; i < t.shape.size(); ++i) x->header.dims[i] = static_cast<uint32_t>(t.shape[i]);
    x->message.resize(wire::EncodedMessageBytes(x->header.rank, static_cast<size_t>(x->head->output_bytes())));
    return x;
  }();
  return *f;
}

uint32_t g_request = 1;
double g_mono = 0, g_split = 0, g_wire = 0;  // min wall seconds per iteration
std::vector<double> g_pair_split, g_pair_mono;  // wall seconds of each back-to-back pair
double c_mono = 0, c_split = 0, c_wire = 0;  // min process CPU seconds (all threads): robust on a shared machine

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double Cpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
void KeepMin(double* slot, double v) { *slot = *slot == 0 ? v : std::min(*slot, v); }

// Encodes the head's output in place, sends it, receives and decodes it: the wire path.
const uint8_t* CrossTheWire(Fixture& f) {
  f.header.request_id = g_request++;
  const size_t payload = static_cast<size_t>(f.head->output_bytes());
  std::memcpy(f.message.data() + wire::MessageHeaderBytes(f.header.rank), f.head->output(), payload);
  if (!wire::EncodeMessageInPlace(f.header, payload, f.message).ok()) std::abort();
  if (!f.sender->Send(f.message, f.header.request_id, net::DeadlineIn(10), nullptr).ok()) std::abort();
  static std::vector<uint8_t> got;
  auto r = f.receiver->Receive(net::DeadlineIn(10));
  if (!r.ok() || !r->has_value()) std::abort();
  got = std::move(**r);
  auto m = wire::DecodeMessage(got);
  if (!m.ok()) std::abort();
  return m->payload.data();
}

void BM_Monolithic(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    const double t0 = Now(), c0 = Cpu();
    std::memcpy(f.whole->input(), f.input.data(), f.input.size() * 4);
    if (!f.whole->Invoke().ok()) std::abort();
    KeepMin(&c_mono, Cpu() - c0);
    KeepMin(&g_mono, Now() - t0);
  }
}

void BM_WireOnly(benchmark::State& state) {
  Fixture& f = F();
  std::memcpy(f.head->input(), f.input.data(), f.input.size() * 4);
  if (!f.head->Invoke().ok()) std::abort();
  for (auto _ : state) {
    const double t0 = Now(), c0 = Cpu();
    benchmark::DoNotOptimize(CrossTheWire(f));
    KeepMin(&c_wire, Cpu() - c0);
    KeepMin(&g_wire, Now() - t0);
  }
}

double RunSplit(Fixture& f) {
  const double t0 = Now(), c0 = Cpu();
  std::memcpy(f.head->input(), f.input.data(), f.input.size() * 4);
  if (!f.head->Invoke().ok()) std::abort();
  const uint8_t* cut = CrossTheWire(f);
  std::memcpy(f.tail->input(), cut, static_cast<size_t>(f.tail->input_bytes()));
  if (!f.tail->Invoke().ok()) std::abort();
  const double wall = Now() - t0;
  KeepMin(&c_split, Cpu() - c0);
  KeepMin(&g_split, wall);
  return wall;
}

double RunWhole(Fixture& f) {
  const double t0 = Now(), c0 = Cpu();
  std::memcpy(f.whole->input(), f.input.data(), f.input.size() * 4);
  if (!f.whole->Invoke().ok()) std::abort();
  const double wall = Now() - t0;
  KeepMin(&c_mono, Cpu() - c0);
  KeepMin(&g_mono, wall);
  return wall;
}

// Split and whole run back to back in each iteration (the order alternating,
// so drift favours neither), so that a shared machine's changing load hits both
// alike. Two figures: the best of each, and the median of the per-pair ratios,
// which a single lucky or unlucky run cannot move (on this KVM machine single
// runs of the same code differ by +-7% even when it is otherwise idle).
void BM_SplitOverTcp(benchmark::State& state) {
  Fixture& f = F();
  bool split_first = true;
  for (auto _ : state) {
    double split_s = 0, whole_s = 0;
    if (split_first) {
      split_s = RunSplit(f);
      state.PauseTiming();
      whole_s = RunWhole(f);
      state.ResumeTiming();
    } else {
      state.PauseTiming();
      whole_s = RunWhole(f);
      state.ResumeTiming();
      split_s = RunSplit(f);
    }
    split_first = !split_first;
    g_pair_split.push_back(split_s);
    g_pair_mono.push_back(whole_s);
  }
  // Split and whole must agree bit for bit.
  if (std::memcmp(f.tail->output(), f.whole->output(), static_cast<size_t>(f.whole->output_bytes())) != 0)
    state.SkipWithError("split result differs from the monolithic one");
}

BENCHMARK(BM_Monolithic)->Iterations(1)->Unit(benchmark::kMillisecond);  // warm-up and the plain figure
BENCHMARK(BM_WireOnly)->Iterations(50)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SplitOverTcp)->Iterations(9)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace edgesplit

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  using namespace edgesplit;
  if (g_mono > 0 && g_split > 0) {
    std::printf("\nResNet50 f32, cut at conv4_block6_out (%zu-byte message), loopback TCP, best of each:\n",
                F().message.size());
    std::printf("  monolithic %.1f ms, wire alone %.3f ms, split %.1f ms\n", g_mono * 1e3, g_wire * 1e3, g_split * 1e3);
    std::printf("  split / (monolithic + wire) = %.3f wall   (bar: <= 1.05)\n", g_split / (g_mono + g_wire));
    std::printf("  process CPU: monolithic %.1f ms, wire %.3f ms, split %.1f ms: ratio %.3f\n", c_mono * 1e3, c_wire * 1e3,
                c_split * 1e3, c_split / (c_mono + c_wire));
    std::vector<double> ratios;
    for (size_t i = 0; i < g_pair_split.size(); ++i) ratios.push_back(g_pair_split[i] / (g_pair_mono[i] + g_wire));
    std::sort(ratios.begin(), ratios.end());
    std::printf("  per pair: split / (monolithic + wire) median %.3f over %zu pairs (min %.3f, max %.3f)   (bar: <= 1.05)\n",
                ratios[ratios.size() / 2], ratios.size(), ratios.front(), ratios.back());
  }
  benchmark::Shutdown();
  return 0;
}
