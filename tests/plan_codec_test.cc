// The joint cut x codec planner (plan.h PlanCodec, docs/codecs.md): on random
// instances, every exact solver equals an independent brute force over device
// assignment x cut x codec per hop; the accuracy table and cost file readers;
// the budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "edgesplit/dynamic.h"
#include "edgesplit/plan.h"
#include "test_util.h"

namespace edgesplit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Problem RandomCodecProblem(uint64_t seed, bool counts, bool links) {
  std::mt19937_64 rng(seed);
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Problem p;
  p.dtype = "int8";
  p.input_bytes = pick(100, 20000);
  const int entries = pick(2, 3);
  for (int d = 0; d < entries; ++d) {
    PlanDevice dev{"d" + std::to_string(d), pick(20000, 200000), pick(5000, 80000), uni(0.1, 1), uni(0.01, 0.1), uni(0.2, 2), uni(0.1, 1)};
    dev.count = counts && d > 0 ? pick(1, 2) : 1;
    p.devices.push_back(dev);
  }
  const int L = pick(2, 6);
  for (int g = 0; g < L; ++g) {
    PlanLayer l;
    l.name = "g" + std::to_string(g);
    l.weight_bytes = pick(1000, 60000);
    l.out_bytes = pick(10, 30000);
    l.arena_bytes = pick(1000, 40000);
    for (int d = 0; d < entries; ++d) l.compute_s.push_back(uni(1e-4, 0.05));
    const int codecs = g + 1 < L ? pick(0, 4) : 0;
    for (int c = 0; c < codecs; ++c) {
      PlanCodec x;
      x.name = "c" + std::to_string(c);
      x.bytes = pick(1, static_cast<int>(l.out_bytes) + 50);
      x.lossless = pick(0, 3) == 0;
      x.accuracy_drop = x.lossless ? 0 : uni(-0.2, 3);
      for (int d = 0; d < entries; ++d) {
        x.encode_s.push_back(pick(0, 4) == 0 ? -1 : uni(0, 0.01));
        x.decode_s.push_back(pick(0, 4) == 0 ? -1 : uni(0, 0.01));
      }
      l.codecs.push_back(x);
    }
    p.layers.push_back(l);
  }
  auto random_link = [&](const std::string& name) {
    LinkProfile k;
    k.name = name;
    k.per_message_s = uni(0, 0.002);
    k.per_frame_s = uni(0, 0.001);
    k.payload_bytes = pick(200, 1500);
    k.bytes_per_s = uni(2e4, 2e6);
    k.loss = uni(0, 0.2);
    k.shared_medium = pick(0, 2) == 0;
    return k;
  };
  p.link = random_link("l");
  if (links)
    for (int a = 0; a < entries; ++a)
      for (int b = a; b < entries; ++b)
        if (pick(0, 4) > 0) p.links.push_back({p.devices[a].name, p.devices[b].name, random_link("l" + std::to_string(a) + std::to_string(b))});
  p.max_accuracy_drop = pick(0, 3) == 0 ? kInf : uni(0, 2.5);
  return p;
}

// Hosts (entry per host) and the link of an ordered host pair, as plan.h says.
struct Flat {
  std::vector<int> entry;
  std::function<int(int, int)> link;  // index into PlanLinks, -1 none
};
Flat Flatten(const Problem& p) {
  Flat f;
  for (size_t e = 0; e < p.devices.size(); ++e)
    for (int k = 0; k < p.devices[e].count; ++k) f.entry.push_back(static_cast<int>(e));
  f.link = [&p, entry = f.entry](int a, int b) {
    if (p.links.empty()) return 0;
    const std::string &na = p.devices[entry[a]].name, &nb = p.devices[entry[b]].name;
    for (size_t l = 0; l < p.links.size(); ++l)
      if (p.links[l].from == na && p.links[l].to == nb) return static_cast<int>(l);
    for (size_t l = 0; l < p.links.size(); ++l)
      if (p.links[l].from == nb && p.links[l].to == na) return static_cast<int>(l);
    return -1;
  };
  return f;
}

