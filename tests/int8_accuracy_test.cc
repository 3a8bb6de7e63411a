// int8 accuracy on real weights: tools/make_fixtures.py trains a small CNN and
// a MobileNetV2 (width 0.35, 32x32) on scikit-learn's digits; edgesplit's int8
// version of each, calibrated on 64 training images, must keep the held-out
// test accuracy within 1 point of f32 (and f32 must match PyTorch's).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "edgesplit/exec.h"
#include "edgesplit/io.h"
#include "edgesplit/kernels.h"
#include "edgesplit/onnx.h"
#include "edgesplit/quant.h"
#include "test_util.h"

namespace edgesplit {
namespace {

std::vector<CalibrationSample> SplitBatch(const FloatArray& batch) {
  const size_t n = static_cast<size_t>(batch.shape[0]);
  const size_t each = batch.data.size() / n;
  std::vector<CalibrationSample> out(n);
  for (size_t i = 0; i < n; ++i) out[i].assign(batch.data.begin() + i * each, batch.data.begin() + (i + 1) * each);
  return out;
}

// Top-1 accuracy of `graph` (whole, reference backend) over the samples.
double Accuracy(const Graph& graph, const std::vector<CalibrationSample>& x, const std::vector<float>& labels) {
  auto ex = SegmentExecutor::Create(graph, 0, static_cast<int>(graph.nodes.size()), ReferenceBackend());
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return 0.0;
  int correct = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    std::memcpy((*ex)->input(), x[i].data(), x[i].size() * sizeof(float));
    EXPECT_TRUE((*ex)->Invoke().ok());
    const float* logits = static_cast<const float*>((*ex)->output());
    const int64_t classes = (*ex)->output_bytes() / 4;
    correct += (std::max_element(logits, logits + classes) - logits) == static_cast<int64_t>(labels[i]);
  }
  return static_cast<double>(correct) / static_cast<double>(x.size());
}

void ExpectInt8KeepsAccuracy(const std::string& onnx_path, const std::string& name) {
  const std::string dir = testing::FixturesDir();
  Result<FloatArray> test = ReadNpy(dir + "/digits_test.npy");
  Result<FloatArray> labels = ReadNpy(dir + "/digits_test_labels.npy");
  Result<FloatArray> calib = ReadNpy(dir + "/digits_calib.npy");
  ASSERT_TRUE(test.ok() && labels.ok() && calib.ok()) << "digits fixtures are incomplete";
  const nlohmann::json torch_acc = nlohmann::json::parse(testing::ReadFile(dir + "/digits_accuracy.json"));
  Result<Graph> f32 = ImportOnnxFile(onnx_path);
  ASSERT_TRUE(f32.ok()) << f32.status().message();
  Result<Graph> int8 = Quantize(*f32, SplitBatch(*calib));
  ASSERT_TRUE(int8.ok()) << int8.status().message();
  const std::vector<CalibrationSample> x = SplitBatch(*test);
  ASSERT_EQ(x.size(), labels->data.size());
  const double acc_f32 = Accuracy(*f32, x, labels->data);
  const double acc_int8 = Accuracy(*int8, x, labels->data);
  std::printf("%s: %zu test digits, f32 %.2f%%, int8 %.2f%% (PyTorch f32 %.2f%%)\n", name.c_str(), x.size(),
              100 * acc_f32, 100 * acc_int8, 100 * torch_acc["accuracy"][name].get<double>());
  EXPECT_GT(acc_f32, 0.9) << "training did not work";
  EXPECT_NEAR(acc_f32, torch_acc["accuracy"][name].get<double>(), 0.006);  // at most 2 of 360 flips
  EXPECT_GE(acc_int8, acc_f32 - 0.01) << "int8 loses more than 1 point";
}

TEST(Int8Accuracy, SmallCnnOnDigitsWithinOnePointOfF32) {
  ES_REQUIRE_FIXTURE(path, "digits_cnn.onnx");
  ExpectInt8KeepsAccuracy(path, "digits_cnn");
}

TEST(Int8Accuracy, MobileNetV2OnDigitsWithinOnePointOfF32) {
  ES_REQUIRE_FIXTURE(path, "digits_mobilenet_v2.onnx");
  ExpectInt8KeepsAccuracy(path, "digits_mobilenet_v2");
}

}  // namespace
}  // namespace edgesplit
