// Plans whose first used device is not the sensor: the client plays the sensor
// d1, sends the raw input over the shaped link to the first used device (in
// int8 quantized first, 1 byte an element), and that input hop is part of the
// RTT, reported beside the planner's prediction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "edgesplit/runtime.h"
#include "edgesplit/wire.h"
#include "test_util.h"

namespace edgesplit::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
constexpr const char* kCut = "block_16_project_BN";
constexpr int64_t kInputBytes = 96 * 96 * 3 * 4;  // the f32 input the chain's graph takes (f32 plans send it)

// A profiles folder with the shipped links and devices plus `camera`: an
// esp32s3 that holds no weights, so no plan can give it a layer.
std::string ProfilesWithCamera() {
  const fs::path dir = testing::MakeTempDir();
  const fs::path shipped = fs::path(EDGESPLIT_SOURCE_DIR) / "profiles";
  fs::create_directories(dir / "devices");
  fs::copy(shipped / "links", dir / "links", fs::copy_options::recursive);
  fs::copy(shipped / "devices", dir / "devices", fs::copy_options::recursive);
  json camera = json::parse(testing::ReadFile((shipped / "devices" / "esp32s3.json").string()));
  camera["name"] = "camera";
  camera["weight_capacity_bytes"] = 1;
  std::ofstream(dir / "devices" / "camera.json") << camera.dump(2);
  return dir.string();
}

TEST(InputHop, ChainSendsTheInputOverTheShapedLinkAndCountsItInTheRtt) {
  ChainOptions o;
  o.model = kModel;
  o.nodes = {{"input", kCut, "esp32s3"}, {kCut, "output", "esp32s3"}};
  o.link.link = "udp";
  o.link.shaped = true;
  o.link.time_scale = 0.1;
  o.link.loss = 0.2;  // the input hop is repaired by the ARQ like any hop
  o.node_binary = EDGESPLIT_CLI_PATH;
  o.request_timeout_s = 60;
  o.input_hop = true;
  auto chain = Chain::Start(o);
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  auto recs = (*chain)->Run(3);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  ASSERT_EQ(recs->size(), 3u);
  const LinkProfile& link = (*chain)->link().profile;
  int64_t retransmitted = 0;
  for (const InferenceRecord& r : *recs) {
    EXPECT_TRUE(r.identical) << r.request_id;
    ASSERT_TRUE(r.has_input);
    // The whole f32 input in sealed 1,460-byte datagrams: 30 bytes of envelope
    // and 18 of fragment header leave 1,412 message bytes each.
    EXPECT_EQ(r.input.bytes, static_cast<int64_t>(wire::EncodedMessageBytes(4, kInputBytes)));
    EXPECT_EQ(r.input.fragments, (r.input.bytes + 1411) / 1412);
    EXPECT_DOUBLE_EQ(r.input.predicted_transfer_s, TransferSeconds(link, kInputBytes));
    EXPECT_GT(r.input.transfer_s, 0);
    retransmitted += r.input.retransmissions;
    // The RTT starts at the sensor: it holds the input's airtime and both computes.
    // Not the measured input transfer_s: that runs to the sender's last SACK, and
    // when a final SACK is lost node 0 is already computing while the sender waits.
    // The shaper paces every data frame, so the airtime is at least ~T(b).
    double inside = 0.9 * r.input.predicted_transfer_s;
    for (const NodeRecord& n : r.nodes) inside += n.compute_s;
    EXPECT_GE(r.rtt_s, inside) << r.request_id;
  }
  EXPECT_GT(retransmitted, 0) << "79 fragments a request at 20% loss: some must have been sent again";
  // Set-up once per sender that talks to another device: the sensor and node 0.
  EXPECT_TRUE(recs->front().cold);
  EXPECT_DOUBLE_EQ(recs->front().setup_s, 2 * link.setup_s);
  EXPECT_FALSE(recs->back().cold);
  EXPECT_EQ(recs->back().setup_s, 0);
}

