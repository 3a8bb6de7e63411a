// Secure links on the edge server's transports (issue 13; secure_transport.h):
// the handshake over UDP/ESP-NOW/TCP, sealed datagrams and frames, enrolment,
// revocation, refusal, re-keying, a restarted server, the handshake rate
// limit, and attacks beside a legitimate client whose results stay exact.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "../src/net/secure_session.h"
#include "../src/runtime/process.h"
#include "edgesplit/net_server.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "../src/net/sockets.h"  // the module's sockets and shaper
#include "test_util.h"

namespace edgesplit {
namespace {

using Bytes = std::vector<uint8_t>;

secure::Identity IdentityFromSeed(uint8_t seed) {
  crypto::Bytes32 s{};
  s.fill(seed);
  const crypto::Ed25519KeyPair kp = crypto::Ed25519FromSeed(s);
  return secure::Identity{kp.public_key, kp.secret_key};
}
const secure::Identity& ServerId() { static const secure::Identity id = IdentityFromSeed(1); return id; }
const secure::Identity& DeviceId() { static const secure::Identity id = IdentityFromSeed(2); return id; }
const secure::Identity& StrangerId() { static const secure::Identity id = IdentityFromSeed(3); return id; }

net::LinkSecurity ServerSecurity() {
  net::LinkSecurity s;
  s.identity = ServerId();
  s.enrolled = std::make_shared<net::EnrolledKeys>(std::vector<crypto::Bytes32>{DeviceId().public_key});
  return s;
}
net::LinkSecurity DeviceSecurity(const secure::Identity& who = DeviceId(), const crypto::Bytes32& server = ServerId().public_key) {
  net::LinkSecurity s;
  s.identity = who;
  s.server_public = server;
  return s;
}

net::ChannelOptions Channel(net::TransportKind kind, int64_t datagram_bytes = 1460) {
  return net::ChannelOptions{.kind = kind, .datagram_bytes = datagram_bytes, .max_message_bytes = 1u << 20};
}

Bytes Ping(uint32_t id, size_t bytes, uint8_t seed) {
  wire::MessageHeader h;
  h.type = wire::MessageType::kPing;
  h.request_id = id;
  h.dtype = DType::kUInt8;
  Bytes payload(bytes);
  for (size_t i = 0; i < bytes; ++i) payload[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  Bytes out(wire::EncodedMessageBytes(h, bytes));
  EXPECT_TRUE(wire::EncodeMessage(h, payload, out).ok());
  return out;
}

// A sealed echo server: counts the messages that reach it (only authenticated ones may).
struct SecureEcho {
  std::unique_ptr<net::ServerTransport> transport;
  std::atomic<int> delivered{0};
  net::LinkSecurity security;
  SecureEcho(const net::ChannelOptions& channel, net::LinkSecurity s = ServerSecurity(), net::Endpoint at = {"127.0.0.1", 0})
      : security(std::move(s)) {
    auto t = net::CreateSecureServer(channel, at, {}, security, [this](net::PeerId peer, Bytes m) {
      ++delivered;
      Bytes out = testing::PongFor(m);
      if (!out.empty()) transport->Reply(peer, std::move(out), wire::DecodeMessage(out)->header.request_id);
    });
    EXPECT_TRUE(t.ok()) << t.status().message();
    if (t.ok()) transport = std::move(t).value();
  }
};

// A round trip whose reply must echo the request's payload exactly.
void ExpectEcho(net::RequestClient& client, uint32_t id, size_t bytes) {
  const Bytes m = Ping(id, bytes, static_cast<uint8_t>(id));
  auto reply = client.Call(m, id, net::DeadlineIn(20), nullptr);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  auto a = wire::DecodeMessage(m);
  auto b = wire::DecodeMessage(*reply);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->header.request_id, id);
  EXPECT_EQ(Bytes(a->payload.begin(), a->payload.end()), Bytes(b->payload.begin(), b->payload.end()));
}

void RoundTrips(net::TransportKind kind, int64_t datagram_bytes) {
  SecureEcho server(Channel(kind, datagram_bytes));
  ASSERT_TRUE(server.transport);
  auto client = net::CreateSecureClient(Channel(kind, datagram_bytes), server.transport->local_endpoint(), DeviceSecurity());
  ASSERT_TRUE(client.ok()) << client.status().message();
  ASSERT_TRUE((*client)->Connect(net::DeadlineIn(10)).ok());
  for (uint32_t id = 1; id <= 4; ++id) ExpectEcho(**client, id, 3000 + 500 * id);  // many fragments each
  EXPECT_EQ(server.delivered.load(), 4);
  EXPECT_EQ(server.transport->stats().handshakes, 1);
  EXPECT_EQ(server.transport->stats().security_dropped, 0) << server.transport->stats().last_rejection;
}

TEST(SecureTransport, UdpRoundTripsAreSealedAndExact) { RoundTrips(net::TransportKind::kUdp, 1460); }
TEST(SecureTransport, EspNowSizedRoundTripsFitTheFrame) { RoundTrips(net::TransportKind::kEspNow, 250); }
TEST(SecureTransport, TcpRoundTripsAreSealedAndExact) { RoundTrips(net::TransportKind::kTcp, 1460); }

// An unenrolled device and a device holding the wrong server key are refused
// ("refused: ..."), quickly; nothing of theirs reaches the server.
void Refusals(net::TransportKind kind) {
  SecureEcho server(Channel(kind));
  ASSERT_TRUE(server.transport);
  const net::Endpoint at = server.transport->local_endpoint();
  for (const net::LinkSecurity& who : {DeviceSecurity(StrangerId()), DeviceSecurity(DeviceId(), StrangerId().public_key)}) {
    auto client = net::CreateSecureClient(Channel(kind), at, who);
    ASSERT_TRUE(client.ok());
    const auto t0 = net::Clock::now();
    const Status s = (*client)->Connect(net::DeadlineIn(10));
    EXPECT_TRUE(net::IsRefusal(s)) << s.message();
    EXPECT_LT(net::SecondsSince(t0), 10);
    auto reply = (*client)->Call(Ping(1, 10, 1), 1, net::DeadlineIn(10), nullptr);
    EXPECT_TRUE(net::IsRefusal(reply.status())) << reply.status().message();
  }
  EXPECT_EQ(server.delivered.load(), 0);
  EXPECT_GE(server.transport->stats().refused, 2);
  auto client = net::CreateSecureClient(Channel(kind), at, DeviceSecurity(StrangerId()));
  EXPECT_EQ(net::RefusalReason((*client)->Connect(net::DeadlineIn(10))), "device key is not enrolled");
}
TEST(SecureTransport, UdpRefusesUnenrolledDevicesAndWrongServerKeys) { Refusals(net::TransportKind::kUdp); }
TEST(SecureTransport, TcpRefusesUnenrolledDevicesAndWrongServerKeys) { Refusals(net::TransportKind::kTcp); }

// ---- Attacks on the datagram path, frame by frame -----------------------------
// A hand-driven device: the session layer over a raw socket, so the test can
// keep, change and resend sealed datagrams.
struct RawDevice {
  std::unique_ptr<net::DatagramSocket> socket;
  net::detail::ClientSession session;
  net::Endpoint server;
  explicit RawDevice(const net::Endpoint& to, const net::LinkSecurity& s = DeviceSecurity()) : session(s), server(to) {
    socket = std::move(net::DatagramSocket::Bind({"127.0.0.1", 0})).value();
  }
  // Receives one datagram (or none by the deadline).
  std::optional<Bytes> Receive(double seconds) {
    Bytes b(70000);
    net::Endpoint from;
    auto got = socket->ReceiveFrom(b, &from, net::DeadlineIn(seconds));
    if (!got.ok() || !got->has_value()) return std::nullopt;
    b.resize(**got);
    return b;
  }
  Status Handshake() {
    Bytes out = session.Start();
    ES_RETURN_IF_ERROR(socket->SendTo(server, out));
    for (int i = 0; i < 50 && !session.established(); ++i) {
      auto d = Receive(0.3);
      if (!d) continue;
      ES_ASSIGN_OR_RETURN(auto e, session.OnEnvelope(*d, &out));
      if (e == net::detail::ClientSession::Event::kSend) ES_RETURN_IF_ERROR(socket->SendTo(server, out));
    }
    return session.established() ? Status::Ok() : DeadlineExceeded("no handshake");
  }
  // One whole small message as a single sealed fragment (not sent).
  Bytes SealedMessage(uint32_t id) {
    const Bytes m = Ping(id, 20, static_cast<uint8_t>(id));
    wire::FragmentHeader h;
    h.request_id = id;
    h.count = 1;
    h.total_length = static_cast<uint32_t>(m.size());
    h.flags = wire::kFragmentFlagPoll;
    Bytes frag(200);
    frag.resize(wire::EncodeFragment(h, m, frag).value());
    Bytes sealed;
    EXPECT_TRUE(session.Seal(frag, &sealed).ok());
    return sealed;
  }
};

TEST(SecureTransport, ForgedTamperedTruncatedReplayedOldAndWrongKeyDatagramsAreAllDropped) {
  SecureEcho server(Channel(net::TransportKind::kUdp));
  ASSERT_TRUE(server.transport);
  RawDevice dev(server.transport->local_endpoint());
  ASSERT_TRUE(dev.Handshake().ok());
  auto stats = [&] { return server.transport->stats(); };
  auto wait_delivered = [&](int n) {
    for (int i = 0; i < 200 && server.delivered.load() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return server.delivered.load();
  };
  auto wait_dropped = [&](int64_t n) {
    for (int i = 0; i < 400 && stats().security_dropped < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return stats().security_dropped;
  };
  // A legitimate sealed message is delivered.
  const Bytes first = dev.SealedMessage(1);
  ASSERT_TRUE(dev.socket->SendTo(dev.server, first).ok());
  ASSERT_EQ(wait_delivered(1), 1);
  int64_t expected = 0;
  // Replayed: the very same datagram again.
  ASSERT_TRUE(dev.socket->SendTo(dev.server, first).ok());
  EXPECT_EQ(wait_dropped(++expected), expected);
  EXPECT_NE(stats().last_rejection.find("replayed"), std::string::npos) << stats().last_rejection;
  // Tampered: every single byte flipped, of a fresh (never sent) datagram.
  const Bytes fresh = dev.SealedMessage(2);
  for (size_t i = 0; i < fresh.size(); ++i) {
    Bytes t = fresh;
    t[i] ^= 0x40;
    ASSERT_TRUE(dev.socket->SendTo(dev.server, t).ok());
  }
  // Truncated: every shorter length.
  for (size_t n = 1; n < fresh.size(); ++n)
    ASSERT_TRUE(dev.socket->SendTo(dev.server, std::span<const uint8_t>(fresh.data(), n)).ok());
  // Forged: the right header and session id, random counter, body and tag.
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    Bytes f = fresh;
    for (size_t k = net::kSealedHeaderBytes; k < f.size(); ++k) f[k] = static_cast<uint8_t>(rng());
    ASSERT_TRUE(dev.socket->SendTo(dev.server, f).ok());
  }
  // Wrong key: sealed under another key with the right session id.
  {
    secure::SessionKeys k;
    k.send_key.fill(9);
    k.receive_key.fill(9);
    auto sid = net::detail::SealedSessionId(fresh);
    k.peer_session = *sid;
    net::detail::Session wrong = net::detail::MakeSession(k);
    Bytes w;
    ASSERT_TRUE(net::detail::SealEnvelope(wrong, std::span<const uint8_t>(fresh.data() + 30, fresh.size() - 30), &w).ok());
    ASSERT_TRUE(dev.socket->SendTo(dev.server, w).ok());
  }
  // Every tampered/truncated/forged/wrong-key datagram is dropped and counted.
  expected += static_cast<int64_t>(fresh.size()) + static_cast<int64_t>(fresh.size() - 1) + 200 + 1;
  EXPECT_EQ(wait_dropped(expected), expected) << stats().last_rejection;
  EXPECT_EQ(server.delivered.load(), 1);
  // The untouched fresh datagram still opens: nothing above moved the window.
  ASSERT_TRUE(dev.socket->SendTo(dev.server, fresh).ok());
  EXPECT_EQ(wait_delivered(2), 2);
  // Outside the window: seal 300 more, send the newest, then the oldest (too old)
  // and one 255 below the newest (legal reordering: accepted; its request id is
  // the newest, so the reassembler's own id window takes it too).
  std::vector<Bytes> later;
  for (uint32_t i = 0; i < 300; ++i) later.push_back(dev.SealedMessage(i == 300 - 1 - 255 ? 1000 : 3 + i));
  ASSERT_TRUE(dev.socket->SendTo(dev.server, later.back()).ok());
  EXPECT_EQ(wait_delivered(3), 3);
  ASSERT_TRUE(dev.socket->SendTo(dev.server, later.front()).ok());
  EXPECT_EQ(wait_dropped(++expected), expected);
  EXPECT_NE(stats().last_rejection.find("too old"), std::string::npos) << stats().last_rejection;
  ASSERT_TRUE(dev.socket->SendTo(dev.server, later[later.size() - 1 - 255]).ok());
  EXPECT_EQ(wait_delivered(4), 4);
  EXPECT_EQ(stats().security_dropped, expected);
}

// A new session from an address that had one (a device restarted, or a new
// process given the port of one that left) starts its request ids over: they
// are delivered, not refused as replays of the old session's ids.
TEST(SecureTransport, ANewSessionFromTheSameAddressStartsItsRequestIdsOver) {
  SecureEcho server(Channel(net::TransportKind::kUdp));
  ASSERT_TRUE(server.transport);
  auto wait_delivered = [&](int n) {
    for (int i = 0; i < 400 && server.delivered.load() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return server.delivered.load();
  };
  RawDevice first(server.transport->local_endpoint());
  ASSERT_TRUE(first.Handshake().ok());
  for (uint32_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(first.socket->SendTo(first.server, first.SealedMessage(id)).ok());
    ASSERT_EQ(wait_delivered(static_cast<int>(id)), static_cast<int>(id));
  }
  // The next process on the same socket address: a session of its own.
  RawDevice second(server.transport->local_endpoint());
  second.socket = std::move(first.socket);
  ASSERT_TRUE(second.Handshake().ok());
  for (uint32_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(second.socket->SendTo(second.server, second.SealedMessage(id)).ok());
    EXPECT_EQ(wait_delivered(3 + static_cast<int>(id)), 3 + static_cast<int>(id)) << server.transport->stats().last_rejection;
  }
  EXPECT_EQ(server.transport->stats().handshakes, 2);
  EXPECT_EQ(server.transport->stats().security_dropped, 0) << server.transport->stats().last_rejection;
}

// Before any handshake nothing is delivered, whatever arrives; a plain
// (unsealed) wire datagram is dropped too.
TEST(SecureTransport, UnsealedAndSessionlessDatagramsNeverReachTheReassembler) {
  SecureEcho server(Channel(net::TransportKind::kUdp));
  ASSERT_TRUE(server.transport);
  auto plain = net::RequestClient::Create(Channel(net::TransportKind::kUdp), server.transport->local_endpoint());
  ASSERT_TRUE(plain.ok());
  auto r = (*plain)->Call(Ping(1, 100, 1), 1, net::DeadlineIn(0.5), nullptr);
  EXPECT_FALSE(r.ok());
  RawDevice dev(server.transport->local_endpoint());
  ASSERT_TRUE(dev.Handshake().ok());
  RawDevice other(server.transport->local_endpoint());  // another address: no session there
  const Bytes stolen = dev.SealedMessage(1);
  ASSERT_TRUE(other.socket->SendTo(other.server, stolen).ok());
  auto notice = other.Receive(2);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ((*notice)[1], static_cast<uint8_t>(net::EnvelopeKind::kNotice));
  EXPECT_EQ(server.delivered.load(), 0);
  EXPECT_GT(server.transport->stats().security_dropped, 0);
}

// ---- Sessions over time --------------------------------------------------------

// Removing a device from the enrolled set ends its session: its next request
// is refused. Re-enrolling lets it in again.
void Revocation(net::TransportKind kind) {
  SecureEcho server(Channel(kind));
  ASSERT_TRUE(server.transport);
  auto client = net::CreateSecureClient(Channel(kind), server.transport->local_endpoint(), DeviceSecurity());
  ASSERT_TRUE(client.ok());
  ExpectEcho(**client, 1, 2000);
  server.security.enrolled->Replace({});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the I/O thread's sweep
  const auto t0 = net::Clock::now();
  auto reply = (*client)->Call(Ping(2, 2000, 2), 2, net::DeadlineIn(20), nullptr);
  EXPECT_TRUE(net::IsRefusal(reply.status())) << reply.status().message();
  EXPECT_LT(net::SecondsSince(t0), 10);
  EXPECT_EQ(server.delivered.load(), 1);
  server.security.enrolled->Replace({DeviceId().public_key});
  ExpectEcho(**client, 3, 2000);
}
TEST(SecureTransport, UdpRevocationEndsTheSession) { Revocation(net::TransportKind::kUdp); }
TEST(SecureTransport, TcpRevocationEndsTheSession) { Revocation(net::TransportKind::kTcp); }

// A restarted server (same port, no sessions) is handshaken with again, transparently.
TEST(SecureTransport, ARestartedServerIsHandshakenWithAgain) {
  auto first = std::make_unique<SecureEcho>(Channel(net::TransportKind::kUdp));
  ASSERT_TRUE(first->transport);
  const net::Endpoint at = first->transport->local_endpoint();
  auto client = net::CreateSecureClient(Channel(net::TransportKind::kUdp), at, DeviceSecurity());
  ASSERT_TRUE(client.ok());
  ExpectEcho(**client, 1, 3000);
  first.reset();
  SecureEcho second(Channel(net::TransportKind::kUdp), ServerSecurity(), at);
  ASSERT_TRUE(second.transport);
  ExpectEcho(**client, 2, 3000);
  EXPECT_EQ(second.transport->stats().handshakes, 1);
}

// Keys are replaced after the frame limit (lowered here from 2^48 to 20).
TEST(SecureTransport, KeysAreReplacedAfterTheFrameLimit) {
  net::LinkSecurity s = ServerSecurity();
  s.max_frames_per_key = 20;
  SecureEcho server(Channel(net::TransportKind::kUdp), s);
  ASSERT_TRUE(server.transport);
  net::LinkSecurity d = DeviceSecurity();
  d.max_frames_per_key = 20;
  auto client = net::CreateSecureClient(Channel(net::TransportKind::kUdp), server.transport->local_endpoint(), d);
  ASSERT_TRUE(client.ok());
  for (uint32_t id = 1; id <= 12; ++id) ExpectEcho(**client, id, 3000);  // 3 fragments + SACKs each way
  EXPECT_GE(server.transport->stats().handshakes, 3);
  EXPECT_EQ(server.delivered.load(), 12);
}

// New handshakes from one source beyond its burst are dropped; a resent M1
// of a pending handshake is answered for free.
TEST(SecureTransport, HandshakesPerSourceAreRateLimited) {
  net::LinkSecurity s = ServerSecurity();
  s.handshake_burst = 10;
  s.handshakes_per_s = 2;
  SecureEcho server(Channel(net::TransportKind::kUdp), s);
  ASSERT_TRUE(server.transport);
  RawDevice flood(server.transport->local_endpoint());
  const auto t0 = net::Clock::now();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(flood.socket->SendTo(flood.server, flood.session.Start()).ok());
  int answered = 0;
  while (flood.Receive(0.5)) ++answered;
  const double elapsed = net::SecondsSince(t0);
  EXPECT_GE(answered, 10);
  EXPECT_LE(answered, 10 + static_cast<int>(2 * elapsed) + 1);
  EXPECT_EQ(server.transport->stats().handshakes, answered);
  EXPECT_EQ(server.transport->stats().handshakes_rate_limited, 300 - answered);
}

// ---- The edge server: a legitimate loadgen beside a flood of attacks ----------------
constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";

// A sealed edge server over UDP on loopback.
Result<std::unique_ptr<runtime::EdgeServer>> StartSealedServer(const std::string& backend) {
  runtime::ServeOptions so;
  so.model = kModel;
  so.backend = backend;
  so.listen = {"127.0.0.1", 0};
  so.link.link = "udp";
  so.security = ServerSecurity();
  return runtime::EdgeServer::Start(so);
}

// The memory bound counts the sealed session layer: per peer at least its two
// 32-byte keys and its 256-bit replay window, on top of the plain transport's.
TEST(SecureServe, TheMemoryBoundCountsSessionsAndReplayWindows) {
  net::ServerLimits limits;
  limits.max_peers = 100;
  limits.max_connections = 40;
  net::ChannelOptions udp, tcp;
  udp.kind = net::TransportKind::kUdp;
  tcp.kind = net::TransportKind::kTcp;
  const int64_t per_session = 2 * 32 + static_cast<int64_t>(secure::kReplayWindow / 8);
  EXPECT_GE(net::SecureSessionBoundBytes(udp, limits), 100 * per_session + static_cast<int64_t>(wire::kMaxDatagramBytes));
  EXPECT_GE(net::SecureSessionBoundBytes(tcp, limits), 40 * per_session);
  limits.max_peers = 200;  // linear in the peers it may hold
  net::ServerLimits half = limits;
  half.max_peers = 100;
  EXPECT_EQ(net::SecureSessionBoundBytes(udp, limits) - net::SecureSessionBoundBytes(udp, half),
            net::SecureSessionBoundBytes(udp, half) - static_cast<int64_t>(wire::kMaxDatagramBytes));
  // The sealed edge server's bound is the plain one's plus the session layer's.
  runtime::ServeOptions so;
  so.model = kModel;
  so.listen = {"127.0.0.1", 0};
  so.link.link = "udp";
  auto plain = runtime::EdgeServer::Start(so);
  so.security = ServerSecurity();
  auto sealed = runtime::EdgeServer::Start(so);
  ASSERT_TRUE(plain.ok() && sealed.ok());
  EXPECT_GT((*sealed)->memory_bound_bytes(), (*plain)->memory_bound_bytes() + so.limits.max_peers * per_session);
}

TEST(SecureServe, LoadgenResultsStayExactUnderForgedAndGarbageDatagrams) {
  auto server = StartSealedServer("reference");
  ASSERT_TRUE(server.ok()) << server.status().message();
  const net::Endpoint at = (*server)->endpoint();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0};
  std::thread attacker([&] {
    RawDevice a(at, DeviceSecurity(DeviceId()));  // even an enrolled key's forgeries are dropped
    if (!a.Handshake().ok()) return;
    const Bytes legit = a.SealedMessage(1);
    std::mt19937 rng(11);
    while (!stop) {
      Bytes d = legit;
      switch (rng() % 4) {
        case 0: for (auto& b : d) b = static_cast<uint8_t>(rng()); break;             // garbage
        case 1: d[rng() % d.size()] ^= 1; break;                                       // tampered
        case 2: d.resize(1 + rng() % (d.size() - 1)); break;                          // truncated
        case 3: break;                                                                 // replayed
      }
      (void)a.socket->SendTo(at, d);
      ++sent;
    }
  });
  runtime::LoadgenOptions lo;
  lo.model = kModel;
  lo.backend = "reference";
  lo.server = at;
  lo.link.link = "udp";
  lo.clients = 3;
  lo.requests = 6;
  lo.security = DeviceSecurity();
  auto r = runtime::RunLoadgen(lo);
  stop = true;
  attacker.join();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->completed, 18) << (r->first_errors.empty() ? "" : r->first_errors[0]);  // each checked against local inference
  EXPECT_EQ(r->corrupted, 0);
  EXPECT_EQ(r->lost, 0);
  for (const std::string& e : r->first_errors) ADD_FAILURE() << e;
  EXPECT_GT(sent.load(), 100);
  (*server)->Stop(2);
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {

// 100,000 garbage datagrams (random bytes, forged sealed frames with live-looking
// headers, handshake junk) at the server while one device makes 50 requests:
// none lost or wrong. p99 beside a quiet run is printed, not asserted (no
// timing in unit tests; docs/benchmarks.md records it).
double P99(const runtime::DeviceReport& r) {
  std::vector<double> t;
  for (const auto& q : r.requests) t.push_back(q.total_s);
  std::sort(t.begin(), t.end());
  return t.empty() ? 0 : t[std::min(t.size() - 1, static_cast<size_t>(std::ceil(0.99 * t.size())) - 1)];
}

TEST(SecureServe, HundredThousandGarbageDatagramsDuringAFiftyRequestDeviceRunLoseNothing) {
  auto server = StartSealedServer("onednn");
  ASSERT_TRUE(server.ok()) << server.status().message();
  const net::Endpoint at = (*server)->endpoint();
  runtime::DeviceOptions d;
  d.model = kModel;
  d.server = at;
  d.link.link = "udp";
  d.split = "block_3_project_BN";
  d.requests = 50;
  d.request_rate = 10;  // a 5 s run: the flood lands inside it
  d.security = DeviceSecurity();
  auto quiet = runtime::RunDevice(d);
  ASSERT_TRUE(quiet.ok()) << quiet.status().message();
  std::atomic<bool> started{false};
  int64_t flood_sent = 0;
  double flood_s = 0;
  std::thread flood([&] {
    auto socket = std::move(net::DatagramSocket::Bind({"127.0.0.1", 0})).value();
    std::mt19937 rng(5);
    Bytes d(250);
    started = true;
    const auto t0 = net::Clock::now();
    for (int i = 0; i < 100000; ++i) {
      d.resize(1 + rng() % 250);
      for (auto& b : d) b = static_cast<uint8_t>(rng());
      if (i % 3 == 1 && d.size() > net::kSealedDatagramOverhead) {  // a sealed frame for some session
        d[0] = net::kEnvelopeMarker;
        d[1] = static_cast<uint8_t>(net::EnvelopeKind::kSealed);
      } else if (i % 3 == 2) {  // handshake junk
        d[0] = net::kEnvelopeMarker;
        d[1] = static_cast<uint8_t>(net::EnvelopeKind::kHandshake);
      }
      if (socket->SendTo(at, d).ok()) ++flood_sent;
      if (i % 512 == 0) std::this_thread::yield();
    }
    flood_s = net::SecondsSince(t0);
  });
  while (!started) std::this_thread::yield();
  auto attacked = runtime::RunDevice(d);
  flood.join();
  ASSERT_TRUE(attacked.ok()) << attacked.status().message();
  for (const auto* r : {&*quiet, &*attacked}) {
    ASSERT_EQ(r->requests.size(), 50u);
    for (const auto& q : r->requests) {
      EXPECT_EQ(q.outcome, "server") << q.error;
      EXPECT_TRUE(q.verified);
    }
  }
  EXPECT_EQ(flood_sent, 100000);
  const net::ServerStats s = (*server)->transport_stats();
  EXPECT_GT(s.security_dropped, 0);
  std::printf("garbage flood: %lld datagrams in %.2f s; device p99 quiet %.2f ms, under flood %.2f ms; server dropped %lld\n",
              static_cast<long long>(flood_sent), flood_s, P99(*quiet) * 1e3, P99(*attacked) * 1e3,
              static_cast<long long>(s.security_dropped));
  RecordProperty("p99_quiet_ms", std::to_string(P99(*quiet) * 1e3));
  RecordProperty("p99_flood_ms", std::to_string(P99(*attacked) * 1e3));
  (*server)->Stop(2);
}

// ---- The commands ---------------------------------------------------------------

struct KeyDir {
  std::string dir = testing::MakeTempDir();
  std::string es = EDGESPLIT_CLI_PATH;
  KeyDir() {
    for (const char* k : {"server", "sensor", "stranger"}) {
      std::string out;
      EXPECT_EQ(testing::RunCli("keygen -o " + dir + "/" + k, &out), 0);
    }
    Enrol({"sensor"});
  }
  void Enrol(const std::vector<std::string>& names) {
    std::string text = "# enrolled devices\n";
    for (const std::string& n : names) text += n + " " + testing::ReadFile(dir + "/" + n + ".pub");
    testing::WriteFile(dir + "/allow", text);
  }
  std::string Device(const std::string& who) const {
    return " --key " + dir + "/" + who + " --server-key " + dir + "/server.pub";
  }
};

TEST(SecureCli, ServeDeviceAndLoadgenRefuseToRunWithoutKeysUnlessInsecure) {
  KeyDir k;
  std::string out, err;
  EXPECT_EQ(testing::RunCli(std::string("serve ") + kModel, &out, &err), 1);
  EXPECT_NE(err.find("serve is secure by default: give --key NAME --allow FILE"), std::string::npos) << err;
  EXPECT_EQ(testing::RunCli(std::string("device ") + kModel + " --connect 127.0.0.1:9 --split input", &out, &err), 1);
  EXPECT_NE(err.find("device is secure by default: give --key NAME --server-key SERVER.pub"), std::string::npos) << err;
  EXPECT_EQ(testing::RunCli(std::string("loadgen ") + kModel + " --connect 127.0.0.1:9", &out, &err), 1);
  EXPECT_NE(err.find("loadgen is secure by default"), std::string::npos) << err;
  EXPECT_EQ(testing::RunCli(std::string("loadgen ") + kModel + " --connect 127.0.0.1:9 --insecure" + k.Device("sensor"), &out, &err), 1);
  EXPECT_NE(err.find("exclude each other"), std::string::npos) << err;
  testing::WriteFile(k.dir + "/bad_allow", "sensor edgesplit-ed25519-public 12zz\n");
  EXPECT_EQ(testing::RunCli(std::string("serve ") + kModel + " --key " + k.dir + "/server --allow " + k.dir + "/bad_allow", &out, &err), 1);
  EXPECT_NE(err.find("bad_allow:1 (sensor)"), std::string::npos) << err;
}

// The enrolled sensor is served; the stranger exits 3 with "refused: ..." at
// once; after the sensor's line is removed and SIGHUP sent, the sensor is
// refused too, within 10 s.
TEST(SecureCli, EnrolmentRefusalAndRevocationBySighup) {
  KeyDir k;
  auto p = runtime::detail::NodeProcess::Spawn(
      EDGESPLIT_CLI_PATH, {"serve", kModel, "--link", "udp", "--threads", "1", "--backend", "reference", "--key", k.dir + "/server",
                           "--allow", k.dir + "/allow"});
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto address = (*p)->WaitListening(net::DeadlineIn(60));
  ASSERT_TRUE(address.ok()) << address.status().message();
  const std::string base = std::string("device ") + kModel + " --connect " + *address +
                           " --link udp --backend reference --split block_3_project_BN --requests 2 --format json";
  std::string out, err;
  ASSERT_EQ(testing::RunCli(base + k.Device("sensor"), &out, &err), 0) << err;
  const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_EQ(j.value("verified", -1), 2) << out;
  EXPECT_EQ(testing::RunCli(base + k.Device("stranger"), &out, &err), 3);
  EXPECT_EQ(err, "refused: device key is not enrolled\n");
  EXPECT_EQ(testing::RunCli(std::string("loadgen ") + kModel + " --connect " + *address + " --backend reference" + k.Device("stranger"),
                            &out, &err), 3);
  EXPECT_EQ(err, "refused: device key is not enrolled\n");
  k.Enrol({});
  ASSERT_EQ(kill((*p)->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = net::Clock::now();
  EXPECT_EQ(testing::RunCli(base + k.Device("sensor"), &out, &err), 3);
  EXPECT_EQ(err, "refused: device key is not enrolled\n");
  EXPECT_LT(net::SecondsSince(t0), 10);
  EXPECT_EQ((*p)->ExitReason(), "");  // the server lives on
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {

// One-shot sealing (MQTT): a request opens only with the group's key and an
// enrolled device; every flipped byte and every truncation is refused; each
// reply has its own nonce and opens only under its request's reply key.
TEST(SecureOneShot, RequestsAndRepliesOpenOnlyWhenGenuine) {
  const net::LinkSecurity server = ServerSecurity();
  const Bytes m = Ping(7, 300, 7);
  Bytes sealed, opened;
  net::detail::OneShotKeys device_keys, server_keys;
  ASSERT_TRUE(net::detail::SealOneShot(DeviceSecurity(), m, &sealed, &device_keys).ok());
  EXPECT_EQ(sealed.size(), m.size() + net::detail::kOneShotRequestOverhead);
  ASSERT_TRUE(net::detail::OpenOneShot(server, sealed, &opened, &server_keys).ok());
  EXPECT_EQ(opened, m);
  EXPECT_EQ(server_keys.reply, device_keys.reply);
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes t = sealed;
    t[i] ^= 0x01;
    net::detail::OneShotKeys k;
    EXPECT_FALSE(net::detail::OpenOneShot(server, t, &opened, &k).ok()) << i;
  }
  for (size_t n = 0; n < sealed.size(); ++n) {
    net::detail::OneShotKeys k;
    EXPECT_FALSE(net::detail::OpenOneShot(server, std::span<const uint8_t>(sealed.data(), n), &opened, &k).ok()) << n;
  }
  // Sealed to another server key: the group cannot open it.
  ASSERT_TRUE(net::detail::SealOneShot(DeviceSecurity(DeviceId(), StrangerId().public_key), m, &sealed, &device_keys).ok());
  net::detail::OneShotKeys k;
  EXPECT_FALSE(net::detail::OpenOneShot(server, sealed, &opened, &k).ok());
  // An unenrolled device: refused by name, and the refusal notice reaches only that request.
  net::detail::OneShotKeys stranger;
  ASSERT_TRUE(net::detail::SealOneShot(DeviceSecurity(StrangerId()), m, &sealed, &stranger).ok());
  const Status refused = net::detail::OpenOneShot(server, sealed, &opened, &k);
  EXPECT_EQ(refused.message(), "refused: device key is not enrolled");
  const Bytes notice = net::detail::NoticeEnvelope(net::NoticeCode::kRefused, k.tag, net::RefusalReason(refused));
  EXPECT_EQ(net::detail::OpenOneShotReply(stranger, notice, &opened).message(), "refused: device key is not enrolled");
  EXPECT_FALSE(net::IsRefusal(net::detail::OpenOneShotReply(device_keys, notice, &opened)));
  // Replies: two seals of one reply differ (own nonces), both open, a flip does not.
  Bytes r1, r2;
  ASSERT_TRUE(net::detail::SealOneShotReply(server_keys, m, &r1).ok());
  ASSERT_TRUE(net::detail::SealOneShotReply(server_keys, m, &r2).ok());
  EXPECT_NE(r1, r2);
  net::detail::OneShotKeys first;
  first.reply = server_keys.reply;
  ASSERT_TRUE(net::detail::OpenOneShotReply(first, r1, &opened).ok());
  EXPECT_EQ(opened, m);
  r2[20] ^= 4;
  EXPECT_FALSE(net::detail::OpenOneShotReply(first, r2, &opened).ok());
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {

// TCP: a tampered sealed frame, or a large frame before the handshake, closes
// that connection only (counted); another device's connection is served on.
Bytes Framed(std::span<const uint8_t> e) {
  Bytes f(4 + e.size());
  for (int i = 0; i < 4; ++i) f[static_cast<size_t>(i)] = static_cast<uint8_t>(e.size() >> (8 * i));
  std::copy(e.begin(), e.end(), f.begin() + 4);
  return f;
}
std::optional<Bytes> ReadFramed(net::TcpStream& s) {
  uint8_t n[4];
  auto got = s.ReadExact(n, net::DeadlineIn(5));
  if (!got.ok() || !*got) return std::nullopt;
  Bytes e(uint32_t{n[0]} | uint32_t{n[1]} << 8 | uint32_t{n[2]} << 16 | uint32_t{n[3]} << 24);
  got = s.ReadExact(e, net::DeadlineIn(5));
  if (!got.ok() || !*got) return std::nullopt;
  return e;
}

TEST(SecureTransport, TcpTamperedOrOversizedFramesCloseOnlyTheirConnection) {
  SecureEcho server(Channel(net::TransportKind::kTcp));
  ASSERT_TRUE(server.transport);
  const net::Endpoint at = server.transport->local_endpoint();
  auto good = net::CreateSecureClient(Channel(net::TransportKind::kTcp), at, DeviceSecurity());
  ASSERT_TRUE(good.ok());
  ExpectEcho(**good, 1, 5000);
  // Before any handshake: a 1 MB length prefix is refused at once.
  {
    auto s = net::TcpStream::Connect(at, net::DeadlineIn(5));
    ASSERT_TRUE(s.ok());
    (void)(*s)->WriteAll(Framed(Bytes(1 << 20, 0xE5)), net::DeadlineIn(5));  // may fail once the server closed
    EXPECT_FALSE(ReadFramed(**s).has_value());  // closed
  }
  // A handshaken connection whose sealed frame is tampered.
  auto s = net::TcpStream::Connect(at, net::DeadlineIn(5));
  ASSERT_TRUE(s.ok());
  net::detail::ClientSession cs(DeviceSecurity());
  ASSERT_TRUE((*s)->WriteAll(Framed(cs.Start()), net::DeadlineIn(5)).ok());
  Bytes out;
  while (!cs.established()) {
    auto e = ReadFramed(**s);
    ASSERT_TRUE(e.has_value());
    auto ev = cs.OnEnvelope(*e, &out);
    ASSERT_TRUE(ev.ok()) << ev.status().message();
    if (*ev == net::detail::ClientSession::Event::kSend) ASSERT_TRUE((*s)->WriteAll(Framed(out), net::DeadlineIn(5)).ok());
  }
  Bytes sealed;
  ASSERT_TRUE(cs.Seal(Ping(2, 100, 2), &sealed).ok());
  sealed[40] ^= 0x10;
  ASSERT_TRUE((*s)->WriteAll(Framed(sealed), net::DeadlineIn(5)).ok());
  EXPECT_FALSE(ReadFramed(**s).has_value());  // closed, nothing delivered
  EXPECT_EQ(server.delivered.load(), 1);
  EXPECT_EQ(server.transport->stats().security_dropped, 2) << server.transport->stats().last_rejection;
  ExpectEcho(**good, 3, 5000);
}

}  // namespace
}  // namespace edgesplit
