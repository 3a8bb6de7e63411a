// Plan files and running them, called as a library (issue 15, thin CLI): the
// plan module writes and reads plan files (PlanToJson, ParsePlanFile), the
// runtime turns one into a chain (PlanNodes, ApplyPlanLinks) and sets its
// predictions beside measurements (PlanVsMeasured), and one cut-list parser
// (ResolveInteriorCuts) serves split, plan --split and eval --split.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "edgesplit/runtime_plan.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using nlohmann::json;

const std::string kProfiles = std::string(EDGESPLIT_SOURCE_DIR) + "/profiles";

// Two layer groups on a sensor and two identical helpers (count 2), per-pair links.
Problem ThreeHosts() {
  Problem p;
  p.model = "toy";
  p.dtype = "int8";
  p.input_bytes = 1000;
  p.layers = {{"a", 100, 400, 50, {0.5, 0.01}, {}}, {"b", 100, 10, 50, {0.5, 0.01}, {}}};
  p.devices = {{"mcu", 1 << 20, 1 << 20, 0, 0, 0, 0, 1}, {"edge", 1 << 30, 1 << 30, 0, 0, 0, 0, 2}};
  p.link = std::move(LoadLinkProfile(kProfiles, "udp")).value();
  p.links = {{"mcu", "edge", std::move(LoadLinkProfile(kProfiles, "espnow")).value()},
             {"edge", "edge", std::move(LoadLinkProfile(kProfiles, "ethernet")).value()}};
  return p;
}

TEST(PlanFile, WhatPlanToJsonWritesParsePlanFileReadsBack) {
  const Problem p = ThreeHosts();
  // mcu runs 'a', edge#1 runs 'b': one espnow hop, the result back over espnow.
  Result<Plan> plan = EvaluatePlan(p, {{0, 0, 0}, {1, 1, 1}});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_TRUE(plan->feasible) << plan->reason;
  const std::string text = PlanToJson(p, "fixed", "fixed", *plan);
  const json j = json::parse(text);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["link"], "espnow");  // every transfer on one link: its name
  EXPECT_EQ(j["segments"][1]["device"], "edge#1");
  EXPECT_EQ(j["segments"][1]["cut_before"], "a");
  EXPECT_EQ(j["links"].size(), 2u);

  Result<PlanFile> back = ParsePlanFile(text, "p.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->model, "toy");
  EXPECT_EQ(back->dtype, "int8");
  EXPECT_EQ(back->link, "espnow");
  EXPECT_DOUBLE_EQ(back->latency_s, plan->latency_s);
  ASSERT_EQ(back->segments.size(), 2u);
  EXPECT_EQ(back->segments[0].cut_before, "input");
  EXPECT_EQ(back->segments[0].cut_after, "a");
  EXPECT_EQ(back->segments[1].host, "edge#1");
  EXPECT_DOUBLE_EQ(back->segments[0].compute_s, plan->segments[0].compute_s);
  ASSERT_EQ(back->hops.size(), 1u);
  EXPECT_EQ(back->hops[0].bytes, 400);
  EXPECT_EQ(back->hops[0].link, "espnow");
  EXPECT_EQ(back->hops[0].link_index, 0);
  EXPECT_FALSE(back->input.has_value());  // the sensor ran stage 1
  ASSERT_TRUE(back->result.has_value());
  EXPECT_EQ(back->result->from, "edge#1");
  ASSERT_EQ(back->links.size(), 2u);
  ASSERT_TRUE(back->links[1].parameters.has_value());  // the plan spells its links out
  EXPECT_EQ(back->links[1].parameters->bytes_per_s, p.links[1].link.bytes_per_s);

  // The chain it describes: one node per segment, from input to output, a host name#k emulating name.
  const std::vector<runtime::ChainNodeSpec> nodes = runtime::PlanNodes(*back);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].first_cut, "input");
  EXPECT_EQ(nodes[0].last_cut, "a");
  EXPECT_EQ(nodes[1].first_cut, "a");
  EXPECT_EQ(nodes[1].last_cut, "output");
  EXPECT_EQ(nodes[1].device, "edge");
}

TEST(PlanFile, PlanLinkNameSaysPerHopWhenTransfersUseDifferentLinks) {
  const Problem p = ThreeHosts();
  // edge#1 runs everything: the input over espnow, the result over espnow; then edge#1 -> edge#2 over ethernet.
  Result<Plan> one = EvaluatePlan(p, {{1, 0, 1}});
  ASSERT_TRUE(one.ok() && one->feasible);
  EXPECT_EQ(PlanLinkName(p, *one), "espnow");
  Result<Plan> two = EvaluatePlan(p, {{1, 0, 0}, {2, 1, 1}});
  ASSERT_TRUE(two.ok() && two->feasible) << (two.ok() ? two->reason : two.status().message());
  EXPECT_EQ(PlanLinkName(p, *two), "per-hop");
  Problem single = p;
  single.links.clear();
  EXPECT_EQ(PlanLinkName(single, *one), "udp");
}

