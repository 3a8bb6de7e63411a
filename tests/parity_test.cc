// PyTorch parity of the reference and onednn backends (f32): each torchvision export, run
// whole and split at a middle cut, gives PyTorch's output within
// 1e-4 * max|reference|, and the split output is bit-identical to the whole.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/io.h"
#include "edgesplit/kernels.h"
#include "edgesplit/onnx.h"
#include "test_util.h"

namespace edgesplit {
namespace {

std::vector<float> RunSegments(const Graph& g, const std::vector<int>& bounds, const FloatArray& input,
                               const Backend& backend) {
  std::vector<float> carry(input.data);
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    auto ex = SegmentExecutor::Create(g, bounds[s], bounds[s + 1], backend);
    EXPECT_TRUE(ex.ok()) << ex.status().message();
    if (!ex.ok()) return {};
    EXPECT_EQ((*ex)->num_inputs(), 1);
    EXPECT_EQ(static_cast<size_t>((*ex)->input_bytes()), carry.size() * 4);
    std::memcpy((*ex)->input(), carry.data(), carry.size() * 4);
    Status st = (*ex)->Invoke();
    EXPECT_TRUE(st.ok()) << st.message();
    carry.resize(static_cast<size_t>((*ex)->output_bytes() / 4));
    std::memcpy(carry.data(), (*ex)->output(), carry.size() * 4);
  }
  return carry;
}

// Each model on each backend: (model, backend name).
class ParityTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(ParityTest, WholeAndSplitMatchPytorch) {
  const std::string name = std::get<0>(GetParam());
  const Backend* backend = FindBackend(std::get<1>(GetParam()));
  ASSERT_NE(backend, nullptr) << std::get<1>(GetParam());
  ES_REQUIRE_FIXTURE(model_path, name + ".onnx");
  ES_REQUIRE_FIXTURE(input_path, name + ".input.npy");
  ES_REQUIRE_FIXTURE(output_path, name + ".output.npy");
  Result<Graph> g = ImportOnnxFile(model_path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  Result<FloatArray> input = ReadNpy(input_path);
  ASSERT_TRUE(input.ok()) << input.status().message();
  Result<FloatArray> expected = ReadNpy(output_path);
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  ASSERT_TRUE(CheckModelInput(g->tensors[g->inputs[0]], *input, "input").ok());

  const int n = static_cast<int>(g->nodes.size());
  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> whole = RunSegments(*g, {0, n}, *input, *backend);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(whole.size(), expected->data.size());
  float max_ref = 0, max_err = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(expected->data[i]));
    max_err = std::max(max_err, std::fabs(whole[i] - expected->data[i]));
  }
  std::printf("[ parity ] %-20s %-9s max|d| %.3g  max|ref| %.3g  rel %.3g  %.1f ms\n", name.c_str(), backend->name(),
              max_err, max_ref, max_err / max_ref, ms);
  EXPECT_LE(max_err, 1e-4f * max_ref);

  Result<std::vector<CutPoint>> cuts = FindCutPoints(*g);
  ASSERT_TRUE(cuts.ok()) << cuts.status().message();
  const int mid = (*cuts)[cuts->size() / 2].position;
  std::vector<float> split = RunSegments(*g, {0, mid, n}, *input, *backend);
  ASSERT_EQ(split.size(), whole.size());
  EXPECT_EQ(std::memcmp(split.data(), whole.data(), whole.size() * 4), 0) << "split at position " << mid;
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ParityTest,
                         ::testing::Combine(::testing::Values("resnet18", "mobilenet_v2", "mobilenet_v2_035", "efficientnet_b0",
                                                              "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1",
                                                              "resnet50", "mobilenet_v3_large", "densenet121"),
                                            ::testing::Values("reference", "onednn")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                         });

}  // namespace
}  // namespace edgesplit
