// Transports and the link shaper: real loopback sockets, deadlines, pacing and loss.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "edgesplit/net.h"
#include "edgesplit/wire.h"
#include "../src/net/sockets.h"  // the module's sockets and shaper

namespace edgesplit::net {
namespace {

TEST(Endpoint, ParsesHostPortAndBarePort) {
  auto a = ParseEndpoint("127.0.0.1:5000");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 5000);
  auto b = ParseEndpoint("6001");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 6001);
  for (const char* bad : {"", "host:", "1.2.3.4:70000", "1.2.3.4:12x", "x"}) {
    auto r = ParseEndpoint(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("HOST:PORT"), std::string::npos);
    }
  }
}

TEST(Udp, DatagramsCrossLoopbackAndReceiveHonoursItsDeadline) {
  auto a = DatagramSocket::Bind({"127.0.0.1", 0});
  auto b = DatagramSocket::Bind({"127.0.0.1", 0});
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<uint8_t> sent = {1, 2, 3, 250, 0, 7};
  ASSERT_TRUE((*a)->SendTo((*b)->local_endpoint(), sent).ok());
  std::vector<uint8_t> buffer(2048);
  Endpoint from;
  auto got = (*b)->ReceiveFrom(buffer, &from, DeadlineIn(2.0));
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(std::vector<uint8_t>(buffer.begin(), buffer.begin() + static_cast<long>(**got)), sent);
  EXPECT_EQ(from.port, (*a)->local_endpoint().port);

  const auto t0 = Clock::now();
  auto none = (*b)->ReceiveFrom(buffer, &from, DeadlineIn(0.05));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_GE(SecondsSince(t0), 0.045);
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST(Udp, BindingAnAddressInUseFailsNamingIt) {
  auto a = DatagramSocket::Bind({"127.0.0.1", 0});
  ASSERT_TRUE(a.ok());
  auto b = DatagramSocket::Bind((*a)->local_endpoint());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find((*a)->local_endpoint().ToString()), std::string::npos);
  EXPECT_FALSE(DatagramSocket::Bind({"not-an-ip", 0}).ok());
}

