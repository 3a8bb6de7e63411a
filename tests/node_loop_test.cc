// The static chain's node on the edge server's request loop (issue 12 item
// 8): what the loop gives a node, each against a real node process that
// forwards to this test as its client. A bounded queue whose refusals reach
// the client, wire deadlines honoured (at admission and after queueing), and
// a graceful SIGTERM that finishes the queued requests and exits.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "../src/runtime/hop.h"
#include "../src/runtime/messages.h"
#include "../src/runtime/process.h"
#include "edgesplit/cost.h"
#include "edgesplit/runtime.h"
#include "test_util.h"

namespace edgesplit::runtime {
namespace {

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
constexpr const char* kCut = "block_16_project_BN";

// One node (kCut:output, an emulated esp32s3 held to `hold_s` wall seconds a
// request) whose --next is this test's receiver: the test is both its
// sender and its client.
class SlowNode {
 public:
  SlowNode(double hold_s, const std::vector<std::string>& extra) {
    auto graph = LoadExecutionGraph(kModel, "f32");
    EXPECT_TRUE(graph.ok()) << graph.status().message();
    local_ = std::move(SegmentRunner::FromGraph(std::make_shared<const Graph>(std::move(*graph)), {kModel, kCut, "output", "f32"})).value();
    auto device = LoadDeviceProfile(ProfilesDir(), "esp32s3");
    EXPECT_TRUE(device.ok()) << device.status().message();
    const double scale = hold_s / local_->PredictedSeconds(*device);
    LinkSettings s;
    s.shaped = false;
    link_ = ResolveLink(s).value();
    results_ = std::move(HopReceiver::Create(link_.channel, {"127.0.0.1", 0}, std::nullopt, 30)).value();
    std::vector<std::string> args = {"node", "--model", kModel, "--segment", std::string(kCut) + ":output", "--link", "udp",
                                     "--shape", "off", "--insecure", "--emulate", "esp32s3", "--time-scale", std::to_string(scale),
                                     "--next", results_->local_endpoint().ToString()};
    args.insert(args.end(), extra.begin(), extra.end());
    node_ = std::move(detail::NodeProcess::Spawn(EDGESPLIT_CLI_PATH, args)).value();
    auto at = node_->WaitListening(net::DeadlineIn(60));
    EXPECT_TRUE(at.ok()) << at.status().message();
    if (!at.ok()) return;
    input_ = std::move(HopSender::Create(link_.channel, net::ParseEndpoint(*at).value(), std::nullopt)).value();
  }
  bool up() const { return input_ != nullptr; }

  // Request `id` (seeded input) with `budget_us` of deadline (0: none), and
  // its expected result; true when the node took it.
  bool Send(uint32_t id, uint32_t budget_us = 0) {
    const Tensor& t = local_->input_tensor();
    std::vector<uint8_t> payload(static_cast<size_t>(t.num_elements()) * sizeof(float));
    std::mt19937 rng(id);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (size_t e = 0; e < payload.size() / 4; ++e) {
      const float v = u(rng);
      std::memcpy(payload.data() + 4 * e, &v, 4);
    }
    wire::MessageHeader h = TensorHeader(wire::MessageType::kTensorRequest, t).value();
    h.request_id = id;
    h.deadline_budget_us = budget_us;
    std::vector<uint8_t> m(wire::EncodedMessageBytes(h, payload.size()));
    EXPECT_TRUE(wire::EncodeMessage(h, payload, m).ok());
    EXPECT_TRUE(local_->Run(payload, t.dtype).ok());
    const auto out = local_->output();
    expected_[id].assign(out.begin(), out.end());
    const Status s = input_->Send(m, id, net::DeadlineIn(10), nullptr);
    EXPECT_TRUE(s.ok()) << "request " << id << ": " << s.message();
    return s.ok();
  }

  // What reached the client: request id -> the result ("") or the error's text.
  struct Outcome {
    bool result = false, identical = false;
    std::string error;
    uint16_t error_code = 0;
  };
  std::map<uint32_t, Outcome> Collect(size_t count, double seconds) {
    std::map<uint32_t, Outcome> got;
    for (const net::Deadline until = net::DeadlineIn(seconds); got.size() < count;) {
      std::optional<HopMessage> m = results_->Pop(until);
      if (!m) break;
      if (!m->rejected.empty()) continue;
      auto d = wire::DecodeMessage(m->bytes);
      EXPECT_TRUE(d.ok());
      Outcome& o = got[d->header.request_id];
      if (d->header.type == wire::MessageType::kError) {
        o.error.assign(d->payload.begin(), d->payload.end());
        o.error_code = static_cast<uint16_t>(d->header.error_code);
      } else {
        o.result = true;
        const std::vector<uint8_t>& want = expected_[d->header.request_id];
        o.identical = std::equal(d->payload.begin(), d->payload.end(), want.begin(), want.end());
      }
    }
    return got;
  }

  detail::NodeProcess& process() { return *node_; }

