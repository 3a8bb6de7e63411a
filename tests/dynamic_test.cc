// Dynamic split computing (include/edgesplit/dynamic.h): candidates, the
// envelope against an exhaustive argmin, the controller's estimation,
// hysteresis, probing and fallback, traces and generators, the simulator's
// claims (dynamic <= best fixed, near the oracle) and the CLI contract.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "edgesplit/dynamic.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using edgesplit::testing::MakeTempDir;
using edgesplit::testing::RunCli;
using edgesplit::testing::WriteFile;

const char* kSmallModel = "mobilenet_v2:alpha=0.35,res=96";

struct Profiles {
  DeviceProfile device, server;
  LinkProfile link;
};

Profiles LoadProfiles() {
  const std::string dir = ProfilesDir();
  Profiles p;
  p.device = LoadDeviceProfile(dir, "esp32s3-espnn").value();
  p.server = LoadDeviceProfile(dir, "edge-x86").value();
  p.link = LoadLinkProfile(dir, "udp").value();
  return p;
}

Result<SplitPolicy> PolicyFor(const Graph& graph, const std::string& name, CandidateRule rule = CandidateRule::kStrict) {
  const Profiles p = LoadProfiles();
  ES_ASSIGN_OR_RETURN(CandidateSet set, BuildCandidates(graph, name, p.device, p.server, p.link, rule, DType::kInt8));
  return SplitPolicy::Build(std::move(set), PolicyOptions{});
}

const Graph& SmallGraph() {
  static const Graph g = LoadModel(kSmallModel).value();
  return g;
}

const SplitPolicy& SmallPolicy() {
  static const SplitPolicy p = PolicyFor(SmallGraph(), kSmallModel).value();
  return p;
}

// A policy over hand-made candidates: lines fixed + tail * load + slope / rate.
SplitPolicy HandPolicy(const std::vector<std::array<double, 3>>& lines, std::vector<double> levels = {}) {
  CandidateSet set;
  set.link.per_message_s = 0;
  set.link.payload_bytes = 1 << 20;
  for (size_t k = 0; k < lines.size(); ++k) {
    SplitCandidate c;
    c.name = "c" + std::to_string(k);
    c.kind = lines[k][2] == 0 ? CandidateKind::kDeviceOnly : CandidateKind::kSplit;
    c.head_s = c.fixed_s = lines[k][0];
    c.tail_s = lines[k][1];
    c.slope_bytes = lines[k][2];
    c.bytes = static_cast<int64_t>(lines[k][2]);
    if (c.kind == CandidateKind::kDeviceOnly) set.device_only = static_cast<int>(k);
    set.candidates.push_back(c);
  }
  PolicyOptions o;
  o.load_levels = std::move(levels);
  return SplitPolicy::Build(std::move(set), o).value();
}

// ---- Candidates ----------------------------------------------------------------

TEST(DynamicCandidates, RulesSelectTheNaturalBottlenecksAndBothEnds) {
  const std::vector<CutPoint> cuts = FindCutPoints(SmallGraph()).value();
  const int last = static_cast<int>(cuts.size()) - 1;
  for (CandidateRule rule : {CandidateRule::kStrict, CandidateRule::kLoose, CandidateRule::kAll}) {
    SCOPED_TRACE(CandidateRuleName(rule));
    const SplitPolicy p = PolicyFor(SmallGraph(), kSmallModel, rule).value();
    std::set<int> expected = {0, last};
    for (int k = 1; k < last; ++k)
      if (rule == CandidateRule::kAll || (rule == CandidateRule::kLoose ? cuts[k].bottleneck_loose : cuts[k].bottleneck_strict))
        expected.insert(k);
    std::set<int> got;
    for (const SplitCandidate& c : p.candidates()) got.insert(c.cut_index);
    EXPECT_EQ(got, expected);
    EXPECT_EQ(p.candidates()[p.candidate_set().device_only].cut_index, last);
    EXPECT_EQ(p.candidates()[p.candidate_set().server_only].cut_index, 0);
  }
}