TEST(Tcp, StreamsCarryBytesAndTimeOutCleanly) {
  auto listener = TcpListener::Listen({"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok()) << listener.status().message();
  const Endpoint at = (*listener)->local_endpoint();
  std::vector<uint8_t> payload(300000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 131 + 7);
  std::thread client([&] {
    auto s = TcpStream::Connect(at, DeadlineIn(2.0));
    ASSERT_TRUE(s.ok()) << s.status().message();
    ASSERT_TRUE((*s)->WriteAll(payload, DeadlineIn(5.0)).ok());
  });
  auto accepted = (*listener)->Accept(DeadlineIn(2.0));
  ASSERT_TRUE(accepted.ok() && accepted->has_value());
  std::unique_ptr<TcpStream> server = std::move(**accepted);
  std::vector<uint8_t> got(payload.size());
  auto read = server->ReadExact(got, DeadlineIn(5.0));
  client.join();
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_TRUE(*read);
  EXPECT_EQ(got, payload);
  // The client closed: a clean end of stream, not an error.
  std::vector<uint8_t> more(4);
  auto eof = server->ReadExact(more, DeadlineIn(1.0));
  ASSERT_TRUE(eof.ok()) << eof.status().message();
  EXPECT_FALSE(*eof);
  // Nobody connects: Accept returns nothing by its deadline.
  const auto t0 = Clock::now();
  auto none = (*listener)->Accept(DeadlineIn(0.05));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST(Tcp, ConnectingToAClosedPortFailsNamingTheEndpoint) {
  Endpoint closed;
  {
    auto l = TcpListener::Listen({"127.0.0.1", 0});
    ASSERT_TRUE(l.ok());
    closed = (*l)->local_endpoint();
  }
  auto s = TcpStream::Connect(closed, DeadlineIn(1.0));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(closed.ToString()), std::string::npos);
}

TEST(Tcp, ReadTimesOutMidBufferWithAClearError) {
  auto listener = TcpListener::Listen({"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  auto client = TcpStream::Connect((*listener)->local_endpoint(), DeadlineIn(1.0));
  ASSERT_TRUE(client.ok());
  auto server = (*listener)->Accept(DeadlineIn(1.0));
  ASSERT_TRUE(server.ok() && server->has_value());
  const std::vector<uint8_t> half = {1, 2, 3};
  ASSERT_TRUE((*client)->WriteAll(half, DeadlineIn(1.0)).ok());
  std::vector<uint8_t> want(8);
  auto r = (**server)->ReadExact(want, DeadlineIn(0.05));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out after 3 of 8"), std::string::npos) << r.status().message();
}

ShaperConfig EspNowLike() {
  ShaperConfig c;
  c.enabled = true;
  c.per_message_s = 0.004;
  c.per_frame_s = 0.0012;
  c.bytes_per_s = 125000;
  return c;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST(Shaper, AMessageTakesThePlannersTransferTime) {
  // 5,488 B in 22 frames of <= 250 B: 4 ms + 22 x 1.2 ms + 5488 / 125000 s = 74.3 ms (docs/calibration.md).
  LinkShaper shaper(EspNowLike());
  const auto t0 = Clock::now();
  shaper.BeginMessage(t0);
  Clock::time_point last = t0;
  for (int64_t left = 5488; left > 0; left -= 250) last = shaper.Release(t0, std::min<int64_t>(left, 250));
  EXPECT_NEAR(Seconds(last - t0), 0.0743, 1e-4);
  EXPECT_NEAR(shaper.MessageSeconds(5488, 22), 0.0743, 1e-4);
}

TEST(Shaper, TimeScaleShrinksEveryDuration) {
  ShaperConfig c = EspNowLike();
  c.time_scale = 0.01;
  LinkShaper shaper(c);
  const auto t0 = Clock::now();
  shaper.BeginMessage(t0);
  const auto r = shaper.Release(t0, 250);
  EXPECT_NEAR(Seconds(r - t0), 0.01 * (0.004 + 0.0012 + 0.002), 1e-7);
}

TEST(Shaper, BleWritesRideConnectionEvents) {
  ShaperConfig c;
  c.enabled = true;
  c.bytes_per_s = 1e9;  // isolate the connection events
  c.frames_per_interval = 4;
  c.interval_s = 0.015;
  LinkShaper shaper(c);
  const auto t0 = Clock::now();
  shaper.BeginMessage(t0);
  std::vector<double> at;
  for (int i = 0; i < 9; ++i) at.push_back(Seconds(shaper.Release(t0, 244) - t0));
  EXPECT_LT(at[3], 0.001);                 // first event: 4 writes
  EXPECT_NEAR(at[4], 0.015, 1e-4);         // the fifth waits for the next event
  EXPECT_NEAR(at[8], 0.030, 1e-4);         // the ninth for the third
}

TEST(Shaper, LossRateMatchesTheConfigurationAndIsSeeded) {
  for (double loss : {0.0, 0.05, 0.2}) {
    ShaperConfig c = EspNowLike();
    c.loss = loss;
    c.seed = 42;
    LinkShaper a(c), b(c);
    int dropped = 0;
    for (int i = 0; i < 20000; ++i) {
      const bool da = a.Drop();
      EXPECT_EQ(da, b.Drop());
      dropped += da;
    }
    EXPECT_NEAR(dropped / 20000.0, loss, 0.01) << loss;
  }
}

TEST(Shaper, DisabledShaperNeitherDelaysNorDrops) {
  ShaperConfig c = EspNowLike();
  c.enabled = false;
  c.loss = 0.9;
  LinkShaper s(c);
  const auto t0 = Clock::now();
  s.BeginMessage(t0);
  EXPECT_EQ(s.Release(t0, 250), t0);
  EXPECT_FALSE(s.Drop());
}

TEST(Shaper, ShapedSenderPacesRealDatagrams) {
  auto a = DatagramSocket::Bind({"127.0.0.1", 0});
  auto b = DatagramSocket::Bind({"127.0.0.1", 0});
  ASSERT_TRUE(a.ok() && b.ok());
  ShaperConfig c = EspNowLike();
  c.time_scale = 0.5;  // 10 frames: 0.5 x (4 + 10 x 3.2) ms = 18 ms
  ShapedSender sender(a->get(), c);
  std::vector<uint8_t> frame(250, 9);
  const auto t0 = Clock::now();
  sender.BeginMessage();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sender.SendFrame((*b)->local_endpoint(), frame).ok());
  const double took = SecondsSince(t0);
  EXPECT_GE(took, 0.018);
  EXPECT_LT(took, 0.5);
  std::vector<uint8_t> buf(512);
  int received = 0;
  while (true) {
    auto r = (*b)->ReceiveFrom(buf, nullptr, DeadlineIn(0.05));
    ASSERT_TRUE(r.ok());
    if (!r->has_value()) break;
    EXPECT_EQ(**r, 250u);
    ++received;
  }
  EXPECT_EQ(received, 10);
}

TEST(Links, FramePayloadsAreTheRadiosLimits) {
  LinkProfile espnow;
  espnow.payload_bytes = 250;
  EXPECT_EQ(FramePayloadBytes(espnow, TransportKind::kEspNow), 250);
  LinkProfile udp;
  udp.payload_bytes = 1472;
  EXPECT_EQ(FramePayloadBytes(udp, TransportKind::kUdp), 1460);
  auto k = ParseTransportKind("ble");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, TransportKind::kBle);
  EXPECT_FALSE(ParseTransportKind("zigbee").ok());
}

}  // namespace
}  // namespace edgesplit::net

namespace edgesplit::net {
namespace {

// A wire message (kPing) of `n` pseudo-random payload bytes: what channels carry.
std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> payload(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : payload) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  wire::MessageHeader h;
  h.type = wire::MessageType::kPing;
  h.request_id = seed;
  h.dtype = DType::kUInt8;
  std::vector<uint8_t> out(wire::EncodedMessageBytes(0, n));
  EXPECT_TRUE(wire::EncodeMessage(h, payload, out).ok());
  return out;
}

TEST(Channel, UnshapedDatagramMessagesArriveWhole) {
  ChannelOptions o;
  o.kind = TransportKind::kUdp;
  auto rx = MessageReceiver::Create(o, {"127.0.0.1", 0});
  ASSERT_TRUE(rx.ok()) << rx.status().message();
  auto tx = MessageSender::Create(o, (*rx)->local_endpoint());
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  for (uint32_t id = 1; id <= 3; ++id) {
    const std::vector<uint8_t> m = Pattern(4000, id);
    SendReport rep;
    const Status sent = (*tx)->Send(m, id, DeadlineIn(2), &rep);
    ASSERT_TRUE(sent.ok()) << sent.message();
    EXPECT_EQ(rep.fragments, 3);
    // Not a timing bound (a loaded machine can delay any send): on lossless
    // loopback nothing is ever sent twice.
    EXPECT_EQ(rep.retransmissions, 0) << "an unshaped loopback message should not need a retransmission";
    auto got = (*rx)->Receive(DeadlineIn(2));
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ(**got, m);
  }
}

}  // namespace
}  // namespace edgesplit::net

