// Reference kernels against direct textbook formulas on random shapes and
// attributes (ONNX's node tests cover the fixed cases: conformance_test.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "graph_builder.h"

namespace edgesplit {
namespace {

using testing::GraphBuilder;

std::vector<float> RunGraph(Graph& g, const std::vector<float>& input) {
  EXPECT_TRUE(InferShapes(g).ok());
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), ReferenceBackend());
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return {};
  EXPECT_EQ(static_cast<size_t>((*ex)->input_bytes()), input.size() * 4);
  std::memcpy((*ex)->input(), input.data(), input.size() * 4);
  EXPECT_TRUE((*ex)->Invoke().ok());
  const float* out = static_cast<const float*>((*ex)->output());
  return std::vector<float>(out, out + (*ex)->output_bytes() / 4);
}

TEST(KernelsTest, ConvMatchesDirectFormula) {
  Rng rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t group = 1 + rng.Next() % 3, cg = 1 + rng.Next() % 3, mg = 1 + rng.Next() % 3;
    const int64_t C = cg * group, M = mg * group, H = 3 + rng.Next() % 6, W = 3 + rng.Next() % 6;
    const int64_t KH = 1 + rng.Next() % 3, KW = 1 + rng.Next() % 3, SH = 1 + rng.Next() % 2, SW = 1 + rng.Next() % 3;
    const int64_t DH = 1 + rng.Next() % 2, DW = 1 + rng.Next() % 2;
    const int64_t PT = rng.Next() % 3, PL = rng.Next() % 3, PB = rng.Next() % 3, PR = rng.Next() % 3;
    if ((KH - 1) * DH + 1 > H + PT + PB || (KW - 1) * DW + 1 > W + PL + PR) continue;
    const bool bias = rng.Next() % 2;
    GraphBuilder b;
    const int x = b.Input("x", {1, C, H, W});
    const int w = b.Const("w", {M, cg, KH, KW});
    std::vector<int> in = {x, w};
    if (bias) in.push_back(b.Const("b", {M}));
    const int y = b.Op(OpType::kConv, "conv", in,
                       {GraphBuilder::IntsAttr("strides", {SH, SW}), GraphBuilder::IntsAttr("dilations", {DH, DW}),
                        GraphBuilder::IntsAttr("pads", {PT, PL, PB, PR}), GraphBuilder::Int("group", group)});
    b.g.outputs = {y};
    std::vector<float> input(static_cast<size_t>(C * H * W));
    for (float& v : input) v = rng.Uniform(-1, 1);
    std::vector<float> got = RunGraph(b.g, input);
    const Shape& os = b.g.tensors[y].shape;
    const int64_t OH = os[2], OW = os[3];
    ASSERT_EQ(got.size(), static_cast<size_t>(M * OH * OW));
    const float* wt = b.g.tensors[w].data_as<float>();
    const float* bt = bias ? b.g.tensors[in[2]].data_as<float>() : nullptr;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = bt ? bt[m] : 0.0;
          const int64_t g = m / mg;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iy = oy * SH - PT + kh * DH, ix = ox * SW - PL + kw * DW;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += static_cast<double>(wt[((m * cg + ic) * KH + kh) * KW + kw]) *
                       input[((g * cg + ic) * H + iy) * W + ix];
              }
          EXPECT_NEAR(got[(m * OH + oy) * OW + ox], acc, 1e-5) << "trial " << trial;
        }
  }
}

TEST(KernelsTest, PoolingCeilModeAndPadding) {
  // 1x1x5x5 ramp, 2x2 windows, stride 2, ceil_mode: a 3x3 output whose last
  // row/column windows hang over the edge.
  std::vector<float> input(25);
  for (int i = 0; i < 25; ++i) input[i] = static_cast<float>(i);
  for (OpType op : {OpType::kMaxPool, OpType::kAveragePool}) {
    GraphBuilder b;
    const int x = b.Input("x", {1, 1, 5, 5});
    const int y = b.Op(op, "pool", {x},
                       {GraphBuilder::IntsAttr("kernel_shape", {2, 2}), GraphBuilder::IntsAttr("strides", {2, 2}),
                        GraphBuilder::Int("ceil_mode", 1)});
    b.g.outputs = {y};
    std::vector<float> got = RunGraph(b.g, input);
    ASSERT_EQ(got.size(), 9u);
    if (op == OpType::kMaxPool) {
      EXPECT_EQ(got, (std::vector<float>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
    } else {
      EXPECT_EQ(got, (std::vector<float>{3, 5, 6.5f, 13, 15, 16.5f, 20.5f, 22.5f, 24}));
    }
  }
}

TEST(KernelsTest, BroadcastArithmeticAndFusedActivation) {
  GraphBuilder b;
  const int x = b.Input("x", {2, 3, 1, 4});
  const float c[3] = {1.0f, -2.0f, 0.5f};
  const int k = b.g.AddConstant("c", DType::kFloat32, Shape{3, 1, 1}, c);
  const int y = b.Op(OpType::kMul, "mul", {x, k});
  const int z = b.Op(OpType::kAdd, "add", {y, b.Scalar("one", 1.0f)});
  const int r = b.Op(OpType::kRelu, "relu", {z});
  b.g.outputs = {r};
  ASSERT_TRUE(Canonicalize(b.g).ok());
  EXPECT_EQ(b.g.nodes.back().activation.kind, ActivationKind::kRelu);
  std::vector<float> input(24);
  for (int i = 0; i < 24; ++i) input[i] = static_cast<float>(i % 5) - 2.0f;
  std::vector<float> got = RunGraph(b.g, input);
  ASSERT_EQ(got.size(), 24u);
  for (int i = 0; i < 24; ++i) {
    const int ch = (i / 4) % 3;
    EXPECT_EQ(got[i], std::max(0.0f, input[i] * c[ch] + 1.0f)) << i;
  }
}

TEST(KernelsTest, PrepareRejectsWhatItCannotRun) {
  GraphBuilder b;
  const int x = b.Input("x", {1, 2, 3, 3, 3, 3});  // 4-D windows
  const int y = b.Op(OpType::kMaxPool, "pool4d", {x}, {GraphBuilder::IntsAttr("kernel_shape", {1, 1, 1, 1})});
  b.g.outputs = {y};
  ASSERT_TRUE(InferShapes(b.g).ok());
  PreparedKernel k;
  Status s = ReferenceBackend().Prepare(b.g, 0, &k);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pool4d"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("4-D"), std::string::npos) << s.message();
  EXPECT_STREQ(ReferenceBackend().name(), "reference");
}

}  // namespace
}  // namespace edgesplit