// The optimum over every assignment and every codec of every hop, costed here
// from plan.h's formulas (no planner code but TransferSeconds).
double BruteForce(const Problem& p, Objective objective, Order order) {
  const Flat f = Flatten(p);
  const int K = static_cast<int>(f.entry.size()), L = static_cast<int>(p.layers.size());
  const std::vector<LinkProfile> links = PlanLinks(p);
  double best = kInf;
  std::vector<Run> runs;
  std::vector<char> used(K, 0);
  // Costs one assignment with hop codec choice `choice` (per hop: -1 raw or a codec index).
  auto cost = [&](const std::vector<int>& choice) {
    double latency = 0, max_compute = 0, max_transfer = 0, shared = 0, s_compute = 0, s_tx = 0, s_rx = 0;
    auto transfer = [&](int from, int to, double seconds) {
      const int l = f.link(from, to);
      if (l < 0) return false;
      latency += seconds;
      if (links[l].shared_medium) shared += seconds;
      else max_transfer = std::max(max_transfer, seconds);
      if (from == 0) s_tx += seconds;
      if (to == 0) s_rx += seconds;
      return true;
    };
    if (runs.front().device != 0) {
      const int l = f.link(0, runs.front().device);
      if (l < 0 || !transfer(0, runs.front().device, TransferSeconds(links[l], p.input_bytes))) return kInf;
    }
    for (size_t r = 0; r < runs.size(); ++r) {
      const Run& run = runs[r];
      const PlanDevice& d = p.devices[f.entry[run.device]];
      double c = 0;
      int64_t w = 0, arena = 0;
      for (int g = run.first; g <= run.last; ++g) {
        c += p.layers[g].compute_s[f.entry[run.device]];
        w += p.layers[g].weight_bytes;
        arena = std::max(arena, p.layers[g].arena_bytes);
      }
      if (w > d.weight_capacity_bytes || arena > d.ram_bytes) return kInf;
      latency += c;
      max_compute = std::max(max_compute, c);
      if (run.device == 0) s_compute += c;
      if (r + 1 < runs.size()) {
        const int a = run.device, b = runs[r + 1].device, l = f.link(a, b);
        if (l < 0) return kInf;
        const PlanLayer& layer = p.layers[run.last];
        double s = TransferSeconds(links[l], layer.out_bytes);
        if (choice[r] >= 0) {
          const PlanCodec& x = layer.codecs[choice[r]];
          const double enc = x.encode_s[f.entry[a]], dec = x.decode_s[f.entry[b]];
          if (enc < 0 || dec < 0 || !(x.accuracy_drop <= p.max_accuracy_drop) || (!x.lossless && a != 0)) return kInf;
          s = enc + TransferSeconds(links[l], x.bytes) + dec;
        }
        transfer(a, b, s);
      }
    }
    if (runs.back().device != 0) {
      const int l = f.link(runs.back().device, 0);
      if (l < 0) return kInf;
      transfer(runs.back().device, 0, TransferSeconds(links[l], p.layers[L - 1].out_bytes));
    }
    const PlanDevice& s = p.devices[0];
    switch (objective) {
      case Objective::kLatency: return latency;
      case Objective::kThroughput: return std::max({max_compute, max_transfer, shared});
      case Objective::kEnergy:
        return s.active_w * s_compute + s.tx_w * s_tx + s.rx_w * s_rx +
               s.idle_w * std::max(0.0, latency - (s_compute + s_tx + s_rx));
    }
    return kInf;
  };
  std::function<void(std::vector<int>&, size_t)> codecs = [&](std::vector<int>& choice, size_t hop) {
    if (hop + 1 >= runs.size()) return void(best = std::min(best, cost(choice)));
    const int n = static_cast<int>(p.layers[runs[hop].last].codecs.size());
    for (int c = -1; c < n; ++c) {
      choice[hop] = c;
      codecs(choice, hop + 1);
    }
  };
  std::function<void(int)> assign = [&](int first) {
    if (first == L) {
      std::vector<int> choice(runs.size(), -1);
      return codecs(choice, 0);
    }
    for (int k = 0; k < K; ++k) {
      if (used[k] || (order == Order::kFixed && !runs.empty() && k <= runs.back().device)) continue;
      for (int last = first; last < L; ++last) {
        used[k] = 1;
        runs.push_back({k, first, last});
        assign(last + 1);
        runs.pop_back();
        used[k] = 0;
      }
    }
  };
  assign(0);
  return best;
}

