// IDX reader (plain and gzip): round trips, hostile headers rejected before any
// allocation, truncation and trailing bytes; the real Fashion-MNIST files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <string>

#include "edgesplit/idx.h"

namespace edgesplit {
namespace {

std::string Idx(const std::vector<uint32_t>& dims, const std::string& data, unsigned char type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int b = 3; b >= 0; --b) s += static_cast<char>((d >> (8 * b)) & 0xff);
  return s + data;
}

std::string Gzip(const std::string& raw) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, raw.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 37 + 11) & 0xff);
  return s;
}

Status ParseStatus(const std::string& bytes) { return ParseIdx(bytes.data(), bytes.size(), "test.idx").status(); }

TEST(IdxTest, PlainAndGzipRoundTrip) {
  const std::string data = Pattern(3 * 5 * 7);
  const std::string plain = Idx({3, 5, 7}, data);
  for (const std::string& bytes : {plain, Gzip(plain)}) {
    Result<IdxArray> a = ParseIdx(bytes.data(), bytes.size());
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(a->dims, (std::vector<int64_t>{3, 5, 7}));
    EXPECT_EQ(std::string(a->data.begin(), a->data.end()), data);
  }
}

TEST(IdxTest, HostileHeadersFailBeforeAllocating) {
  // 2^32-1 x 2^32-1 elements: rejected from the header alone (no 16 EiB allocation).
  Status s = ParseStatus(Idx({0xffffffffu, 0xffffffffu}, ""));
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s.message();
  EXPECT_NE(s.message().find("test.idx"), std::string::npos);
  // Within 64 bits but above the caller's cap.
  Result<IdxArray> capped = ParseIdx(Idx({100, 100}, Pattern(10000)).data(), 10016, "x", 9999);
  EXPECT_EQ(capped.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(ParseStatus(Idx({4, 0}, "")).message().find("dimension 1 is zero"), std::string::npos);
  EXPECT_NE(ParseStatus(Idx({4}, "abcd", 0x0d)).message().find("only 0x08"), std::string::npos);
  EXPECT_NE(ParseStatus(Idx({}, "")).message().find("rank 0"), std::string::npos);
  EXPECT_NE(ParseStatus(Idx({1, 1, 1, 1, 1}, "a")).message().find("rank 5"), std::string::npos);
  EXPECT_NE(ParseStatus(std::string("\x01\x00\x08\x01", 4)).message().find("not an IDX"), std::string::npos);
  EXPECT_NE(ParseStatus(std::string("\x00\x00", 2)).message().find("truncated header"), std::string::npos);
}

TEST(IdxTest, TruncatedAndTrailingBytes) {
  const std::string good = Idx({4, 4}, Pattern(16));
  EXPECT_NE(ParseStatus(good.substr(0, good.size() - 1)).message().find("truncated elements"), std::string::npos);
  EXPECT_NE(ParseStatus(good.substr(0, 6)).message().find("truncated dimensions"), std::string::npos);
  EXPECT_NE(ParseStatus(good + "x").message().find("trailing"), std::string::npos);
  const std::string gz = Gzip(good);
  // Gzip: fewer elements than the header claims, trailing data inside, bytes after, a cut stream, a corrupt one.
  EXPECT_NE(ParseStatus(Gzip(good.substr(0, good.size() - 3))).message().find("truncated"), std::string::npos);
  EXPECT_NE(ParseStatus(Gzip(good + "xy")).message().find("trailing"), std::string::npos);
  EXPECT_NE(ParseStatus(gz + "junk").message().find("trailing"), std::string::npos);
  EXPECT_NE(ParseStatus(gz.substr(0, gz.size() / 2)).message().find("truncated"), std::string::npos);
  std::string corrupt = gz;
  corrupt[12] = static_cast<char>(corrupt[12] ^ 0x5a);
  corrupt[13] = static_cast<char>(corrupt[13] ^ 0xa5);
  Status s = ParseStatus(corrupt);
  EXPECT_FALSE(s.ok());  // a flipped deflate block: corrupt data or a CRC/length mismatch
}

TEST(IdxTest, MissingFileIsAnIoError) {
  Result<IdxArray> a = ReadIdx("/nonexistent/file.idx.gz");
  EXPECT_EQ(a.status().code(), StatusCode::kIoError);
  EXPECT_NE(a.status().message().find("/nonexistent/file.idx.gz"), std::string::npos);
  EXPECT_EQ(LoadFashionMnist("/nonexistent", "test").status().code(), StatusCode::kIoError);
  EXPECT_EQ(LoadFashionMnist(FashionMnistDir(), "validation").status().code(), StatusCode::kInvalidArgument);
}

// Debian's dataset-fashion-mnist: 10,000 test images of 28x28, 1,000 per class.
TEST(IdxTest, FashionMnistTestSet) {
  Result<LabelledImages> set = LoadFashionMnist(FashionMnistDir(), "test");
  if (!set.ok() && set.status().code() == StatusCode::kIoError)
    GTEST_SKIP() << "dataset-fashion-mnist not installed: " << set.status().message();
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(set->count, 10000);
  EXPECT_EQ(set->rows, 28);
  EXPECT_EQ(set->cols, 28);
  std::array<int, 10> per_class{};
  for (uint8_t l : set->labels) ++per_class[l];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;
  // The first test image is an ankle boot (class 9), as in the data set's documentation.
  EXPECT_EQ(set->labels[0], 9);
  std::vector<float> x(28 * 28);
  ImageToFloat(*set, 0, 0.0f, 1.0f, x.data());
  float lo = 1, hi = 0;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_EQ(lo, 0.0f);
  EXPECT_GT(hi, 0.5f);
  EXPECT_LE(hi, 1.0f);
  Result<LabelledImages> few = LoadFashionMnist(FashionMnistDir(), "test", 25);
  ASSERT_TRUE(few.ok());
  EXPECT_EQ(few->count, 25);
  EXPECT_EQ(few->labels.size(), 25u);
  EXPECT_TRUE(std::equal(few->pixels.begin(), few->pixels.end(), set->pixels.begin()));
}

}  // namespace
}  // namespace edgesplit