TEST(PlanFile, HostProfileNameDropsOnlyAHostNumber) {
  EXPECT_EQ(HostProfileName("rpi4#2"), "rpi4");
  EXPECT_EQ(HostProfileName("rpi4"), "rpi4");
  EXPECT_EQ(HostProfileName("a#b"), "a#b");
  EXPECT_EQ(HostProfileName("#3"), "#3");
  EXPECT_EQ(HostProfileName("x#"), "x#");
  EXPECT_EQ(HostProfileName(""), "");
}

// Each malformed plan is an error naming the field, never an exception.
TEST(PlanFile, MalformedPlansAreErrorsNamingTheField) {
  const Problem p = ThreeHosts();
  Result<Plan> plan = EvaluatePlan(p, {{0, 0, 0}, {1, 1, 1}});
  ASSERT_TRUE(plan.ok());
  const json good = json::parse(PlanToJson(p, "fixed", "fixed", *plan));
  // Each case spoils one field of a good plan (runtime_plan_links_test spoils its links and transfers).
  struct Case {
    const char* pointer;  // JSON pointer of the field
    json value;
    std::string expected;
  };
  const Case cases[] = {
      {"/latency_s", "fast", "field 'latency_s' is \"fast\", must be a number >= 0"},
      {"/segments/0/device", 5, "field 'segments[0].device' is 5, must be a string"},
      {"/segments/1/compute_s", -1, "'segments[1].compute_s'"},
      {"/segments/0/cut_after", nullptr, "every segment needs 'cut_before' and 'cut_after' strings (segments[0].)"},
      {"/segments", json::array(), "not a plan"},
      {"/model", 3, "field 'model' is 3, must be a string"},
      {"/transfers/0/time_s", -2, "'transfers[0].time_s' is -2"},
      {"/transfers/0/kind", 3, "'transfers[0].kind'"},
  };
  for (const Case& c : cases) {
    json j = good;
    j[json::json_pointer(c.pointer)] = c.value;
    Result<PlanFile> r = ParsePlanFile(j.dump(), "bad.json");
    ASSERT_FALSE(r.ok()) << c.pointer;
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos) << r.status().message();
  }
  json infeasible = good;
  infeasible["feasible"] = false;
  infeasible["reason"] = "too big";
  Result<PlanFile> r = ParsePlanFile(infeasible.dump(), "bad.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad.json: the plan is infeasible: too big"), std::string::npos) << r.status().message();
  EXPECT_FALSE(ParsePlanFile("{", "x.json").ok());
  EXPECT_FALSE(ParsePlanFile("[]", "x.json").ok());
  Result<PlanFile> dev = ReadPlanFile("/dev/zero");
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.status().message().find("not a regular file"), std::string::npos) << dev.status().message();
}

TEST(PlanFile, ApplyPlanLinksGivesEachHopItsLinkAndNamesBadOnes) {
  const Problem p = ThreeHosts();
  Result<Plan> plan = EvaluatePlan(p, {{0, 0, 0}, {1, 1, 1}});
  ASSERT_TRUE(plan.ok());
  const json good = json::parse(PlanToJson(p, "fixed", "fixed", *plan));
  runtime::ScratchDir scratch;
  ASSERT_FALSE(scratch.path.empty());
  auto apply = [&](const json& j, runtime::ChainOptions* o) -> Status {
    ES_ASSIGN_OR_RETURN(PlanFile f, ParsePlanFile(j.dump(), "p.json"));
    o->link.profiles_dir = kProfiles;
    return runtime::ApplyPlanLinks(f, "p.json", "auto", false, scratch.path, o);
  };
  runtime::ChainOptions o;
  ASSERT_TRUE(apply(good, &o).ok());
  ASSERT_EQ(o.hop_links.size(), 2u);  // the hop, and the result back
  EXPECT_EQ(o.hop_links[0].link, "espnow");  // the shipped profile's numbers: run as that profile
  EXPECT_TRUE(o.hop_links[0].shaped);        // auto shapes a radio that does not exist here
  EXPECT_FALSE(o.input_link.has_value());
  EXPECT_EQ(runtime::DescribeHopLinks(o), "espnow (espnow, shaped), espnow (espnow, shaped)");

  json changed = good;
  changed["links"][0]["bytes_per_s"] = 1234;  // no longer the profile: written as a profile file
  ASSERT_TRUE(apply(changed, &o).ok());
  EXPECT_EQ(o.hop_links[0].link, scratch.path + "/link0.json");
  Result<LinkProfile> written = LoadLinkProfile(kProfiles, o.hop_links[0].link);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->bytes_per_s, 1234);

  json pigeon = good;
  pigeon["links"][0] = json{{"name", "carrier-pigeon"}};
  Status s = apply(pigeon, &o);
  EXPECT_NE(s.message().find("links[0] ('carrier-pigeon') gives no link parameters and is not a link profile"), std::string::npos)
      << s.message();
  json transport = good;
  transport["links"][0]["transport"] = "pigeon";
  s = apply(transport, &o);
  EXPECT_NE(s.message().find("links[0] ('espnow'): unknown transport 'pigeon'"), std::string::npos) << s.message();
  json none = good;
  none.erase("links");
  for (json& t : none["transfers"]) t.erase("link_index");
  s = apply(none, &o);
  EXPECT_NE(s.message().find("the plan has no links[] (give --link)"), std::string::npos) << s.message();
}