 private:
  std::unique_ptr<SegmentRunner> local_;
  ResolvedLink link_;
  std::unique_ptr<HopReceiver> results_;
  std::unique_ptr<HopSender> input_;
  std::unique_ptr<detail::NodeProcess> node_;
  std::map<uint32_t, std::vector<uint8_t>> expected_;
};

bool IsBusy(const SlowNode::Outcome& o) { return !o.result && o.error_code == static_cast<uint16_t>(StatusCode::kBusy); }

// A burst beyond --queue-limit: the node takes every request (each is
// acknowledged), computes what fits, and the rest end at the client as BUSY
// errors naming the full queue. Nothing is lost.
TEST(NodeLoop, ABurstBeyondTheQueueLimitGetsBusyErrorsAtTheClient) {
  SlowNode node(0.5, {"--queue-limit", "1"});
  ASSERT_TRUE(node.up());
  for (uint32_t id = 1; id <= 5; ++id) ASSERT_TRUE(node.Send(id));
  const auto got = node.Collect(5, 30);
  ASSERT_EQ(got.size(), 5u) << "a request of the burst vanished";
  int results = 0, busy = 0;
  for (const auto& [id, o] : got) {
    if (o.result) {
      EXPECT_TRUE(o.identical) << "request " << id;
      ++results;
    } else {
      EXPECT_TRUE(IsBusy(o)) << "request " << id << ": " << o.error;
      EXPECT_NE(o.error.find("queue full"), std::string::npos) << o.error;
      ++busy;
    }
  }
  EXPECT_TRUE(got.at(1).result) << "the first request found the queue empty";
  EXPECT_LE(results, 2) << "one computing and one queued at most";
  EXPECT_GE(busy, 3);
  // The node reports each refusal as an error event, as it does a failure.
  for (const auto& [id, o] : got)
    if (!o.result) {
      auto ev = node.process().WaitEvent(id, net::DeadlineIn(5));
      ASSERT_TRUE(ev.has_value()) << "request " << id;
      EXPECT_EQ((*ev)["event"], "error") << ev->dump();
    }
}

// A request that carries a deadline budget is refused BUSY when the work
// ahead of it cannot finish in time (at admission, from the measured compute
// time) or when its deadline passed while it queued; the refusal reaches the
// client instead of a late result. A generous budget is served.
TEST(NodeLoop, RequestsThatCannotStartBeforeTheirDeadlineEndAsBusyAtTheClient) {
  SlowNode node(0.5, {});
  ASSERT_TRUE(node.up());
  ASSERT_TRUE(node.Send(1));
  ASSERT_TRUE(node.Send(2, 50000));  // queued behind 0.5 s of work: expires while it waits
  auto first = node.Collect(2, 30);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[1].identical);
  EXPECT_TRUE(IsBusy(first[2])) << first[2].error;
  EXPECT_NE(first[2].error.find("could not start before its deadline"), std::string::npos) << first[2].error;
  // Now the node knows a request takes about 0.5 s: one behind a running request is refused at once.
  ASSERT_TRUE(node.Send(3));
  ASSERT_TRUE(node.Send(4, 50000));
  ASSERT_TRUE(node.Send(5, 30000000));
  auto second = node.Collect(3, 30);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_TRUE(second[3].identical);
  EXPECT_TRUE(IsBusy(second[4])) << second[4].error;
  EXPECT_NE(second[4].error.find("cannot start within the deadline"), std::string::npos) << second[4].error;
  EXPECT_TRUE(second[5].identical) << "a request with time to spare was refused: " << second[5].error;
}

// SIGTERM while a request computes and another waits: both finish and reach
// the client, one sent after the signal is refused (BUSY, at the client),
// and the node exits cleanly well within 10 s.
TEST(NodeLoop, SigtermFinishesTheQueuedRequestsRefusesNewOnesAndExits) {
  SlowNode node(1.0, {});
  ASSERT_TRUE(node.up());
  ASSERT_TRUE(node.Send(1));
  ASSERT_TRUE(node.Send(2));
  const auto signalled = net::Clock::now();
  ASSERT_EQ(kill(node.process().pid(), SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the node notices within 20 ms
  ASSERT_TRUE(node.Send(3));
  const auto got = node.Collect(3, 15);
  ASSERT_EQ(got.size(), 3u) << "a request vanished in the shutdown";
  EXPECT_TRUE(got.at(1).identical);
  EXPECT_TRUE(got.at(2).identical) << "the queued request was dropped: " << got.at(2).error;
  EXPECT_TRUE(IsBusy(got.at(3))) << got.at(3).error;
  EXPECT_NE(got.at(3).error.find("shutting down"), std::string::npos) << got.at(3).error;
  std::string exit;
  while ((exit = node.process().ExitReason()).empty() && net::SecondsSince(signalled) < 10)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(exit, "exited with status 0");
  EXPECT_LT(net::SecondsSince(signalled), 10.0);
}

// The listening event states the queue limit and the memory bound it gives.
TEST(NodeLoop, TheListeningEventStatesTheQueueLimitAndMemoryBound) {
  const std::string cmd = std::string("timeout -s TERM 20 ") + EDGESPLIT_CLI_PATH + " node --insecure --model " + kModel +
                          " --segment " + kCut + ":output --link udp --queue-limit 7 --max-requests 1";
  const std::string dir = testing::MakeTempDir();
  (void)std::system(("bash -c '" + cmd + " >" + dir + "/out 2>&1 & for i in $(seq 150); do grep -q listening " + dir +
                     "/out && break; sleep 0.1; done; kill %1; wait'").c_str());
  const std::string out = testing::ReadFile(dir + "/out");
  const auto line = nlohmann::json::parse(out.substr(0, out.find('\n')), nullptr, false);
  ASSERT_TRUE(line.is_object()) << out;
  EXPECT_EQ(line.value("queue_limit", 0), 7) << out;
  // Seven queued messages of at least the segment's input, plus the transport's state.
  EXPECT_GT(line.value("memory_bound_bytes", int64_t{0}), 7 * (1 << 20)) << out;
  std::string stdout_text, err;
  EXPECT_NE(testing::RunCli(std::string("node --insecure --model ") + kModel + " --segment " + kCut +
                                ":output --link udp --queue-limit 0",
                            &stdout_text, &err),
            0);
  EXPECT_NE(err.find("--queue-limit must be at least 1"), std::string::npos) << err;
}

}  // namespace
}  // namespace edgesplit::runtime
