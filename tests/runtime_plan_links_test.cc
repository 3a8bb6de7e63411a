// `run --plan` with a link per hop (issue 17): each hop of a plan is shaped by
// the link the planner gave it, including plans where the sensor runs a middle
// stage or no stage, and bad plan files fail with a message naming the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "edgesplit/cost.h"
#include "edgesplit/runtime_plan.h"
#include "edgesplit/wire.h"
#include "test_util.h"

namespace edgesplit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
const std::string kShipped = std::string(EDGESPLIT_SOURCE_DIR) + "/profiles";

LinkProfile Link(const std::string& name, const std::string& dir = kShipped) { return std::move(LoadLinkProfile(dir, name)).value(); }

// Plans MODEL with `flags` and returns the plan JSON (written to `path`). The
// chain these tests run sends plain frames, so its plan is costed plain (--insecure).
json Plan(const std::string& flags, const std::string& path) {
  std::string out, err;
  EXPECT_EQ(testing::RunCli(std::string("plan ") + kModel + " " + flags + " --insecure --format json -o " + path, &out, &err), 0) << err;
  return json::parse(testing::ReadFile(path));
}

std::string WriteJson(const std::string& dir, const std::string& name, const json& j) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << j.dump(2);
  return path;
}

// Every measured hop of every inference ran on the plan's link for it, and
// predicted its time from that link's own model.
void ExpectHopsOnTheirLinks(const json& plan, const json& run, const std::string& profiles = kShipped) {
  std::vector<json> hops;
  for (const json& t : plan["transfers"])
    if (t["kind"] == "hop") hops.push_back(t);
  for (const json& inf : run["inferences"]) {
    ASSERT_EQ(inf["hops"].size(), hops.size()) << inf.dump();
    for (size_t k = 0; k < hops.size(); ++k) {
      const std::string name = hops[k]["link"];
      EXPECT_EQ(inf["hops"][k]["link"], name) << k;
      EXPECT_DOUBLE_EQ(inf["hops"][k]["predicted_transfer_s"].get<double>(),
                       TransferSeconds(Link(name, profiles), hops[k]["bytes"].get<int64_t>()))
          << k;
    }
  }
  ASSERT_EQ(run["plan"]["hops"].size(), hops.size());
  for (size_t k = 0; k < hops.size(); ++k) {
    const json& h = run["plan"]["hops"][k];
    EXPECT_EQ(h["link"], hops[k]["link"]) << k;
    EXPECT_EQ(h["from"], hops[k]["from"]) << k;
    EXPECT_EQ(h["to"], hops[k]["to"]) << k;
    EXPECT_EQ(h["transport"], Link(hops[k]["link"], profiles).transport) << k;
    EXPECT_DOUBLE_EQ(h["predicted_transfer_s"].get<double>(), hops[k]["time_s"].get<double>()) << k;
    EXPECT_DOUBLE_EQ(h["link_model_transfer_s"].get<double>(), hops[k]["time_s"].get<double>()) << k;
    EXPECT_EQ(h["predicted_bytes"], hops[k]["bytes"]) << k;
    EXPECT_TRUE(h.contains("measured_median_transfer_s"));
  }
}

