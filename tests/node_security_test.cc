// Issue 13's findings about the static chain's nodes, each against real node
// processes: forged tensors from another socket, unsigned or misplaced
// segment updates, a replay window locked by one ping, a partial fragment
// resent to block a node, a replayed TCP request, listening beyond loopback,
// and sealed `run`s that stay bit-identical to local inference.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "../src/net/sockets.h"  // forged datagrams and connections
#include "../src/runtime/hop.h"
#include "../src/runtime/messages.h"
#include "../src/runtime/process.h"
#include "../src/runtime/temporary_keys.h"
#include "edgesplit/runtime.h"
#include "edgesplit/runtime_delivery.h"
#include "edgesplit/serve.h"
#include "test_util.h"

namespace edgesplit::runtime {
namespace {

using nlohmann::json;

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
constexpr const char* kCut = "block_16_project_BN";

std::shared_ptr<const Graph> ExecGraph() {
  static std::shared_ptr<const Graph> g = std::make_shared<const Graph>(LoadExecutionGraph(kModel, "f32").value());
  return g;
}

// A seeded input of `t`'s shape as a tensor request `id`, and the local result of `segment` on it.
std::vector<uint8_t> Request(const Tensor& t, uint32_t id, int cut, uint32_t seed) {
  std::vector<uint8_t> payload(static_cast<size_t>(t.num_elements()) * sizeof(float));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t e = 0; e < payload.size() / 4; ++e) {
    const float v = u(rng);
    std::memcpy(payload.data() + 4 * e, &v, 4);
  }
  std::vector<uint8_t> m;
  auto n = EncodeTensorMessage(wire::MessageType::kTensorRequest, id, cut, t, payload, &m);
  EXPECT_TRUE(n.ok()) << n.status().message();
  m.resize(*n);
  return m;
}

// A two-node chain started by hand: node 0 (input:kCut) -> node 1 (kCut:output)
// -> this client's receiver, sealed with keys made here (or --insecure).
class HandChain {
 public:
  HandChain(const std::string& link, bool sealed) {
    keys_ = std::move(TemporaryKeys::Make("test", {"client", "node0", "node1", "stranger"})).value();
    LinkSettings s;
    s.link = link;
    s.shaped = false;
    link_ = ResolveLink(s).value();
    if (sealed) client_ = Security("client", {"node1"}, "node0");
    results_ = std::move(HopReceiver::Create(link_.channel, {"127.0.0.1", 0}, client_, 30)).value();
    std::string next = results_->local_endpoint().ToString();
    for (int k = 1; k >= 0; --k) {
      std::vector<std::string> args = {"node", "--model", kModel, "--segment", k == 0 ? std::string("input:") + kCut : std::string(kCut) + ":output",
                                       "--link", link, "--shape", "off", "--next", next};
      if (sealed) {
        const std::string me = "node" + std::to_string(k);
        args.insert(args.end(), {"--key", keys_->Key(me), "--allow", keys_->Allow(me + ".allow", {k == 0 ? "client" : "node0"}).value(),
                                 "--server-key", keys_->Key(k == 0 ? "node1" : "client") + ".pub"});
      } else {
        args.push_back("--insecure");
      }
      nodes_[k] = std::move(detail::NodeProcess::Spawn(EDGESPLIT_CLI_PATH, args)).value();
      auto at = nodes_[k]->WaitListening(net::DeadlineIn(60));
      EXPECT_TRUE(at.ok()) << at.status().message();
      next = *at;
      address_[k] = net::ParseEndpoint(*at).value();
    }
    input_ = std::move(HopSender::Create(link_.channel, address_[0], client_)).value();
    for (const auto& [first, last] : {std::pair<std::string, std::string>{"input", kCut}, {kCut, "output"}})
      local_.push_back(std::move(SegmentRunner::FromGraph(ExecGraph(), {kModel, first, last, "f32"})).value());
  }

  // The security of `name`: its identity, `senders` enrolled, `server`'s public key.
  net::LinkSecurity Security(const std::string& name, const std::vector<std::string>& senders, const std::string& server) {
    net::LinkSecurity s;
    s.identity = ReadIdentity(keys_->Key(name)).value();
    s.enrolled = std::make_shared<net::EnrolledKeys>(EnrolledKeysOf(ReadAllowFile(keys_->Allow(name + ".sec", senders).value()).value()));
    s.server_public = ReadServerKey(keys_->Key(server) + ".pub").value();
    return s;
  }

