// The ARQ state machines, driven by a fake clock: FragmentSender and
// Reassembler over lossless, reordering, duplicating, corrupting and seeded
// lossy channels, to bit-exact delivery or a clear deadline error; and the
// allocation-free hot path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "edgesplit/wire.h"

namespace edgesplit::wire {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// An int8 tensor request of the given shape, encoded.
Bytes TensorMessage(std::vector<uint32_t> shape, uint32_t request_id, uint32_t seed = 1) {
  MessageHeader h;
  h.type = MessageType::kTensorRequest;
  h.request_id = request_id;
  h.cut_id = 31;
  h.dtype = DType::kInt8;
  h.rank = static_cast<uint8_t>(shape.size());
  size_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) n *= h.dims[i] = shape[i];
  h.quant_scale = 0.02f;
  Bytes out(EncodedMessageBytes(h.rank, n));
  Result<size_t> written = EncodeMessage(h, Pattern(n, seed), out);
  EXPECT_TRUE(written.ok()) << written.status().message();
  return out;
}

// All datagrams of one round from a fresh sender, in order.
std::vector<Bytes> Fragments(const Bytes& message, uint32_t request_id, size_t datagram_bytes) {
  std::vector<uint8_t> acked(BitmapBytes(kMaxFragments));
  FragmentSender sender(acked);
  ArqConfig config;
  config.datagram_bytes = datagram_bytes;
  EXPECT_TRUE(sender.Start(message, request_id, config, 0, 1000000).ok());
  std::vector<Bytes> out;
  Bytes buf(datagram_bytes);
  for (;;) {
    Result<size_t> n = sender.Poll(0, buf);
    EXPECT_TRUE(n.ok()) << n.status().message();
    if (!n.ok() || *n == 0) break;
    EXPECT_LE(*n, datagram_bytes);
    out.emplace_back(buf.begin(), buf.begin() + *n);
  }
  return out;
}

// A receiver with its own buffers.
struct Receiver {
  explicit Receiver(size_t capacity, size_t datagram_bytes = 250)
      : buffer(capacity), bitmap(BitmapBytes(kMaxFragments)), reply(datagram_bytes),
        reassembler(buffer, bitmap, Config(datagram_bytes)) {}
  static ReassemblerConfig Config(size_t datagram_bytes) {
    ReassemblerConfig c;
    c.datagram_bytes = datagram_bytes;
    return c;
  }
  ReceiveResult Feed(const Bytes& d, uint64_t now = 0) { return reassembler.OnDatagram(d, now, reply); }
  Bytes buffer, bitmap, reply;
  Reassembler reassembler;
};

class FragmentationSizes : public ::testing::TestWithParam<size_t> {};

TEST_P(FragmentationSizes, InOrderShuffledAndDuplicatedFragmentsReassembleBitExact) {
  const size_t datagram = GetParam();
  const Bytes message = TensorMessage({1, 112, 7, 7}, 7);  // the paper's 5,488-byte cut tensor
  std::vector<Bytes> fragments = Fragments(message, 7, datagram);
  ASSERT_EQ(fragments.size(), FragmentCount(message.size(), datagram));
  size_t on_link = 0;
  for (const Bytes& f : fragments) {
    ASSERT_LE(f.size(), datagram);
    on_link += f.size();
  }
  EXPECT_EQ(on_link, LinkBytesForMessage(message.size(), datagram));

  std::mt19937 rng(datagram);
  for (int order = 0; order < 2; ++order) {
    if (order == 1) std::shuffle(fragments.begin(), fragments.end(), rng);
    Receiver rx(message.size(), datagram);
    int completes = 0;
    for (size_t i = 0; i < fragments.size(); ++i) {
      const ReceiveResult r = rx.Feed(fragments[i]);
      ASSERT_NE(r.event, ReceiveEvent::kRejected) << r.status.message();
      completes += r.event == ReceiveEvent::kComplete;
      if (i + 1 < fragments.size()) {
        // A duplicate is recognised and not stored again.
        EXPECT_EQ(rx.Feed(fragments[i]).event, ReceiveEvent::kDuplicate);
      }
    }
    EXPECT_EQ(completes, 1);
    EXPECT_EQ(Bytes(rx.reassembler.message().begin(), rx.reassembler.message().end()), message);
    // Replaying every fragment afterwards never delivers the message again.
    for (const Bytes& f : fragments) EXPECT_EQ(rx.Feed(f).event, ReceiveEvent::kAlreadyDelivered);
  }
}

