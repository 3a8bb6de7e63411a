// How fast the planner's algorithms solve: dp (exact, O(K*L)) beside beam and
// brute force on the same instances, in the same run, with the ratios printed.
//   build-plan/bench/plan_bench [--benchmark_min_time=0.2s]
// Targets (issue 4): dp on ResNet50 x 5 devices <= 100 us; 64 devices x 1000
// groups <= 10 ms; dp faster than beam and brute force from ResNet50 x 5 up.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "../tests/synthetic_chain.h"

namespace {

using namespace edgesplit;

Problem ZooProblem(const char* model, int devices) {
  auto g = LoadModel(model);
  auto dev = LoadDeviceProfile(ProfilesDir(), "esp32s3");
  auto link = LoadLinkProfile(ProfilesDir(), "espnow");
  if (!g.ok() || !dev.ok() || !link.ok()) std::abort();
  return *BuildProblem(*g, model, std::vector<DeviceProfile>(devices, *dev), *link, DType::kInt8);
}

Problem SyntheticChain(int devices, int groups) { return testing::SyntheticChain(devices, groups, 1, 2000000); }

const Problem& Instance(const std::string& name) {
  static std::map<std::string, Problem> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Problem p = name == "mobilenet_v2_0.35x5" ? ZooProblem("mobilenet_v2:alpha=0.35,res=224", 5)
              : name == "resnet50x5"        ? ZooProblem("resnet50", 5)
                                            : SyntheticChain(64, 1000);
  return cache.emplace(name, std::move(p)).first->second;
}

void Solve(benchmark::State& state, std::string instance, Algorithm alg, bool use_all, Objective objective) {
  const Problem& p = Instance(instance);
  PlanOptions o;
  o.use_all = use_all;
  o.objective = objective;
  for (auto _ : state) {
    auto plan = SolvePlan(p, alg, o);
    benchmark::DoNotOptimize(plan.ok());
  }
  state.counters["groups"] = static_cast<double>(p.layers.size());
  state.counters["devices"] = static_cast<double>(p.devices.size());
}

// Keeps each run's time per iteration to print the ratios at the end.
class Capture : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> seconds;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (r.iterations > 0) seconds[r.benchmark_name()] = r.real_accumulated_time / static_cast<double>(r.iterations);
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const char* instances[] = {"mobilenet_v2_0.35x5", "resnet50x5", "chain64x1000"};
  for (const char* inst : instances)
    for (bool use_all : {false, true})
      for (Algorithm alg : {Algorithm::kDp, Algorithm::kBeam, Algorithm::kBruteForce}) {
        if (alg == Algorithm::kBruteForce && std::string(inst) == "chain64x1000") continue;  // ~1e100 plans
        const std::string name = std::string("Solve/") + inst + "/" + AlgorithmName(alg) + (use_all ? "/use-all" : "");
        benchmark::RegisterBenchmark(name.c_str(), Solve, std::string(inst), alg, use_all, Objective::kLatency)
            ->Unit(benchmark::kMicrosecond);
      }
  // dp on the other objectives (throughput is a threshold search of dp solves), beside the targets' latency rows.
  for (const char* inst : {"resnet50x5", "chain64x1000"})
    for (Objective obj : {Objective::kThroughput, Objective::kEnergy}) {
      const std::string name = std::string("Solve/") + inst + "/dp/" + ObjectiveName(obj);
      benchmark::RegisterBenchmark(name.c_str(), Solve, std::string(inst), Algorithm::kDp, false, obj)->Unit(benchmark::kMicrosecond);
    }
  benchmark::Initialize(&argc, argv);
  Capture reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\n%-22s %-8s %12s %12s %12s %10s %12s\n", "instance", "mode", "dp us", "beam us", "brute us", "beam/dp", "brute/dp");
  for (const char* inst : instances)
    for (const char* mode : {"", "/use-all"}) {
      const std::string base = std::string("Solve/") + inst + "/";
      auto get = [&](const char* alg) {
        auto it = reporter.seconds.find(base + alg + mode);
        return it == reporter.seconds.end() ? -1.0 : it->second;
      };
      const double dp = get("dp"), beam = get("beam"), bf = get("brute-force");
      if (dp <= 0) continue;
      char bf_us[32] = "not run", bf_ratio[32] = "-";
      if (bf > 0) std::snprintf(bf_us, sizeof bf_us, "%.1f", bf * 1e6), std::snprintf(bf_ratio, sizeof bf_ratio, "%.0f", bf / dp);
      std::printf("%-22s %-8s %12.2f %12.2f %12s %10.1f %12s\n", inst, *mode ? "use-all" : "any", dp * 1e6, beam * 1e6, bf_us,
                  beam / dp, bf_ratio);
    }
  // The targets, judged on this run.
  auto at = [&](const std::string& name) {
    auto it = reporter.seconds.find(name);
    return it == reporter.seconds.end() ? -1.0 : it->second;
  };
  auto verdict = [](bool ok) { return ok ? "met" : "NOT MET"; };
  const double r50 = at("Solve/resnet50x5/dp"), chain = std::max(at("Solve/chain64x1000/dp"), at("Solve/chain64x1000/dp/use-all"));
  if (r50 > 0) std::printf("\ntarget dp ResNet50 x 5 <= 100 us: %.2f us, %s\n", r50 * 1e6, verdict(r50 <= 100e-6));
  if (chain > 0) std::printf("target dp 64 devices x 1000 groups <= 10 ms: %.3f ms, %s\n", chain * 1e3, verdict(chain <= 10e-3));
  bool faster = true, judged = false;
  for (const char* inst : {"resnet50x5", "chain64x1000"})
    for (const char* mode : {"", "/use-all"}) {
      const std::string base = std::string("Solve/") + inst + "/";
      const double dp = at(base + "dp" + mode);
      for (const char* other : {"beam", "brute-force"}) {
        const double t = at(base + other + mode);
        if (dp > 0 && t > 0) judged = true, faster &= dp < t;
      }
    }
  if (judged) std::printf("target dp faster than beam and brute force from ResNet50 x 5 up: %s\n", verdict(faster));
  return 0;
}
