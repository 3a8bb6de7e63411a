// Dynamic split decisions (include/edgesplit/dynamic.h): the envelope's binary
// search (SplitPolicy::Decide) against the exhaustive argmin over every
// candidate (BestExact, the baseline), and a whole per-request controller
// update, on MobileNetV2 (strict and all-cut candidates) and a synthetic
// 1000-candidate policy; the ratios are printed at the end, from this run
// (CPU time: the build machine is shared, so wall time overstates).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "edgesplit/dynamic.h"
#include "edgesplit/models.h"

namespace edgesplit {
namespace {

SplitPolicy ModelPolicy(CandidateRule rule) {
  const std::string dir = ProfilesDir();
  const Graph g = LoadModel("mobilenet_v2").value();
  CandidateSet set = BuildCandidates(g, "mobilenet_v2", LoadDeviceProfile(dir, "esp32s3-espnn").value(),
                                     LoadDeviceProfile(dir, "edge-x86").value(), LoadLinkProfile(dir, "udp").value(), rule, DType::kInt8)
                         .value();
  return SplitPolicy::Build(std::move(set), PolicyOptions{}).value();
}

// n candidates on a convex chain: later ones compute more and send less, so all
// of them appear on the envelope (the worst case for its size).
SplitPolicy SyntheticPolicy(int n) {
  CandidateSet set;
  set.link.per_message_s = 0.002;
  set.link.payload_bytes = 1472;
  for (int k = 0; k < n; ++k) {
    SplitCandidate c;
    c.name = "c" + std::to_string(k);
    c.kind = k == n - 1 ? CandidateKind::kDeviceOnly : CandidateKind::kSplit;
    const double f = static_cast<double>(k) / (n - 1);
    c.head_s = c.fixed_s = f;
    c.tail_s = 0.01 * (1 - f);
    c.slope_bytes = k == n - 1 ? 0 : 150000 * (1 - f) * (1 - f);
    if (k == n - 1) set.device_only = k;
    set.candidates.push_back(c);
  }
  return SplitPolicy::Build(std::move(set), PolicyOptions{}).value();
}

const SplitPolicy& Policy(const std::string& name) {
  static std::map<std::string, SplitPolicy> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    SplitPolicy p = name == "mobilenet_v2/strict" ? ModelPolicy(CandidateRule::kStrict)
                    : name == "mobilenet_v2/all"  ? ModelPolicy(CandidateRule::kAll)
                                                  : SyntheticPolicy(1000);
    it = cache.emplace(name, std::move(p)).first;
  }
  return it->second;
}

// 1024 (rate, load) points over 0.1..20 Mbit/s and loads 1..16, visited in turn.
struct Points {
  std::vector<double> rate, load;
  Points() {
    for (int i = 0; i < 1024; ++i) {
      rate.push_back(12500 * std::pow(200.0, ((i * 37) % 1024) / 1023.0));
      load.push_back(std::pow(16.0, ((i * 91) % 1024) / 1023.0));
    }
  }
};
const Points kPoints;

void Decide(benchmark::State& state, std::string name, bool exact) {
  const SplitPolicy& p = Policy(name);
  size_t i = 0;
  for (auto _ : state) {
    const int k = exact ? p.BestExact(kPoints.rate[i], kPoints.load[i]) : p.Decide(kPoints.rate[i], kPoints.load[i]);
    benchmark::DoNotOptimize(k);
    i = (i + 1) & 1023;
  }
  state.counters["candidates"] = static_cast<double>(p.candidates().size());
}

// One request as the runtime's head node sees it: decide, time the transfer, read the server's report.
void ControllerRequest(benchmark::State& state, std::string name) {
  const SplitPolicy& p = Policy(name);
  SplitController c(&p, ControllerOptions{});
  size_t i = 0;
  double now = 0;
  for (auto _ : state) {
    const Decision d = c.Decide(now);
    const SplitCandidate& cand = p.candidates()[d.candidate];
    if (cand.bytes > 0) c.OnTransfer(cand.bytes, LinkSeconds(p.candidate_set().link, cand.bytes, kPoints.rate[i]));
    c.OnServerReport({kPoints.load[i], 0});
    benchmark::DoNotOptimize(d.candidate);
    i = (i + 1) & 1023;
    now += 0.1;
  }
}

class Capture : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> seconds;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.iterations > 0) seconds[r.benchmark_name()] = r.cpu_accumulated_time / static_cast<double>(r.iterations);
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace
}  // namespace edgesplit

int main(int argc, char** argv) {
  using namespace edgesplit;
  const char* policies[] = {"mobilenet_v2/strict", "mobilenet_v2/all", "synthetic1000"};
  for (const char* p : policies) {
    benchmark::RegisterBenchmark((std::string("Decide/") + p).c_str(), Decide, std::string(p), false);
    benchmark::RegisterBenchmark((std::string("BestExact/") + p).c_str(), Decide, std::string(p), true);
    benchmark::RegisterBenchmark((std::string("ControllerRequest/") + p).c_str(), ControllerRequest, std::string(p));
  }
  benchmark::Initialize(&argc, argv);
  Capture reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nCPU ns per call\n%-22s %11s %14s %16s %14s\n", "policy", "Decide ns", "BestExact ns", "exact/envelope", "request ns");
  for (const char* p : policies) {
    auto get = [&](const char* what) {
      auto it = reporter.seconds.find(std::string(what) + "/" + p);
      return it == reporter.seconds.end() ? -1.0 : it->second * 1e9;
    };
    const double d = get("Decide"), e = get("BestExact"), r = get("ControllerRequest");
    if (d > 0) std::printf("%-22s %11.1f %14.1f %16.2f %14.1f\n", p, d, e, e / d, r);
  }
  return 0;
}