INSTANTIATE_TEST_SUITE_P(EspNowBleUdp, FragmentationSizes, ::testing::Values(250, 244, 1460, 20),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return "datagram" + std::to_string(info.param);
                         });

TEST(ReassemblerTest, RejectsReplaysStaleIdsAndInconsistentFragments) {
  const Bytes m5 = TensorMessage({1, 8, 8, 8}, 5);
  Receiver rx(4096);
  for (const Bytes& f : Fragments(m5, 5, 250)) rx.Feed(f);
  ASSERT_EQ(rx.reassembler.replay_window().highest(), 5u);
  // Replayed fragment: answered with a complete SACK, not delivered.
  const ReceiveResult again = rx.Feed(Fragments(m5, 5, 250)[0]);
  EXPECT_EQ(again.event, ReceiveEvent::kAlreadyDelivered);
  ASSERT_GT(again.reply_bytes, 0u);
  Result<Sack> sack = DecodeSack({rx.reply.data(), again.reply_bytes});
  ASSERT_TRUE(sack.ok());
  EXPECT_TRUE(sack->flags & kSackFlagComplete);

  // An id older than the replay window is rejected outright.
  const uint32_t newest = 5 + 2 * ReplayWindow::kWindow;
  for (const Bytes& f : Fragments(TensorMessage({1, 8, 8, 8}, newest), newest, 250)) rx.Feed(f);
  const ReceiveResult stale = rx.Feed(Fragments(TensorMessage({1, 8, 8, 8}, 6), 6, 250)[0]);
  EXPECT_EQ(stale.event, ReceiveEvent::kRejected);
  EXPECT_NE(stale.status.message().find("too old"), std::string::npos) << stale.status.message();

  // A fragment that disagrees with its request's earlier fragments.
  const uint32_t id = newest + 1;
  const std::vector<Bytes> a = Fragments(TensorMessage({1, 8, 8, 8}, id), id, 250);
  const std::vector<Bytes> b = Fragments(TensorMessage({1, 8, 8, 16}, id), id, 250);
  EXPECT_EQ(rx.Feed(a[0]).event, ReceiveEvent::kFragment);
  const ReceiveResult mixed = rx.Feed(b[1]);
  EXPECT_EQ(mixed.event, ReceiveEvent::kRejected);
  EXPECT_NE(mixed.status.message().find("earlier ones said"), std::string::npos) << mixed.status.message();

  // A newer request abandons the one in progress; the older one is then stale.
  const std::vector<Bytes> newer = Fragments(TensorMessage({1, 8, 8, 8}, id + 1), id + 1, 250);
  EXPECT_EQ(rx.Feed(newer[0]).event, ReceiveEvent::kFragment);
  const ReceiveResult older = rx.Feed(a[1]);
  EXPECT_EQ(older.event, ReceiveEvent::kRejected);
  EXPECT_NE(older.status.message().find("older than request"), std::string::npos) << older.status.message();
}

TEST(ReassemblerTest, ReusedIdWithOtherBytesIsRejectedNotFalselyCompleted) {
  // A client that restarted and numbers from 1 again must not be told
  // "complete" for a message the receiver never saw.
  Receiver rx(4096);
  for (const Bytes& f : Fragments(TensorMessage({1, 8, 8, 8}, 1, /*seed=*/1), 1, 250)) rx.Feed(f);
  for (const Bytes& f : Fragments(TensorMessage({1, 8, 8, 8}, 2, /*seed=*/2), 2, 250)) rx.Feed(f);
  const Bytes restarted = TensorMessage({1, 8, 8, 8}, 2, /*seed=*/3);  // same id 2, new tensor
  Bytes acked(8), buf(250);
  FragmentSender tx(acked);
  ASSERT_TRUE(tx.Start(restarted, 2, ArqConfig{}, 0, 1000000).ok());
  Result<size_t> n = tx.Poll(0, buf);
  ASSERT_TRUE(n.ok() && *n > 0);
  const ReceiveResult r = rx.Feed(Bytes(buf.begin(), buf.begin() + *n));
  ASSERT_EQ(r.event, ReceiveEvent::kRejected);
  EXPECT_NE(r.status.message().find("already delivered (replay)"), std::string::npos) << r.status.message();
  ASSERT_GT(r.reply_bytes, 0u);
  EXPECT_FALSE(tx.OnDatagram({rx.reply.data(), r.reply_bytes}, 1).ok());
  EXPECT_FALSE(tx.done());
  Result<size_t> after = tx.Poll(2, buf);
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("replayed or stale request id"), std::string::npos);
  // An id delivered before the latest one is refused the same way.
  const ReceiveResult older = rx.Feed(Fragments(TensorMessage({1, 8, 8, 8}, 1, 1), 1, 250)[0]);
  EXPECT_EQ(older.event, ReceiveEvent::kRejected);
  EXPECT_GT(older.reply_bytes, 0u);
}

