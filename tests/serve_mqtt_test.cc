// The edge server's MQTT scale-out against a real mosquitto broker, started
// on a free loopback port from tests/data/mosquitto.conf and stopped after.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "../src/runtime/process.h"
#include "edgesplit/net.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/serve.h"
#include "../src/net/sockets.h"  // the module's sockets and shaper
#include "test_util.h"

namespace edgesplit {
namespace {

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
constexpr const char* kBroker = "/usr/sbin/mosquitto";

// A free TCP port on loopback (bound, read, released).
uint16_t FreePort() {
  auto l = net::TcpListener::Listen({"127.0.0.1", 0});
  return l.ok() ? (*l)->local_endpoint().port : 0;
}

class Broker {
 public:
  Status Start() {
    port_ = FreePort();
    std::string conf = testing::ReadFile(std::string(EDGESPLIT_SOURCE_DIR) + "/tests/data/mosquitto.conf");
    if (conf.find("@PORT@") == std::string::npos) return Internal("tests/data/mosquitto.conf has no @PORT@");
    for (size_t at; (at = conf.find("@PORT@")) != std::string::npos;) conf.replace(at, 6, std::to_string(port_));
    const std::string path = testing::MakeTempDir() + "/mosquitto.conf";
    testing::WriteFile(path, conf);
    ES_ASSIGN_OR_RETURN(process_, runtime::detail::NodeProcess::Spawn(kBroker, {"-c", path}));
    for (int i = 0; i < 200; ++i) {  // up when it accepts a connection
      if (net::TcpStream::Connect(endpoint(), net::DeadlineIn(0.1)).ok()) return Status::Ok();
      if (!process_->ExitReason().empty()) return IoError("mosquitto " + process_->ExitReason());
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return IoError("mosquitto did not accept connections in 5 s");
  }
  net::Endpoint endpoint() const { return {"127.0.0.1", port_}; }

 private:
  uint16_t port_ = 0;
  std::unique_ptr<runtime::detail::NodeProcess> process_;  // killed and reaped on destruction
};

bool HaveBroker() { return access(kBroker, X_OK) == 0; }

#define REQUIRE_BROKER()                                                                              \
  do {                                                                                                \
    if (!HaveBroker()) {                                                                              \
      if (testing::FixturesRequired()) FAIL() << kBroker << " is missing (scripts/install-deps.sh)"; \
      GTEST_SKIP() << kBroker << " is missing";                                                       \
    }                                                                                                 \
  } while (0)

runtime::LoadgenOptions MqttLoad(const net::Endpoint& broker, int clients, int requests) {
  runtime::LoadgenOptions o;
  o.model = kModel;
  o.mqtt = broker;
  o.link.shaped = false;
  o.clients = clients;
  o.requests = requests;
  o.precompute = true;
  o.timeout_s = 60;
  o.mqtt_retry_s = 0.5;
  return o;
}

TEST(ServeMqtt, OneReplicaServesDevicesThroughTheBroker) {
  REQUIRE_BROKER();
  Broker broker;
  ASSERT_TRUE(broker.Start().ok());
  runtime::ServeOptions s;
  s.model = kModel;
  s.mqtt = broker.endpoint();
  s.id = "replica-a";
  auto server = runtime::EdgeServer::Start(s);
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_NE((*server)->ReadyJson().find("$share/edgesplit/edgesplit/"), std::string::npos) << (*server)->ReadyJson();
  auto r = runtime::RunLoadgen(MqttLoad(broker.endpoint(), 6, 5));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->sent, 30);
  EXPECT_EQ(r->completed, 30) << (r->first_errors.empty() ? "" : r->first_errors[0]);
  EXPECT_EQ(r->lost, 0);
  EXPECT_EQ(r->corrupted, 0);
  EXPECT_EQ(r->per_server["replica-a"], 30);
}

// Three `serve --mqtt` processes behind one broker, one killed mid-run: no
// request is lost (devices retry on another replica) and every replica served.
TEST(ServeMqtt, ThreeReplicasOneKilledMidRunLosesNothing) {
  REQUIRE_BROKER();
  Broker broker;
  ASSERT_TRUE(broker.Start().ok());
  std::vector<std::unique_ptr<runtime::detail::NodeProcess>> replicas;
  for (const char* id : {"r1", "r2", "r3"}) {
    auto p = runtime::detail::NodeProcess::Spawn(
        EDGESPLIT_CLI_PATH, {"serve", kModel, "--mqtt", broker.endpoint().ToString(), "--id", id, "--threads", "1", "--insecure"});
    ASSERT_TRUE(p.ok()) << p.status().message();
    auto ready = (*p)->WaitListening(net::DeadlineIn(60));
    ASSERT_TRUE(ready.ok()) << ready.status().message();
    EXPECT_EQ(ready->rfind("mqtt://", 0), 0u) << *ready;
    replicas.push_back(std::move(p).value());
  }
  runtime::LoadgenOptions l = MqttLoad(broker.endpoint(), 6, 30);
  l.request_rate = 20;  // 1.5 s per client: the kill lands mid-run
  std::atomic<int64_t> completed{0};
  l.completed_counter = &completed;
  Result<runtime::LoadgenReport> r = InvalidArgument("not run");
  std::thread run([&] { r = runtime::RunLoadgen(l); });
  // Kill r2 once a sixth of the run is done (the broker hands requests round
  // robin, so every replica has served by then).
  const net::Deadline give_up = net::DeadlineIn(60);
  while (completed.load() < 30 && net::Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int64_t at_kill = completed.load();
  replicas[1]->Kill();
  run.join();
  EXPECT_LT(at_kill, 180) << "the kill must land mid-run";
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->sent, 180);
  EXPECT_EQ(r->completed, 180) << (r->first_errors.empty() ? "" : r->first_errors[0]);
  EXPECT_EQ(r->lost, 0);
  EXPECT_EQ(r->duplicated, 0);
  EXPECT_EQ(r->corrupted, 0);
  for (const char* id : {"r1", "r2", "r3"}) EXPECT_GT(r->per_server[id], 0) << id;
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {

secure::Identity MqttIdentity(uint8_t seed) {
  crypto::Bytes32 s{};
  s.fill(seed);
  const crypto::Ed25519KeyPair kp = crypto::Ed25519FromSeed(s);
  return secure::Identity{kp.public_key, kp.secret_key};
}

// Sealed over MQTT (docs/security.md): two replicas share one server key, so
// a device's requests open at whichever replica the broker picks, every result
// checked; an unenrolled device is refused (loadgen: the refusal status).
TEST(ServeMqtt, SealedRequestsOpenAtAnyReplicaOfTheGroup) {
  REQUIRE_BROKER();
  Broker broker;
  ASSERT_TRUE(broker.Start().ok());
  net::LinkSecurity server_security;
  server_security.identity = MqttIdentity(1);
  server_security.enrolled = std::make_shared<net::EnrolledKeys>(std::vector<crypto::Bytes32>{MqttIdentity(2).public_key});
  std::vector<std::unique_ptr<runtime::EdgeServer>> replicas;
  for (const char* id : {"sealed-a", "sealed-b"}) {
    runtime::ServeOptions s;
    s.model = kModel;
    s.mqtt = broker.endpoint();
    s.id = id;
    s.security = server_security;
    auto server = runtime::EdgeServer::Start(s);
    ASSERT_TRUE(server.ok()) << server.status().message();
    replicas.push_back(std::move(server).value());
  }
  runtime::LoadgenOptions l = MqttLoad(broker.endpoint(), 4, 10);
  l.security = net::LinkSecurity{};
  l.security->identity = MqttIdentity(2);
  l.security->server_public = server_security.identity.public_key;
  auto r = runtime::RunLoadgen(l);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->completed, 40) << (r->first_errors.empty() ? "" : r->first_errors[0]);
  EXPECT_EQ(r->corrupted, 0);
  EXPECT_GT(r->per_server["sealed-a"], 0);
  EXPECT_GT(r->per_server["sealed-b"], 0);
  l.security->identity = MqttIdentity(3);  // not enrolled
  auto refused = runtime::RunLoadgen(l);
  EXPECT_TRUE(net::IsRefusal(refused.status())) << refused.status().message();
  EXPECT_EQ(net::RefusalReason(refused.status()), "device key is not enrolled");
  int64_t dropped = 0;
  for (auto& s : replicas) dropped += s->transport_stats().security_dropped;
  EXPECT_GE(dropped, 1);
}

}  // namespace
}  // namespace edgesplit