TEST(DynamicCandidates, LatencyTermsMatchTheCostModelComputedIndependently) {
  const Profiles pr = LoadProfiles();
  const Graph& g = SmallGraph();
  const std::vector<CutPoint> cuts = FindCutPoints(g).value();
  const SplitPolicy& p = SmallPolicy();
  for (const SplitCandidate& c : p.candidates()) {
    SCOPED_TRACE(c.name);
    double head = 0, tail = 0;
    for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
      const LayerStats s = ComputeLayerStats(g, n);
      if (n < cuts[c.cut_index].position) head += NodeSeconds(pr.device, g, n, s);
      else tail += NodeSeconds(pr.server, g, n, s);
    }
    EXPECT_NEAR(c.head_s, head, 1e-12 + 1e-9 * head);
    for (double rate : {12500.0, 3e5, 2.5e6}) {
      for (double load : {1.0, 3.0}) {
        LinkProfile at_rate = pr.link;
        at_rate.bytes_per_s = rate;
        const double expected = c.kind == CandidateKind::kDeviceOnly
                                    ? head
                                    : head + tail * load + TransferSeconds(at_rate, cuts[c.cut_index].bytes_int8) +
                                          TransferSeconds(at_rate, cuts.back().bytes_int8);
        EXPECT_NEAR(p.Latency(&c - p.candidates().data(), rate, load), expected, 1e-9 * expected);
      }
    }
  }
}

TEST(DynamicCandidates, HeadsThatDoNotFitTheDeviceAreDroppedWithTheReason) {
  Profiles pr = LoadProfiles();
  const std::vector<CutPoint> cuts = FindCutPoints(SmallGraph()).value();
  pr.device.weight_capacity_bytes = cuts[cuts.size() / 2].head_weight_bytes_int8;  // the late heads do not fit
  const CandidateSet set = BuildCandidates(SmallGraph(), kSmallModel, pr.device, pr.server, pr.link, CandidateRule::kStrict, DType::kInt8).value();
  EXPECT_EQ(set.device_only, -1);
  ASSERT_FALSE(set.dropped.empty());
  EXPECT_NE(set.dropped[0].find("device-only: head weights"), std::string::npos) << set.dropped[0];
  for (const SplitCandidate& c : set.candidates) EXPECT_LE(c.head_weight_bytes, pr.device.weight_capacity_bytes) << c.name;
  pr.device.weight_capacity_bytes = 0;
  pr.server.weight_capacity_bytes = 0;
  EXPECT_FALSE(BuildCandidates(SmallGraph(), kSmallModel, pr.device, pr.server, pr.link, CandidateRule::kStrict, DType::kInt8).ok());
}

// ---- The envelope -----------------------------------------------------------------

TEST(DynamicPolicy, EnvelopeOfHandMadeLinesHasTheAnalyticBreakpoints) {
  // device-only 1 s; a split 0.2 s + 4000 B; server-only 0 s + 20000 B (no tails).
  // Split beats device-only above 4000/0.8 = 5000 B/s; server-only beats the
  // split above 16000/0.2 = 80000 B/s.
  const SplitPolicy p = HandPolicy({{1.0, 0, 0}, {0.2, 0, 4000}, {0.0, 0, 20000}}, {1});
  const std::vector<EnvelopePiece> e = p.Envelope(0);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].candidate, 0);
  EXPECT_EQ(e[1].candidate, 1);
  EXPECT_EQ(e[2].candidate, 2);
  EXPECT_NEAR(e[1].from_rate, 5000, 1e-6);
  EXPECT_NEAR(e[2].from_rate, 80000, 1e-6);
  EXPECT_TRUE(std::isinf(e[2].to_rate));
  EXPECT_EQ(p.Decide(4999, 1), 0);
  EXPECT_EQ(p.Decide(5001, 1), 1);
  EXPECT_EQ(p.Decide(79999, 1), 1);
  EXPECT_EQ(p.Decide(80001, 1), 2);
  EXPECT_EQ(p.Decide(0, 1), 0);  // link down: device-only
}