  // One legitimate inference: true when its result equals the local run.
  bool Infer(uint32_t id) {
    const std::vector<uint8_t> m = Request(local_[0]->input_tensor(), id, 0, id);
    const Status sent = input_->Send(m, id, net::DeadlineIn(30), nullptr);
    EXPECT_TRUE(sent.ok()) << sent.message();
    auto decoded = wire::DecodeMessage(m).value();
    EXPECT_TRUE(local_[0]->Run(decoded.payload, decoded.header.dtype).ok());
    EXPECT_TRUE(local_[1]->Run(local_[0]->output(), local_[0]->output_tensor().dtype).ok());
    std::optional<HopMessage> got = NextResult(30);
    if (!got) return false;
    auto r = wire::DecodeMessage(got->bytes);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->header.request_id, id);
    const auto out = local_[1]->output();
    return r->header.type == wire::MessageType::kTensorResult && std::equal(r->payload.begin(), r->payload.end(), out.begin(), out.end());
  }
  std::optional<HopMessage> NextResult(double seconds) {
    for (const net::Deadline until = net::DeadlineIn(seconds);;) {
      std::optional<HopMessage> got = results_->Pop(until);
      if (!got || got->rejected.empty()) return got;
    }
  }

  const net::ChannelOptions& channel() const { return link_.channel; }
  const net::Endpoint& address(int k) const { return address_[k]; }
  detail::NodeProcess& node(int k) { return *nodes_[k]; }
  const Tensor& input(int k) const { return local_[static_cast<size_t>(k)]->input_tensor(); }
  TemporaryKeys& keys() { return *keys_; }

 private:
  std::unique_ptr<TemporaryKeys> keys_;
  ResolvedLink link_;
  std::optional<net::LinkSecurity> client_;
  std::unique_ptr<HopReceiver> results_;
  std::unique_ptr<HopSender> input_;
  std::unique_ptr<detail::NodeProcess> nodes_[2];
  net::Endpoint address_[2];
  std::vector<std::unique_ptr<SegmentRunner>> local_;
};

// Forged input to node 0 and a forged cut tensor to node 1, from other local
// sockets, plain and sealed with an unenrolled key: none is computed, no
// forged result reaches the client, the legitimate requests stay exact.
TEST(NodeSecurity, ForgedTensorsFromAnotherSocketAreRefused) {
  for (const char* link : {"udp", "tcp"}) {
    SCOPED_TRACE(link);
    HandChain chain(link, true);
    ASSERT_TRUE(chain.Infer(1));
    for (int k : {0, 1}) {
      const uint32_t id = 100 + static_cast<uint32_t>(k);
      const std::vector<uint8_t> forged = Request(chain.input(k), id, k == 0 ? 0 : 1, 7);
      auto plain = net::RequestClient::Create(chain.channel(), chain.address(k));
      ASSERT_TRUE(plain.ok());
      EXPECT_FALSE((*plain)->Call(forged, id, net::DeadlineIn(1.0), nullptr).ok()) << "node " << k << " answered a plain sender";
      net::LinkSecurity stranger = chain.Security("stranger", {}, "node" + std::to_string(k));
      auto sealed = net::CreateSecureClient(chain.channel(), chain.address(k), stranger);
      ASSERT_TRUE(sealed.ok());
      auto refused = (*sealed)->Call(forged, id, net::DeadlineIn(12), nullptr);
      ASSERT_FALSE(refused.ok()) << "node " << k << " took an unenrolled key";
      EXPECT_TRUE(net::IsRefusal(refused.status())) << refused.status().message();
      EXPECT_FALSE(chain.node(k).WaitEvent(id, net::DeadlineIn(0.3)).has_value()) << "node " << k << " computed a forged tensor";
    }
    EXPECT_FALSE(chain.NextResult(0.5).has_value()) << "a forged result reached the client";
    EXPECT_TRUE(chain.Infer(2));
  }
}