namespace edgesplit::net {
namespace {

TEST(Channel, ShapedDatagramMessageTakesTheShapersTimeWithoutRetransmission) {
  ChannelOptions o;
  o.kind = TransportKind::kBle;
  o.datagram_bytes = 244;
  o.shaper.enabled = true;
  o.shaper.per_message_s = 0.0147;
  o.shaper.bytes_per_s = 91250;
  o.shaper.time_scale = 0.25;
  o.rto_s = 0.02;
  auto rx = MessageReceiver::Create(o, {"127.0.0.1", 0});
  ASSERT_TRUE(rx.ok()) << rx.status().message();
  auto tx = MessageSender::Create(o, (*rx)->local_endpoint());
  ASSERT_TRUE(tx.ok());
  const std::vector<uint8_t> m = Pattern(4032, 5);
  SendReport rep;
  const Status sent = (*tx)->Send(m, 5, DeadlineIn(5), &rep);
  ASSERT_TRUE(sent.ok()) << sent.message();
  EXPECT_EQ(rep.retransmissions, 0);
  // 19 frames: 14.7 ms + (4,076 B + 19 x 18 B) / 91,250 B/s = 63 ms emulated, 16 ms here.
  EXPECT_GT(rep.transfer_s, 0.25 * 0.060);
  EXPECT_LT(rep.transfer_s, 0.25 * 0.060 + 0.012) << rep.retransmissions << " retransmissions";
  auto got = (*rx)->Receive(DeadlineIn(2));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, m);
}

}  // namespace
}  // namespace edgesplit::net

