// Cut-tensor codecs: ids and names, round trips of every codec, lossless ones
// bit-exact, lossy ones equal to an independent reference decoder written here
// from docs/codecs.md, the LZ4 encoder against liblz4, and malformed payloads.
#include <gtest/gtest.h>
#include <lz4.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "edgesplit/codec.h"

namespace edgesplit {
namespace {

std::vector<float> Activations(size_t n, uint32_t seed, bool relu) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.3f, 1.7f);
  std::vector<float> v(n);
  for (float& x : v) {
    x = d(rng);
    if (relu && x < 0) x = 0;  // post-ReLU cuts have many zeros: entropy coding's case
  }
  return v;
}

CutTensorView View(const std::vector<float>& v, uint32_t channels) {
  return CutTensorView{v.data(), CodecDType::kFloat32, static_cast<uint32_t>(v.size()), channels};
}
CutTensorView View(const std::vector<int8_t>& v, uint32_t channels) {
  return CutTensorView{v.data(), CodecDType::kInt8, static_cast<uint32_t>(v.size()), channels};
}

float F32At(const uint8_t* p) {
  uint32_t b = p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Reference decoder for the affine codecs (docs/codecs.md), written independently:
// codes read bit by bit, LSB first, from the packed stream after the ranges.
std::vector<float> ReferenceAffine(const std::vector<uint8_t>& body, int bits, uint32_t groups, size_t elements) {
  std::vector<float> out(elements);
  const uint8_t* codes = body.data() + 8 * groups;
  const size_t per = elements / groups;
  for (size_t i = 0; i < elements; ++i) {
    uint32_t code = 0;
    for (int b = 0; b < bits; ++b) {
      const size_t bit = i * bits + b;
      code |= ((codes[bit / 8] >> (bit % 8)) & 1u) << b;
    }
    const size_t g = i / per;
    out[i] = F32At(body.data() + 8 * g) + static_cast<float>(code) * F32At(body.data() + 8 * g + 4);
  }
  return out;
}

// binary16 -> float via ldexp: independent of the codec's bit manipulation.
float ReferenceHalf(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const float s = (h & 0x8000) ? -1.0f : 1.0f;
  if (e == 0) return s * std::ldexp(static_cast<float>(m), -24);
  if (e == 31) return m ? std::numeric_limits<float>::quiet_NaN() : s * std::numeric_limits<float>::infinity();
  return s * std::ldexp(static_cast<float>(1024 + m), e - 25);
}

// The body of a payload with no entropy stage.
std::vector<uint8_t> Body(const std::vector<uint8_t>& payload) {
  return std::vector<uint8_t>(payload.begin() + kCodecHeaderBytes, payload.end());
}

TEST(CodecTest, IdsAndNames) {
  const std::vector<Codec> all = AllCodecs();
  ASSERT_EQ(all.size(), 15u);
  for (const Codec& c : all) {
    Codec back;
    ASSERT_TRUE(CodecFromId(CodecId(c), &back));
    EXPECT_EQ(back, c);
    Result<Codec> parsed = ParseCodecName(CodecName(c));
    ASSERT_TRUE(parsed.ok()) << CodecName(c);
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_EQ(CodecId(*ParseCodecName("int4+lz4")), 0x12);
  EXPECT_EQ(CodecId(*ParseCodecName("raw")), 0x00);
  EXPECT_EQ(CodecId(*ParseCodecName("fp16+zstd")), 0x24);
  Codec c;
  EXPECT_FALSE(CodecFromId(0x05, &c));
  EXPECT_FALSE(CodecFromId(0x30, &c));
  EXPECT_NE(ParseCodecName("int3").status().message().find("'int3'"), std::string::npos);
  EXPECT_NE(ParseCodecName("int4+gzip").status().message().find("'gzip'"), std::string::npos);
  EXPECT_FALSE(ParseCodecName("").ok());
  EXPECT_FALSE(ParseCodecName("INT8").ok());
}

TEST(CodecTest, ChannelRule) {
  const int64_t planes[] = {1, 112, 7, 7}, small[] = {1, 112, 3, 3}, pooled[] = {1, 96, 1, 1}, flat[] = {1, 96};
  EXPECT_EQ(CodecChannels(planes, 4), 112u);
  EXPECT_EQ(CodecChannels(small, 4), 1u);  // 9-element planes: one range is cheaper
  EXPECT_EQ(CodecChannels(pooled, 4), 1u);
  EXPECT_EQ(CodecChannels(flat, 2), 1u);
}

TEST(CodecTest, LosslessCodecsAreBitExact) {
  const std::vector<float> f = Activations(7 * 7 * 24, 1, true);
  std::vector<int8_t> q(500);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<int8_t>((i * 7) % 19 == 0 ? (i % 256) - 128 : -128);
  for (CodecEntropy e : {CodecEntropy::kNone, CodecEntropy::kLz4, CodecEntropy::kZstd}) {
    const Codec c{CodecQuant::kRaw, e};
    Result<std::vector<uint8_t>> pf = EncodeCutTensorHost(c, View(f, 24));
    ASSERT_TRUE(pf.ok()) << pf.status().message();
    std::vector<float> back(f.size());
    ASSERT_TRUE(DecodeCutTensor(pf->data(), pf->size(), View(f, 24), back.data()).ok());
    EXPECT_EQ(std::memcmp(back.data(), f.data(), f.size() * 4), 0) << CodecName(c);
    Result<std::vector<uint8_t>> pq = EncodeCutTensorHost(c, View(q, 1));
    ASSERT_TRUE(pq.ok());
    std::vector<int8_t> qback(q.size());
    ASSERT_TRUE(DecodeCutTensor(pq->data(), pq->size(), View(q, 1), qback.data()).ok());
    EXPECT_EQ(qback, q) << CodecName(c);
    if (e != CodecEntropy::kNone) {
      EXPECT_LT(pq->size(), q.size()) << CodecName(c) << " did not compress a mostly -128 tensor";
    }
  }
}

TEST(CodecTest, LossyCodecsEqualTheReferenceDecoder) {
  const uint32_t channels = 12;
  const std::vector<float> f = Activations(channels * 49, 2, false);
  for (CodecQuant qt : {CodecQuant::kInt8, CodecQuant::kInt4, CodecQuant::kInt2}) {
    const int bits = qt == CodecQuant::kInt8 ? 8 : qt == CodecQuant::kInt4 ? 4 : 2;
    const uint32_t groups = qt == CodecQuant::kInt8 ? 1 : channels;
    Result<std::vector<uint8_t>> plain = EncodeCutTensorHost(Codec{qt}, View(f, channels));
    ASSERT_TRUE(plain.ok()) << plain.status().message();
    EXPECT_EQ(plain->size(), kCodecHeaderBytes + 8 * groups + (f.size() * bits + 7) / 8);
    const std::vector<float> ref = ReferenceAffine(Body(*plain), bits, groups, f.size());
    // Quantization error: at most half a step per group (plus float rounding).
    const size_t per = f.size() / groups;
    for (size_t i = 0; i < f.size(); ++i) {
      const float step = F32At(plain->data() + kCodecHeaderBytes + 8 * (i / per) + 4);
      ASSERT_LE(std::fabs(ref[i] - f[i]), 0.5f * step * 1.001f + 1e-6f) << "element " << i;
    }
    for (CodecEntropy e : {CodecEntropy::kNone, CodecEntropy::kLz4, CodecEntropy::kZstd}) {
      const Codec c{qt, e};
      Result<std::vector<uint8_t>> p = EncodeCutTensorHost(c, View(f, channels));
      ASSERT_TRUE(p.ok()) << CodecName(c);
      std::vector<float> back(f.size());
      Status s = DecodeCutTensor(p->data(), p->size(), View(f, channels), back.data());
      ASSERT_TRUE(s.ok()) << CodecName(c) << ": " << s.message();
      EXPECT_EQ(std::memcmp(back.data(), ref.data(), f.size() * 4), 0) << CodecName(c);
    }
  }
  // fp16: equal to the ldexp reference, and within half an fp16 ulp of the input.
  Result<std::vector<uint8_t>> p = EncodeCutTensorHost(Codec{CodecQuant::kFp16, CodecEntropy::kLz4}, View(f, 1));
  ASSERT_TRUE(p.ok());
  std::vector<float> back(f.size());
  ASSERT_TRUE(DecodeCutTensor(p->data(), p->size(), View(f, 1), back.data()).ok());
  Result<std::vector<uint8_t>> plain = EncodeCutTensorHost(Codec{CodecQuant::kFp16}, View(f, 1));
  for (size_t i = 0; i < f.size(); ++i) {
    const uint8_t* b = plain->data() + kCodecHeaderBytes + 2 * i;
    EXPECT_EQ(back[i], ReferenceHalf(static_cast<uint16_t>(b[0] | (b[1] << 8))));
    EXPECT_LE(std::fabs(back[i] - f[i]), std::fabs(f[i]) * (1.0f / 2048) + 1e-7f);
  }
}

TEST(CodecTest, Fp16Rounding) {
  // Exact halves, ties to even, overflow to inf, subnormals, NaN.
  const std::vector<float> f = {0.0f, -0.0f, 1.0f, 65504.0f, 65520.0f, 1e6f, -1e6f, 1.0f + 1.0f / 2048,
                                1.0f + 3.0f / 2048, 5.960464477539063e-8f, 2.98e-8f, 1e-10f, 6.1035e-05f,
                                std::numeric_limits<float>::quiet_NaN()};
  Result<std::vector<uint8_t>> p = EncodeCutTensorHost(Codec{CodecQuant::kFp16}, View(f, 1));
  ASSERT_TRUE(p.ok());
  std::vector<float> back(f.size());
  ASSERT_TRUE(DecodeCutTensor(p->data(), p->size(), View(f, 1), back.data()).ok());
  EXPECT_EQ(back[2], 1.0f);
  EXPECT_EQ(back[3], 65504.0f);
  EXPECT_TRUE(std::isinf(back[4]) && back[4] > 0);  // 65520 is the tie above the largest half: rounds to inf
  EXPECT_TRUE(std::isinf(back[6]) && back[6] < 0);
  EXPECT_EQ(back[7], 1.0f);                  // tie: to even (1.0)
  EXPECT_EQ(back[8], 1.0f + 4.0f / 2048);    // tie: to even (1 + 2^-9)
  EXPECT_EQ(back[9], 5.960464477539063e-8f); // the smallest subnormal
  EXPECT_EQ(back[10], 0.0f);                 // below half of it
  EXPECT_EQ(back[11], 0.0f);
  EXPECT_NEAR(back[12], 6.1035e-05f, 1e-8f);
  EXPECT_TRUE(std::isnan(back[13]));
  EXPECT_TRUE(std::signbit(back[1]));
}

TEST(CodecTest, Int8TensorsWithPerChannelCodecs) {
  std::vector<int8_t> q(8 * 16);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<int8_t>(static_cast<int>((i * 53) % 256) - 128);
  for (CodecQuant qt : {CodecQuant::kInt4, CodecQuant::kInt2}) {
    Result<std::vector<uint8_t>> p = EncodeCutTensorHost(Codec{qt, CodecEntropy::kLz4}, View(q, 8));
    ASSERT_TRUE(p.ok()) << p.status().message();
    std::vector<int8_t> back(q.size());
    ASSERT_TRUE(DecodeCutTensor(p->data(), p->size(), View(q, 8), back.data()).ok());
    Result<std::vector<uint8_t>> plain = EncodeCutTensorHost(Codec{qt}, View(q, 8));
    const std::vector<float> ref = ReferenceAffine(Body(*plain), qt == CodecQuant::kInt4 ? 4 : 2, 8, q.size());
    for (size_t i = 0; i < q.size(); ++i) {
      const float r = std::round(ref[i]);  // std::round: half away from zero
      EXPECT_EQ(back[i], static_cast<int8_t>(std::clamp(r, -128.0f, 127.0f))) << i;
    }
  }
  // int8 and fp16 need float32.
  EXPECT_FALSE(CodecApplies(Codec{CodecQuant::kInt8}, CodecDType::kInt8));
  Result<std::vector<uint8_t>> bad = EncodeCutTensorHost(Codec{CodecQuant::kFp16}, View(q, 8));
  EXPECT_NE(bad.status().message().find("needs a float32"), std::string::npos);
}

TEST(CodecTest, ConstantChannelsAndRejectedValues) {
  std::vector<float> f(64, 2.5f);
  Result<std::vector<uint8_t>> p = EncodeCutTensorHost(Codec{CodecQuant::kInt2}, View(f, 4));
  ASSERT_TRUE(p.ok());
  std::vector<float> back(f.size());
  ASSERT_TRUE(DecodeCutTensor(p->data(), p->size(), View(f, 4), back.data()).ok());
  EXPECT_EQ(back, f);
  f[9] = std::numeric_limits<float>::infinity();
  EXPECT_NE(EncodeCutTensorHost(Codec{CodecQuant::kInt4}, View(f, 4)).status().message().find("element 9"), std::string::npos);
  f[9] = 0;
  EXPECT_FALSE(EncodeCutTensorHost(Codec{CodecQuant::kInt4}, View(f, 5)).ok());  // 5 does not divide 64
  f[0] = 3e38f, f[1] = -3e38f;
  EXPECT_NE(EncodeCutTensorHost(Codec{CodecQuant::kInt8}, View(f, 1)).status().message().find("overflows"), std::string::npos);
}

TEST(CodecTest, PortableEncoderNeedsEnoughBuffer) {
  const std::vector<float> f = Activations(300, 3, true);
  const Codec c{CodecQuant::kInt4, CodecEntropy::kLz4};
  std::vector<uint8_t> out(CodecMaxEncodedBytes(c, View(f, 3)));
  std::vector<uint32_t> scratch(CodecScratchBytes(c, View(f, 3)) / 4 + 1);
  size_t written = 0;
  EXPECT_EQ(EncodeCutTensor(c, View(f, 3), scratch.data(), scratch.size() * 4, out.data(), out.size() - 1, &written).code(),
            StatusCode::kOutOfRange);
  EXPECT_FALSE(EncodeCutTensor(c, View(f, 3), scratch.data(), 100, out.data(), out.size(), &written).ok());
  EXPECT_FALSE(EncodeCutTensor(c, View(f, 3), reinterpret_cast<uint8_t*>(scratch.data()) + 1, scratch.size() * 4 - 4,
                               out.data(), out.size(), &written).ok());
  EXPECT_EQ(EncodeCutTensor(Codec{CodecQuant::kRaw, CodecEntropy::kZstd}, View(f, 3), scratch.data(), scratch.size() * 4,
                            out.data(), out.size(), &written).code(),
            StatusCode::kUnsupported);
  ASSERT_TRUE(EncodeCutTensor(c, View(f, 3), scratch.data(), scratch.size() * 4, out.data(), out.size(), &written).ok());
  // The same bytes as the host's wrapper: one encoder.
  Result<std::vector<uint8_t>> host = EncodeCutTensorHost(c, View(f, 3));
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + written), *host);
}

