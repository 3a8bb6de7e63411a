// .npy round trip and hostile files; PNG/JPEG loading, resizing and
// normalisation; the infer CLI's input errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "edgesplit/io.h"
#include "test_util.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace edgesplit {
namespace {

std::string Header(const std::string& dict) {
  std::string d = dict;
  while ((10 + d.size() + 1) % 64) d += ' ';
  d += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(d.size() & 0xff);
  out += static_cast<char>(d.size() >> 8);
  return out + d;
}

Tensor ModelInput(Shape shape) {
  Tensor t;
  t.name = "input";
  t.shape = std::move(shape);
  return t;
}

TEST(IoTest, NpyRoundTrip) {
  const std::string dir = testing::MakeTempDir();
  std::vector<float> v = {1.5f, -2.0f, 0.0f, 3.25f, 7.0f, -0.125f};
  for (const Shape& shape : {Shape{2, 3}, Shape{6}, Shape{1, 1, 2, 3}}) {
    ASSERT_TRUE(WriteNpy(dir + "/a.npy", shape, v.data()).ok());
    Result<FloatArray> a = ReadNpy(dir + "/a.npy");
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(a->shape, shape);
    EXPECT_EQ(a->data, v);
  }
  const float s = 4.0f;
  Result<FloatArray> scalar = [&] {
    std::string bytes = EncodeNpy(Shape{}, &s);
    return ParseNpy(bytes.data(), bytes.size());
  }();
  ASSERT_TRUE(scalar.ok()) << scalar.status().message();
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->data, std::vector<float>{4.0f});
}

TEST(IoTest, HostileNpyFilesGetClearErrors) {
  const std::vector<float> v(6, 1.0f);
  const std::string good = EncodeNpy(Shape{2, 3}, v.data());
  struct Case {
    std::string bytes, expect;
  };
  const std::vector<Case> cases = {
      {"", "truncated"},
      {"hello world, not numpy", "magic"},
      {good.substr(0, good.size() - 5), "truncated"},
      {good.substr(0, 20), "truncated"},
      {good + "xx", "unexpected bytes"},
      {Header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }") + std::string(48, '\0'), "'<f8'"},
      {Header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }") + std::string(24, '\0'), "'>f4'"},
      {Header("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }") + std::string(48, '\0'), "float32"},
      {Header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }") + std::string(24, '\0'), "Fortran"},
      {Header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }") + std::string(24, '\0'), "shape"},
      {Header("{'descr': '<f4', 'fortran_order': False, }") + std::string(24, '\0'), "shape"},
      {Header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"), "large"},
      {std::string("\x93NUMPY\x09\x00\x10\x00", 10) + std::string(16, ' '), "version"},
      {std::string("\x93NUMPY\x01\x00\xff\xff", 10) + "{}", "truncated"},
  };
  for (const Case& c : cases) {
    Result<FloatArray> a = ParseNpy(c.bytes.data(), c.bytes.size(), "x.npy");
    ASSERT_FALSE(a.ok()) << c.expect;
    EXPECT_NE(a.status().message().find(c.expect), std::string::npos) << a.status().message();
    EXPECT_EQ(a.status().message().rfind("x.npy", 0), 0u) << a.status().message();
  }
  EXPECT_EQ(ReadNpy("/nonexistent/file.npy").status().code(), StatusCode::kIoError);
}

TEST(IoTest, ModelInputChecks) {
  const Tensor input = ModelInput({1, 3, 2, 2});
  FloatArray a;
  a.shape = {1, 3, 2, 2};
  a.data.assign(12, 0.5f);
  EXPECT_TRUE(CheckModelInput(input, a, "in").ok());
  a.shape = {3, 2, 2};  // missing batch dim of 1 is accepted
  EXPECT_TRUE(CheckModelInput(input, a, "in").ok());
  a.shape = {1, 3, 4, 1};
  Status s = CheckModelInput(input, a, "in");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("[1,3,2,2]"), std::string::npos) << s.message();
  a.shape = {1, 3, 2, 2};
  a.data[5] = std::numeric_limits<float>::quiet_NaN();
  s = CheckModelInput(input, a, "in");
  EXPECT_NE(s.message().find("NaN"), std::string::npos) << s.message();
  a.data[5] = std::numeric_limits<float>::infinity();
  s = CheckModelInput(input, a, "in");
  EXPECT_NE(s.message().find("infinite"), std::string::npos) << s.message();
}