TEST(PlanCodec, ExactSolversEqualBruteForceOverCutCodecAndDevices) {
  int with_codec = 0, compared = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed)
    for (bool counts : {false, true})
      for (bool links : {false, true}) {
        const Problem p = RandomCodecProblem(seed * 4 + counts * 2 + links, counts, links);
        ASSERT_TRUE(ValidateProblem(p).ok()) << ValidateProblem(p).message();
        for (Order order : {Order::kFixed, Order::kFree})
          for (Objective objective : {Objective::kLatency, Objective::kEnergy, Objective::kThroughput}) {
            SCOPED_TRACE("seed " + std::to_string(seed) + " counts " + std::to_string(counts) + " links " +
                         std::to_string(links) + " " + OrderName(order) + " " + ObjectiveName(objective));
            const double want = BruteForce(p, objective, order);
            PlanOptions o;
            o.objective = objective;
            o.order = order;
            for (Algorithm alg : {Algorithm::kDp, Algorithm::kBruteForce}) {
              auto plan = SolvePlan(p, alg, o);
              ASSERT_TRUE(plan.ok()) << plan.status().message();
              if (!std::isfinite(want)) {
                EXPECT_FALSE(plan->feasible) << AlgorithmName(alg);
                continue;
              }
              ASSERT_TRUE(plan->feasible) << AlgorithmName(alg) << ": " << plan->reason;
              EXPECT_NEAR(ObjectiveValue(*plan, objective), want, 1e-9 * std::max(1.0, want)) << AlgorithmName(alg);
              ++compared;
              // The plan's codecs are admissible, and its accuracy drop is theirs.
              double drop = 0;
              for (const Transfer& t : plan->transfers) {
                if (t.codec == "raw") continue;
                ++with_codec;
                EXPECT_EQ(t.kind, "hop");
                drop += t.accuracy_drop;
                EXPECT_LE(t.accuracy_drop, p.max_accuracy_drop);
                if (t.accuracy_drop != 0) EXPECT_EQ(t.from, 0) << "a lossy codec from another host than the sensor";
              }
              EXPECT_NEAR(plan->accuracy_drop, drop, 1e-12);
              if (order == Order::kFixed) EXPECT_LE(plan->accuracy_drop, std::max(0.0, p.max_accuracy_drop) + 1e-12);
            }
          }
      }
  EXPECT_GT(compared, 500);
  EXPECT_GT(with_codec, 50) << "the instances hardly use codecs: the test would not notice a wrong choice";
}

TEST(PlanCodec, ProblemFilesKeepCodecsAndTheBudget) {
  Problem p = RandomCodecProblem(3, false, false);
  p.layers[0].codecs = {PlanCodec{"int4+lz4", 100, 0.3, false, std::vector<double>(p.devices.size(), 0.001),
                                  std::vector<double>(p.devices.size(), -1)}};
  p.max_accuracy_drop = 0.5;
  auto back = ParseProblem(ProblemToJson(p), "roundtrip");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->layers[0].codecs.size(), 1u);
  EXPECT_EQ(back->layers[0].codecs[0].name, "int4+lz4");
  EXPECT_EQ(back->layers[0].codecs[0].bytes, 100);
  EXPECT_EQ(back->layers[0].codecs[0].decode_s[0], -1);
  EXPECT_DOUBLE_EQ(back->max_accuracy_drop, 0.5);
  EXPECT_EQ(ProblemToJson(*back), ProblemToJson(p));
  // A codec with the wrong number of per-device costs is named.
  std::string bad = ProblemToJson(p);
  bad.replace(bad.find("\"encode_s\": ["), 13, "\"encode_s\": [7, ");
  auto refused = ParseProblem(bad, "bad.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("codecs[0].encode_s"), std::string::npos) << refused.status().message();
}