// Our LZ4 block encoder against liblz4's decoder, on inputs that exercise long
// literal runs, long matches, overlapping matches, offsets near 64 KiB and tiny blocks.
TEST(CodecTest, Lz4EncoderDecodesWithLiblz4) {
  std::vector<std::vector<uint8_t>> inputs;
  std::mt19937 rng(7);
  for (size_t n : {0, 1, 5, 12, 13, 16, 17, 100, 4096, 70000, 200000}) {
    std::vector<uint8_t> random(n), runs(n), periodic(n), mixed(n);
    for (size_t i = 0; i < n; ++i) {
      random[i] = static_cast<uint8_t>(rng());
      runs[i] = static_cast<uint8_t>((i / 300) % 3);
      periodic[i] = static_cast<uint8_t>("abcabd"[i % 6]);
      mixed[i] = (rng() % 4 == 0) ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(i % 65536 < 100 ? i : 0);
    }
    inputs.insert(inputs.end(), {random, runs, periodic, mixed});
  }
  std::vector<uint8_t> far(140000);  // a repeat exactly 65535 and 65536 bytes back
  for (size_t i = 0; i < far.size(); ++i) far[i] = static_cast<uint8_t>(rng());
  std::memcpy(far.data() + 65535, far.data(), 1000);
  std::memcpy(far.data() + 65536 + 2000, far.data() + 2000, 1000);
  inputs.push_back(far);
  std::vector<uint32_t> hash(kLz4HashBytes / 4);
  for (const std::vector<uint8_t>& in : inputs) {
    std::vector<uint8_t> out(Lz4CompressBound(in.size()));
    const size_t n = Lz4CompressBlock(in.data(), in.size(), out.data(), out.size(), hash.data());
    ASSERT_GT(n, 0u);
    std::vector<uint8_t> back(in.size() + 1);
    const int got = LZ4_decompress_safe(reinterpret_cast<const char*>(out.data()), reinterpret_cast<char*>(back.data()),
                                        static_cast<int>(n), static_cast<int>(in.size()));
    ASSERT_EQ(got, static_cast<int>(in.size())) << "input of " << in.size() << " bytes";
    EXPECT_TRUE(std::equal(in.begin(), in.end(), back.begin()));
  }
  // Compresses what is compressible.
  std::vector<uint8_t> out(Lz4CompressBound(inputs[4 * 10 + 1].size()));
  EXPECT_LT(Lz4CompressBlock(inputs[41].data(), inputs[41].size(), out.data(), out.size(), hash.data()),
            inputs[41].size() / 20);
  EXPECT_EQ(Lz4CompressBlock(inputs[41].data(), inputs[41].size(), out.data(), 10, hash.data()), 0u);
}