TEST(PerHopLinks, AThreeHopPlanOverEspnowEthernetAndUdpRunsBitExactEachHopOnItsLink) {
  const std::string dir = testing::MakeTempDir();
  const json pj = Plan("--devices esp32s3,rpi4,edge-x86 --links " + std::string(EDGESPLIT_SOURCE_DIR) +
                           "/examples/links/sensor_gateway_server.json --use-all --dtype int8",
                       dir + "/p3.json");
  ASSERT_TRUE(pj["feasible"].get<bool>()) << pj.dump();
  ASSERT_EQ(pj["segments"].size(), 3u);
  ASSERT_EQ(pj["transfers"].size(), 3u);
  EXPECT_EQ(pj["transfers"][0]["link"], "espnow");
  EXPECT_EQ(pj["transfers"][1]["link"], "ethernet");
  EXPECT_EQ(pj["transfers"][2]["kind"], "result");
  EXPECT_EQ(pj["transfers"][2]["link"], "udp");

  const json j = testing::RunCliJson(std::string("run ") + kModel + " --plan " + dir + "/p3.json --time-scale 0.25 --repeat 3 --timeout 60 --format json");
  EXPECT_TRUE(j["results_identical"].get<bool>());  // int8: every result equals the local run bit for bit
  EXPECT_EQ(j["link"], "per-hop");
  ExpectHopsOnTheirLinks(pj, j);
  const LinkProfile espnow = Link("espnow"), ethernet = Link("ethernet"), udp = Link("udp");
  const int64_t cut = pj["transfers"][0]["bytes"];
  for (const json& inf : j["inferences"]) {
    ASSERT_EQ(inf["nodes"].size(), 3u);
    EXPECT_FALSE(inf.contains("input"));  // the sensor runs the first stage
    // Each hop in its own link's frames: 250-byte ESP-NOW frames, TCP in 1,448-byte pacing chunks.
    const json& h0 = inf["hops"][0];
    const json& h1 = inf["hops"][1];
    EXPECT_EQ(h0["bytes"], h1["bytes"]);
    EXPECT_GE(h0["fragments"].get<int64_t>(), (h0["bytes"].get<int64_t>() + espnow.payload_bytes - 1) / espnow.payload_bytes);
    EXPECT_EQ(h1["fragments"].get<int64_t>(), (h1["bytes"].get<int64_t>() + ethernet.payload_bytes - 1) / ethernet.payload_bytes);
    // The ESP-NOW shaper never lets the cut tensor cross faster than its T(b),
    // which is 19x the udp link's and 450x ethernet's.
    EXPECT_GT(h0["transfer_s"].get<double>(), 0.95 * TransferSeconds(espnow, cut)) << h0.dump();
    EXPECT_GT(TransferSeconds(espnow, cut), 15 * TransferSeconds(udp, cut));
    EXPECT_GT(TransferSeconds(espnow, cut), 400 * TransferSeconds(ethernet, cut));
    // The result (f32 logits of the int8 graph's final DequantizeLinear) comes back over udp.
    EXPECT_EQ(inf["reply"]["link"], "udp");
    EXPECT_DOUBLE_EQ(inf["reply"]["predicted_transfer_s"].get<double>(), TransferSeconds(udp, 1000 * 4));
  }
  const json& result = j["plan"]["result"];
  EXPECT_EQ(result["link"], "udp");
  EXPECT_EQ(result["transport"], "udp");
  EXPECT_EQ(result["predicted_bytes"], 1000);
  EXPECT_EQ(result["measured_bytes"].get<int64_t>(), static_cast<int64_t>(wire::EncodedMessageBytes(2, 4000)));
  ASSERT_EQ(j["plan"]["segments"].size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    const json& s = j["plan"]["segments"][k];
    EXPECT_EQ(s["host"], pj["segments"][k]["device"]);
    EXPECT_DOUBLE_EQ(s["predicted_compute_s"].get<double>(), pj["segments"][k]["compute_s"].get<double>());
    // An emulated device holds its result until its predicted time.
    EXPECT_GE(s["measured_median_compute_s"].get<double>(), 0.99 * s["predicted_compute_s"].get<double>());
  }

  // The table names every hop's link.
  std::string out, err;
  ASSERT_EQ(testing::RunCli(std::string("run ") + kModel + " --plan " + dir + "/p3.json --time-scale 0.25 --repeat 2", &out, &err), 0) << err;
  EXPECT_NE(out.find("per-hop: espnow (espnow, shaped), ethernet (tcp, shaped), udp (udp, shaped)"), std::string::npos) << out;
  EXPECT_NE(out.find("esp32s3 -> rpi4"), std::string::npos) << out;
  EXPECT_NE(out.find("result  edge-x86 -> esp32s3"), std::string::npos) << out;
}

TEST(PerHopLinks, TheSensorRunsAMiddleStageAndTheChainTurnsThroughIt) {
  const std::string dir = testing::MakeTempDir();
  // No gateway-server link: with every host used, the sensor must sit between them.
  const std::string links = WriteJson(dir, "links.json",
                                      json{{"links",
                                            {{{"from", "esp32s3"}, {"to", "rpi4"}, {"profile", "espnow"}},
                                             {{"from", "esp32s3"}, {"to", "edge-x86"}, {"profile", "udp"}}}}});
  const json pj = Plan("--devices esp32s3,rpi4,edge-x86 --links " + links + " --use-all --order free --dtype f32", dir + "/p.json");
  ASSERT_TRUE(pj["feasible"].get<bool>()) << pj.dump();
  ASSERT_EQ(pj["segments"].size(), 3u);
  ASSERT_EQ(pj["segments"][1]["device_index"], 0) << pj.dump();
  ASSERT_EQ(pj["transfers"].size(), 4u) << pj.dump();
  EXPECT_EQ(pj["transfers"][0]["kind"], "input");
  EXPECT_EQ(pj["transfers"][3]["kind"], "result");

  const json j = testing::RunCliJson(std::string("run ") + kModel + " --plan " + dir + "/p.json --time-scale 0.25 --repeat 2 --timeout 60 --format json");
  EXPECT_TRUE(j["results_identical"].get<bool>());  // f32 split runs are bit-identical too
  EXPECT_EQ(j["dtype"], "f32");
  ExpectHopsOnTheirLinks(pj, j);
  // In and out of the sensor on the same link: input and the hop into it on one, the hop out and the result on the other.
  const json& plan = j["plan"];
  EXPECT_EQ(plan["input"]["link"], pj["transfers"][0]["link"]);
  EXPECT_EQ(plan["hops"][0]["link"], pj["transfers"][0]["link"]);
  EXPECT_EQ(plan["hops"][1]["link"], pj["transfers"][3]["link"]);
  EXPECT_EQ(plan["result"]["link"], pj["transfers"][3]["link"]);
  EXPECT_NE(plan["hops"][0]["link"], plan["hops"][1]["link"]);
  EXPECT_EQ(plan["segments"][1]["host"], "esp32s3");
  for (const json& inf : j["inferences"]) {
    ASSERT_TRUE(inf.contains("input"));
    EXPECT_EQ(inf["input"]["link"], pj["transfers"][0]["link"]);
    EXPECT_DOUBLE_EQ(inf["input"]["predicted_transfer_s"].get<double>(),
                     TransferSeconds(Link(pj["transfers"][0]["link"]), pj["transfers"][0]["bytes"].get<int64_t>()));
    EXPECT_EQ(inf["reply"]["link"], pj["transfers"][3]["link"]);
  }
}