// One ping with request id 0xFFFFFFF0 from another socket, and a partial
// fragment resent to the node, leave the legitimate sender served: every
// sender has its own reassembler and replay window (plain frames here, where
// nothing else would stop them).
TEST(NodeSecurity, AFarAheadPingAndAResentPartialFragmentDoNotBlockTheNode) {
  for (const char* link : {"udp", "espnow", "ble"}) {
    SCOPED_TRACE(link);
    HandChain chain(link, false);
    ASSERT_TRUE(chain.Infer(1));
    wire::MessageHeader h;
    h.type = wire::MessageType::kPing;
    h.request_id = 0xFFFFFFF0u;
    h.dtype = DType::kUInt8;
    std::vector<uint8_t> ping(wire::EncodedMessageBytes(h, 8));
    ASSERT_TRUE(wire::EncodeMessage(h, std::vector<uint8_t>(8, 0x55), ping).ok());
    auto attacker = net::RequestClient::Create(chain.channel(), chain.address(0));
    ASSERT_TRUE(attacker.ok());
    auto pong = (*attacker)->Call(ping, h.request_id, net::DeadlineIn(5), nullptr);
    ASSERT_TRUE(pong.ok()) << pong.status().message();  // answered by node 0 itself
    EXPECT_EQ(wire::DecodeMessage(*pong)->header.type, wire::MessageType::kPong);
    EXPECT_FALSE(chain.NextResult(0.5).has_value()) << "the ping went on down the chain";
    // The first of two fragments of a message, from yet another socket, again and again.
    auto socket = net::DatagramSocket::Bind({"127.0.0.1", 0});
    ASSERT_TRUE(socket.ok());
    const std::vector<uint8_t> big = Request(chain.input(0), 5, 0, 5);
    wire::FragmentHeader f;
    f.request_id = 5;
    f.index = 0;
    f.count = static_cast<uint16_t>(wire::FragmentCount(big.size(), static_cast<size_t>(chain.channel().datagram_bytes)));
    f.total_length = static_cast<uint32_t>(big.size());
    std::vector<uint8_t> frame(static_cast<size_t>(chain.channel().datagram_bytes));
    const size_t chunk = wire::FragmentPayloadBytes(frame.size());
    auto n = wire::EncodeFragment(f, std::span<const uint8_t>(big.data(), chunk), frame);
    ASSERT_TRUE(n.ok()) << n.status().message();
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE((*socket)->SendTo(chain.address(0), std::span<const uint8_t>(frame.data(), *n)).ok());
      EXPECT_TRUE(chain.Infer(2 + static_cast<uint32_t>(round))) << "round " << round;
    }
  }
}

// Over TCP the same request sent twice on one connection is computed once.
TEST(NodeSecurity, ATcpRequestReplayedOnItsConnectionIsProcessedOnce) {
  HandChain chain("tcp", false);
  ASSERT_TRUE(chain.Infer(1));
  const std::vector<uint8_t> m = Request(chain.input(0), 9, 0, 9);
  auto stream = net::TcpStream::Connect(chain.address(0), net::DeadlineIn(5));
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE((*stream)->WriteAll(m, net::DeadlineIn(5)).ok());
  ASSERT_TRUE((*stream)->WriteAll(m, net::DeadlineIn(5)).ok());
  std::optional<HopMessage> first = chain.NextResult(30);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(wire::DecodeMessage(first->bytes)->header.request_id, 9u);
  EXPECT_FALSE(chain.NextResult(1.5).has_value()) << "the replayed request was computed again";
  EXPECT_TRUE(chain.Infer(10));
}

// Segment updates: a node without --verify-key takes none (not even a signed
// one), and a signed segment must start at the node's input cut.
TEST(NodeSecurity, UnsignedAndMisplacedSegmentUpdatesAreRefused) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_TRUE(WriteKeyFiles(dir + "/ota", false).ok());
  const delivery::SecretKey key = ReadSecretKeyFile(dir + "/ota").value();
  auto chunks = [&](const std::string& first, const std::string& last, const delivery::SecretKey* k) {
    SegmentPackage p = PackageSegment(*ExecGraph(), kModel, "f32", first, last, 0, 1).value();
    return delivery::BuildChunks(p.manifest, p.file, k).value();
  };
  LinkSettings s;
  s.link = "udp";
  s.shaped = false;
  const ResolvedLink link = ResolveLink(s).value();
  auto tail = [&](bool verify) {
    std::vector<std::string> args = {"node", "--model", kModel, "--segment", std::string(kCut) + ":output", "--link", "udp",
                                     "--shape", "off", "--insecure"};
    if (verify) args.insert(args.end(), {"--verify-key", dir + "/ota.pub"});
    return std::move(detail::NodeProcess::Spawn(EDGESPLIT_CLI_PATH, args)).value();
  };
  uint32_t id = 1;
  {
    auto node = tail(false);
    auto at = net::ParseEndpoint(node->WaitListening(net::DeadlineIn(60)).value()).value();
    auto client = net::RequestClient::Create(link.channel, at).value();
    for (const delivery::SecretKey* k : {static_cast<const delivery::SecretKey*>(nullptr), &key}) {
      auto r = DeliverSegment(chunks(kCut, "output", k), *client, &id, net::DeadlineIn(30), 1);
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_FALSE(r->accepted);
      EXPECT_EQ(r->reason, "unsigned") << r->detail;
      EXPECT_NE(r->detail.find("no --verify-key"), std::string::npos) << r->detail;
    }
  }
  auto node = tail(true);
  auto at = net::ParseEndpoint(node->WaitListening(net::DeadlineIn(60)).value()).value();
  auto client = net::RequestClient::Create(link.channel, at).value();
  auto head = DeliverSegment(chunks("input", kCut, &key), *client, &id, net::DeadlineIn(30), 1);
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_FALSE(head->accepted) << "a head segment was taken by the tail node";
  EXPECT_EQ(head->reason, "mismatch") << head->detail;
  EXPECT_NE(head->detail.find("this node's input is cut"), std::string::npos) << head->detail;
  auto fits = DeliverSegment(chunks(kCut, "output", &key), *client, &id, net::DeadlineIn(30), 1);
  ASSERT_TRUE(fits.ok()) << fits.status().message();
  EXPECT_TRUE(fits->accepted) << fits->reason << ": " << fits->detail;
}