TEST(CodecTest, MalformedPayloadsAreClearErrors) {
  const std::vector<float> f = Activations(4 * 25, 4, true);
  const CutTensorView want = View(f, 4);
  std::vector<float> out(f.size());
  auto decode = [&](const std::vector<uint8_t>& p) { return DecodeCutTensor(p.data(), p.size(), want, out.data()); };
  for (const Codec& c : AllCodecs()) {
    Result<std::vector<uint8_t>> good = EncodeCutTensorHost(c, want);
    ASSERT_TRUE(good.ok()) << CodecName(c);
    ASSERT_TRUE(decode(*good).ok()) << CodecName(c);
    // Every truncation fails (the header or the body/stream is short).
    for (size_t cut : {size_t{0}, size_t{5}, size_t{11}, good->size() - 1}) {
      std::vector<uint8_t> t(good->begin(), good->begin() + cut);
      EXPECT_FALSE(decode(t).ok()) << CodecName(c) << " truncated to " << cut;
    }
    std::vector<uint8_t> longer = *good;
    longer.push_back(0);
    if (c.entropy == CodecEntropy::kNone) {
      EXPECT_FALSE(decode(longer).ok()) << CodecName(c);
    }
  }
  Result<std::vector<uint8_t>> good = EncodeCutTensorHost(Codec{CodecQuant::kInt4}, want);
  std::vector<uint8_t> p = *good;
  p[0] = 0x07;
  EXPECT_NE(decode(p).message().find("unknown codec id 7"), std::string::npos);
  p = *good;
  p[1] = 9;
  EXPECT_NE(decode(p).message().find("unknown dtype"), std::string::npos);
  p = *good;
  p[2] = 5;  // 5 channels
  EXPECT_FALSE(decode(p).ok());
  p = *good;
  p[4] = 99;  // elements
  EXPECT_FALSE(decode(p).ok());
  p = *good;
  p[8] ^= 1;  // body size
  EXPECT_NE(decode(p).message().find("body size"), std::string::npos);
  p = *good;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(p.data() + kCodecHeaderBytes + 4, &nan, 4);  // channel 0's scale
  EXPECT_NE(decode(p).message().find("bad range"), std::string::npos);
  p = *good;
  const float negative = -1.0f;
  std::memcpy(p.data() + kCodecHeaderBytes + 12, &negative, 4);  // channel 1's scale
  EXPECT_NE(decode(p).message().find("channel 1"), std::string::npos);
  // The right payload for another tensor.
  const std::vector<float> other(f.size() * 2, 1.0f);
  Result<std::vector<uint8_t>> wrong = EncodeCutTensorHost(Codec{CodecQuant::kInt4}, View(other, 4));
  EXPECT_NE(decode(*wrong).message().find("expected 100 float32"), std::string::npos);
  // A corrupt LZ4 stream and a corrupt zstd frame.
  Result<std::vector<uint8_t>> lz = EncodeCutTensorHost(Codec{CodecQuant::kRaw, CodecEntropy::kLz4}, want);
  p = *lz;
  p[kCodecHeaderBytes] = 0xff;
  p.resize(kCodecHeaderBytes + 3);
  EXPECT_NE(decode(p).message().find("LZ4"), std::string::npos);
  Result<std::vector<uint8_t>> zs = EncodeCutTensorHost(Codec{CodecQuant::kRaw, CodecEntropy::kZstd}, want);
  p = *zs;
  p[kCodecHeaderBytes] ^= 0xff;
  EXPECT_NE(decode(p).message().find("zstd"), std::string::npos);
}

}  // namespace
}  // namespace edgesplit