TEST(DynamicPolicy, DominatedAndParallelLinesNeverWin) {
  // c1 is above c0 everywhere (same slope, higher); c2 is beaten by c0 or c3 at every rate.
  const SplitPolicy p = HandPolicy({{0.5, 0, 1000}, {0.6, 0, 1000}, {0.45, 0, 3000}, {0.1, 0, 5000}}, {1});
  for (const EnvelopePiece& e : p.Envelope(0)) {
    EXPECT_NE(e.candidate, 1);
    EXPECT_NE(e.candidate, 2);
  }
}

TEST(DynamicPolicy, DecideEqualsTheExhaustiveArgminAtTheGridLevels) {
  for (CandidateRule rule : {CandidateRule::kStrict, CandidateRule::kAll}) {
    const SplitPolicy p = PolicyFor(SmallGraph(), kSmallModel, rule).value();
    int checked = 0;
    for (double level : p.load_levels()) {
      for (double r = 1e3; r < 1e8; r *= 1.07) {
        const int d = p.Decide(r, level), e = p.BestExact(r, level);
        ASSERT_NEAR(p.Latency(d, r, level), p.Latency(e, r, level), 1e-12) << "rate " << r << " load " << level;
        ++checked;
      }
    }
    EXPECT_GT(checked, 1000);
  }
}

TEST(DynamicPolicy, BetweenGridLevelsTheDecisionStaysNearTheOptimum) {
  // Slow server tails make the load matter: the winner changes with it.
  const SplitPolicy p = HandPolicy({{1.0, 0, 0}, {0.3, 0.2, 3000}, {0.0, 0.6, 20000}});
  double worst = 0;
  for (double load = 1; load < 64; load *= 1.013)
    for (double r = 1e3; r < 1e7; r *= 1.1) {
      const double got = p.Latency(p.Decide(r, load), r, load), best = p.Latency(p.BestExact(r, load), r, load);
      worst = std::max(worst, got / best - 1);
    }
  EXPECT_LT(worst, 1e-9);  // three lines: the bracketing levels always hold the winner
}

TEST(DynamicPolicy, LoadsOutsideTheGridGetTheExhaustiveArgmin) {
  // Found live: at load 200 (grid top 64) the clamped decision kept server-only
  // although device-only was twice as fast.
  const SplitPolicy p = HandPolicy({{1.0, 0, 0}, {0.3, 0.005, 3000}, {0.0, 0.01, 20000}});
  for (double load : {65.0, 200.0, 1e4, 0.5})
    for (double r = 1e3; r < 1e8; r *= 1.3) {
      const int d = p.Decide(r, load), e = p.BestExact(r, load);
      ASSERT_EQ(p.Latency(d, r, load), p.Latency(e, r, load)) << "rate " << r << " load " << load;
    }
  EXPECT_NE(p.Decide(1e8, 64), 0);   // at the grid's top the server still wins...
  EXPECT_EQ(p.Decide(1e8, 200), 0);  // ...beyond it, the device does it all
}

TEST(DynamicPolicy, BadLoadLevelsAreRejected) {
  CandidateSet set = SmallPolicy().candidate_set();
  PolicyOptions o;
  o.load_levels = {1, 0.5};
  EXPECT_FALSE(SplitPolicy::Build(set, o).ok());
  o.load_levels = {0.5};
  EXPECT_FALSE(SplitPolicy::Build(set, o).ok());
  o.load_levels = {1, 2, 2};
  EXPECT_FALSE(SplitPolicy::Build(set, o).ok());
  set.candidates[0].tail_s = std::nan("");
  EXPECT_FALSE(SplitPolicy::Build(set, PolicyOptions{}).ok());
}

// ---- The controller ------------------------------------------------------------------

