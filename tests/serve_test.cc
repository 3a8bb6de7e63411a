// The edge server: wire version 2, the many-peer transports, serve + loadgen
// in one process, bad requests, overload, deadlines and graceful shutdown.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>

#include <filesystem>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "../src/runtime/process.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/net_server.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "../src/net/sockets.h"  // the module's sockets and shaper
#include "test_util.h"

namespace edgesplit {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";

Bytes OpaqueMessage(wire::MessageType type, uint32_t id, size_t bytes, uint8_t seed, const std::string& sender = "") {
  wire::MessageHeader h;
  h.type = type;
  h.request_id = id;
  h.dtype = DType::kUInt8;
  wire::SetSenderId(&h, sender);
  Bytes payload(bytes);
  for (size_t i = 0; i < bytes; ++i) payload[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  Bytes out(wire::EncodedMessageBytes(h, bytes));
  EXPECT_TRUE(wire::EncodeMessage(h, payload, out).ok());
  return out;
}

// ---- Wire version 2 ------------------------------------------------------------

TEST(WireV2, NewFieldsRoundTripAndVersionOneIsRefused) {
  wire::MessageHeader h;
  h.type = wire::MessageType::kTensorResult;
  h.request_id = 77;
  h.dtype = DType::kInt8;
  h.rank = 2;
  h.dims[0] = 1;
  h.dims[1] = 10;
  h.model_hash = 0xDEADBEEF;
  h.batch_size = 7;
  h.queue_length = 3;
  wire::SetSenderId(&h, std::string("edge-1:4242"));
  Bytes payload(10, 5), m(wire::EncodedMessageBytes(h, payload.size()));
  ASSERT_TRUE(wire::EncodeMessage(h, payload, m).ok());
  auto d = wire::DecodeMessage(m);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->header.model_hash, 0xDEADBEEFu);
  EXPECT_EQ(d->header.batch_size, 7);
  EXPECT_EQ(std::string(d->header.sender_id, d->header.sender_id_length), "edge-1:4242");
  EXPECT_EQ(Bytes(d->payload.begin(), d->payload.end()), payload);
  // The stream reader's prefix sees the sender id too.
  EXPECT_EQ(*wire::MessageSizeFromPrefix(std::span<const uint8_t>(m.data(), wire::kMessageFixedHeaderBytes)), m.size());

  Bytes v1 = m;
  v1[4] = 1;
  auto refused = wire::DecodeMessage(v1);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.status().message().find("version 1"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("version 2"), std::string::npos) << refused.status().message();

  // A version-1 fragment is refused too.
  wire::FragmentHeader f;
  f.request_id = 1;
  f.count = 1;
  f.total_length = 4;
  Bytes chunk(4, 1), frag(wire::kFragmentHeaderBytes + 4);
  ASSERT_TRUE(wire::EncodeFragment(f, chunk, frag).ok());
  frag[1] = static_cast<uint8_t>((1 << 4) | (frag[1] & 0x0F));
  auto old = wire::DecodeFragment(frag);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("version 1"), std::string::npos) << old.status().message();
}

TEST(WireV2, UnknownCodecSealedFlagAndOversizedSenderIdAreRejected) {
  Bytes m = OpaqueMessage(wire::MessageType::kPing, 1, 8, 1);
  wire::MessageHeader h;
  h.type = wire::MessageType::kPing;
  h.dtype = DType::kUInt8;
  h.codec = 9;
  Bytes out(wire::EncodedMessageBytes(h, 0));
  EXPECT_EQ(wire::EncodeMessage(h, {}, out).status().code(), StatusCode::kUnsupported);
  h.codec = wire::kCodecRaw;
  h.flags = wire::kMessageFlagSealed;
  EXPECT_EQ(wire::EncodeMessage(h, {}, out).status().code(), StatusCode::kUnsupported);
  h.flags = 0x80;
  EXPECT_FALSE(wire::EncodeMessage(h, {}, out).ok());
  // A sender id length byte above the limit, CRC fixed up: refused from the prefix.
  Bytes bad = m;
  bad[48] = 200;
  EXPECT_EQ(wire::MessageSizeFromPrefix(std::span<const uint8_t>(bad.data(), wire::kMessageFixedHeaderBytes)).status().code(),
            StatusCode::kOutOfRange);
}

// ---- Many-peer transports ------------------------------------------------------

