// The wire format's bytes: CRC32 against published check values, message and
// datagram round trips, and crafted frames (truncated, bit-flipped, replayed,
// oversized, inconsistent) that must all be rejected. The ARQ state machines
// are in wire_arq_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "edgesplit/wire.h"

namespace edgesplit::wire {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Ascii(const std::string& s) { return Bytes(s.begin(), s.end()); }

// Bit-at-a-time CRC32 straight from the polynomial: an oracle independent of
// the table-driven implementation.
uint32_t BitwiseCrc32(const Bytes& bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : bytes) {
    c ^= b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
// Recomputes a message's CRC trailer after the test edited its bytes, so the
// edit reaches the field checks instead of stopping at the CRC.
void ResealMessage(Bytes& m) { PutLe32(m.data() + m.size() - 4, Crc32({m.data(), m.size() - 4})); }

Bytes Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

MessageHeader TensorHeader(DType dtype, std::vector<uint32_t> shape) {
  MessageHeader h;
  h.type = MessageType::kTensorRequest;
  h.request_id = 77;
  h.cut_id = 31;
  h.dtype = dtype;
  h.rank = static_cast<uint8_t>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) h.dims[i] = shape[i];
  return h;
}

size_t PayloadBytes(const MessageHeader& h) {
  size_t n = DTypeSize(h.dtype);
  for (size_t i = 0; i < h.rank; ++i) n *= h.dims[i];
  return n;
}

Bytes Encode(const MessageHeader& h, const Bytes& payload) {
  Bytes out(EncodedMessageBytes(h.rank, payload.size()));
  Result<size_t> n = EncodeMessage(h, payload, out);
  EXPECT_TRUE(n.ok()) << n.status().message();
  if (n.ok()) {
    EXPECT_EQ(*n, out.size());
  }
  return out;
}

// A small int8 tensor request (rank 4, 64 payload bytes).
Bytes SampleMessage() {
  MessageHeader h = TensorHeader(DType::kInt8, {1, 4, 4, 4});
  h.quant_scale = 0.05f;
  h.quant_zero_point = -3;
  return Encode(h, Pattern(64, 1));
}

TEST(Crc32Test, PublishedCheckValues) {
  EXPECT_EQ(Crc32(Ascii("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32(Ascii("")), 0u);
  EXPECT_EQ(Crc32(Ascii("a")), 0xE8B7BE43u);
  EXPECT_EQ(Crc32(Ascii("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
}

TEST(Crc32Test, MatchesBitwiseOracleAtEveryLengthAndIncrementally) {
  const Bytes data = Pattern(300, 7);
  for (size_t len = 0; len <= data.size(); ++len) {
    const Bytes prefix(data.begin(), data.begin() + len);
    const uint32_t whole = Crc32(prefix);
    ASSERT_EQ(whole, BitwiseCrc32(prefix)) << "length " << len;
    ASSERT_EQ(Crc32Portable(prefix), whole) << "length " << len;
    const size_t split = len / 3;
    const uint32_t first = Crc32({prefix.data(), split});
    EXPECT_EQ(Crc32({prefix.data() + split, len - split}, first), whole) << "length " << len;
    EXPECT_EQ(Crc32Portable({prefix.data() + split, len - split}, Crc32Portable({prefix.data(), split})), whole)
        << "length " << len;
  }
}

// The host's Crc32 (ISA-L's) and the portable loop the devices run must agree on
// large, unaligned buffers too: a device's frame is checked by the host.
TEST(Crc32Test, HostAndPortableAgreeOnLargeUnalignedBuffers) {
  const Bytes data = Pattern(700001, 3);
  for (size_t offset : {0u, 1u, 3u, 7u}) {
    const std::span<const uint8_t> view(data.data() + offset, data.size() - offset);
    EXPECT_EQ(Crc32(view), Crc32Portable(view)) << "offset " << offset;
  }
}

// The stream server continues the CRC over whatever each read brought, so the
// host's Crc32 must agree with the portable loop when chained over pieces of
// every size class (ISA-L takes other paths below 16, 64 and 256 bytes).
TEST(Crc32Test, HostChainedOverPiecesOfAnySizeEqualsPortable) {
  const Bytes data = Pattern(100003, 5);
  const uint32_t whole = Crc32Portable(data);
  for (size_t piece : {1u, 3u, 15u, 16u, 17u, 63u, 64u, 255u, 257u, 4096u, 65537u}) {
    uint32_t crc = 0;
    for (size_t at = 0; at < data.size(); at += piece)
      crc = Crc32(std::span<const uint8_t>(data.data() + at, std::min(piece, data.size() - at)), crc);
    EXPECT_EQ(crc, whole) << "pieces of " << piece;
  }
  EXPECT_EQ(Crc32(std::span<const uint8_t>()), Crc32Portable(std::span<const uint8_t>()));
}

struct TypeCase {
  DType dtype;
  std::vector<uint32_t> shape;
};

// Readable test names and ctest entries: "int8_rank4", ...
void PrintTo(const TypeCase& c, std::ostream* os) { *os << DTypeName(c.dtype) << "_rank" << c.shape.size(); }
std::string TypeCaseName(const ::testing::TestParamInfo<TypeCase>& info) {
  return ::testing::PrintToString(info.param) + "_" + std::to_string(info.index);
}

class MessageRoundTrip : public ::testing::TestWithParam<TypeCase> {};

TEST_P(MessageRoundTrip, EveryFieldAndPayloadByteSurvives) {
  const TypeCase& c = GetParam();
  for (MessageType type : {MessageType::kTensorRequest, MessageType::kTensorResult}) {
    MessageHeader h = TensorHeader(c.dtype, c.shape);
    h.type = type;
    h.request_id = 0xDEADBEEF;
    h.cut_id = 65535;
    h.quant_scale = c.dtype == DType::kInt8 || c.dtype == DType::kUInt8 ? 0.0123f : 0.0f;
    h.quant_zero_point = -128;
    // The slot carries the deadline in requests and the queue wait in results.
    (type == MessageType::kTensorResult ? h.queue_wait_us : h.deadline_budget_us) = 150000;
    h.queue_length = 3;
    h.service_time_us = 4242;
    const Bytes payload = Pattern(PayloadBytes(h), 11);
    const Bytes wire = Encode(h, payload);
    ASSERT_EQ(wire.size(), MessageHeaderBytes(h.rank) + payload.size() + kMessageCrcBytes);
    Result<DecodedMessage> m = DecodeMessage(wire);
    ASSERT_TRUE(m.ok()) << m.status().message();
    const MessageHeader& d = m->header;
    EXPECT_EQ(d.type, type);
    EXPECT_EQ(d.request_id, h.request_id);
    EXPECT_EQ(d.cut_id, h.cut_id);
    EXPECT_EQ(d.dtype, c.dtype);
    ASSERT_EQ(d.rank, h.rank);
    for (size_t i = 0; i < h.rank; ++i) EXPECT_EQ(d.dims[i], h.dims[i]);
    EXPECT_EQ(d.quant_scale, h.quant_scale);
    EXPECT_EQ(d.quant_zero_point, h.quant_zero_point);
    EXPECT_EQ(d.deadline_budget_us, h.deadline_budget_us);
    EXPECT_EQ(d.queue_wait_us, h.queue_wait_us);
    EXPECT_EQ(type == MessageType::kTensorResult ? d.queue_wait_us : d.deadline_budget_us, 150000u);
    EXPECT_EQ(d.queue_length, h.queue_length);
    EXPECT_EQ(d.service_time_us, h.service_time_us);
    EXPECT_EQ(Bytes(m->payload.begin(), m->payload.end()), payload);
    // The payload is a view into the frame, not a copy.
    EXPECT_EQ(m->payload.data(), wire.data() + MessageHeaderBytes(h.rank));
    Result<size_t> size = MessageSizeFromPrefix({wire.data(), kMessageFixedHeaderBytes});
    ASSERT_TRUE(size.ok()) << size.status().message();
    EXPECT_EQ(*size, wire.size());
  }
}

INSTANTIATE_TEST_SUITE_P(AllDTypesAndRanks, MessageRoundTrip,
                         ::testing::Values(TypeCase{DType::kFloat32, {1, 3, 8, 8}}, TypeCase{DType::kInt8, {1, 112, 7, 7}},
                                           TypeCase{DType::kUInt8, {5}}, TypeCase{DType::kInt32, {2, 3}},
                                           TypeCase{DType::kInt64, {1, 2, 3}}, TypeCase{DType::kFloat32, {}},
                                           TypeCase{DType::kInt8, {1, 2, 1, 3, 1, 2}}, TypeCase{DType::kFloat32, {1, 1000}}),
                         TypeCaseName);

TEST(MessageTest, InPlaceEncodingEqualsCopyingEncoding) {
  MessageHeader h = TensorHeader(DType::kFloat32, {1, 8, 3, 3});
  const Bytes payload = Pattern(PayloadBytes(h), 3);
  Bytes in_place(EncodedMessageBytes(h.rank, payload.size()), 0xAA);
  std::memcpy(in_place.data() + MessageHeaderBytes(h.rank), payload.data(), payload.size());
  Result<size_t> n = EncodeMessageInPlace(h, payload.size(), in_place);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(in_place, Encode(h, payload));
}

TEST(MessageTest, NonTensorTypesCarryOpaquePayloads) {
  MessageHeader h;
  h.type = MessageType::kError;
  h.request_id = 9;
  h.error_code = static_cast<WireErrorCode>(StatusCode::kOutOfRange);
  const Bytes reason = Ascii("tail segment 3 not loaded");
  const Bytes wire = Encode(h, reason);  // the decoded payload is a view into it
  Result<DecodedMessage> m = DecodeMessage(wire);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->header.type, MessageType::kError);
  EXPECT_EQ(m->header.error_code, h.error_code);
  EXPECT_EQ(std::string(m->payload.begin(), m->payload.end()), "tail segment 3 not loaded");
  for (MessageType type : {MessageType::kPing, MessageType::kPong}) {
    h.type = type;
    const Bytes probe_wire = Encode(h, Pattern(1000, 5));
    Result<DecodedMessage> probe = DecodeMessage(probe_wire);
    ASSERT_TRUE(probe.ok()) << probe.status().message();
    EXPECT_EQ(probe->payload.size(), 1000u);
  }
  // A shape is for tensors only.
  h.type = MessageType::kPing;
  h.rank = 1;
  h.dims[0] = 4;
  Bytes out(100);
  Result<size_t> bad = EncodeMessage(h, Pattern(4, 1), out);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("only tensor messages carry a shape"), std::string::npos);
}

TEST(MessageTest, EncoderRefusesInconsistentHeadersAndSmallBuffers) {
  MessageHeader h = TensorHeader(DType::kFloat32, {1, 4});
  Bytes out(200);
  Result<size_t> mismatch = EncodeMessage(h, Pattern(15, 1), out);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("need 16 bytes but the payload length is 15"), std::string::npos)
      << mismatch.status().message();
  Bytes small(EncodedMessageBytes(2, 16) - 1);
  EXPECT_EQ(EncodeMessage(h, Pattern(16, 1), small).status().code(), StatusCode::kOutOfRange);
  h.rank = kMaxRank + 1;
  EXPECT_EQ(EncodeMessage(h, Pattern(16, 1), out).status().code(), StatusCode::kOutOfRange);
  h = TensorHeader(DType::kInt8, {4});
  h.quant_scale = -1.0f;
  EXPECT_FALSE(EncodeMessage(h, Pattern(4, 1), out).ok());
  h.type = MessageType::kSegmentChunk;  // delivery chunks carry an opaque payload, no shape
  h.quant_scale = 0.0f;
  EXPECT_EQ(EncodeMessage(h, Pattern(4, 1), out).status().code(), StatusCode::kInvalidArgument);
  h.rank = 0;
  EXPECT_TRUE(EncodeMessage(h, Pattern(4, 1), out).ok());
}

TEST(MessageTest, EveryTruncationAndAnyTrailingByteIsRejected) {
  const Bytes wire = SampleMessage();
  for (size_t len = 0; len < wire.size(); ++len) {
    Result<DecodedMessage> m = DecodeMessage({wire.data(), len});
    EXPECT_FALSE(m.ok()) << "accepted a message truncated to " << len << " of " << wire.size() << " bytes";
  }
  Bytes longer = wire;
  longer.push_back(0);
  Result<DecodedMessage> m = DecodeMessage(longer);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("1 trailing bytes"), std::string::npos) << m.status().message();
}

TEST(MessageTest, EverySingleBitFlipIsDetected) {
  const Bytes wire = SampleMessage();
  for (size_t bit = 0; bit < 8 * wire.size(); ++bit) {
    Bytes flipped = wire;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(DecodeMessage(flipped).ok()) << "bit " << bit << " flipped went undetected";
  }
}

// DecodeCheckedMessage skips only the CRC pass (the transport did it): it
// decodes the same header and payload, and still refuses a malformed frame.
TEST(MessageTest, CheckedDecodeSkipsOnlyTheCrc) {
  const Bytes wire = SampleMessage();
  Result<DecodedMessage> full = DecodeMessage(wire), checked = DecodeCheckedMessage(wire);
  ASSERT_TRUE(full.ok() && checked.ok());
  EXPECT_EQ(checked->header.request_id, full->header.request_id);
  EXPECT_EQ(checked->payload.data(), full->payload.data());
  EXPECT_EQ(checked->payload.size(), full->payload.size());
  Bytes bad_crc = wire;
  bad_crc.back() ^= 1;
  EXPECT_FALSE(DecodeMessage(bad_crc).ok());
  EXPECT_TRUE(DecodeCheckedMessage(bad_crc).ok());
  for (size_t len = 0; len < wire.size(); ++len)
    EXPECT_FALSE(DecodeCheckedMessage({wire.data(), len}).ok()) << "accepted a truncation to " << len << " bytes";
  Bytes bad_magic = wire;
  bad_magic[0] ^= 0xFF;
  EXPECT_FALSE(DecodeCheckedMessage(bad_magic).ok());
}

// A CRC computed piece by piece as the bytes arrived is checked against the
// trailer like DecodeMessage's own pass: any flipped bit still fails.
TEST(MessageTest, DecodeWithAPrecomputedCrcChecksTheTrailer) {
  const Bytes wire = SampleMessage();
  const size_t body = wire.size() - kMessageCrcBytes;
  uint32_t crc = 0;
  for (size_t at = 0; at < body; at += 7) crc = Crc32({wire.data() + at, std::min<size_t>(7, body - at)}, crc);
  ASSERT_TRUE(DecodeMessageWithCrc(wire, crc).ok());
  EXPECT_FALSE(DecodeMessageWithCrc(wire, crc ^ 1).ok());
  for (size_t bit = 0; bit < 8 * wire.size(); bit += 13) {
    Bytes flipped = wire;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    uint32_t received = 0;  // as the stream server computes it: over the bytes that arrived
    for (size_t at = 0; at < body; at += 7) received = Crc32({flipped.data() + at, std::min<size_t>(7, body - at)}, received);
    EXPECT_FALSE(DecodeMessageWithCrc(flipped, received).ok()) << "bit " << bit << " flipped went undetected";
  }
}

// Crafted frames with a valid CRC: each must fail on its field check.
TEST(MessageTest, CraftedFramesWithValidCrcAreRejectedByTheirFieldChecks) {
  const Bytes wire = SampleMessage();
  auto expect_rejected = [](Bytes m, const std::string& why, StatusCode code) {
    ResealMessage(m);
    Result<DecodedMessage> d = DecodeMessage(m);
    ASSERT_FALSE(d.ok()) << "accepted: " << why;
    EXPECT_EQ(d.status().code(), code) << why << ": " << d.status().message();
  };
  Bytes m = wire;
  m[0] = 'X';
  expect_rejected(m, "bad magic", StatusCode::kInvalidArgument);
  m = wire;
  m[4] = 1;
  expect_rejected(m, "version 1", StatusCode::kUnsupported);
  m = wire;
  m[4] = 3;
  expect_rejected(m, "version 3", StatusCode::kUnsupported);
  m = wire;
  m[46] = 7;  // codec id
  expect_rejected(m, "unknown codec", StatusCode::kUnsupported);
  m = wire;
  m[47] = kMessageFlagSealed;
  expect_rejected(m, "sealed frame", StatusCode::kUnsupported);
  m = wire;
  m[47] = 0x40;
  expect_rejected(m, "unknown flag", StatusCode::kInvalidArgument);
  m = wire;
  m[5] = 99;
  expect_rejected(m, "unknown type", StatusCode::kInvalidArgument);
  m = wire;
  m[5] = static_cast<uint8_t>(MessageType::kSegmentChunk);
  expect_rejected(m, "segment chunk with a shape", StatusCode::kInvalidArgument);
  m = wire;
  m[6] = 0;
  expect_rejected(m, "unknown dtype", StatusCode::kInvalidArgument);
  m = wire;
  m[6] = 1;  // f32 where 64 bytes of int8 were described: 4x the bytes
  expect_rejected(m, "dtype/payload mismatch", StatusCode::kInvalidArgument);
  m = wire;
  m[kMessageFixedHeaderBytes + 4] = 5;  // dims[1] 4 -> 5: shape product 80 != 64
  expect_rejected(m, "shape/product mismatch", StatusCode::kInvalidArgument);
  m = wire;
  m[kMessageFixedHeaderBytes] = 0;  // dims[0] = 0
  expect_rejected(m, "zero dimension", StatusCode::kInvalidArgument);
  m = wire;
  m[7] = 7;  // rank beyond kMaxRank
  expect_rejected(m, "rank > limit", StatusCode::kOutOfRange);
  m = wire;
  PutLe32(m.data() + 20, 0x7FC00000u);  // NaN scale
  expect_rejected(m, "NaN scale", StatusCode::kInvalidArgument);
  m = wire;
  PutLe32(m.data() + 16, 65);  // payload length one past the real payload
  expect_rejected(m, "payload length past the end", StatusCode::kInvalidArgument);
  // Dims whose product overflows 64 bits must not wrap around to the payload length.
  MessageHeader h = TensorHeader(DType::kInt8, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu});
  EXPECT_EQ(ValidateHeader(h, 64).code(), StatusCode::kOutOfRange);
}

TEST(MessageTest, OversizedPayloadsAndRanksAreRejectedByLimits) {
  MessageHeader h = TensorHeader(DType::kFloat32, {1, 64, 16, 16});  // 64 KiB
  const Bytes wire = Encode(h, Pattern(PayloadBytes(h), 2));
  WireLimits tight;
  tight.max_payload_bytes = 65535;
  Result<DecodedMessage> d = DecodeMessage(wire, tight);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(d.status().message().find("exceeds the limit of 65535"), std::string::npos) << d.status().message();
  // The stream reader learns it from the prefix alone, before reading the payload.
  EXPECT_EQ(MessageSizeFromPrefix({wire.data(), kMessageFixedHeaderBytes}, tight).status().code(),
            StatusCode::kOutOfRange);
  WireLimits rank3;
  rank3.max_rank = 3;
  EXPECT_EQ(DecodeMessage(wire, rank3).status().code(), StatusCode::kOutOfRange);
  EXPECT_FALSE(MessageSizeFromPrefix({wire.data(), kMessageFixedHeaderBytes - 1}).ok());
}

TEST(DatagramTest, OverheadFitsEspNowBleAndUdp) {
  EXPECT_EQ(kFragmentHeaderBytes, 18u);
  EXPECT_EQ(FragmentPayloadBytes(250), 232u);   // ESP-NOW v1
  EXPECT_EQ(FragmentPayloadBytes(244), 226u);   // BLE, ATT MTU 247 - 3
  EXPECT_EQ(FragmentPayloadBytes(20), 2u);      // BLE, default ATT MTU 23 - 3
  EXPECT_EQ(FragmentPayloadBytes(1460), 1442u); // UDP over a 1500-byte Ethernet MTU
  // The paper's 5,488-byte tensor as an int8 request: 5,488 + 69 message bytes
  // (version 2: still 24 ESP-NOW frames).
  const size_t message = EncodedMessageBytes(4, 5488);
  EXPECT_EQ(message, 5557u);
  EXPECT_EQ(FragmentCount(message, 250), 24u);
  EXPECT_EQ(FragmentCount(message, 1460), 4u);
  EXPECT_EQ(FragmentCount(1, 250), 1u);
  EXPECT_EQ(FragmentCount(100, 18), 0u);  // no room for payload
  EXPECT_EQ(LinkBytesForMessage(message, 250), 5557u + 24 * 18);
}

TEST(DatagramTest, FragmentRoundTripAndEveryCorruptionIsDetected) {
  FragmentHeader h;
  h.flags = kFragmentFlagPoll;
  h.request_id = 123456;
  h.index = 2;
  h.count = 3;
  h.total_length = 500;
  const Bytes chunk = Pattern(100, 4);
  Bytes d(kFragmentHeaderBytes + chunk.size());
  Result<size_t> n = EncodeFragment(h, chunk, d);
  ASSERT_TRUE(n.ok()) << n.status().message();
  ASSERT_EQ(*n, d.size());
  Result<DecodedFragment> f = DecodeFragment(d);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->header.flags, h.flags);
  EXPECT_EQ(f->header.request_id, h.request_id);
  EXPECT_EQ(f->header.index, h.index);
  EXPECT_EQ(f->header.count, h.count);
  EXPECT_EQ(f->header.total_length, h.total_length);
  EXPECT_EQ(Bytes(f->chunk.begin(), f->chunk.end()), chunk);
  EXPECT_EQ(*PeekDatagramKind(d), DatagramKind::kFragment);
  for (size_t len = 0; len < d.size(); ++len) EXPECT_FALSE(DecodeFragment({d.data(), len}).ok()) << len;
  for (size_t bit = 0; bit < 8 * d.size(); ++bit) {
    Bytes flipped = d;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(DecodeFragment(flipped).ok()) << "bit " << bit;
  }
  EXPECT_FALSE(DecodeSack(d).ok());  // a fragment is not a SACK
}

TEST(DatagramTest, EncoderRefusesImpossibleFragments) {
  Bytes out(300);
  FragmentHeader h;
  h.count = 2;
  h.index = 2;
  h.total_length = 10;
  EXPECT_FALSE(EncodeFragment(h, Pattern(5, 1), out).ok());  // index == count
  h.index = 0;
  EXPECT_FALSE(EncodeFragment(h, {}, out).ok());             // empty chunk
  EXPECT_FALSE(EncodeFragment(h, Pattern(11, 1), out).ok()); // chunk beyond the message
  h.total_length = kMaxMessageBytes + 1;
  EXPECT_FALSE(EncodeFragment(h, Pattern(5, 1), out).ok());  // 24-bit length
  h.total_length = 10;
  h.flags = 0x80;
  EXPECT_FALSE(EncodeFragment(h, Pattern(5, 1), out).ok());  // unknown flag
}

TEST(DatagramTest, SackRoundTripAndEveryCorruptionIsDetected) {
  const Bytes bitmap = {0xF7, 0x01};
  Sack s;
  s.request_id = 5;
  s.fragment_count = 20;
  s.base_index = 8;
  s.bitmap = bitmap;
  Bytes d(kSackFixedBytes + bitmap.size());
  Result<size_t> n = EncodeSack(s, d);
  ASSERT_TRUE(n.ok()) << n.status().message();
  Result<Sack> back = DecodeSack(d);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->request_id, 5u);
  EXPECT_EQ(back->fragment_count, 20u);
  EXPECT_EQ(back->base_index, 8u);
  EXPECT_EQ(Bytes(back->bitmap.begin(), back->bitmap.end()), bitmap);
  for (size_t len = 0; len < d.size(); ++len) EXPECT_FALSE(DecodeSack({d.data(), len}).ok()) << len;
  for (size_t bit = 0; bit < 8 * d.size(); ++bit) {
    Bytes flipped = d;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(DecodeSack(flipped).ok()) << "bit " << bit;
  }
  // Acknowledging fragment 20 of 20 (bit 12 past base 8) is malformed.
  const Bytes beyond = {0x00, 0x10};
  s.bitmap = beyond;
  ASSERT_TRUE(EncodeSack(s, d).ok());
  EXPECT_FALSE(DecodeSack(d).ok());
}

TEST(ReplayWindowTest, AcceptsFreshIdsOnceAndRejectsOldOnes) {
  ReplayWindow w;
  EXPECT_TRUE(w.Check(1000).ok());
  w.Mark(1000);
  EXPECT_TRUE(w.Seen(1000));
  Status replay = w.Check(1000);
  ASSERT_FALSE(replay.ok());
  EXPECT_NE(replay.message().find("already delivered"), std::string::npos);
  // Out of order inside the window: fresh once, then a replay.
  EXPECT_TRUE(w.Check(990).ok());
  w.Mark(990);
  EXPECT_FALSE(w.Check(990).ok());
  w.Mark(1001);
  EXPECT_FALSE(w.Check(1000).ok());
  EXPECT_TRUE(w.Check(1002).ok());
  // Far ahead: everything before the window is now too old.
  w.Mark(1001 + ReplayWindow::kWindow);
  Status old = w.Check(1001);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.message().find("too old"), std::string::npos);
  EXPECT_TRUE(w.Check(1002 + ReplayWindow::kWindow).ok());
  w.Reset();
  EXPECT_TRUE(w.Check(1).ok());
}

}  // namespace
}  // namespace edgesplit::wire
