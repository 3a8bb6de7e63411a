// The CLI contract of `plan` and `compare`: JSON keys, instance files,
// --dump-problem round trip, --cuts, formats and error messages.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace edgesplit {
namespace {

using edgesplit::testing::MakeTempDir;
using edgesplit::testing::ReadFile;
using edgesplit::testing::RunCli;
using edgesplit::testing::WriteFile;

const char* kModel = "mobilenet_v2:alpha=0.35,res=96";

TEST(PlanCli, JsonKeepsTheContract) {
  std::string out, err;
  ASSERT_EQ(RunCli(std::string("plan ") + kModel + " --devices esp32s3,esp32s3,rpi4 --link espnow --format json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  for (const char* key : {"schema_version", "model", "link", "dtype", "algorithm", "feasible", "latency_s", "throughput_stage_s",
                          "energy_j", "solve_time_s", "segments", "transfers"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["algorithm"], "dp");
  EXPECT_EQ(j["dtype"], "int8");
  EXPECT_EQ(j["link"], "espnow");
  ASSERT_TRUE(j["feasible"].get<bool>());
  ASSERT_FALSE(j["segments"].empty());
  int next = 0;
  for (const auto& s : j["segments"]) {
    for (const char* key : {"device", "device_index", "first_layer", "last_layer", "cut_before", "cut_after", "compute_s",
                            "weight_bytes", "arena_bytes"})
      ASSERT_TRUE(s.contains(key)) << key;
    EXPECT_EQ(s["first_layer"].get<int>(), next);
    next = s["last_layer"].get<int>() + 1;
  }
  EXPECT_EQ(j["segments"][0]["cut_before"], "input");
  for (const auto& t : j["transfers"]) {
    for (const char* key : {"kind", "from", "to", "bytes", "time_s"}) ASSERT_TRUE(t.contains(key)) << key;
    EXPECT_TRUE(t["kind"] == "input" || t["kind"] == "hop" || t["kind"] == "result");
  }
}

TEST(PlanCli, NotesADtypeTheDeviceWasNotProfiledFor) {
  std::string out, err;
  ASSERT_EQ(RunCli(std::string("plan ") + kModel + " --devices esp32s3,rpi4 --link espnow", &out, &err), 0) << err;
  EXPECT_EQ(err.find("profiled for"), std::string::npos) << err;  // int8 plan, int8 profiles
  ASSERT_EQ(RunCli(std::string("plan ") + kModel + " --devices esp32s3,rpi4 --link espnow --dtype f32", &out, &err), 0) << err;
  EXPECT_NE(err.find("device 'esp32s3' is profiled for int8"), std::string::npos) << err;
  EXPECT_NE(err.find("device 'rpi4' is profiled for int8"), std::string::npos) << err;
}

TEST(PlanCli, DumpedProblemSolvesToTheSamePlan) {
  const std::string dir = MakeTempDir(), file = dir + "/p.json";
  std::string a, b, err;
  ASSERT_EQ(RunCli(std::string("plan ") + kModel + " --devices esp32s3,esp32s3-espnn --link ble --use-all --format json --dump-problem " + file, &a, &err), 0) << err;
  ASSERT_EQ(RunCli("plan --problem " + file + " --use-all --format json", &b, &err), 0) << err;
  auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
  EXPECT_NEAR(ja["latency_s"].get<double>(), jb["latency_s"].get<double>(), 1e-12);
  EXPECT_EQ(ja["segments"].size(), 2u);
  EXPECT_EQ(ja["segments"], jb["segments"]);
}

TEST(PlanCli, EveryAlgorithmAndObjectiveRuns) {
  for (const char* alg : {"dp", "beam", "greedy", "first-fit", "random-fit", "brute-force"})
    for (const char* obj : {"latency", "throughput", "energy"}) {
      std::string out, err;
      EXPECT_EQ(RunCli(std::string("plan ") + kModel + " --devices esp32s3,esp32s3,esp32s3 --link espnow --algorithm " + alg +
                           " --objective " + obj + " --format json",
                       &out, &err),
                0)
          << alg << " " << obj << ": " << err;
      EXPECT_TRUE(nlohmann::json::parse(out)["feasible"].get<bool>()) << alg << " " << obj;
    }
}

TEST(PlanCli, FixedCutsAndTable) {
  std::string out, err;
  ASSERT_EQ(RunCli("plan mobilenet_v2:alpha=0.35,res=224 --devices esp32s3,esp32s3 --link espnow --cuts block_16_project_BN", &out, &err), 0) << err;
  EXPECT_NE(out.find("algorithm   fixed"), std::string::npos) << out;
  EXPECT_NE(out.find("5.36KiB"), std::string::npos) << out;
}

TEST(PlanCli, InfeasibleAndBadInputSayWhy) {
  const std::string dir = MakeTempDir(), file = dir + "/p.json";
  WriteFile(file, R"({"schema_version":1,"input_bytes":10,"devices":[{"name":"tiny","weight_capacity_bytes":10,"ram_bytes":10}],
    "layers":[{"name":"big","weight_bytes":100,"out_bytes":1,"arena_bytes":1,"compute_s":[1]}],
    "link":{"per_message_s":0,"per_frame_s":0,"payload_bytes":250,"bytes_per_s":1000}})");
  std::string out, err;
  ASSERT_EQ(RunCli("plan --problem " + file + " --format json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_FALSE(j["feasible"].get<bool>());
  EXPECT_NE(j["reason"].get<std::string>().find("'big'"), std::string::npos);
  EXPECT_NE(RunCli(std::string("plan ") + kModel + " --devices esp32s3 --link carrier-pigeon", &out, &err), 0);
  EXPECT_NE(err.find("espnow"), std::string::npos) << err;  // lists what exists
  EXPECT_NE(RunCli(std::string("plan ") + kModel + " --devices esp32s3 --link espnow --algorithm magic", &out, &err), 0);
  EXPECT_NE(err.find("beam"), std::string::npos) << err;
}

// An instance written by hand exactly as issue 4 gives the format, with the
// optional link keys (loss, shared_medium) left out: they default to 0 and false.
const char* kHandInstance = R"({"schema_version": 1, "input_bytes": 1000,
  "layers": [{"name": "a", "weight_bytes": 100, "out_bytes": 400, "arena_bytes": 50, "compute_s": [1.0, 0.2]},
             {"name": "b", "weight_bytes": 300, "out_bytes": 10, "arena_bytes": 80, "compute_s": [2.0, 0.3]}],
  "devices": [{"name": "mcu", "weight_capacity_bytes": 200, "ram_bytes": 100},
              {"name": "edge", "weight_capacity_bytes": 1000, "ram_bytes": 1000}],
  "link": {"per_message_s": 0.01, "per_frame_s": 0.001, "payload_bytes": 250, "bytes_per_s": 1000}})";

TEST(PlanCli, HandWrittenInstanceSolvesToTheHandComputedPlan) {
  const std::string dir = MakeTempDir(), file = dir + "/hand.json";
  WriteFile(file, kHandInstance);
  std::string out, err;
  // Hand-computed over plain links (--insecure; sealed costs: tests/sealed_cost_test.cc).
  ASSERT_EQ(RunCli("plan --problem " + file + " --format json --insecure", &out, &err), 0) << err;
  const auto j = nlohmann::json::parse(out);
  ASSERT_TRUE(j["feasible"].get<bool>());
  EXPECT_EQ(j["dtype"], "int8");
  // 'b' fits only 'edge': edge runs both groups. T(1000) = 0.01 + 4 x 0.001 + 1.0;
  // T(10) = 0.01 + 0.001 + 0.01; compute 0.2 + 0.3. (mcu a, hop, edge b would be 1.733 s.)
  EXPECT_NEAR(j["latency_s"].get<double>(), 1.014 + 0.5 + 0.021, 1e-12);
  EXPECT_NEAR(j["throughput_stage_s"].get<double>(), 1.014, 1e-12);  // separate links: the longest transfer
  ASSERT_EQ(j["segments"].size(), 1u);
  EXPECT_EQ(j["segments"][0]["device"], "edge");
  EXPECT_EQ(j["segments"][0]["device_index"], 1);
  EXPECT_EQ(j["segments"][0]["cut_before"], "input");
  EXPECT_EQ(j["segments"][0]["cut_after"], "b");
  EXPECT_EQ(j["segments"][0]["weight_bytes"], 400);
  EXPECT_EQ(j["segments"][0]["arena_bytes"], 80);
  ASSERT_EQ(j["transfers"].size(), 2u);
  EXPECT_EQ(j["transfers"][0]["kind"], "input");
  EXPECT_EQ(j["transfers"][0]["from"], "mcu");
  EXPECT_EQ(j["transfers"][0]["to"], "edge");
  EXPECT_EQ(j["transfers"][0]["bytes"], 1000);
  EXPECT_EQ(j["transfers"][1]["kind"], "result");
  EXPECT_NEAR(j["transfers"][1]["time_s"].get<double>(), 0.021, 1e-12);
  // compare: one device cannot hold 'b'; every format says so, JSON and the table say why.
  ASSERT_EQ(RunCli("compare --problem " + file + " --format json --insecure", &out, &err), 0) << err;
  const auto c = nlohmann::json::parse(out);
  ASSERT_EQ(c["rows"].size(), 2u * 6u);
  for (const auto& r : c["rows"]) {
    if (r["devices"] == 1) {
      EXPECT_FALSE(r["feasible"].get<bool>());
      EXPECT_NE(r["reason"].get<std::string>().find("'b'"), std::string::npos) << r.dump();
    } else if (r["algorithm"] == "dp") {
      EXPECT_NEAR(r["latency_s"].get<double>(), 1.535, 1e-12);
    }
  }
  ASSERT_EQ(RunCli("compare --problem " + file + " --insecure", &out, &err), 0) << err;
  EXPECT_NE(out.find("ms  layer group 1 ('b': 300 weight bytes, 80 arena bytes) fits no device on its own\n"), std::string::npos) << out;
  ASSERT_EQ(RunCli("compare --problem " + file + " --format csv --objective throughput --insecure", &out, &err), 0) << err;
  // Throughput: mcu runs 'a' (1.0 s stage), edge 'b'; the latency of that plan (1.733 s) beside it.
  EXPECT_NE(out.find("\n2,dp,1,1,0.000000,"), std::string::npos) << out;
  EXPECT_NE(out.find(",1.733,0:0-0 1:1-1\n"), std::string::npos) << out;
}

// Issue 17: a link per hop (espnow, udp, ethernet) from a --links file, free
// order, and the plan JSON's per-hop link fields that `run --plan` reads.
TEST(PlanCli, LinksPerHopAndFreeOrder) {
  const std::string dir = MakeTempDir(), links = dir + "/links.json";
  WriteFile(links, R"({"links": [{"from": "esp32s3", "to": "esp32s3-espnn", "profile": "espnow"},
    {"from": "esp32s3-espnn", "to": "rpi4", "profile": "udp"}, {"from": "rpi4", "to": "edge-x86", "profile": "ethernet"},
    {"from": "edge-x86", "to": "esp32s3", "profile": "udp"}]})");
  const std::string base = std::string("plan ") + kModel + " --devices esp32s3,esp32s3-espnn,rpi4,edge-x86 --links " + links +
                           " --objective throughput --use-all --format json";
  std::string out, err;
  ASSERT_EQ(RunCli(base, &out, &err), 0) << err;
  auto fixed = nlohmann::json::parse(out);
  ASSERT_TRUE(fixed["feasible"].get<bool>()) << out;
  EXPECT_EQ(fixed["order"], "fixed");
  EXPECT_EQ(fixed["solver"], "dp");
  EXPECT_TRUE(fixed["exact"].get<bool>());
  EXPECT_EQ(fixed["link"], "per-hop");
  ASSERT_EQ(fixed["links"].size(), 4u);
  const char* want[] = {"espnow", "udp", "ethernet", "udp"};  // hop, hop, hop, result: each pair's own link
  ASSERT_EQ(fixed["transfers"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const auto& t = fixed["transfers"][i];
    EXPECT_EQ(t["link"], want[i]) << t.dump();
    EXPECT_EQ(t["link_index"].get<int>(), static_cast<int>(i));
    EXPECT_EQ(fixed["links"][t["link_index"].get<int>()]["name"], want[i]);
    EXPECT_EQ(t["from_index"].get<int>(), static_cast<int>(i));
  }
  EXPECT_EQ(fixed["links"][2]["transport"], "tcp");  // ethernet's runtime transport, for the runtime to shape the hop
  ASSERT_EQ(RunCli(base + " --order free", &out, &err), 0) << err;
  auto free = nlohmann::json::parse(out);
  ASSERT_TRUE(free["feasible"].get<bool>());
  EXPECT_EQ(free["order"], "free");
  EXPECT_LE(free["throughput_stage_s"].get<double>(), fixed["throughput_stage_s"].get<double>() * (1 + 1e-12));
  // Unknown names in a links file, and greedy in free order, are errors that say why.
  WriteFile(links, R"({"links": [{"from": "esp32s3", "to": "esp32", "profile": "espnow"}]})");
  EXPECT_NE(RunCli(base, &out, &err), 0);
  EXPECT_NE(err.find("names no device 'esp32'"), std::string::npos) << err;
  EXPECT_NE(RunCli(std::string("plan ") + kModel + " --devices esp32s3,rpi4 --link udp --order free --algorithm greedy", &out, &err), 0);
  EXPECT_NE(err.find("free order: dp, beam or brute-force"), std::string::npos) << err;
}