TEST(PerHopLinks, TheSensorRunsNoStageOnInlineLinksAndNamedHosts) {
  const std::string dir = testing::MakeTempDir();
  const std::string profiles = dir + "/profiles";
  fs::copy(kShipped, profiles, fs::copy_options::recursive);
  json camera = json::parse(testing::ReadFile(kShipped + "/devices/esp32s3.json"));
  camera["name"] = "camera";
  camera["weight_capacity_bytes"] = 1;  // holds no layer: it only sends the input and takes the result
  std::ofstream(profiles + "/devices/camera.json") << camera.dump(2);
  // The input goes up over ESP-NOW; the result comes back on an inline link no profile has.
  const json inline_link = {{"from", "rpi4"}, {"to", "camera"}, {"name", "slow-wifi"}, {"transport", "udp"},
                            {"per_message_s", 0.003}, {"per_frame_s", 0.0},  {"payload_bytes", 1472}, {"bytes_per_s", 250000}};
  const std::string links =
      WriteJson(dir, "links.json", json{{"links", {{{"from", "camera"}, {"to", "rpi4"}, {"profile", "espnow"}}, inline_link}}});
  json pj = Plan("--devices camera,rpi4 --links " + links + " --dtype int8 --profiles " + profiles, dir + "/p.json");
  ASSERT_TRUE(pj["feasible"].get<bool>()) << pj.dump();
  ASSERT_EQ(pj["segments"].size(), 1u);
  ASSERT_EQ(pj["transfers"].size(), 2u);
  ASSERT_EQ(pj["transfers"][0]["kind"], "input");
  ASSERT_EQ(pj["transfers"][1]["link"], "slow-wifi");
  // A host of an entry with a count is named name#k: it emulates profile `name`.
  pj["segments"][0]["device"] = "rpi4#2";
  const std::string plan = WriteJson(dir, "p2.json", pj);

  const json j = testing::RunCliJson(std::string("run ") + kModel + " --plan " + plan + " --profiles " + profiles +
                                     " --time-scale 0.25 --repeat 2 --timeout 60 --format json");
  EXPECT_TRUE(j["results_identical"].get<bool>());
  const LinkProfile espnow = Link("espnow");
  const int64_t input_bytes = pj["transfers"][0]["bytes"];
  EXPECT_EQ(input_bytes, 96 * 96 * 3);  // int8: the sensor quantizes its input
  for (const json& inf : j["inferences"]) {
    ASSERT_EQ(inf["nodes"].size(), 1u);
    EXPECT_EQ(inf["nodes"][0]["device"], "rpi4");
    EXPECT_EQ(inf["input"]["link"], "espnow");
    EXPECT_GT(inf["input"]["transfer_s"].get<double>(), 0.95 * TransferSeconds(espnow, input_bytes)) << inf["input"].dump();
    EXPECT_EQ(inf["reply"]["link"], "slow-wifi");
    // The node shaped its result by the plan's inline numbers: T(4,000 B) on them.
    EXPECT_NEAR(inf["reply"]["predicted_transfer_s"].get<double>(), 0.003 + 4000.0 / 250000, 1e-12);
    EXPECT_GT(inf["reply"]["transfer_s"].get<double>(), 0.95 * (0.003 + 4000.0 / 250000)) << inf["reply"].dump();
  }
  EXPECT_EQ(j["plan"]["segments"][0]["host"], "rpi4#2");
  EXPECT_EQ(j["plan"]["input"]["link"], "espnow");
  EXPECT_EQ(j["plan"]["input"]["transport"], "espnow");
  EXPECT_EQ(j["plan"]["result"]["link"], "slow-wifi");
  EXPECT_EQ(j["plan"]["result"]["transport"], "udp");
  EXPECT_DOUBLE_EQ(j["plan"]["result"]["predicted_transfer_s"].get<double>(), pj["transfers"][1]["time_s"].get<double>());
}