TEST(IoTest, ImagesAreResizedAndNormalised) {
  const std::string dir = testing::MakeTempDir();
  // A 4x4 image: left half (10, 20, 30), right half (200, 100, 50).
  std::vector<unsigned char> px(4 * 4 * 3);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) px[(y * 4 + x) * 3 + c] = x < 2 ? static_cast<unsigned char>(10 * (c + 1)) : (c == 0 ? 200 : c == 1 ? 100 : 50);
  ASSERT_TRUE(stbi_write_png((dir + "/a.png").c_str(), 4, 4, 3, px.data(), 4 * 3));
  Preprocessing pre;
  Result<FloatArray> a = LoadImage(dir + "/a.png", 2, 2, pre);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->shape, (Shape{1, 3, 2, 2}));
  // Downscaling by 2 samples between pixels 0/1 (left) and 2/3 (right): exact colours.
  for (int c = 0; c < 3; ++c) {
    const float left = (10.0f * (c + 1) / 255.0f - pre.mean[c]) / pre.std[c];
    const float right = ((c == 0 ? 200 : c == 1 ? 100 : 50) / 255.0f - pre.mean[c]) / pre.std[c];
    for (int y = 0; y < 2; ++y) {
      EXPECT_NEAR(a->data[(c * 2 + y) * 2 + 0], left, 1e-5f);
      EXPECT_NEAR(a->data[(c * 2 + y) * 2 + 1], right, 1e-5f);
    }
  }
  // Upscaling: values stay within the two colours, monotone across the edge.
  Result<FloatArray> up = LoadImage(dir + "/a.png", 8, 8, pre);
  ASSERT_TRUE(up.ok());
  for (int x = 1; x < 8; ++x) EXPECT_GE(up->data[x], up->data[x - 1]);

  // JPEG, through LoadModelInput with the model's shape.
  std::vector<unsigned char> grey(16 * 16 * 3, 128);
  ASSERT_TRUE(stbi_write_jpg((dir + "/b.jpg").c_str(), 16, 16, 3, grey.data(), 95));
  Result<FloatArray> b = LoadModelInput(dir + "/b.jpg", ModelInput({1, 3, 8, 8}), pre);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->shape, (Shape{1, 3, 8, 8}));
  EXPECT_NEAR(b->data[0], (128.0f / 255.0f - pre.mean[0]) / pre.std[0], 0.05f);
}

TEST(IoTest, BadImagesAndInputsGetClearErrors) {
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/broken.png", "\x89PNG\r\n\x1a\n this is not really a png");
  Result<FloatArray> a = LoadModelInput(dir + "/broken.png", ModelInput({1, 3, 8, 8}), Preprocessing{});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("cannot read image"), std::string::npos) << a.status().message();
  a = LoadModelInput(dir + "/missing.jpg", ModelInput({1, 3, 8, 8}), Preprocessing{});
  ASSERT_FALSE(a.ok());
  a = LoadModelInput(dir + "/x.bmp", ModelInput({1, 3, 8, 8}), Preprocessing{});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("unknown file type"), std::string::npos);
  const std::vector<float> v(12, 0.0f);
  ASSERT_TRUE(WriteNpy(dir + "/small.npy", Shape{1, 3, 2, 2}, v.data()).ok());
  a = LoadModelInput(dir + "/small.npy", ModelInput({1, 3, 8, 8}), Preprocessing{});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("does not match"), std::string::npos) << a.status().message();
}

TEST(IoTest, InferCliReportsBadInputs) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = "mobilenet_v2:alpha=0.35,res=96";
  std::vector<float> v(3 * 96 * 96, 0.25f);
  ASSERT_TRUE(WriteNpy(dir + "/ok.npy", Shape{1, 3, 96, 96}, v.data()).ok());
  std::string out, err;
  ASSERT_EQ(testing::RunCli("infer " + model + " --input " + dir + "/ok.npy --top 3 --split 5 --output " + dir +
                                "/out.npy",
                            &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("head:"), std::string::npos) << out;
  EXPECT_NE(out.find("tail:"), std::string::npos) << out;
  EXPECT_NE(out.find("top-3"), std::string::npos) << out;
  Result<FloatArray> o = ReadNpy(dir + "/out.npy");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->shape, (Shape{1, 1000}));
  // The whole model gives the same bytes.
  ASSERT_EQ(testing::RunCli("infer " + model + " --input " + dir + "/ok.npy --top 0 --output " + dir + "/whole.npy", &out, &err), 0) << err;
  EXPECT_EQ(testing::ReadFile(dir + "/out.npy"), testing::ReadFile(dir + "/whole.npy"));

  v[17] = std::nanf("");
  ASSERT_TRUE(WriteNpy(dir + "/nan.npy", Shape{1, 3, 96, 96}, v.data()).ok());
  EXPECT_NE(testing::RunCli("infer " + model + " --input " + dir + "/nan.npy", &out, &err), 0);
  EXPECT_NE(err.find("NaN"), std::string::npos) << err;
  testing::WriteFile(dir + "/trunc.npy", testing::ReadFile(dir + "/ok.npy").substr(0, 1000));
  EXPECT_NE(testing::RunCli("infer " + model + " --input " + dir + "/trunc.npy", &out, &err), 0);
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  // int8 and the oneDNN backend run; an int8 calibration folder that does not exist is named.
  EXPECT_EQ(testing::RunCli("infer " + model + " --input " + dir + "/ok.npy --dtype int8 --top 0", &out, &err), 0) << err;
  EXPECT_EQ(testing::RunCli("infer " + model + " --input " + dir + "/ok.npy --backend onednn --top 0", &out, &err), 0) << err;
  EXPECT_NE(testing::RunCli("infer " + model + " --input " + dir + "/ok.npy --dtype int8 --calib " + dir + "/no_such_dir", &out, &err), 0);
  EXPECT_NE(err.find("no_such_dir"), std::string::npos) << err;
  EXPECT_NE(testing::RunCli("infer " + model + " --input " + dir + "/ok.npy --split nowhere", &out, &err), 0);

  ASSERT_EQ(testing::RunCli("bench-engine " + model + " --repeat 2 --format json", &out, &err), 0) << err;
  for (const char* key : {"\"schema_version\"", "\"median_ms\"", "\"min_ms\"", "\"p95_ms\"", "\"layers\"", "\"op\""})
    EXPECT_NE(out.find(key), std::string::npos) << key;
}

}  // namespace
}  // namespace edgesplit