// One sensor and one server over a slow link: the planner takes the codec
// that is fastest within the budget, raw when the budget rules the others out.
TEST(PlanCodec, TheBudgetDecidesWhichCodecCrosses) {
  Problem p;
  p.input_bytes = 50000;
  p.devices = {PlanDevice{"mcu", 1 << 20, 1 << 20}, PlanDevice{"server", 1 << 30, 1 << 30}};
  p.link.per_message_s = 0.001;
  p.link.per_frame_s = 0.0005;
  p.link.payload_bytes = 232;
  p.link.bytes_per_s = 100000;
  for (int g = 0; g < 3; ++g) {
    PlanLayer l;
    l.name = "g" + std::to_string(g);
    l.weight_bytes = 1000;
    l.arena_bytes = 1000;
    l.out_bytes = g == 0 ? 6000 : g == 1 ? 20000 : 10;
    l.compute_s = {0.001, 0.0001};
    p.layers.push_back(l);
  }
  p.input_bytes = 500000;               // server-only is slow
  p.layers[1].weight_bytes = 2 << 20;  // beyond the MCU: device-only is out
  p.layers[0].codecs = {PlanCodec{"raw+lz4", 5600, 0, true, {0.0005, 0.0005}, {0.0001, 0.0001}},
                        PlanCodec{"int4", 3600, 0.2, false, {0.0015, 0.0015}, {0.0001, 0.0001}},
                        PlanCodec{"int2+lz4", 2000, 1.6, false, {0.0017, 0.0017}, {0.0001, 0.0001}}};
  PlanOptions o;
  auto chosen = [&](double budget) {
    p.max_accuracy_drop = budget;
    auto plan = SolvePlan(p, Algorithm::kDp, o);
    EXPECT_TRUE(plan.ok() && plan->feasible);
    for (const Transfer& t : plan->transfers)
      if (t.kind == "hop") return t.codec;
    return std::string("none");
  };
  EXPECT_EQ(chosen(kInf), "int2+lz4");
  EXPECT_EQ(chosen(1.0), "int4");
  EXPECT_EQ(chosen(0.1), "raw+lz4");
  p.layers[0].codecs.resize(2);
  p.layers[0].codecs[0].bytes = 7000;  // lz4 that does not pay: raw
  EXPECT_EQ(chosen(0.1), "raw");
}

TEST(PlanCodec, TableAndCostFilesParseAndAttach) {
  const std::string table = R"({"schema_version": 1, "kind": "codec_table", "model": "m.onnx", "dtype": "int8",
    "entries": [{"cut_index": 2, "after": "g0", "shape": [1, 4, 5, 5], "cut_dtype": "int8", "codec": "raw", "cut_bytes": 100,
                 "accuracy_drop": null, "agreement": 0.99},
                {"cut_index": 2, "after": "g0", "shape": [1, 4, 5, 5], "cut_dtype": "int8", "codec": "int4+lz4", "cut_bytes": 60.4,
                 "accuracy_drop": 0.4, "agreement": 0.99},
                {"cut_index": 2, "after": "g0", "shape": [1, 4, 5, 5], "cut_dtype": "int8", "codec": "raw+zstd", "cut_bytes": 80,
                 "accuracy_drop": null, "agreement": 0.96}]})";
  auto t = ParseCodecTable(table, "t.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->entries.size(), 3u);
  EXPECT_EQ(t->entries[1].elements, 100);
  EXPECT_NEAR(t->entries[2].accuracy_drop, 3.0, 1e-9);  // unlabelled: 100 x (agreement raw - agreement codec)
  EXPECT_EQ(t->entries[0].accuracy_drop, 0);
  DeviceProfile mcu;
  mcu.name = "mcu";
  mcu.clock_hz = 1e8;
  const std::string costs = R"({"devices": {"mcu": {"dtypes": {"int8": {"int4+lz4": {"encode_cycles_per_element": 50}}}},
                                            "srv": {"dtypes": {"int8": {"int4+lz4": {"encode_s_per_element": 1e-9, "decode_s_per_element": 2e-9},
                                                                        "raw+zstd": {"decode_s_per_element": 1e-8}}}}}})";
  auto c = ParseCodecCosts(costs, "c.json", {mcu});
  ASSERT_TRUE(c.ok()) << c.status().message();
  Problem p;
  p.dtype = "int8";
  p.devices = {PlanDevice{"mcu", 1, 1}, PlanDevice{"srv", 1, 1}};
  p.layers = {PlanLayer{"g0", 1, 100, 1, {0, 0}}, PlanLayer{"g1", 1, 10, 1, {0, 0}}};
  ASSERT_TRUE(AttachCodecs(*t, *c, 1.0, &p).ok());
  ASSERT_EQ(p.layers[0].codecs.size(), 2u);
  const PlanCodec& x = p.layers[0].codecs[0];
  EXPECT_EQ(x.name, "int4+lz4");
  EXPECT_EQ(x.bytes, 60);
  EXPECT_FALSE(x.lossless);
  EXPECT_NEAR(x.encode_s[0], 50.0 * 100 / 1e8, 1e-15);  // cycles per element / clock
  EXPECT_EQ(x.decode_s[0], -1);                        // not measured on the MCU
  EXPECT_NEAR(x.decode_s[1], 2e-7, 1e-15);
  EXPECT_TRUE(p.layers[0].codecs[1].lossless);
  EXPECT_EQ(p.layers[0].codecs[1].encode_s[0], -1);
  EXPECT_DOUBLE_EQ(p.max_accuracy_drop, 1.0);
  // Another dtype, another model, a bad file: named.
  p.dtype = "f32";
  EXPECT_NE(AttachCodecs(*t, *c, 1.0, &p).message().find("int8 model"), std::string::npos);
  p.dtype = "int8";
  p.layers[0].name = "other";
  EXPECT_NE(AttachCodecs(*t, *c, 1.0, &p).message().find("names none"), std::string::npos);
  EXPECT_FALSE(ParseCodecTable(R"({"kind": "plan"})", "x.json").ok());
  EXPECT_FALSE(ParseCodecCosts(R"({"devices": {"a": {"dtypes": {"f16": {}}}}})", "x.json", {}).ok());
  EXPECT_FALSE(ParseCodecCosts(R"({"devices": {"a": {"dtypes": {"int8": {"int4": {"encode_s_per_element": -1}}}}}})", "x.json", {}).ok());
}