// An echo server over the transport: replies with the request's payload.
struct EchoServer {
  std::unique_ptr<net::ServerTransport> transport;
  std::atomic<int> received{0};
  explicit EchoServer(const net::ChannelOptions& channel, net::ServerLimits limits = {}) {
    auto t = net::ServerTransport::Create(channel, {"127.0.0.1", 0}, limits, [this](net::PeerId peer, Bytes m) {
      ++received;
      Bytes out = testing::PongFor(m);
      if (!out.empty()) transport->Reply(peer, std::move(out), wire::DecodeMessage(out)->header.request_id);
    });
    EXPECT_TRUE(t.ok()) << t.status().message();
    if (t.ok()) transport = std::move(t).value();
  }
};

net::ChannelOptions Channel(net::TransportKind kind, int64_t datagram_bytes = 1460) {
  net::ChannelOptions c;
  c.kind = kind;
  c.datagram_bytes = datagram_bytes;
  c.max_message_bytes = 1 << 20;
  return c;
}

// Concurrent senders to one port each get their own reply, bit for bit: the
// old single reassembler lost 32-51% of requests with 5-20 UDP clients.
void ManyClientsEcho(net::TransportKind kind, int64_t datagram_bytes) {
  const net::ChannelOptions channel = Channel(kind, datagram_bytes);
  EchoServer server(channel);
  ASSERT_TRUE(server.transport);
  constexpr int kClients = 20, kRequests = 6;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = net::RequestClient::Create(channel, server.transport->local_endpoint());
      if (!client.ok()) {
        failures[c] = client.status().message();
        return;
      }
      for (int r = 1; r <= kRequests; ++r) {
        // Several frames per message, different bytes per client and request.
        const Bytes m = OpaqueMessage(wire::MessageType::kPing, static_cast<uint32_t>(r), 3000 + 97 * c, static_cast<uint8_t>(c * 13 + r));
        auto reply = (*client)->Call(m, static_cast<uint32_t>(r), net::DeadlineIn(20), nullptr);
        if (!reply.ok()) {
          failures[c] = reply.status().message();
          continue;
        }
        auto a = wire::DecodeMessage(m);
        auto b = wire::DecodeMessage(*reply);
        if (b.ok() && b->header.request_id == static_cast<uint32_t>(r) &&
            Bytes(a->payload.begin(), a->payload.end()) == Bytes(b->payload.begin(), b->payload.end()))
          ++ok;
        else
          failures[c] = "reply " + std::to_string(r) + " differs";
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(failures[c], "") << "client " << c;
  EXPECT_EQ(server.transport->stats().rejected, 0) << server.transport->stats().last_rejection;
}

TEST(ServerTransport, TwentyUdpClientsAtOnceEachGetTheirOwnReplies) { ManyClientsEcho(net::TransportKind::kUdp, 1460); }
TEST(ServerTransport, TwentyEspNowSizedClientsAtOnce) { ManyClientsEcho(net::TransportKind::kEspNow, 250); }
TEST(ServerTransport, TwentyTcpClientsAtOnce) { ManyClientsEcho(net::TransportKind::kTcp, 1460); }

// Large requests are handed over in the connection's own buffer and the next
// one is read into a recycled buffer: messages kept by the handler stay
// intact while later ones arrive, recycled ones may be reused, and two
// requests written back to back (the copying path) both arrive whole.
TEST(ServerTransport, TcpRecycledBuffersNeverAliasAMessageStillHeld) {
  const net::ChannelOptions channel = Channel(net::TransportKind::kTcp);
  std::mutex mutex;
  std::vector<Bytes> kept;
  std::atomic<int> received{0};
  std::unique_ptr<net::ServerTransport> transport;
  auto t = net::ServerTransport::Create(channel, {"127.0.0.1", 0}, {}, [&](net::PeerId peer, Bytes m) {
    const int n = ++received;
    Bytes out = testing::PongFor(m);
    if (!out.empty()) transport->Reply(peer, std::move(out), wire::DecodeMessage(out)->header.request_id);
    if (n % 3 == 0) {
      std::lock_guard<std::mutex> lock(mutex);
      kept.push_back(std::move(m));  // held: must never be read into again
    } else {
      transport->Recycle(std::move(m));
    }
  });
  ASSERT_TRUE(t.ok()) << t.status().message();
  transport = std::move(t).value();
  auto message = [](uint32_t r, int client) {
    return OpaqueMessage(wire::MessageType::kPing, r, 200000 + 4099 * client + 17 * static_cast<int>(r),
                         static_cast<uint8_t>(client * 31 + r));
  };
  constexpr int kClients = 3, kRequests = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int c = 0; c < kClients; ++c)
    threads.emplace_back([&, c] {
      auto client = net::RequestClient::Create(channel, transport->local_endpoint());
      if (!client.ok()) return;
      for (uint32_t r = 1; r <= kRequests; ++r) {
        const Bytes m = message(r, c);
        auto reply = (*client)->Call(m, r, net::DeadlineIn(20), nullptr);
        auto a = wire::DecodeMessage(m);
        auto b = reply.ok() ? wire::DecodeMessage(*reply) : Result<wire::DecodedMessage>(reply.status());
        if (b.ok() && Bytes(a->payload.begin(), a->payload.end()) == Bytes(b->payload.begin(), b->payload.end())) ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  // Two requests in one write: the second's bytes arrive with the first's.
  auto raw = net::TcpStream::Connect(transport->local_endpoint(), net::DeadlineIn(5));
  ASSERT_TRUE(raw.ok());
  Bytes both = message(1, 7);
  const Bytes second = message(2, 7);
  both.insert(both.end(), second.begin(), second.end());
  ASSERT_TRUE((*raw)->WriteAll(both, net::DeadlineIn(5)).ok());
  for (int i = 0; i < 200 && received.load() < kClients * kRequests + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(received.load(), kClients * kRequests + 2);
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_FALSE(kept.empty());
  for (const Bytes& m : kept) {  // each still decodes with its CRC and its own pattern
    auto d = wire::DecodeMessage(m);
    ASSERT_TRUE(d.ok()) << d.status().message();
    const uint32_t r = d->header.request_id;
    bool matches = false;
    for (int c : {0, 1, 2, 7}) matches = matches || m == message(r, c);
    EXPECT_TRUE(matches) << "a held message of request " << r << " was overwritten";
  }
  EXPECT_EQ(transport->stats().rejected, 0) << transport->stats().last_rejection;
}

// A connection that never sends, and one that sends 20 header bytes and stops,
// do not delay a legitimate client; the half-sent one is dropped at the frame
// timeout; connections beyond the limit are closed.
TEST(ServerTransport, TcpIdleAndPartialConnectionsDoNotBlockOthers) {
  net::ServerLimits limits;
  limits.frame_timeout_s = 0.3;
  limits.max_connections = 4;
  EchoServer server(Channel(net::TransportKind::kTcp), limits);
  ASSERT_TRUE(server.transport);
  const net::Endpoint at = server.transport->local_endpoint();
  auto idle = net::TcpStream::Connect(at, net::DeadlineIn(5));
  auto partial = net::TcpStream::Connect(at, net::DeadlineIn(5));
  ASSERT_TRUE(idle.ok() && partial.ok());
  const Bytes m = OpaqueMessage(wire::MessageType::kPing, 1, 100, 3);
  ASSERT_TRUE((*partial)->WriteAll(std::span<const uint8_t>(m.data(), 20), net::DeadlineIn(5)).ok());
  auto client = net::RequestClient::Create(Channel(net::TransportKind::kTcp), at);
  ASSERT_TRUE(client.ok());
  // Served while both other connections stay open (idle timeout 30 s: a
  // server reading one connection at a time would miss this call's deadline).
  auto reply = (*client)->Call(m, 1, net::DeadlineIn(5), nullptr);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  // The partial connection is closed by the server once its frame timeout passes.
  Bytes byte(1);
  auto read = (*partial)->ReadExact(byte, net::DeadlineIn(5));
  EXPECT_TRUE(!read.ok() || !*read) << "the half-sent connection stayed open";
  EXPECT_GE(server.transport->stats().rejected, 1);
  // Over the limit: more connections are closed at once.
  std::vector<std::unique_ptr<net::TcpStream>> extra;
  for (int i = 0; i < 6; ++i) {
    auto s = net::TcpStream::Connect(at, net::DeadlineIn(5));
    if (s.ok()) extra.push_back(std::move(s).value());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(server.transport->stats().peers, 4);
  EXPECT_NE(server.transport->stats().last_rejection.find("connections already open"), std::string::npos)
      << server.transport->stats().last_rejection;
}

// Sockets are opened close-on-exec: a process that spawns nodes (run) used to
// leak its result socket into every child.
TEST(ServerTransport, EverySocketIsCloseOnExec) {
  auto udp = net::DatagramSocket::Bind({"127.0.0.1", 0});
  auto listener = net::TcpListener::Listen({"127.0.0.1", 0});
  ASSERT_TRUE(udp.ok() && listener.ok());
  auto stream = net::TcpStream::Connect((*listener)->local_endpoint(), net::DeadlineIn(5));
  ASSERT_TRUE(stream.ok());
  auto accepted = (*listener)->Accept(net::DeadlineIn(5));
  ASSERT_TRUE(accepted.ok() && accepted->has_value());
  EchoServer server(Channel(net::TransportKind::kTcp));
  int sockets = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec || target.rfind("socket:", 0) != 0) continue;
    const int fd = std::stoi(entry.path().filename().string());
    ++sockets;
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC) << "socket fd " << fd << " is inherited by children";
  }
  EXPECT_GE(sockets, 5);
}

// ---- The edge server and the load generator -------------------------------------

runtime::ServeOptions Serve(const std::string& link, const std::string& dtype, int max_batch = 8) {
  runtime::ServeOptions o;
  o.model = kModel;
  o.dtype = dtype;
  o.max_batch = max_batch;
  o.link.link = link;
  o.link.shaped = false;
  o.id = "test-server";
  return o;
}

runtime::LoadgenOptions Load(const runtime::EdgeServer& server, const std::string& link, const std::string& dtype,
                             int clients, int requests) {
  runtime::LoadgenOptions o;
  o.model = kModel;
  o.dtype = dtype;
  o.server = server.endpoint();
  o.link.link = link;
  o.link.shaped = false;
  o.clients = clients;
  o.requests = requests;
  o.precompute = true;
  o.timeout_s = 60;
  return o;
}

void ExpectAllVerified(const runtime::LoadgenReport& r, int64_t expected) {
  EXPECT_EQ(r.sent, expected);
  EXPECT_EQ(r.completed, expected) << (r.first_errors.empty() ? "" : r.first_errors[0]);
  EXPECT_EQ(r.lost, 0);
  EXPECT_EQ(r.busy, 0);
  EXPECT_EQ(r.duplicated, 0);
  EXPECT_EQ(r.corrupted, 0);
  EXPECT_EQ(r.sent, r.completed + r.busy + r.lost);
}

TEST(EdgeServer, ServesEveryStrictCutToManyUdpClientsBitExactInt8) {
  auto server = runtime::EdgeServer::Start(Serve("udp", "int8"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_GT((*server)->cuts().size(), 2u);  // the input and at least two strict bottlenecks
  auto r = runtime::RunLoadgen(Load(**server, "udp", "int8", 16, 8));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectAllVerified(*r, 16 * 8);
  ASSERT_EQ(r->per_server.size(), 1u);
  EXPECT_EQ(r->per_server.begin()->first, "test-server");
  int64_t batched = 0;
  for (auto& [size, n] : r->batch_sizes) {
    EXPECT_GE(size, 1);
    EXPECT_LE(size, 8);
    batched += n;
  }
  EXPECT_EQ(batched, r->completed);
  const runtime::ServerCounters c = (*server)->counters();
  EXPECT_EQ(c.served, 16 * 8);
}

// Requests of the same cut that wait together run as one batch through the
// batched tail, and every result still equals batch-1 local inference (int8:
// bit for bit; f32: within 1e-5, checked by loadgen).
TEST(EdgeServer, BatchesRequestsOfTheSameCutAndKeepTheirResults) {
  for (const char* dtype : {"int8", "f32"}) {
    SCOPED_TRACE(dtype);
    runtime::ServeOptions o = Serve("udp", dtype, 4);
    o.max_wait_s = 0.3;  // long enough that concurrent clients' requests meet
    o.cuts = "block_6_project_BN";
    auto server = runtime::EdgeServer::Start(o);
    ASSERT_TRUE(server.ok()) << server.status().message();
    runtime::LoadgenOptions l = Load(**server, "udp", dtype, 8, 3);
    l.cuts = "block_6_project_BN";
    l.timeout_s = 60;
    auto r = runtime::RunLoadgen(l);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ExpectAllVerified(*r, 8 * 3);
    int largest = 0;
    for (auto& [size, n] : r->batch_sizes) largest = std::max(largest, size);
    EXPECT_GT(largest, 1) << "no two requests ran in one batch";
    EXPECT_LE(largest, 4);
  }
}

// A lone device that waits for each reply never sends a companion: the
// server does not hold its requests for --max-wait-ms (before, every one of
// them waited the whole time). Concurrent clients still batch (the test above).
TEST(EdgeServer, DoesNotHoldALoneClientsRequestsForCompanions) {
  runtime::ServeOptions o = Serve("tcp", "int8", 4);
  o.max_wait_s = 0.2;
  o.cuts = "block_6_project_BN";
  auto server = runtime::EdgeServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  runtime::LoadgenOptions l = Load(**server, "tcp", "int8", 1, 8);
  l.cuts = "block_6_project_BN";
  auto r = runtime::RunLoadgen(l);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectAllVerified(*r, 8);
  const runtime::ServerCounters c = (*server)->counters();
  EXPECT_EQ(c.batch_sizes.at(1), 8);
  EXPECT_EQ(c.batches_waited, 0);
}

TEST(EdgeServer, ServesManyTcpClientsF32) {
  auto server = runtime::EdgeServer::Start(Serve("tcp", "f32"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto r = runtime::RunLoadgen(Load(**server, "tcp", "f32", 12, 6));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectAllVerified(*r, 12 * 6);
}

// Threads of this process scheduled SCHED_BATCH (a server transport's I/O thread).
int BatchThreads() {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
    if (sched_getscheduler(std::stoi(task.path().filename().string())) == SCHED_BATCH) ++n;
  return n;
}

// Over UDP the server's I/O thread does not preempt the worker at every
// datagram (SCHED_BATCH, src/net/io_thread.h); over TCP it does, so a request
// is read while another computes. The worker stays an ordinary thread.
TEST(EdgeServer, TheIoThreadDefersToTheWorkerOnlyForDatagrams) {
  for (const char* link : {"udp", "tcp"}) {
    const int before = BatchThreads();
    auto server = runtime::EdgeServer::Start(Serve(link, "f32"));
    ASSERT_TRUE(server.ok()) << server.status().message();
    // One request served: the I/O thread has run and set its policy.
    auto r = runtime::RunLoadgen(Load(**server, link, "f32", 1, 1));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ExpectAllVerified(*r, 1);
    int batch = BatchThreads() - before;
    if (std::string(link) == "udp")
      for (int i = 0; i < 200 && batch == 0; ++i, batch = BatchThreads() - before)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(batch, std::string(link) == "udp" ? 1 : 0) << link;
    (*server)->Stop(1);
  }
}

// Two workers, each with its own executors: every result still equals local
// inference (int8: bit for bit), and the stated arena counts both copies
// (request_loop_test checks that workers compute side by side). Bad worker
// counts are refused by name.
TEST(EdgeServer, TwoWorkersServeManyClientsWithTheirOwnExecutors) {
  runtime::ServeOptions o = Serve("tcp", "int8", 4);
  auto one = runtime::EdgeServer::Start(o);
  ASSERT_TRUE(one.ok()) << one.status().message();
  const int64_t one_arena = (*one)->arena_bytes();
  (*one)->Stop(1);
  o.workers = 2;
  auto server = runtime::EdgeServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_EQ((*server)->arena_bytes(), 2 * one_arena);
  EXPECT_EQ(nlohmann::json::parse((*server)->ReadyJson())["workers"], 2);
  auto r = runtime::RunLoadgen(Load(**server, "tcp", "int8", 16, 8));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectAllVerified(*r, 16 * 8);
  for (int bad : {0, 65}) {
    o.workers = bad;
    auto refused = runtime::EdgeServer::Start(o);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("--workers"), std::string::npos) << refused.status().message();
  }
}

// Bad requests get an error reply naming the problem; the server goes on serving.
TEST(EdgeServer, BadRequestsGetErrorRepliesAndOthersAreStillServed) {
  auto server = runtime::EdgeServer::Start(Serve("udp", "f32"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  net::ChannelOptions channel = Channel(net::TransportKind::kUdp);
  auto client = net::RequestClient::Create(channel, (*server)->endpoint());
  ASSERT_TRUE(client.ok());
  auto expect_error = [&](const Bytes& m, uint32_t id, const std::string& needle) {
    auto reply = (*client)->Call(m, id, net::DeadlineIn(10), nullptr);
    ASSERT_TRUE(reply.ok()) << reply.status().message();
    auto d = wire::DecodeMessage(*reply);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->header.type, wire::MessageType::kError);
    const std::string text(d->payload.begin(), d->payload.end());
    EXPECT_NE(text.find(needle), std::string::npos) << text;
  };
  auto tensor = [&](uint32_t id, uint16_t cut, std::vector<uint32_t> dims, uint32_t hash) {
    wire::MessageHeader h;
    h.request_id = id;
    h.cut_id = cut;
    h.dtype = DType::kFloat32;
    h.rank = static_cast<uint8_t>(dims.size());
    size_t n = 4;
    for (size_t i = 0; i < dims.size(); ++i) n *= h.dims[i] = dims[i];
    h.model_hash = hash;
    Bytes payload(n, 0), out(wire::EncodedMessageBytes(h, n));
    EXPECT_TRUE(wire::EncodeMessage(h, payload, out).ok());
    return out;
  };
  const uint32_t hash = (*server)->model_hash();
  expect_error(tensor(1, 999, {1, 3, 96, 96}, hash), 1, "no tail starts at cut 999");
  expect_error(tensor(2, 0, {1, 3, 96, 96}, hash ^ 1), 2, "model hash");
  expect_error(tensor(3, 0, {1, 3, 95, 96}, hash), 3, "shape or size differs");
  expect_error(OpaqueMessage(wire::MessageType::kSegmentChunk, 4, 10, 1), 4, "unexpected message type");
  // A good request after all that is served.
  auto good = (*client)->Call(tensor(5, 0, {1, 3, 96, 96}, hash), 5, net::DeadlineIn(10), nullptr);
  ASSERT_TRUE(good.ok()) << good.status().message();
  auto d = wire::DecodeMessage(*good);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->header.type, wire::MessageType::kTensorResult);
  EXPECT_EQ(d->header.batch_size, 1);
  EXPECT_EQ(std::string(d->header.sender_id, d->header.sender_id_length), "test-server");
  EXPECT_EQ((*server)->counters().errors, 4);
}

// One f32 worker that runs one request at a time, and loadgen's devices all
// sending it their whole input (the most expensive tail): queues form.
runtime::ServeOptions OneAtATime(const std::string& link) {
  runtime::ServeOptions o = Serve(link, "f32", 1);
  o.max_wait_s = 0;
  return o;
}
runtime::LoadgenOptions WholeInputs(const runtime::EdgeServer& server, const std::string& link, int clients, int requests) {
  runtime::LoadgenOptions l = Load(server, link, "f32", clients, requests);
  l.cuts = "input";
  return l;
}

// More clients than the queue holds: BUSY replies, nothing lost or corrupted,
// and the queue never exceeds its limit (the memory bound follows from it).
TEST(EdgeServer, OverloadGetsBusyRepliesNotLosses) {
  runtime::ServeOptions o = OneAtATime("udp");
  o.queue_limit = 2;
  auto server = runtime::EdgeServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  EXPECT_GT((*server)->memory_bound_bytes(), 0);
  auto r = runtime::RunLoadgen(WholeInputs(**server, "udp", 24, 5));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->sent, 24 * 5);
  EXPECT_GT(r->busy, 0);
  EXPECT_EQ(r->lost, 0) << (r->first_errors.empty() ? "" : r->first_errors[0]);
  EXPECT_EQ(r->corrupted, 0);
  EXPECT_EQ(r->sent, r->completed + r->busy);
  EXPECT_EQ((*server)->counters().busy, r->busy);
}

// Every result says how long it queued behind other work: with 12 clients
// sending back to back to one worker that runs one request at a time, most
// results queued (and that wait is part of their latency); one client alone
// queues only behind the tail end of its own previous request, if at all.
TEST(EdgeServer, ResultsCarryTheirQueueWait) {
  auto server = runtime::EdgeServer::Start(OneAtATime("tcp"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto r = runtime::RunLoadgen(WholeInputs(**server, "tcp", 12, 6));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectAllVerified(*r, 12 * 6);
  EXPECT_GT(r->queue_wait_p50_s, 0);
  EXPECT_GE(r->queue_wait_p99_s, r->queue_wait_p50_s);
  EXPECT_LT(r->queue_wait_p99_s, r->p99_s);
  // The server's own time includes the queue wait and is inside the round trip.
  EXPECT_GE(r->service_p50_s, r->queue_wait_p50_s);
  EXPECT_GE(r->service_p99_s, r->service_p50_s);
  EXPECT_LE(r->service_p99_s, r->p99_s);
  EXPECT_EQ(r->phase_shifts, 0);  // unpaced clients have no phase to move, however long they queued
  auto alone = runtime::RunLoadgen(WholeInputs(**server, "tcp", 1, 6));
  ASSERT_TRUE(alone.ok()) << alone.status().message();
  ExpectAllVerified(*alone, 6);
  EXPECT_LT(alone->queue_wait_p50_s, r->queue_wait_p50_s);
}

// A server whose idle worker polls (--busy-poll-ms) answers as before, and a
// client's next request, sent right after its reply, is found by the poll.
TEST(EdgeServer, APollingWorkerServesAndFindsTheNextRequest) {
  runtime::ServeOptions o = OneAtATime("tcp");
  o.busy_poll_s = 0.5;
  auto server = runtime::EdgeServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto r = runtime::RunLoadgen(WholeInputs(**server, "tcp", 1, 6));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectAllVerified(*r, 6);
  EXPECT_GT((*server)->counters().batches_polled, 0);
  EXPECT_NE((*server)->ReadyJson().find("\"busy_poll_ms\":500.0"), std::string::npos) << (*server)->ReadyJson();
}

// A deadline shorter than the queued work: BUSY at once.
TEST(EdgeServer, RequestsThatCannotStartBeforeTheirDeadlineGetBusy) {
  auto server = runtime::EdgeServer::Start(OneAtATime("udp"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  runtime::LoadgenOptions l = WholeInputs(**server, "udp", 12, 4);
  l.deadline_s = 1e-6;
  auto r = runtime::RunLoadgen(l);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GT(r->busy, 0);
  EXPECT_EQ(r->lost, 0);
  EXPECT_EQ(r->corrupted, 0);
  EXPECT_EQ(r->sent, r->completed + r->busy);
}

// A control ping's answer: the pong's control block (or its absence).
Result<runtime::DynamicControl> Control(net::RequestClient& client, uint32_t id, const runtime::DynamicControl& c) {
  Bytes payload(runtime::kDynamicControlBytes);
  EXPECT_TRUE(runtime::EncodeDynamicControl(c, payload).ok());
  wire::MessageHeader h;
  h.type = wire::MessageType::kPing;
  h.request_id = id;
  h.dtype = DType::kUInt8;
  Bytes m(wire::EncodedMessageBytes(h, payload.size()));
  EXPECT_TRUE(wire::EncodeMessage(h, payload, m).ok());
  ES_ASSIGN_OR_RETURN(Bytes reply, client.Call(m, id, net::DeadlineIn(10), nullptr));
  ES_ASSIGN_OR_RETURN(wire::DecodedMessage pong, wire::DecodeMessage(reply));
  if (pong.header.type != wire::MessageType::kPong) return Internal("not a pong");
  return runtime::ParseDynamicControl(pong.payload);
}

// `serve --emulate` (what run --dynamic starts) obeys control pings and holds
// results to load x the profile's time; a real server ignores control blocks,
// so nobody on the network can change its behaviour with one.
TEST(EdgeServer, OnlyAnEmulatedServerObeysControlPings) {
  runtime::ServeOptions o = Serve("udp", "f32", 1);
  o.cuts = "input";
  o.emulate = "edge-x86";
  o.load = 2;
  auto lab = runtime::EdgeServer::Start(o);
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  auto real = runtime::EdgeServer::Start(Serve("udp", "f32", 1));
  ASSERT_TRUE(real.ok()) << real.status().message();
  auto channel = runtime::ResolveLink(o.link);
  ASSERT_TRUE(channel.ok());
  auto to_lab = net::RequestClient::Create(channel->channel, (*lab)->endpoint());
  auto to_real = net::RequestClient::Create(channel->channel, (*real)->endpoint());
  ASSERT_TRUE(to_lab.ok() && to_real.ok());

  runtime::DynamicControl probe;
  probe.flags = runtime::kControlProbe;
  auto answer = Control(**to_lab, 1, probe);
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(answer->flags, runtime::kControlSetLoad);
  EXPECT_EQ(answer->load, 2);
  runtime::DynamicControl set;
  set.flags = runtime::kControlSetLoad;
  set.load = 40;
  ASSERT_TRUE(Control(**to_lab, 2, set).ok());
  answer = Control(**to_lab, 3, probe);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->load, 40);

  ASSERT_TRUE(Control(**to_real, 1, set).ok());
  answer = Control(**to_real, 2, probe);  // echoed as sent: no load, nothing obeyed
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(answer->flags, runtime::kControlProbe);

  // A request to the lab server is held at least load x the profile's time for it.
  runtime::DeviceOptions d;
  d.model = kModel;
  d.split = "input";
  d.server = (*lab)->endpoint();
  d.link = o.link;
  d.requests = 2;
  auto report = runtime::RunDevice(d);
  ASSERT_TRUE(report.ok()) << report.status().message();
  auto graph = runtime::LoadExecutionGraph(kModel, "f32");
  auto x86 = LoadDeviceProfile(ProfilesDir(""), "edge-x86");
  ASSERT_TRUE(graph.ok() && x86.ok());
  const double predicted = RangeSeconds(*x86, *graph, 0, static_cast<int>(graph->nodes.size()));
  for (const runtime::DeviceRequest& q : report->requests) {
    EXPECT_EQ(q.outcome, "server") << q.error;
    EXPECT_TRUE(q.identical);
    EXPECT_GE(q.service_s, 40 * predicted * 0.999);
  }
}

// The CLI: `serve` prints one JSON line with `listening` and nothing else on
// stdout; `loadgen` verifies against it; SIGTERM ends it cleanly within 10 s.
TEST(EdgeServerCli, ServeLoadgenAndGracefulShutdown) {
  auto p = runtime::detail::NodeProcess::Spawn(
      EDGESPLIT_CLI_PATH, {"serve", kModel, "--listen", "127.0.0.1:0", "--link", "tcp", "--threads", "1", "--id", "cli-server", "--insecure"});
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto address = (*p)->WaitListening(net::DeadlineIn(60));
  ASSERT_TRUE(address.ok()) << address.status().message();
  const nlohmann::json j = testing::RunCliJson(std::string("loadgen ") + kModel + " --connect " + *address +
                                               " --link tcp --clients 4 --requests 5 --format json --insecure");
  EXPECT_EQ(j.value("sent", -1), 20);
  EXPECT_EQ(j.value("completed", -1), 20);
  EXPECT_EQ(j.value("lost", -1), 0);
  EXPECT_EQ(j["per_server"].value("cli-server", -1), 20);
  for (const char* key : {"schema_version", "sent", "completed", "busy", "lost", "duplicated", "corrupted", "p50_s", "p99_s",
                          "throughput_rps", "batch_sizes", "per_server", "deduplicated"})
    EXPECT_TRUE(j.contains(key)) << key;
  ASSERT_EQ(kill((*p)->pid(), SIGTERM), 0);
  const auto t0 = net::Clock::now();
  std::string reason;
  while ((reason = (*p)->ExitReason()).empty() && net::SecondsSince(t0) < 15)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(reason, "exited with status 0");
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {

// "Other machines": the server in one network namespace, a device in another,
// joined by a veth pair (scripts/netns.sh up; root only, skipped elsewhere).
TEST(EdgeServerNetns, DeviceAndServerInSeparateNamespacesGiveLocalResults) {
  const std::string script = std::string(EDGESPLIT_SOURCE_DIR) + "/scripts/netns.sh";
  const std::string dir = testing::MakeTempDir();
  if (std::system((script + " up >" + dir + "/up.out 2>" + dir + "/why").c_str()) != 0)
    GTEST_SKIP() << "network namespaces unavailable: " << testing::ReadFile(dir + "/why");
  struct Down {
    std::string script;
    ~Down() { (void)std::system((script + " down").c_str()); }
  } down{script};
  auto server = runtime::detail::NodeProcess::Spawn(
      "/usr/sbin/ip", {"netns", "exec", "es_a", EDGESPLIT_CLI_PATH, "serve", kModel, "--listen", "10.77.0.1:0", "--link",
                       "udp", "--threads", "1", "--id", "ns-server", "--insecure"});
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto address = (*server)->WaitListening(net::DeadlineIn(60));
  ASSERT_TRUE(address.ok()) << address.status().message();
  EXPECT_EQ(address->rfind("10.77.0.1:", 0), 0u) << *address;
  for (const char* split : {"input", "block_3_project_BN"}) {
    const std::string out = dir + "/device.json";
    const std::string cmd = std::string("ip netns exec es_b ") + EDGESPLIT_CLI_PATH + " device " + kModel + " --connect " +
                            *address + " --split " + split + " --requests 3 --format json --insecure >" + out + " 2>" + dir + "/err";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << testing::ReadFile(dir + "/err");
    const nlohmann::json j = nlohmann::json::parse(testing::ReadFile(out), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << testing::ReadFile(out);
    EXPECT_EQ(j.value("served", -1), 3) << j.dump();
    EXPECT_EQ(j.value("verified", -1), 3) << j.dump();
    for (const auto& r : j["requests"]) EXPECT_EQ(r.value("server", ""), "ns-server");
  }
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {

// A server stopped for 3 s (SIGSTOP) is waited for up to the request's own
// deadline: retransmission used to give up after a fixed number of rounds.
TEST(EdgeServerCli, AServerPausedForSecondsStillAnswersWithinTheDeadline) {
  auto p = runtime::detail::NodeProcess::Spawn(EDGESPLIT_CLI_PATH,
                                               {"serve", kModel, "--listen", "127.0.0.1:0", "--link", "udp", "--threads", "1", "--insecure"});
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto address = (*p)->WaitListening(net::DeadlineIn(60));
  ASSERT_TRUE(address.ok()) << address.status().message();
  auto at = net::ParseEndpoint(*address);
  ASSERT_TRUE(at.ok());
  auto client = net::RequestClient::Create(Channel(net::TransportKind::kUdp), *at);
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(kill((*p)->pid(), SIGSTOP), 0);
  std::thread resume([pid = (*p)->pid()] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    kill(pid, SIGCONT);
  });
  const Bytes ping = OpaqueMessage(wire::MessageType::kPing, 1, 3000, 9);
  auto reply = (*client)->Call(ping, 1, net::DeadlineIn(30), nullptr);
  resume.join();
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  auto d = wire::DecodeMessage(*reply);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->header.type, wire::MessageType::kPong);
  EXPECT_EQ(d->payload.size(), 3000u);
}

}  // namespace
}  // namespace edgesplit