TEST(DynamicController, RateEstimateInvertsTheLinkModelAndFollowsSteps) {
  const SplitPolicy& p = SmallPolicy();
  const LinkProfile& link = p.candidate_set().link;
  ControllerOptions o;
  SplitController c(&p, o);
  c.OnTransfer(50000, LinkSeconds(link, 50000, 200000));
  EXPECT_NEAR(c.rate_estimate(), 200000, 1);  // a step from the profile's 3.75 MB/s: reset
  c.OnTransfer(50000, LinkSeconds(link, 50000, 300000));
  // Within the reset factor: the EWMA of seconds per byte, alpha 0.5.
  EXPECT_NEAR(c.rate_estimate(), 1 / (0.5 / 300000 + 0.5 / 200000), 1);
  c.OnTransfer(50000, LinkSeconds(link, 50000, 20000));
  EXPECT_NEAR(c.rate_estimate(), 20000, 0.1);
  c.OnServerReport({7.5, 3});
  EXPECT_EQ(c.load_estimate(), 7.5);
  c.OnServerReport({std::nan(""), 0});  // garbage is ignored
  EXPECT_EQ(c.load_estimate(), 7.5);
}

TEST(DynamicController, HysteresisStopsFlappingAroundABreakpoint) {
  const SplitPolicy p = HandPolicy({{1.0, 0, 0}, {0.2, 0, 4000}, {0.0, 0, 20000}}, {1});
  const LinkProfile& link = p.candidate_set().link;
  for (double h : {0.0, 0.05}) {
    ControllerOptions o;
    o.hysteresis = h;
    o.initial_rate_bytes_per_s = 80000;
    SplitController c(&p, o);
    int switches = 0, last = -1;
    for (int i = 0; i < 40; ++i) {
      const double rate = i % 2 ? 78000 : 82000;  // 2.5% either side of the 80000 B/s breakpoint
      const Decision d = c.Decide(i);
      if (last >= 0 && d.candidate != last) ++switches;
      last = d.candidate;
      c.OnTransfer(p.candidates()[d.candidate].bytes, LinkSeconds(link, p.candidates()[d.candidate].bytes, rate));
    }
    if (h == 0) EXPECT_GT(switches, 10) << "without hysteresis the choice follows every sample";
    else EXPECT_EQ(switches, 0);
  }
}

TEST(DynamicController, ProbesWhileDeviceOnlyAndFallsBackUntilAProbeSucceeds) {
  const SplitPolicy p = HandPolicy({{1.0, 0, 0}, {0.2, 0, 4000}});
  ControllerOptions o;
  o.probe_interval_s = 2.0;
  o.initial_rate_bytes_per_s = 1e6;
  SplitController c(&p, o);
  Decision d = c.Decide(0);
  EXPECT_EQ(d.candidate, 1);
  EXPECT_FALSE(d.probe);  // something is sent: no probe needed
  c.OnFailure(0.5);       // the transfer timed out
  int probes = 0;
  for (int t = 1; t <= 6; ++t) {
    d = c.Decide(t);
    EXPECT_EQ(d.candidate, 0) << "t=" << t;
    EXPECT_TRUE(d.fallback);
    EXPECT_EQ(d.reason, DecisionReason::kFallback);
    probes += d.probe;
    if (d.probe) c.OnFailure(t);  // the server is still gone
  }
  EXPECT_EQ(probes, 2);  // at 3 and 5 s: every 2 s after the failure, not every request
  d = c.Decide(8);
  ASSERT_TRUE(d.probe);
  c.OnProbe(4096, LinkSeconds(p.candidate_set().link, 4096, 1e6), {1, 0}, 8);
  EXPECT_FALSE(c.in_fallback());
  EXPECT_EQ(c.Reconsider(0.01), 1) << "the probe's answer moves the running request to the split";
  EXPECT_EQ(c.Decide(9).candidate, 1);
}