namespace edgesplit::net {
namespace {

// Crafted datagrams straight at a receiver: nothing bad may be delivered.
class CraftedFrames : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.kind = TransportKind::kEspNow;
    options_.datagram_bytes = 250;
    options_.max_message_bytes = 4096;
    auto rx = MessageReceiver::Create(options_, {"127.0.0.1", 0});
    ASSERT_TRUE(rx.ok());
    rx_ = std::move(rx).value();
    auto s = DatagramSocket::Bind({"127.0.0.1", 0});
    ASSERT_TRUE(s.ok());
    raw_ = std::move(s).value();
  }
  // The fragments of message `m` as request `id`, 250-byte datagrams.
  std::vector<std::vector<uint8_t>> Fragments(const std::vector<uint8_t>& m, uint32_t id) {
    std::vector<std::vector<uint8_t>> out;
    const size_t chunk = wire::FragmentPayloadBytes(250);
    const size_t count = wire::FragmentCount(m.size(), 250);
    for (size_t i = 0; i < count; ++i) {
      wire::FragmentHeader h;
      h.request_id = id;
      h.index = static_cast<uint16_t>(i);
      h.count = static_cast<uint16_t>(count);
      h.total_length = static_cast<uint32_t>(m.size());
      if (i + 1 == count) h.flags = wire::kFragmentFlagPoll;
      const size_t n = std::min(chunk, m.size() - i * chunk);
      std::vector<uint8_t> d(250);
      auto size = wire::EncodeFragment(h, std::span<const uint8_t>(m.data() + i * chunk, n), d);
      EXPECT_TRUE(size.ok());
      d.resize(*size);
      out.push_back(d);
    }
    return out;
  }
  void SendAll(const std::vector<std::vector<uint8_t>>& ds) {
    for (const auto& d : ds) ASSERT_TRUE(raw_->SendTo(rx_->local_endpoint(), d).ok());
  }
  bool Delivered(double seconds = 0.1) {
    auto got = rx_->Receive(DeadlineIn(seconds));
    return got.ok() && got->has_value();
  }
  ChannelOptions options_;
  std::unique_ptr<MessageReceiver> rx_;
  std::unique_ptr<DatagramSocket> raw_;
};

TEST_F(CraftedFrames, IntactMessageIsDeliveredOnceAndItsReplayIsNot) {
  const auto frags = Fragments(Pattern(1000, 7), 7);
  SendAll(frags);
  EXPECT_TRUE(Delivered(2.0));
  SendAll(frags);  // replayed
  EXPECT_FALSE(Delivered());
}

TEST_F(CraftedFrames, CorruptedFragmentIsRejected) {
  auto frags = Fragments(Pattern(1000, 8), 8);
  frags[1][40] ^= 0x10;  // a payload bit: the fragment CRC no longer matches
  SendAll(frags);
  EXPECT_FALSE(Delivered());
  EXPECT_GE(rx_->rejected(), 1);
  EXPECT_FALSE(rx_->last_rejection().empty());
}

TEST_F(CraftedFrames, TruncatedFragmentIsRejected) {
  auto frags = Fragments(Pattern(1000, 9), 9);
  frags[0].resize(frags[0].size() - 7);
  SendAll(frags);
  EXPECT_FALSE(Delivered());
  EXPECT_GE(rx_->rejected(), 1);
}

TEST_F(CraftedFrames, OversizedMessageIsRejected) {
  SendAll(Fragments(Pattern(6000, 10), 10));  // the receiver accepts at most 4,096 bytes
  EXPECT_FALSE(Delivered());
  EXPECT_GE(rx_->rejected(), 1);
}

TEST_F(CraftedFrames, GarbageDatagramsAreRejectedNotDelivered) {
  std::vector<uint8_t> junk(200, 0xAB);
  ASSERT_TRUE(raw_->SendTo(rx_->local_endpoint(), junk).ok());
  ASSERT_TRUE(raw_->SendTo(rx_->local_endpoint(), std::vector<uint8_t>{}).ok());
  EXPECT_FALSE(Delivered());
  EXPECT_GE(rx_->rejected(), 1);
}

TEST(Channel, TcpReceiverDropsAStreamThatSendsGarbage) {
  ChannelOptions o;
  o.kind = TransportKind::kTcp;
  auto rx = MessageReceiver::Create(o, {"127.0.0.1", 0});
  ASSERT_TRUE(rx.ok());
  auto s = TcpStream::Connect((*rx)->local_endpoint(), DeadlineIn(1));
  ASSERT_TRUE(s.ok());
  std::vector<uint8_t> bad = Pattern(500, 3);
  bad[bad.size() - 1] ^= 0xFF;  // CRC mismatch
  ASSERT_TRUE((*s)->WriteAll(bad, DeadlineIn(1)).ok());
  auto got = (*rx)->Receive(DeadlineIn(0.3));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ((*rx)->rejected(), 1);
  // A new connection with a good message still gets through.
  auto s2 = TcpStream::Connect((*rx)->local_endpoint(), DeadlineIn(1));
  ASSERT_TRUE(s2.ok());
  const auto good = Pattern(500, 4);
  ASSERT_TRUE((*s2)->WriteAll(good, DeadlineIn(1)).ok());
  auto ok = (*rx)->Receive(DeadlineIn(2));
  ASSERT_TRUE(ok.ok() && ok->has_value());
  EXPECT_EQ(**ok, good);
}

}  // namespace
}  // namespace edgesplit::net
