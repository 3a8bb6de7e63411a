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

// Split and whole alternate inside one loop, so that a shared machine's
// changing load hits both alike; the best of each is compared.
void BM_SplitOverTcp(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    double t0 = Now(), c0 = Cpu();
    std::memcpy(f.head->input(), f.input.data(), f.input.size() * 4);
    if (!f.head->Invoke().ok()) std::abort();
    const uint8_t* cut = CrossTheWire(f);
    std::memcpy(f.tail->input(), cut, static_cast<size_t>(f.tail->input_bytes()));
    if (!f.tail->Invoke().ok()) std::abort();
    KeepMin(&c_split, Cpu() - c0);
    KeepMin(&g_split, Now() - t0);
    state.PauseTiming();
    t0 = Now(), c0 = Cpu();
    std::memcpy(f.whole->input(), f.input.data(), f.input.size() * 4);
    if (!f.whole->Invoke().ok()) std::abort();
    KeepMin(&c_mono, Cpu() - c0);
    KeepMin(&g_mono, Now() - t0);
    state.ResumeTiming();
  }
  // Split and whole must agree bit for bit.
  if (std::memcmp(f.tail->output(), f.whole->output(), static_cast<size_t>(f.whole->output_bytes())) != 0)
    state.SkipWithError("split result differs from the monolithic one");
}

BENCHMARK(BM_Monolithic)->Iterations(1)->Unit(benchmark::kMillisecond);  // warm-up and the plain figure
BENCHMARK(BM_WireOnly)->Iterations(50)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SplitOverTcp)->Iterations(5)->Unit(benchmark::kMillisecond);

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
  }
  benchmark::Shutdown();
  return 0;
}