TEST(DynamicController, AbandonsATransferWhenTheFirstAcksShowTheLinkCollapsed) {
  const SplitPolicy& p = SmallPolicy();
  const LinkProfile& link = p.candidate_set().link;
  const int server_only = p.candidate_set().server_only;
  ControllerOptions o;
  SplitController c(&p, o);
  EXPECT_FALSE(c.ShouldAbandon(server_only, 4096, LinkSeconds(link, 4096, 2.5e6)));
  EXPECT_TRUE(c.ShouldAbandon(server_only, 4096, LinkSeconds(link, 4096, 12500)));
  EXPECT_NEAR(c.rate_estimate(), 12500, 1);
  EXPECT_FALSE(c.ShouldAbandon(p.candidate_set().device_only, 4096, 1.0));
}

// ---- Traces ------------------------------------------------------------------------------

TEST(DynamicTrace, ParsesCommentsCrlfAndExtraColumnsAndRoundTrips) {
  const auto rows = ParseTraceCsv("# a trace\r\ntime_s,rate_bytes_per_s,server_load,note\r\n0,12500,1,x\r\n\r\n0.5, 2.5e6 ,3.25\n1,0,1\n", "t.csv");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[1].rate_bytes_per_s, 2.5e6);
  EXPECT_EQ((*rows)[1].server_load, 3.25);
  EXPECT_EQ((*rows)[2].rate_bytes_per_s, 0);
  const auto again = ParseTraceCsv(TraceToCsv(*rows), "again");
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < rows->size(); ++i) EXPECT_NEAR((*again)[i].rate_bytes_per_s, (*rows)[i].rate_bytes_per_s, 0.1);
}

TEST(DynamicTrace, WrittenTraceReloadsBitForBitEvenForTinyAndOddValues) {
  // Found by fuzz/trace_fuzz: a load of 5e-83 was written as 0.0000 and the
  // written trace no longer parsed.
  const std::vector<TraceRow> rows = {{0, 0, 5e-83}, {0.1, 1.0000000000000002, 1}, {1e14, 123456789.123, 987.654321e-5}};
  const auto again = ParseTraceCsv(TraceToCsv(rows), "again");
  ASSERT_TRUE(again.ok()) << again.status().message();
  ASSERT_EQ(again->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*again)[i].time_s, rows[i].time_s);
    EXPECT_EQ((*again)[i].rate_bytes_per_s, rows[i].rate_bytes_per_s);
    EXPECT_EQ((*again)[i].server_load, rows[i].server_load);
  }
}