TEST(PerHopLinks, BadPlanFilesFailNamingTheField) {
  const std::string dir = testing::MakeTempDir();
  const json good = Plan("--devices esp32s3,rpi4,edge-x86 --links " + std::string(EDGESPLIT_SOURCE_DIR) +
                             "/examples/links/sensor_gateway_server.json --use-all --dtype int8",
                         dir + "/p3.json");
  ASSERT_TRUE(good["feasible"].get<bool>());
  // What `run --plan` does before it starts a node: the plan module reads the
  // file, the runtime gives each hop its link (runtime_plan.h).
  runtime::ScratchDir scratch;
  auto fails = [&](const json& plan, const std::string& expected) {
    const std::string path = WriteJson(dir, "bad.json", plan);
    Status s = [&]() -> Status {
      ES_ASSIGN_OR_RETURN(PlanFile f, ReadPlanFile(path));
      runtime::ChainOptions o;
      return runtime::ApplyPlanLinks(f, path, "auto", false, scratch.path, &o);
    }();
    EXPECT_FALSE(s.ok()) << expected;
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.message();
  };
  json p = good;
  p["transfers"][1]["link_index"] = 7;
  fails(p, "transfers[1].link_index 7 is out of range: the plan has 3 links (0..2)");
  p = good;
  p["transfers"][0]["link_index"] = -1;
  fails(p, "transfers[0].link_index -1 is out of range");
  p = good;
  p["transfers"][2].erase("link_index");
  fails(p, "transfers[2] needs an integer 'link_index'");
  p = good;
  p["links"][0] = json{{"name", "carrier-pigeon"}};
  fails(p, "links[0] ('carrier-pigeon') gives no link parameters and is not a link profile: no link profile 'carrier-pigeon'");
  p = good;
  p["links"][1]["transport"] = "pigeon";
  fails(p, "links[1] ('ethernet'): unknown transport 'pigeon' (udp, tcp, espnow, ble)");
  p = good;
  p["links"][2]["bytes_per_s"] = -5;
  fails(p, "links[2]");
  p = good;
  p["transfers"][0]["link_index"] = "0";
  fails(p, "transfers[0] needs an integer 'link_index'");
  p = good;
  p["transfers"][0]["link_index"] = 0.5;
  fails(p, "transfers[0] needs an integer 'link_index'");
  p = good;
  p["links"][0] = 5;
  fails(p, "links[0] needs a 'name' string");
  p = good;
  p["links"][0]["per_frame_s"] = "fast";
  fails(p, "links[0]");
  p = good;
  p["transfers"][1]["bytes"] = "many";
  fails(p, "transfers[1].bytes is \"many\", must be a number in [0, 1e15]");
  p["transfers"][1]["bytes"] = 1e300;
  fails(p, "transfers[1].bytes is 1e+300, must be a number in [0, 1e15]");
  p = good;
  p["links"] = "udp";
  fails(p, "'links' must be an array");
  p = good;
  p["transfers"].erase(1);
  fails(p, "3 segments need 2 transfers of kind 'hop', the plan has 1");
  {  // and the command exits 1 with the message, as every input error
    std::string out, err;
    p = good;
    p["transfers"][1]["link_index"] = 7;
    EXPECT_EQ(testing::RunCli(std::string("run ") + kModel + " --plan " + WriteJson(dir, "bad.json", p) + " --repeat 1", &out, &err), 1);
    EXPECT_NE(err.find("transfers[1].link_index 7 is out of range"), std::string::npos) << err;
  }
  // --link still puts every hop on one link, and --deliver needs one.
  std::string out, err;
  EXPECT_NE(testing::RunCli(std::string("run ") + kModel + " --plan " + dir + "/p3.json --deliver --repeat 1", &out, &err), 0);
  EXPECT_NE(err.find("--deliver sends every segment over one link"), std::string::npos) << err;
  const json one = testing::RunCliJson(std::string("run ") + kModel + " --plan " + dir + "/p3.json --link udp --time-scale 0.25 --repeat 1 --format json");
  EXPECT_TRUE(one["results_identical"].get<bool>());
  for (const json& h : one["inferences"][0]["hops"]) EXPECT_EQ(h["link"], "udp");
}

}  // namespace
}  // namespace edgesplit