TEST(InputHop, PlansThatSkipTheSensorRunWithTheInputPredictionBesideTheMeasurement) {
  const std::string profiles = ProfilesWithCamera();
  const std::string dir = testing::MakeTempDir();
  // The throughput objective spreads the model over several esp32s3; the
  // camera can hold nothing, so it only sends the input.
  for (int used : {3, 5}) {
    std::string devices = "camera";
    for (int i = 0; i < used; ++i) devices += ",esp32s3";
    const std::string plan = dir + "/plan" + std::to_string(used) + ".json";
    std::string out, err;
    ASSERT_EQ(testing::RunCli(std::string("plan ") + kModel + " --devices " + devices + " --profiles " + profiles +
                                  " --link udp --dtype f32 --objective throughput --insecure --format json -o " + plan, &out, &err), 0)
        << err;
    const json pj = json::parse(testing::ReadFile(plan));
    ASSERT_TRUE(pj["feasible"].get<bool>()) << pj.dump();
    ASSERT_GE(pj["segments"].size(), 2u) << pj.dump();
    EXPECT_GE(pj["segments"][0]["device_index"].get<int>(), 1);
    ASSERT_EQ(pj["transfers"][0]["kind"], "input") << pj.dump();

    const json j = testing::RunCliJson(std::string("run ") + kModel + " --plan " + plan + " --profiles " + profiles +
                           " --time-scale 0.25 --repeat 3 --format json");
    EXPECT_TRUE(j["results_identical"].get<bool>()) << used;
    const size_t nodes = pj["segments"].size();
    double fastest_input = 1e9;  // the least disturbed by host load
    for (const json& inf : j["inferences"]) {
      ASSERT_EQ(inf["nodes"].size(), nodes);
      ASSERT_TRUE(inf.contains("input")) << inf.dump();
      EXPECT_GT(inf["input"]["bytes"].get<int64_t>(), kInputBytes);
      EXPECT_EQ(inf["hops"].size(), nodes - 1);
      fastest_input = std::min(fastest_input, inf["input"]["transfer_s"].get<double>());
    }
    ASSERT_TRUE(j["plan"].contains("input")) << j["plan"].dump();
    const json& in = j["plan"]["input"];
    EXPECT_EQ(in["predicted_bytes"].get<int64_t>(), kInputBytes);  // an f32 plan counts what is sent
    const double predicted = in["predicted_transfer_s"].get<double>(), measured = in["measured_transfer_s"].get<double>();
    EXPECT_GT(predicted, 0);
    EXPECT_TRUE(in.contains("error_pct"));
    // The shaper never lets the input cross faster than T(b); the wire's
    // framing and host scheduling (up to ~20 ms real = 0.08 s emulated at
    // this scale, on a loaded machine) make it longer.
    EXPECT_GT(measured, 0.95 * predicted) << in.dump();
    EXPECT_LT(fastest_input, 1.3 * predicted + 0.08) << in.dump();
    EXPECT_EQ(j["plan"]["segments"].size(), nodes);
    EXPECT_EQ(j["plan"]["hops"].size(), nodes - 1);
    EXPECT_LT(std::abs(j["plan"]["error_pct"].get<double>()), 40) << j["plan"].dump();
  }
}

TEST(InputHop, AnInt8PlanSendsTheInputQuantizedAtTheBytesThePlannerPredicts) {
  const std::string profiles = ProfilesWithCamera();
  const std::string plan = testing::MakeTempDir() + "/plan.json";
  std::string out, err;
  ASSERT_EQ(testing::RunCli(std::string("plan ") + kModel + " --devices camera,esp32s3,esp32s3 --profiles " + profiles +
                                " --link udp --dtype int8 --objective throughput --format json -o " + plan, &out, &err), 0)
      << err;
  const json pj = json::parse(testing::ReadFile(plan));
  ASSERT_TRUE(pj["feasible"].get<bool>()) << pj.dump();
  ASSERT_EQ(pj["transfers"][0]["kind"], "input") << pj.dump();
  const int64_t elements = kInputBytes / 4;
  ASSERT_EQ(pj["transfers"][0]["bytes"].get<int64_t>(), elements);  // the planner's int8 input

  const json j = testing::RunCliJson(std::string("run ") + kModel + " --plan " + plan + " --profiles " + profiles +
                                     " --time-scale 0.1 --repeat 2 --format json");
  EXPECT_EQ(j["dtype"], "int8");
  // The nodes' results equal the local run from the float input: node 0's
  // segment after the sensor's QuantizeLinear computes the same bytes.
  EXPECT_TRUE(j["results_identical"].get<bool>());
  const json& in = j["plan"]["input"];
  EXPECT_EQ(in["predicted_bytes"].get<int64_t>(), elements) << in.dump();
  // One int8 byte an element plus the wire's header (rank 4) and CRC.
  EXPECT_EQ(in["measured_bytes"].get<int64_t>(), static_cast<int64_t>(wire::EncodedMessageBytes(4, elements))) << in.dump();
  const LinkProfile link = std::move(LoadLinkProfile(profiles, "udp")).value();
  for (const json& inf : j["inferences"]) {
    EXPECT_EQ(inf["input"]["bytes"].get<int64_t>(), static_cast<int64_t>(wire::EncodedMessageBytes(4, elements)));
    EXPECT_DOUBLE_EQ(inf["input"]["predicted_transfer_s"].get<double>(), TransferSeconds(link, elements));
    // Each node predicts the plan's compute for its segment, though node 0 starts after the QuantizeLinear.
    ASSERT_EQ(inf["nodes"].size(), pj["segments"].size());
    for (size_t k = 0; k < pj["segments"].size(); ++k) {
      const double planned = pj["segments"][k]["compute_s"].get<double>();
      EXPECT_NEAR(inf["nodes"][k]["predicted_compute_s"].get<double>(), planned, 1e-9 * planned) << k;
    }
  }
}

}  // namespace
}  // namespace edgesplit::runtime