TEST(ReassemblerTest, CorruptedFragmentsAreDroppedNeverDelivered) {
  const Bytes message = TensorMessage({1, 16, 8, 8}, 9);
  const std::vector<Bytes> fragments = Fragments(message, 9, 250);
  Receiver rx(message.size());
  // Every single-bit flip of every fragment is rejected (each has its own CRC).
  for (const Bytes& f : fragments) {
    for (size_t bit = 0; bit < 8 * f.size(); bit += 7) {
      Bytes flipped = f;
      flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      const ReceiveResult r = rx.Feed(flipped);
      ASSERT_EQ(r.event, ReceiveEvent::kRejected) << "bit " << bit;
      EXPECT_FALSE(r.status.ok());
    }
  }
  for (const Bytes& f : fragments) rx.Feed(f);
  EXPECT_EQ(Bytes(rx.reassembler.message().begin(), rx.reassembler.message().end()), message);
}

TEST(ReassemblerTest, MessageFailingItsOwnChecksIsRejectedWithSack) {
  // Valid fragments of bytes that are not a valid message (bad message CRC).
  Bytes message = TensorMessage({1, 4, 8, 8}, 3);
  message[50] ^= 1;
  Receiver rx(message.size());
  ReceiveResult last;
  for (const Bytes& f : Fragments(message, 3, 250)) last = rx.Feed(f);
  EXPECT_EQ(last.event, ReceiveEvent::kRejected);
  EXPECT_NE(last.status.message().find("CRC32 mismatch"), std::string::npos) << last.status.message();
  ASSERT_GT(last.reply_bytes, 0u);
  EXPECT_TRUE(DecodeSack({rx.reply.data(), last.reply_bytes})->flags & kSackFlagRejected);
  EXPECT_TRUE(rx.reassembler.message().empty());
}

TEST(ArqTest, OversizedRequestIsRejectedAndTheSenderStopsWithAClearError) {
  const Bytes message = TensorMessage({1, 32, 16, 16}, 1);  // 8 KiB
  Receiver rx(4096);
  Bytes acked(BitmapBytes(64)), buf(250);
  FragmentSender tx(acked);
  ASSERT_TRUE(tx.Start(message, 1, ArqConfig{}, 0, 1000000).ok());
  Result<size_t> n = tx.Poll(0, buf);
  ASSERT_TRUE(n.ok() && *n > 0);
  const ReceiveResult r = rx.Feed(Bytes(buf.begin(), buf.begin() + *n));
  ASSERT_EQ(r.event, ReceiveEvent::kRejected);
  EXPECT_NE(r.status.message().find("exceeds the receive buffer of 4096"), std::string::npos) << r.status.message();
  ASSERT_GT(r.reply_bytes, 0u);
  Status s = tx.OnDatagram({rx.reply.data(), r.reply_bytes}, 10);
  EXPECT_FALSE(s.ok());
  Result<size_t> after = tx.Poll(20, buf);
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("receiver rejected request 1"), std::string::npos);
}