// Secure by default, loopback by default, and beyond loopback only when
// named, logged on stderr.
TEST(NodeSecurity, NodesAreSecureAndOnLoopbackByDefault) {
  const std::string segment = std::string(" --model ") + kModel + " --segment input:" + kCut + " --link udp";
  std::string out, err;
  EXPECT_NE(testing::RunCli("node" + segment, &out, &err), 0);
  EXPECT_NE(err.find("secure by default"), std::string::npos) << err;
  EXPECT_NE(testing::RunCli("node --insecure --key k" + segment, &out, &err), 0);
  EXPECT_NE(err.find("exclude each other"), std::string::npos) << err;
  const std::string dir = testing::MakeTempDir();
  for (const std::string listen : {"", " --listen 0.0.0.0:0"}) {
    const std::string cmd = "timeout -s TERM 20 " + std::string(EDGESPLIT_CLI_PATH) + " node --insecure --max-requests 1" + segment +
                            listen + " >" + dir + "/out 2>" + dir + "/err & for i in $(seq 150); do grep -q listening " + dir +
                            "/out && break; sleep 0.1; done; kill %1 2>/dev/null; wait";
    (void)std::system(("bash -c '" + cmd + "'").c_str());
    const std::string o = testing::ReadFile(dir + "/out"), e = testing::ReadFile(dir + "/err");
    if (listen.empty()) {
      EXPECT_NE(o.find("\"address\":\"127.0.0.1:"), std::string::npos) << o;
      EXPECT_EQ(e.find("beyond loopback"), std::string::npos) << e;
    } else {
      EXPECT_NE(o.find("\"address\":\"0.0.0.0:"), std::string::npos) << o;
      EXPECT_NE(e.find("listening beyond loopback on 0.0.0.0:"), std::string::npos) << e;
    }
  }
}

// `run` seals every hop with temporary keys, with no flag; results stay
// bit-identical to local inference on every transport; --insecure is plain.
TEST(NodeSecurity, SealedRunsAreBitIdenticalOnEveryTransport) {
  for (const char* link : {"udp", "tcp", "espnow", "ble"}) {
    const json j = testing::RunCliJson(std::string("run ") + kModel + " --split " + kCut + " --link " + link +
                                       " --repeat 2 --time-scale 0.01 --format json");
    EXPECT_TRUE(j["results_identical"].get<bool>()) << link;
    EXPECT_TRUE(j["sealed"].get<bool>()) << link;
  }
  // Plain frames, and deliveries still signed (with a temporary key: none was given).
  const json plain = testing::RunCliJson(std::string("run ") + kModel + " --split " + kCut +
                                         " --link udp --repeat 2 --insecure --deliver --format json");
  EXPECT_TRUE(plain["results_identical"].get<bool>());
  EXPECT_FALSE(plain["sealed"].get<bool>());
  ASSERT_EQ(plain["deliveries"].size(), 2u);
  for (const json& d : plain["deliveries"]) EXPECT_TRUE(d["accepted"].get<bool>()) << d.dump();
}

}  // namespace
}  // namespace edgesplit::runtime