TEST(DynamicTrace, BadTracesNameTheLineAndTheProblem) {
  const std::string h = "time_s,rate_bytes_per_s,server_load\n";
  const std::map<std::string, std::string> cases = {
      {"", "no header"},
      {"time,rate,load\n0,1,1\n", "t.csv:1: the header"},
      {h, "no rows"},
      {h + "0,1\n", "t.csv:2: expected 3 columns"},
      {h + "0,abc,1\n", "column rate_bytes_per_s is not a finite number"},
      {h + "0,nan,1\n", "not a finite number"},
      {h + "0,1e999,1\n", "not a finite number"},
      {h + "0,-5,1\n", "rate_bytes_per_s must be 0 (link down) or >= 1"},
      {h + "0,1e-300,1\n", "rate_bytes_per_s must be 0 (link down) or >= 1"},
      {h + "0,5,0\n", "server_load must be > 0"},
      {h + "1,5,1\n0.5,5,1\n", "t.csv:3: time_s goes backwards"},
      {h + "-1,5,1\n", "time_s must be >= 0"},
  };
  for (const auto& [text, message] : cases) {
    const auto r = ParseTraceCsv(text, "t.csv");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(LoadTraceCsv("/nonexistent/trace.csv").status().code(), StatusCode::kIoError);
}

TEST(DynamicTrace, GeneratorsAreSeededBoundedAndKeepEachStateTwentyRequests) {
  for (TraceGenerator g : {TraceGenerator::kConstant, TraceGenerator::kStep, TraceGenerator::kRandomWalk, TraceGenerator::kGilbertElliott}) {
    SCOPED_TRACE(TraceGeneratorName(g));
    TraceOptions o;
    o.steps = 600;
    const auto a = GenerateTrace(g, o).value(), b = GenerateTrace(g, o).value();
    o.seed = 2;
    const auto c = GenerateTrace(g, o).value();
    ASSERT_EQ(a.size(), 600u);
    int states = 1, run = 1;
    bool differs = false;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].rate_bytes_per_s, b[i].rate_bytes_per_s);
      differs |= a[i].rate_bytes_per_s != c[i].rate_bytes_per_s;
      EXPECT_GE(a[i].rate_bytes_per_s, o.min_rate_bytes_per_s * (1 - 1e-9));
      EXPECT_LE(a[i].rate_bytes_per_s, o.max_rate_bytes_per_s * (1 + 1e-9));
      EXPECT_GE(a[i].server_load, 1 - 1e-9);
      EXPECT_LE(a[i].server_load, o.max_load * (1 + 1e-9));
      if (i > 0 && a[i].rate_bytes_per_s != a[i - 1].rate_bytes_per_s) {
        EXPECT_GE(run, o.min_dwell) << "state ending at request " << i;
        ++states, run = 1;
      } else if (i > 0) {
        ++run;
      }
    }
    EXPECT_TRUE(differs) << "another seed gives another trace";
    std::set<double> rates_a, shared;
    for (const TraceRow& r : a) rates_a.insert(r.rate_bytes_per_s);
    for (const TraceRow& r : c)
      if (rates_a.count(r.rate_bytes_per_s)) shared.insert(r.rate_bytes_per_s);
    EXPECT_TRUE(shared.empty()) << "seeds 1 and 2 share " << shared.size() << " channel states: overlapping random streams";
    if (g == TraceGenerator::kConstant) EXPECT_EQ(states, 1);
    else EXPECT_GT(states, 5);
  }
  EXPECT_EQ(ParseTraceGenerator("sine").status().code(), StatusCode::kInvalidArgument);
  for (auto bad : {+[](TraceOptions& o) { o.steps = 0; }, +[](TraceOptions& o) { o.min_dwell = 2147483647; },
                   +[](TraceOptions& o) { o.min_rate_bytes_per_s = 0; }, +[](TraceOptions& o) { o.max_load = 0.5; },
                   +[](TraceOptions& o) { o.interval_s = -1; }}) {
    TraceOptions o;
    bad(o);
    EXPECT_FALSE(GenerateTrace(TraceGenerator::kGilbertElliott, o).ok());
  }
}

// ---- Simulation -----------------------------------------------------------------------------

const PolicyResult& Find(const std::vector<PolicyResult>& rs, const std::string& name) {
  for (const PolicyResult& r : rs)
    if (r.policy == name) return r;
  static const PolicyResult none;
  ADD_FAILURE() << "no policy " << name;
  return none;
}

// The issue's acceptance: 5 seeds x the four generators; dynamic's mean <= the
// best fixed policy's and within 5% of the oracle's; the oracle is never beaten.
void ExpectDynamicNearOracle(const SplitPolicy& p) {
  const std::vector<PolicySpec> all = ParsePolicySpecs(p, "all").value();
  for (TraceGenerator g : {TraceGenerator::kConstant, TraceGenerator::kStep, TraceGenerator::kRandomWalk, TraceGenerator::kGilbertElliott}) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE(std::string(TraceGeneratorName(g)) + " seed " + std::to_string(seed));
      TraceOptions o;
      o.seed = seed;
      o.steps = 400;
      const auto trace = GenerateTrace(g, o).value();
      const auto rs = Simulate(p, trace, all, ControllerOptions{}).value();
      const PolicyResult& dyn = Find(rs, "dynamic");
      const PolicyResult& oracle = Find(rs, "oracle");
      double best_fixed = std::numeric_limits<double>::infinity();
      for (const PolicyResult& r : rs) {
        if (r.policy != "dynamic" && r.policy != "oracle") best_fixed = std::min(best_fixed, r.mean_s);
        for (size_t i = 0; i < trace.size(); ++i) ASSERT_LE(oracle.requests[i].latency_s, r.requests[i].latency_s * (1 + 1e-12)) << r.policy << " " << i;
      }
      EXPECT_LE(dyn.mean_s, best_fixed * (1 + 1e-9));
      EXPECT_LE(dyn.mean_s, oracle.mean_s * 1.05);
      EXPECT_NEAR(Find(rs, "device-only").gain_of_dynamic, (Find(rs, "device-only").mean_s - dyn.mean_s) / Find(rs, "device-only").mean_s, 1e-12);
    }
  }
}

