// The planner: dp equals brute force on seeded random instances (ties,
// oversized groups, infeasible cases, all objectives, with and without
// --use-all); every algorithm's plans are feasible and cost the same when
// recomputed; instance files parse, round-trip and fail with named fields.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "edgesplit/plan.h"

namespace edgesplit {
namespace {

// A random instance; `tie` makes values coarse so that ties are common.
Problem RandomProblem(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const bool tie = uni(0, 2) == 0;
  const int L = uni(1, 14), K = uni(1, 6);
  Problem p;
  p.input_bytes = uni(0, 200000);
  for (int k = 0; k < K; ++k) {
    PlanDevice d;
    d.name = "dev" + std::to_string(k);
    d.weight_capacity_bytes = uni(0, 7) == 0 ? uni(1000, 20000) : uni(60000, 400000);
    d.ram_bytes = uni(0, 9) == 0 ? uni(500, 5000) : uni(40000, 100000);
    d.active_w = uni(1, 50) / 100.0;
    d.idle_w = uni(1, 20) / 100.0;
    d.tx_w = uni(10, 150) / 100.0;
    d.rx_w = uni(5, 50) / 100.0;
    p.devices.push_back(d);
  }
  for (int g = 0; g < L; ++g) {
    PlanLayer l;
    l.name = "g" + std::to_string(g);
    l.weight_bytes = uni(0, 29) == 0 ? uni(100000, 500000) : uni(0, 60000);  // some oversized
    l.out_bytes = tie ? uni(1, 4) * 1000 : uni(0, 100000);
    l.arena_bytes = uni(0, 29) == 0 ? uni(50000, 200000) : uni(100, 40000);
    for (int k = 0; k < K; ++k) l.compute_s.push_back(tie ? uni(0, 3) * 0.01 : uni(0, 1000000) * 1e-7);
    p.layers.push_back(l);
  }
  p.link.per_message_s = uni(0, 10) * 1e-3;
  p.link.per_frame_s = uni(0, 5) * 1e-3;
  p.link.payload_bytes = uni(1, 3) == 1 ? 250 : 1470;
  p.link.bytes_per_s = uni(1, 100) * 10000.0;
  p.link.loss = uni(0, 3) == 0 ? uni(1, 50) / 100.0 : 0.0;
  p.link.shared_medium = uni(0, 1) == 1;
  return p;
}

std::vector<Run> RunsOf(const Plan& plan) {
  std::vector<Run> runs;
  for (const Segment& s : plan.segments) runs.push_back({s.device, s.first_layer, s.last_layer});
  return runs;
}

// The test's own oracle for a plan's latency, from the formulas in plan.h.
double OracleLatency(const Problem& p, const Plan& plan) {
  auto T = [&](int64_t b) {
    if (b <= 0) return 0.0;
    const double frames = std::ceil(double(b) / double(p.link.payload_bytes));
    return p.link.per_message_s + (frames * p.link.per_frame_s + double(b) / p.link.bytes_per_s) / (1 - p.link.loss);
  };
  double t = 0;
  const auto& segs = plan.segments;
  if (segs.front().device != 0) t += T(p.input_bytes);
  for (size_t i = 0; i < segs.size(); ++i) {
    int64_t w = 0, a = 0;
    for (int g = segs[i].first_layer; g <= segs[i].last_layer; ++g) {
      t += p.layers[g].compute_s[segs[i].device];
      w += p.layers[g].weight_bytes;
      a = std::max(a, p.layers[g].arena_bytes);
    }
    EXPECT_LE(w, p.devices[segs[i].device].weight_capacity_bytes);
    EXPECT_LE(a, p.devices[segs[i].device].ram_bytes);
    if (i + 1 < segs.size()) t += T(p.layers[segs[i].last_layer].out_bytes);
  }
  if (segs.back().device != 0) t += T(p.layers.back().out_bytes);
  return t;
}

void ExpectRecomputes(const Problem& p, const Plan& plan) {
  EXPECT_NEAR(OracleLatency(p, plan), plan.latency_s, 1e-9 * std::max(1.0, plan.latency_s));
  auto again = EvaluatePlan(p, RunsOf(plan));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->feasible) << again->reason;
  EXPECT_DOUBLE_EQ(again->latency_s, plan.latency_s);
  EXPECT_DOUBLE_EQ(again->throughput_stage_s, plan.throughput_stage_s);
  EXPECT_DOUBLE_EQ(again->energy_j, plan.energy_j);
}

TEST(Plan, DpEqualsBruteForceOnRandomInstances) {
  int feasible = 0, infeasible = 0;
  for (uint64_t seed = 1; seed <= 1200; ++seed) {
    const Problem p = RandomProblem(seed);
    for (bool use_all : {false, true}) {
      for (Objective obj : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy}) {
        SCOPED_TRACE("seed " + std::to_string(seed) + (use_all ? " use-all " : " ") + ObjectiveName(obj));
        PlanOptions o;
        o.objective = obj;
        o.use_all = use_all;
        auto bf = SolvePlan(p, Algorithm::kBruteForce, o);
        auto dp = SolvePlan(p, Algorithm::kDp, o);
        ASSERT_TRUE(bf.ok() && dp.ok());
        ASSERT_EQ(bf->feasible, dp->feasible) << bf->reason << " | " << dp->reason;
        if (!bf->feasible) {
          ++infeasible;
          EXPECT_FALSE(dp->reason.empty());
          continue;
        }
        ++feasible;
        const double a = ObjectiveValue(*bf, obj), b = ObjectiveValue(*dp, obj);
        ASSERT_LE(std::fabs(a - b), 1e-9 * std::max(1.0, std::fabs(a))) << "brute force " << a << " dp " << b;
        ExpectRecomputes(p, *dp);
        if (use_all) {
          EXPECT_EQ(dp->segments.size(), p.devices.size());
        }
        // Heuristics: feasible plans no better than the optimum, costs that recompute.
        for (Algorithm alg : {Algorithm::kGreedy, Algorithm::kFirstFit, Algorithm::kRandomFit, Algorithm::kBeam}) {
          auto h = SolvePlan(p, alg, o);
          ASSERT_TRUE(h.ok());
          if (alg == Algorithm::kRandomFit) {
            EXPECT_TRUE(h->feasible) << "random-fit must find a plan when one exists";
          }
          if (!h->feasible) continue;
          ExpectRecomputes(p, *h);
          EXPECT_GE(ObjectiveValue(*h, obj), a * (1 - 1e-9)) << AlgorithmName(alg);
          if (use_all) {
            EXPECT_EQ(h->segments.size(), p.devices.size()) << AlgorithmName(alg);
          }
        }
        if (HasFailure()) return;
      }
    }
  }
  // The generator must exercise both outcomes.
  EXPECT_GT(feasible, 2000);
  EXPECT_GT(infeasible, 200);
  RecordProperty("feasible_cases", feasible);
  RecordProperty("infeasible_cases", infeasible);
  std::printf("%d feasible and %d infeasible (instance, use-all, objective) cases\n", feasible, infeasible);
}

