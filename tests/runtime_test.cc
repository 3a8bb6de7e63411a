// The networked runtime: real node processes over loopback, emulated radios
// at a reduced time scale, loss, a node killed mid-request, plans, the CLI.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "edgesplit/runtime.h"
#include "test_util.h"

namespace edgesplit::runtime {
namespace {

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
constexpr const char* kCut = "block_16_project_BN";

ChainOptions TwoNodes(const std::string& link, bool shaped, double time_scale, double loss = -1) {
  ChainOptions o;
  o.model = kModel;
  o.nodes = {{"input", kCut, ""}, {kCut, "output", ""}};
  o.link.link = link;
  o.link.shaped = shaped;
  o.link.time_scale = time_scale;
  o.link.loss = loss;
  o.node_binary = EDGESPLIT_CLI_PATH;
  o.request_timeout_s = 30;
  return o;
}

void ExpectAllIdentical(const std::vector<InferenceRecord>& recs, int count) {
  ASSERT_EQ(static_cast<int>(recs.size()), count);
  for (const InferenceRecord& r : recs) {
    EXPECT_TRUE(r.identical) << "request " << r.request_id;
    EXPECT_GT(r.rtt_s, 0);
    ASSERT_EQ(r.nodes.size(), 2u);
    ASSERT_EQ(r.hops.size(), 1u);
    EXPECT_GT(r.hops[0].fragments, 0);
  }
}

TEST(Runtime, TwoNodeChainDeliversBitExactResultsOverUdpAndTcp) {
  for (const char* link : {"udp", "tcp"}) {
    auto chain = Chain::Start(TwoNodes(link, false, 1));
    ASSERT_TRUE(chain.ok()) << link << ": " << chain.status().message();
    EXPECT_FALSE((*chain)->emulated());
    auto recs = (*chain)->Run(3);
    ASSERT_TRUE(recs.ok()) << link << ": " << recs.status().message();
    ExpectAllIdentical(*recs, 3);
    // The cut tensor [1,112,3,3] f32 = 4,032 B plus the wire header.
    EXPECT_GT(recs->back().hops[0].bytes, 4032);
    EXPECT_EQ(recs->front().setup_s, 0) << "no set-up is emulated on an unshaped link";
  }
}

TEST(Runtime, EmulatedRadiosUseTheirFramingAndTiming) {
  // 4,032 B + header: espnow 250 B frames carry 232 B each -> 18 frames; ble 244 B -> 226 B -> 19 frames.
  struct Case {
    const char* link;
    int64_t fragments;
  };
  for (const Case c : {Case{"espnow", 18}, Case{"ble", 19}, Case{"udp", 3}}) {
    const double scale = 0.25;
    auto chain = Chain::Start(TwoNodes(c.link, true, scale));
    ASSERT_TRUE(chain.ok()) << c.link << ": " << chain.status().message();
    EXPECT_TRUE((*chain)->emulated());
    auto recs = (*chain)->Run(2);
    ASSERT_TRUE(recs.ok()) << c.link << ": " << recs.status().message();
    ExpectAllIdentical(*recs, 2);
    const HopRecord& hop = recs->back().hops[0];
    EXPECT_EQ(hop.fragments, c.fragments) << c.link;
    // Measured (emulated seconds) against the planner's T(b): the wire header and
    // per-fragment overhead make it a little longer; host scheduling (up to
    // ~20 ms of real time on a loaded machine) is divided by the scale too.
    EXPECT_GT(hop.transfer_s, 0.9 * hop.predicted_transfer_s) << c.link;
    EXPECT_LT(hop.transfer_s, 1.3 * hop.predicted_transfer_s + 0.02 / scale) << c.link;
    EXPECT_TRUE(recs->front().cold);
    EXPECT_FALSE(recs->back().cold);
  }
}

TEST(Runtime, LossIsRepairedBitExactlyOnEveryDatagramLink) {
  for (const char* link : {"udp", "espnow", "ble"}) {
    for (double loss : {0.0, 0.05, 0.2}) {
      auto chain = Chain::Start(TwoNodes(link, true, 0.02, loss));
      ASSERT_TRUE(chain.ok()) << link << " " << loss << ": " << chain.status().message();
      auto recs = (*chain)->Run(3);
      ASSERT_TRUE(recs.ok()) << link << " " << loss << ": " << recs.status().message();
      ExpectAllIdentical(*recs, 3);
      int64_t retransmissions = 0;
      for (const auto& r : *recs) retransmissions += r.hops[0].retransmissions + r.reply.retransmissions;
      if (loss == 0) {
        EXPECT_EQ(retransmissions, 0) << link;
      }
      // espnow/ble send ~20 frames per hop: at 20% loss some must be resent.
      if (loss == 0.2 && std::string(link) != "udp") {
        EXPECT_GT(retransmissions, 0) << link;
      }
    }
  }
}

TEST(Runtime, EmulatedDeviceReleasesResultsAtThePredictedTime) {
  ChainOptions o = TwoNodes("espnow", true, 0.05);
  o.nodes[0].device = "esp32s3";
  o.nodes[1].device = "esp32s3";
  auto chain = Chain::Start(o);
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  auto recs = (*chain)->Run(2);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  const InferenceRecord& r = recs->back();
  for (const NodeRecord& n : r.nodes) {
    EXPECT_EQ(n.device, "esp32s3");
    EXPECT_GT(n.predicted_compute_s, 0.01);
    if (n.overrun_s == 0) {
      EXPECT_NEAR(n.compute_s, n.predicted_compute_s, 0.05 * n.predicted_compute_s + 0.01);
    }
    EXPECT_GE(n.compute_s, n.predicted_compute_s * 0.99);
  }
  // The RTT is the sum of its parts (plus a little host time).
  const double parts = r.nodes[0].compute_s + r.nodes[1].compute_s + r.hops[0].transfer_s + r.reply_s;
  EXPECT_GE(r.rtt_s, 0.98 * parts);
  EXPECT_LT(r.rtt_s, 1.3 * parts + 0.05);
}

TEST(Runtime, ColdStartPaysTheLinksSetupOnce) {
  auto chain = Chain::Start(TwoNodes("udp", true, 0.05));  // udp set-up: 2.0 s emulated = 100 ms here
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  auto recs = (*chain)->Run(3);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  EXPECT_DOUBLE_EQ((*recs)[0].setup_s, 2.0);
  EXPECT_GT((*recs)[0].rtt_s, 2.0);
  EXPECT_EQ((*recs)[1].setup_s, 0);
  EXPECT_LT((*recs)[1].rtt_s, 2.0);
  const RunSummary s = Summarize(*recs);
  EXPECT_EQ(s.cold_rtt_s, (*recs)[0].rtt_s);
  EXPECT_LT(s.steady_median_s, s.cold_rtt_s);
  EXPECT_GT(s.throughput_per_s, 0);
}

TEST(Runtime, KilledNodeGivesAClearErrorBeforeTheDeadlineAndTheChainRecovers) {
  ChainOptions o = TwoNodes("udp", true, 0.2);
  o.nodes[1].device = "esp32s3";  // ~0.35 s emulated tail x 0.2: the kill lands mid-request
  o.nodes[0].device = "esp32s3";
  o.request_timeout_s = 20;
  auto chain = Chain::Start(o);
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  ASSERT_TRUE((*chain)->Run(1).ok());
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (void)(*chain)->KillNode(1);
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto failed = (*chain)->Run(1);
  killer.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("node 1"), std::string::npos) << failed.status().message();
  EXPECT_NE(failed.status().message().find("killed by signal 9"), std::string::npos) << failed.status().message();
  EXPECT_LT(took, o.request_timeout_s / 2);
  ASSERT_TRUE((*chain)->RestartNode(1).ok());
  auto again = (*chain)->Run(2);
  ASSERT_TRUE(again.ok()) << again.status().message();
  for (const auto& r : *again) EXPECT_TRUE(r.identical);
}

TEST(Runtime, BadChainsAreRefusedWithReasons) {
  ChainOptions o = TwoNodes("udp", false, 1);
  o.nodes = {{"input", kCut, ""}, {"block_15_add", "output", ""}};
  auto a = Chain::Start(o);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("does not start where node 0 ends"), std::string::npos) << a.status().message();
  o = TwoNodes("tcp", true, 1, 0.1);
  auto b = Chain::Start(o);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("netns"), std::string::npos) << b.status().message();
  o = TwoNodes("udp", false, 1);
  o.node_binary = "/nonexistent/edgesplit";
  auto c = Chain::Start(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("node 1"), std::string::npos) << c.status().message();
}

TEST(Runtime, PipelinedRequestsAllArriveIdentical) {
  ChainOptions o = TwoNodes("espnow", true, 0.02);
  o.inflight = 3;
  auto chain = Chain::Start(o);
  ASSERT_TRUE(chain.ok()) << chain.status().message();
  auto recs = (*chain)->Run(6);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  ExpectAllIdentical(*recs, 6);
}

}  // namespace
}  // namespace edgesplit::runtime