TEST(DynamicSimulate, SmallModelDynamicBeatsEveryFixedPolicyAndStaysNearTheOracle) { ExpectDynamicNearOracle(SmallPolicy()); }

TEST(DynamicSimulate, MobileNetV2AndEfficientNetB0AsTheIssueAsks) {
  ExpectDynamicNearOracle(PolicyFor(LoadModel("mobilenet_v2").value(), "mobilenet_v2").value());
  ES_REQUIRE_FIXTURE(path, "efficientnet_b0.onnx");
  const Graph g = ImportOnnxFile(path).value();
  const SplitPolicy p = PolicyFor(g, "efficientnet_b0").value();
  int splits = 0;
  for (const SplitCandidate& c : p.candidates()) splits += c.kind == CandidateKind::kSplit;
  EXPECT_EQ(splits, 5) << "the paper's four strict bottlenecks of B0 plus the pooled features";
  ExpectDynamicNearOracle(p);
}

TEST(DynamicSimulate, FollowsRateStepsWithinAFewRequestsEachWay) {
  const SplitPolicy& p = SmallPolicy();
  std::vector<TraceRow> trace;
  for (int i = 0; i < 90; ++i) trace.push_back({static_cast<double>(i), i >= 30 && i < 60 ? 12500.0 : 2.5e6, 1});
  const auto rs = Simulate(p, trace, ParsePolicySpecs(p, "dynamic,oracle").value(), ControllerOptions{}).value();
  for (int step : {30, 60}) {
    int lag = 0;
    while (step + lag < 90 && rs[0].requests[step + lag].candidate != rs[1].requests[step + lag].candidate) ++lag;
    EXPECT_LE(lag, 5) << "after the step at request " << step;
    for (int i = step + lag; i < step + 25; ++i) EXPECT_EQ(rs[0].requests[i].candidate, rs[1].requests[i].candidate) << i;
  }
}

TEST(DynamicSimulate, OutageFallsBackLocallyAndRecoversWhenProbesSucceed) {
  const SplitPolicy& p = SmallPolicy();
  std::vector<TraceRow> trace;
  for (int i = 0; i < 40; ++i) trace.push_back({static_cast<double>(i), i >= 10 && i < 20 ? 0.0 : 2.5e6, 1});
  ControllerOptions o;
  const auto rs = Simulate(p, trace, ParsePolicySpecs(p, "dynamic,server-only").value(), o).value();
  const auto& dyn = rs[0].requests;
  const int device_only = p.candidate_set().device_only;
  EXPECT_TRUE(dyn[10].fallback);  // the first request into the outage times out, then runs locally
  for (int i = 11; i < 20; ++i) {
    EXPECT_EQ(dyn[i].candidate, device_only) << i;
    EXPECT_TRUE(dyn[i].fallback) << i;
    EXPECT_NEAR(dyn[i].latency_s, p.candidates()[device_only].head_s, 1e-12) << "no timeout paid again at " << i;
  }
  EXPECT_NE(dyn[20].candidate, device_only) << "the probe at request 20 finds the link back";
  EXPECT_FALSE(dyn[21].fallback);
  for (int i = 10; i < 20; ++i) EXPECT_GT(rs[1].requests[i].latency_s, o.timeout_s) << "server-only waits for the timeout";
}