TEST(CompareCli, FreeOrderSaysWhichAlgorithmsDoIt) {
  std::string out, err;
  ASSERT_EQ(RunCli(std::string("compare ") + kModel + " --devices esp32s3,rpi4,esp32s3-espnn --link udp --objective throughput --order free --format json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["order"], "free");
  EXPECT_EQ(j["free_order_algorithms"], nlohmann::json::parse(R"(["brute-force","beam","dp"])"));
  ASSERT_EQ(j["rows"].size(), 3u * 6u);
  for (const auto& r : j["rows"]) {
    const bool free = r["algorithm"] == "dp" || r["algorithm"] == "beam" || r["algorithm"] == "brute-force";
    EXPECT_EQ(r["order"], free ? "free" : "fixed") << r.dump();
    if (r["feasible"].get<bool>()) {
      EXPECT_GE(r["gap_pct"].get<double>(), -1e-6) << r.dump();  // free dp is the optimum over every plan
    }
    if (r["algorithm"] == "brute-force" && r["feasible"].get<bool>()) {
      EXPECT_NEAR(r["gap_pct"].get<double>(), 0, 1e-6);
    }
  }
  ASSERT_EQ(RunCli(std::string("compare ") + kModel + " --devices esp32s3,rpi4 --link udp --order free", &out, &err), 0) << err;
  EXPECT_NE(out.find("greedy*"), std::string::npos) << out;
  EXPECT_NE(out.find("keep the given order"), std::string::npos) << out;
}

TEST(CompareCli, FormatsAndGaps) {
  std::string out, err;
  ASSERT_EQ(RunCli(std::string("compare ") + kModel + " --devices esp32s3,esp32s3,esp32s3 --link espnow --use-all --format json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["rows"].size(), 3u * 6u);  // 1, 2 and 3 devices x 6 algorithms
  for (const auto& r : j["rows"]) {
    if (!r["feasible"].get<bool>()) continue;
    EXPECT_GE(r["gap_pct"].get<double>(), -1e-6) << r.dump();
    if (r["algorithm"] == "dp" || r["algorithm"] == "brute-force") {
      EXPECT_NEAR(r["gap_pct"].get<double>(), 0, 1e-6);
    }
  }
  ASSERT_EQ(RunCli(std::string("compare ") + kModel + " --devices esp32s3,esp32s3 --link udp --format csv", &out, &err), 0) << err;
  EXPECT_EQ(out.rfind("devices,algorithm,feasible,value,gap_pct,solve_time_s,latency_s,segments\n", 0), 0u) << out;
  ASSERT_EQ(RunCli(std::string("compare ") + kModel + " --devices esp32s3,esp32s3 --link udp", &out, &err), 0) << err;
  EXPECT_NE(out.find("brute-force"), std::string::npos);
}

}  // namespace
}  // namespace edgesplit