TEST(Plan, LargeChainsSolveWithoutEnumeration) {
  // 64 devices x 1000 groups: dp and beam finish and agree on feasibility.
  std::mt19937_64 rng(7);
  Problem p;
  p.input_bytes = 150528;
  for (int k = 0; k < 64; ++k) p.devices.push_back({"d" + std::to_string(k), 4000000, 1000000});
  for (int g = 0; g < 1000; ++g)
    p.layers.push_back({"g" + std::to_string(g), int64_t(rng() % 100000), int64_t(rng() % 50000), int64_t(rng() % 500000),
                        std::vector<double>(64, (rng() % 1000) * 1e-4)});
  p.link.per_message_s = 0.004;
  p.link.per_frame_s = 0.0012;
  p.link.payload_bytes = 250;
  p.link.bytes_per_s = 125000;
  PlanOptions o;
  auto dp = SolvePlan(p, Algorithm::kDp, o);
  auto beam = SolvePlan(p, Algorithm::kBeam, o);
  ASSERT_TRUE(dp.ok() && beam.ok());
  ASSERT_TRUE(dp->feasible) << dp->reason;
  ExpectRecomputes(p, *dp);
  if (beam->feasible) {
    EXPECT_GE(beam->latency_s, dp->latency_s * (1 - 1e-9));
  }
}