TEST(ArqTest, SenderRefusesBadStarts) {
  Bytes acked(4), message(2000, 1);
  FragmentSender tx(acked);
  ArqConfig config;
  EXPECT_FALSE(tx.Start(message, 1, config, 100, 100).ok());  // no deadline left
  EXPECT_FALSE(tx.Start({}, 1, config, 0, 100).ok());
  config.datagram_bytes = 19;
  EXPECT_FALSE(tx.Start(message, 1, config, 0, 100).ok());
  config.datagram_bytes = 20;  // 1000 fragments: more than a 4-byte bitmap holds
  Status s = tx.Start(message, 1, config, 0, 100);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("too small for 1000 fragments"), std::string::npos) << s.message();
  Bytes out(20);
  EXPECT_FALSE(tx.Poll(0, out).ok());  // never started
}

// A one-way datagram channel with seeded loss, bit corruption and jitter
// (jitter reorders). Time is the test's fake clock.
class LossyChannel {
 public:
  LossyChannel(uint64_t seed, double loss, double corruption, uint64_t latency_us, uint64_t jitter_us)
      : rng_(seed), loss_(loss), corruption_(corruption), latency_us_(latency_us), jitter_us_(jitter_us) {}
  void Send(const uint8_t* data, size_t size, uint64_t now_us) {
    ++sent_;
    if (Uniform() < loss_) return;
    Bytes d(data, data + size);
    if (Uniform() < corruption_) d[rng_() % size] ^= static_cast<uint8_t>(1u << (rng_() % 8));
    const uint64_t jitter = jitter_us_ ? rng_() % jitter_us_ : 0;
    queue_.push_back({now_us + latency_us_ + jitter, std::move(d)});
  }
  // The next datagram due by now (earliest first), if any.
  bool Receive(uint64_t now_us, Bytes* out) {
    auto due = std::min_element(queue_.begin(), queue_.end(), [](auto& a, auto& b) { return a.at < b.at; });
    if (due == queue_.end() || due->at > now_us) return false;
    *out = std::move(due->bytes);
    queue_.erase(due);
    return true;
  }
  uint64_t NextArrival() const {
    uint64_t t = UINT64_MAX;
    for (const auto& q : queue_) t = std::min(t, q.at);
    return t;
  }
  uint64_t sent() const { return sent_; }

 private:
  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  struct InFlight {
    uint64_t at;
    Bytes bytes;
  };
  std::mt19937_64 rng_;
  double loss_, corruption_;
  uint64_t latency_us_, jitter_us_;
  std::deque<InFlight> queue_;
  uint64_t sent_ = 0;
};

struct LinkCase {
  size_t datagram_bytes;
  double loss;
  std::vector<uint32_t> shape;
};

struct Outcome {
  Status status;          // the sender's final verdict
  Bytes delivered;        // what the receiver handed up (empty if nothing)
  int completes = 0;      // how many times it handed something up
  uint32_t rounds = 0;
  uint64_t datagrams = 0;
  uint64_t finished_us = 0;
};

// Drives one request through sender -> channel -> reassembler -> channel ->
// sender until the sender is done or fails. Airtime 200 us per datagram,
// latency 1 ms + up to `jitter_us` (which reorders): a scaled-down ESP-NOW.
Outcome RunRequest(const Bytes& message, uint32_t request_id, const ArqConfig& config, uint64_t deadline_us,
                   double loss, double corruption, uint64_t seed, uint64_t jitter_us = 2000) {
  LossyChannel up(seed, loss, corruption, 1000, jitter_us), down(seed + 1, loss, corruption, 1000, jitter_us);
  Bytes acked(BitmapBytes(kMaxFragments)), tx_buf(config.datagram_bytes), datagram;
  Receiver rx(message.size() + 64, config.datagram_bytes);
  FragmentSender tx(acked);
  Outcome o;
  uint64_t now = 0;
  o.status = tx.Start(message, request_id, config, now, deadline_us);
  for (int step = 0; o.status.ok() && !tx.done() && step < 1000000; ++step) {
    for (;;) {
      Result<size_t> n = tx.Poll(now, tx_buf);
      if (!n.ok()) o.status = n.status();
      if (!n.ok() || *n == 0) break;
      up.Send(tx_buf.data(), *n, now);
      now += 200;
    }
    if (!o.status.ok()) break;
    while (up.Receive(now, &datagram)) {
      const ReceiveResult r = rx.Feed(datagram, now);
      if (r.event == ReceiveEvent::kComplete) {
        ++o.completes;
        o.delivered.assign(rx.reassembler.message().begin(), rx.reassembler.message().end());
      }
      if (r.reply_bytes > 0) down.Send(rx.reply.data(), r.reply_bytes, now);
    }
    while (down.Receive(now, &datagram)) tx.OnDatagram(datagram, now).ok();  // corrupt SACKs are dropped
    if (tx.done()) break;
    // Sleep until something can happen.
    const uint64_t wake = std::min({tx.next_wake_us(), up.NextArrival(), down.NextArrival()});
    now = std::max(now, wake);
  }
  o.rounds = tx.rounds();
  o.datagrams = tx.datagrams_sent();
  o.finished_us = now;
  return o;
}