TEST(DynamicSimulate, PolicySpecsNameEveryCandidateAndRejectUnknownOnes) {
  const SplitPolicy& p = SmallPolicy();
  const auto all = ParsePolicySpecs(p, "all").value();
  std::set<std::string> names;
  for (const PolicySpec& s : all) names.insert(s.name);
  EXPECT_TRUE(names.count("dynamic") && names.count("oracle") && names.count("device-only") && names.count("server-only"));
  EXPECT_EQ(names.size(), p.candidates().size() + 2);
  const SplitCandidate& split = p.candidates()[2];
  EXPECT_EQ(ParsePolicySpecs(p, "static:" + std::to_string(split.cut_index)).value()[0].name, "static:" + split.name);
  const auto bad = ParsePolicySpecs(p, "static:nowhere");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("the candidates are"), std::string::npos);
  EXPECT_FALSE(ParsePolicySpecs(p, "greedy").ok());
}

// ---- CLI -------------------------------------------------------------------------------------

TEST(DynamicCli, PolicyJsonKeepsTheContract) {
  std::string out, err;
  ASSERT_EQ(RunCli(std::string("policy ") + kSmallModel + " --device esp32s3-espnn --server edge-x86 --link udp --format json", &out, &err), 0) << err;
  const auto j = nlohmann::json::parse(out);
  for (const char* key : {"schema_version", "model", "device", "server", "link", "candidates", "load_levels"}) EXPECT_TRUE(j.contains(key)) << key;
  ASSERT_FALSE(j["load_levels"].empty());
  const auto& level = j["load_levels"][0];
  EXPECT_EQ(level["load"], 1.0);
  double previous = 0;
  for (const auto& b : level["breakpoints_bytes_per_s"]) {
    EXPECT_GT(b.get<double>(), previous);
    previous = b.get<double>();
  }
  EXPECT_EQ(level["pieces"].size(), level["breakpoints_bytes_per_s"].size() + 1);
  ASSERT_EQ(RunCli(std::string("policy ") + kSmallModel + " --device esp32s3-espnn --server edge-x86 --link udp", &out, &err), 0) << err;
  EXPECT_NE(out.find("choice by data rate"), std::string::npos);
}

TEST(DynamicCli, SimulateJsonKeepsTheContractAndReadsTraceFiles) {
  const std::string dir = MakeTempDir();
  std::string out, err;
  const std::string base = std::string("simulate ") + kSmallModel + " --device esp32s3-espnn --server edge-x86 --link udp ";
  ASSERT_EQ(RunCli(base + "--generate step --seed 3 --steps 200 --format json --write-trace " + dir + "/t.csv", &out, &err), 0) << err;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["schema_version"], 1);
  std::set<std::string> names;
  for (const auto& r : j["policies"]) {
    for (const char* key : {"policy", "mean_s", "p50_s", "p95_s", "switches", "gain_of_dynamic"}) EXPECT_TRUE(r.contains(key)) << key;
    names.insert(r["policy"]);
  }
  EXPECT_TRUE(names.count("dynamic") && names.count("oracle") && names.count("device-only") && names.count("server-only"));
  // The written trace replays to the same numbers.
  ASSERT_EQ(RunCli(base + "--trace " + dir + "/t.csv --format json", &out, &err), 0) << err;
  const auto k = nlohmann::json::parse(out);
  EXPECT_NEAR(k["policies"][0]["mean_s"].get<double>(), j["policies"][0]["mean_s"].get<double>(), 1e-6);
  ASSERT_EQ(RunCli(base + "--generate constant --policy dynamic,static:1 --steps 30", &out, &err), 1);
  EXPECT_NE(err.find("not a split candidate"), std::string::npos) << err;
  EXPECT_EQ(RunCli(base + "--generate step --trace " + dir + "/t.csv", &out, &err), 1);
  EXPECT_NE(err.find("exactly one of --trace"), std::string::npos) << err;
  WriteFile(dir + "/bad.csv", "time_s,rate_bytes_per_s,server_load\n0,fast,1\n");
  EXPECT_EQ(RunCli(base + "--trace " + dir + "/bad.csv", &out, &err), 1);
  EXPECT_NE(err.find("bad.csv:2"), std::string::npos) << err;
}

}  // namespace
}  // namespace edgesplit