TEST(Plan, InfeasibleSaysWhy) {
  Problem p;
  p.input_bytes = 10;
  p.devices = {{"mcu", 100, 100}, {"mcu2", 100, 100}};
  p.layers = {{"conv", 50, 10, 10, {1, 1}}, {"fc", 500, 10, 10, {1, 1}}};
  p.link.bytes_per_s = 1000;
  auto plan = SolvePlan(p, Algorithm::kDp, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->feasible);
  EXPECT_NE(plan->reason.find("'fc'"), std::string::npos) << plan->reason;
  p.layers[1].weight_bytes = 10;
  PlanOptions all;
  all.use_all = true;
  p.devices.push_back({"mcu3", 100, 100});
  for (PlanLayer& l : p.layers) l.compute_s.push_back(1);
  plan = SolvePlan(p, Algorithm::kDp, all);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->feasible);
  EXPECT_NE(plan->reason.find("--use-all"), std::string::npos) << plan->reason;
}

TEST(Plan, TransfersFollowTheContract) {
  // d1 too small: the input goes to d2, d2 runs everything and returns the result.
  Problem p;
  p.input_bytes = 1000;
  p.devices = {{"sensor", 0, 0}, {"edge", 1000, 1000}};
  p.layers = {{"a", 10, 500, 10, {1, 0.5}}, {"b", 10, 100, 10, {1, 0.5}}};
  p.link.per_message_s = 0.01;
  p.link.per_frame_s = 0.001;
  p.link.payload_bytes = 250;
  p.link.bytes_per_s = 1000;
  auto plan = SolvePlan(p, Algorithm::kDp, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->feasible);
  ASSERT_EQ(plan->transfers.size(), 2u);
  EXPECT_EQ(plan->transfers[0].kind, "input");
  EXPECT_EQ(plan->transfers[1].kind, "result");
  EXPECT_EQ(plan->transfers[1].bytes, 100);
  // T(b) = per_message + ceil(b/payload)*per_frame + b/bytes_per_s.
  EXPECT_NEAR(plan->transfers[0].time_s, 0.01 + 4 * 0.001 + 1.0, 1e-12);
  EXPECT_NEAR(plan->latency_s, 1.014 + 1.0 + 0.01 + 0.001 + 0.1, 1e-12);
}

TEST(Plan, ProblemFilesRoundTripAndNameBadFields) {
  const Problem p = RandomProblem(42);
  auto back = ParseProblem(ProblemToJson(p), "x.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->layers.size(), p.layers.size());
  auto a = SolvePlan(p, Algorithm::kDp, {});
  auto b = SolvePlan(*back, Algorithm::kDp, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->latency_s, b->latency_s);
  auto bad = ParseProblem(R"({"schema_version":1,"input_bytes":1,"devices":[{"name":"a","weight_capacity_bytes":1,"ram_bytes":1}],
    "layers":[{"name":"l","weight_bytes":1,"out_bytes":1,"arena_bytes":1,"compute_s":[1,2]}],"link":{}})", "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layers[0].compute_s"), std::string::npos) << bad.status().message();
  bad = ParseProblem("{", "p.json");
  EXPECT_FALSE(bad.ok());
}

TEST(Plan, NamesParse) {
  for (Algorithm a : AllAlgorithms()) EXPECT_EQ(*ParseAlgorithm(AlgorithmName(a)), a);
  EXPECT_FALSE(ParseAlgorithm("simulated-annealing").ok());
  EXPECT_FALSE(ParseObjective("cost").ok());
  EXPECT_EQ(CountPlans(3, 2, false), 2 + 2 * 1);  // {d1},{d2} whole; d1|d2 at 2 cuts
  EXPECT_EQ(CountPlans(5, 3, true), 6);
}

}  // namespace
}  // namespace edgesplit