// Readable test names and ctest entries: "datagram250_loss20", ...
void PrintTo(const LinkCase& c, std::ostream* os) {
  *os << "datagram" << c.datagram_bytes << "_loss" << static_cast<int>(c.loss * 100 + 0.5);
}

class LossyLink : public ::testing::TestWithParam<LinkCase> {};

TEST_P(LossyLink, DeliversBitExactOnceOrNamesTheDeadline) {
  const LinkCase& c = GetParam();
  const Bytes message = TensorMessage(c.shape, 42, 9);
  ArqConfig config;
  config.datagram_bytes = c.datagram_bytes;
  config.rto_us = 20000;
  config.max_rounds = 24;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    // Loss comes with corruption (a quarter as often) and reordering; the
    // lossless case is a clean link, so it must take exactly one round.
    const Outcome o = RunRequest(message, 42, config, 20000000, c.loss, c.loss / 4, seed, c.loss > 0 ? 2000 : 0);
    ASSERT_TRUE(o.status.ok()) << "seed " << seed << ": " << o.status.message();
    EXPECT_EQ(o.completes, 1) << "seed " << seed;
    EXPECT_EQ(o.delivered, message) << "seed " << seed;
    if (c.loss >= 0.2) {
      EXPECT_GT(o.rounds, 1u) << "seed " << seed << ": the channel lost nothing?";
    }
    if (c.loss == 0) {
      EXPECT_EQ(o.rounds, 1u);
      EXPECT_EQ(o.datagrams, FragmentCount(message.size(), c.datagram_bytes));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    ZeroFiveTwentyPercent, LossyLink,
    ::testing::Values(LinkCase{250, 0.0, {1, 112, 7, 7}}, LinkCase{250, 0.05, {1, 112, 7, 7}},
                      LinkCase{250, 0.20, {1, 112, 7, 7}}, LinkCase{244, 0.0, {1, 112, 7, 7}},
                      LinkCase{244, 0.05, {1, 112, 7, 7}}, LinkCase{244, 0.20, {1, 112, 7, 7}},
                      LinkCase{1460, 0.0, {1, 32, 28, 28}}, LinkCase{1460, 0.05, {1, 32, 28, 28}},
                      LinkCase{1460, 0.20, {1, 32, 28, 28}}, LinkCase{20, 0.0, {1, 8, 8, 8}},
                      LinkCase{20, 0.05, {1, 8, 8, 8}}, LinkCase{20, 0.20, {1, 2, 8, 8}}),
    [](const ::testing::TestParamInfo<LinkCase>& info) { return ::testing::PrintToString(info.param); });

TEST(ArqTest, TightDeadlineOnALossyLinkIsAClearError) {
  const Bytes message = TensorMessage({1, 112, 7, 7}, 8);
  ArqConfig config;
  config.rto_us = 20000;
  const Outcome o = RunRequest(message, 8, config, 6000, 0.2, 0.0, 3);
  ASSERT_FALSE(o.status.ok());
  EXPECT_EQ(o.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(o.status.message().find("request 8: deadline passed"), std::string::npos) << o.status.message();
  EXPECT_EQ(o.completes, 0);
  EXPECT_LE(o.finished_us, 6000u + 200u);  // gave up at the deadline, not later
}

TEST(ArqTest, DeadLinkFailsAfterBoundedRounds) {
  const Bytes message = TensorMessage({1, 16, 8, 8}, 2);
  ArqConfig config;
  config.rto_us = 10000;
  config.max_rounds = 4;
  const Outcome o = RunRequest(message, 2, config, 10000000, 1.0, 0.0, 1);
  ASSERT_FALSE(o.status.ok());
  EXPECT_EQ(o.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(o.status.message().find("not delivered after 4 rounds"), std::string::npos) << o.status.message();
  EXPECT_EQ(o.rounds, 4u);
  // One full round, then one probe per timeout.
  EXPECT_EQ(o.datagrams, FragmentCount(message.size(), config.datagram_bytes) + 3);
}

TEST(ArqTest, LostSackIsRecoveredByTimeoutAndDuplicateGetsCompleteSack) {
  // Deliver every fragment but drop the first SACK: the sender resends after
  // the RTO, the receiver answers "complete" without delivering twice.
  const Bytes message = TensorMessage({1, 8, 8, 8}, 4);
  Bytes acked(8), buf(250);
  FragmentSender tx(acked);
  Receiver rx(message.size());
  ArqConfig config;
  config.rto_us = 1000;
  ASSERT_TRUE(tx.Start(message, 4, config, 0, 100000).ok());
  int completes = 0;
  uint64_t now = 0;
  for (Result<size_t> n = tx.Poll(now, buf); n.ok() && *n > 0; n = tx.Poll(now, buf))
    completes += rx.Feed(Bytes(buf.begin(), buf.begin() + *n)).event == ReceiveEvent::kComplete;
  ASSERT_EQ(completes, 1);
  EXPECT_FALSE(tx.done());
  EXPECT_EQ(tx.next_wake_us(), 1000u);
  now = 1000;
  Result<size_t> n = tx.Poll(now, buf);  // round 2
  ASSERT_TRUE(n.ok() && *n > 0) << n.status().message();
  const ReceiveResult r = rx.Feed(Bytes(buf.begin(), buf.begin() + *n));
  EXPECT_EQ(r.event, ReceiveEvent::kAlreadyDelivered);
  ASSERT_TRUE(tx.OnDatagram({rx.reply.data(), r.reply_bytes}, now).ok());
  EXPECT_TRUE(tx.done());
  EXPECT_EQ(tx.rounds(), 2u);
  Result<size_t> idle = tx.Poll(now, buf);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(*idle, 0u);
}

TEST(ArqTest, HotPathAllocatesNothing) {
  const Bytes message = TensorMessage({1, 112, 7, 7}, 10);
  MessageHeader header;
  header.type = MessageType::kTensorRequest;
  header.request_id = 10;
  header.dtype = DType::kInt8;
  header.rank = 4;
  header.dims[0] = 1;
  header.dims[1] = 112;
  header.dims[2] = header.dims[3] = 7;
  Bytes payload(5488, 3), frame(message.size()), acked(8), buf(250);
  Receiver rx(message.size());
  FragmentSender tx(acked);
  {
    const long probe = testing::AllocationCount();
    auto* counted = new std::vector<int>(100);
    EXPECT_GT(testing::AllocationCount(), probe) << "allocation counting does not work";
    delete counted;
  }
  const long before = testing::AllocationCount();
  int completes = 0;
  for (uint32_t id = 10; id < 13; ++id) {
    header.request_id = id;
    const bool encoded = EncodeMessage(header, payload, frame).ok();
    const bool decoded = DecodeMessage(frame).ok();
    const bool started = tx.Start(frame, id, ArqConfig{}, 0, 1000000).ok();
    for (Result<size_t> n = tx.Poll(0, buf); n.ok() && *n > 0; n = tx.Poll(0, buf)) {
      const ReceiveResult r = rx.reassembler.OnDatagram({buf.data(), *n}, 0, rx.reply);
      completes += r.event == ReceiveEvent::kComplete;
      if (r.reply_bytes > 0) tx.OnDatagram({rx.reply.data(), r.reply_bytes}, 0).ok();
    }
    if (!encoded || !decoded || !started || !tx.done()) ADD_FAILURE() << "request " << id << " failed";
  }
  const long allocations = testing::AllocationCount() - before;
  EXPECT_EQ(completes, 3);
  EXPECT_EQ(allocations, 0);
}

}  // namespace
}  // namespace edgesplit::wire