TEST(PlanFile, PlanVsMeasuredSetsTheMedianOfTheSteadyInferencesBesideThePrediction) {
  PlanFile plan;
  plan.latency_s = 1.0;
  plan.segments = {{"input", "a", "mcu", 0.4}, {"a", "output", "edge#1", 0.1}};
  plan.hops = {{"mcu", "edge#1", "espnow", 0, 400, 0.2}};
  plan.result = PlanFileTransfer{"edge#1", "mcu", "espnow", 0, 10, 0.05};
  runtime::ChainOptions o;
  o.link.link = "udp";
  o.link.profiles_dir = kProfiles;
  std::vector<runtime::InferenceRecord> recs(3);
  const double compute0[] = {9.0, 0.5, 0.3};  // the cold first is left out of the median
  for (size_t i = 0; i < recs.size(); ++i) {
    recs[i].nodes = {{"esp32s3", compute0[i], 0.4, 0, 0}, {"host", 0.1, 0.1, 0, 0}};
    recs[i].hops = {runtime::HopRecord{}};
    recs[i].hops[0].bytes = 412;
    recs[i].hops[0].transfer_s = 0.25;
    recs[i].reply_s = 0.05;
  }
  runtime::RunSummary summary;
  summary.steady_median_s = 1.1;
  const nlohmann::ordered_json j = runtime::PlanVsMeasured(plan, o, recs, summary);
  EXPECT_DOUBLE_EQ(j["predicted_latency_s"].get<double>(), 1.0);
  EXPECT_NEAR(j["error_pct"].get<double>(), 10.0, 1e-9);
  ASSERT_EQ(j["segments"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["segments"][0]["measured_compute_s"].get<double>(), 0.3);        // the last inference
  EXPECT_DOUBLE_EQ(j["segments"][0]["measured_median_compute_s"].get<double>(), 0.4);  // median of 0.5 and 0.3
  EXPECT_NEAR(j["segments"][0]["median_error_pct"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(j["segments"][1]["host"], "edge#1");
  ASSERT_EQ(j["hops"].size(), 1u);
  EXPECT_EQ(j["hops"][0]["link"], "espnow");  // the node reported no link name: the plan's
  EXPECT_EQ(j["hops"][0]["transport"], "udp");  // one link (o.link) carries every hop
  EXPECT_EQ(j["hops"][0]["predicted_bytes"], 400);
  EXPECT_EQ(j["hops"][0]["measured_bytes"], 412);
  EXPECT_NEAR(j["hops"][0]["error_pct"].get<double>(), 25.0, 1e-9);
  EXPECT_FALSE(j.contains("input"));
  ASSERT_TRUE(j.contains("result"));
  EXPECT_NEAR(j["result"]["error_pct"].get<double>(), 0.0, 1e-9);
  EXPECT_TRUE(runtime::PlanVsMeasured(plan, o, {}, summary).empty());
  // A record with fewer nodes or hops than the last (an attached chain's) is left out of the medians, not read past.
  recs[1].nodes.clear();
  recs[1].hops.clear();
  const nlohmann::ordered_json k = runtime::PlanVsMeasured(plan, o, recs, summary);
  EXPECT_DOUBLE_EQ(k["segments"][0]["measured_median_compute_s"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(k["hops"][0]["measured_median_transfer_s"].get<double>(), 0.25);
}

TEST(CutList, ResolveInteriorCutsSortsAndRefusesEndsAndRepeats) {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok()) << g.status().message();
  Result<std::vector<CutPoint>> cuts = FindCutPoints(*g);
  ASSERT_TRUE(cuts.ok());
  const int last = static_cast<int>(cuts->size()) - 1;
  Result<std::vector<int>> r = ResolveInteriorCuts(*g, *cuts, {"block_13_project_BN", "3"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0], 3);  // sorted into model order
  EXPECT_EQ((*r)[1], *ResolveCut(*g, *cuts, "block_13_project_BN"));
  EXPECT_TRUE(ResolveInteriorCuts(*g, *cuts, {}).ok());
  auto fails = [&](const std::vector<std::string>& specs, const std::string& expected) {
    Result<std::vector<int>> x = ResolveInteriorCuts(*g, *cuts, specs);
    ASSERT_FALSE(x.ok());
    EXPECT_NE(x.status().message().find(expected), std::string::npos) << x.status().message();
  };
  fails({"input"}, "cut 'input' is the model's input; a split needs cuts strictly inside the model (1.." + std::to_string(last - 1) + ")");
  fails({std::to_string(last)}, "is the model's output");
  fails({"3", "3"}, "cut '3' (index 3) is given twice");
  fails({"no_such_layer"}, "no_such_layer");
}

}  // namespace
}  // namespace edgesplit