// The dynamic policy's cut x codec candidates: one per admissible codec after
// its cut's raw candidate, with the codec's bytes and encode/decode time.
TEST(PlanCodec, DynamicCandidatesGainTheCodecsWithinTheBudget) {
  CandidateSet set;
  set.device = "mcu";
  set.server = "srv";
  set.link.per_message_s = 0.004;
  set.link.per_frame_s = 0.001;
  set.link.payload_bytes = 250;
  set.link.bytes_per_s = 125000;
  SplitCandidate dev, split;
  dev.name = "device-only";
  dev.kind = CandidateKind::kDeviceOnly;
  dev.head_s = dev.fixed_s = 1;
  split.name = "g0";
  split.cut_index = 1;
  split.bytes = 100;
  split.result_bytes = 10;
  split.head_s = 0.1;
  split.tail_s = 0.01;
  split.fixed_s = split.head_s + 2 * (0.004 + 0.001);  // one message and one frame each way
  split.slope_bytes = 110;
  set.candidates = {dev, split};
  set.device_only = 0;
  CodecTable t;
  t.dtype = "int8";
  t.entries = {{1, "g0", "raw", 100, 100, 0}, {1, "g0", "int4", 100, 40, 0.5}, {1, "g0", "int2", 100, 20, 3},
               {1, "g0", "int4+zstd", 100, 30, 0.5}};
  CodecCosts c;
  c.devices["mcu"]["int8:int4"] = {1e-6, -1};
  c.devices["mcu"]["int8:int2"] = {1e-6, -1};
  c.devices["srv"]["int8:int4"] = {-1, 1e-7};
  c.devices["srv"]["int8:int2"] = {-1, 1e-7};
  ASSERT_TRUE(AddCodecCandidates(t, c, "int8", 1.0, &set).ok());
  // int2 is over the budget; int4+zstd has no encoder on the MCU.
  ASSERT_EQ(set.candidates.size(), 3u);
  const SplitCandidate& x = set.candidates[2];
  EXPECT_EQ(x.name, "g0@int4");
  EXPECT_EQ(x.codec, "int4");
  EXPECT_EQ(x.bytes, 40);
  EXPECT_DOUBLE_EQ(x.head_s, 0.1 + 1e-6 * 100);
  EXPECT_DOUBLE_EQ(x.tail_s, 0.01 + 1e-7 * 100);
  EXPECT_DOUBLE_EQ(x.slope_bytes, 50);
  EXPECT_EQ(set.device_only, 0);
  auto policy = SplitPolicy::Build(set, PolicyOptions{});
  ASSERT_TRUE(policy.ok()) << policy.status().message();
  // At a slow rate the smaller payload wins; at a fast one the raw tensor (no encode time).
  EXPECT_EQ(policy->BestExact(2000, 1), 2);
  EXPECT_EQ(policy->BestExact(1e9, 1), 1);
  t.dtype = "f32";
  EXPECT_FALSE(AddCodecCandidates(t, c, "int8", 1.0, &set).ok());
}

}  // namespace
}  // namespace edgesplit
