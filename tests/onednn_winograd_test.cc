// edgesplit's Winograd F(4x4, 3x3) loop on the oneDNN backend
// (src/kernels_onednn/winograd.cc): which convs take it, their results
// against a double-precision direct conv (odd sizes, pads, groups, batch,
// bias and fused activations), into a Concat's channels, and the same bytes
// whatever the batch, the thread count or the cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edgesplit/exec.h"
#include "edgesplit/onednn.h"
#include "../src/kernels_onednn/int8.h"  // SetInt8Avx512: the hand kernels' AVX-512 switch
#include "graph_builder.h"
#include "onednn_test_util.h"

namespace edgesplit {
namespace {

struct Case {
  int64_t batch = 1, c = 32, m = 32, h = 16, w = 16, groups = 1;
  std::vector<int64_t> pads = {1, 1, 1, 1};
  bool bias = true;
  OpType activation = OpType::kIdentity;  // kRelu, kClip, kLeakyRelu or none
};

std::string Name(const Case& k) {
  std::string p;
  for (int64_t v : k.pads) p += std::to_string(v);
  return "N=" + std::to_string(k.batch) + " C=" + std::to_string(k.c) + " M=" + std::to_string(k.m) + " " +
         std::to_string(k.h) + "x" + std::to_string(k.w) + " groups=" + std::to_string(k.groups) + " pads=" + p +
         " bias=" + std::to_string(k.bias) + " act=" + OpTypeName(k.activation);
}

bool Winograd(const PreparedKernel& k) { return std::string(OneDnnImplementation(k)).find("edgesplit winograd") != std::string::npos; }

// The 3x3 (with its activation fused) between two Relu'd 1x1s' neighbours:
// an Identity-free chain x -> 3x3 -> 1x1, so the 3x3's input (a graph input,
// transposed at the boundary) and output are channels-last. Node 0 is the 3x3.
Graph Build(const Case& k) {
  testing::GraphBuilder b;
  const int x = b.Input("x", {k.batch, k.c, k.h, k.w});
  std::vector<int> in = {x, b.Const("w", {k.m, k.c / k.groups, 3, 3})};
  if (k.bias) in.push_back(b.Const("b", {k.m}));
  int y = b.Op(OpType::kConv, "conv3x3", in,
               {b.IntsAttr("strides", {1, 1}), b.IntsAttr("pads", k.pads), b.Int("group", k.groups)});
  if (k.activation == OpType::kRelu) y = b.Op(OpType::kRelu, "act", {y});
  if (k.activation == OpType::kLeakyRelu) y = b.Op(OpType::kLeakyRelu, "act", {y}, {b.Float("alpha", 0.1f)});
  if (k.activation == OpType::kClip) y = b.Op(OpType::kClip, "act", {y, b.Scalar("lo", -0.2f), b.Scalar("hi", 0.3f)});
  return b.Finish(b.Conv("project", y, k.m, 16, 1));
}

// The 3x3's output in double precision (NCHW) and, per output, the sum of
// |terms| (the scale of the rounding error).
void Reference(const Graph& g, const Case& k, const std::vector<float>& x, std::vector<double>* y, std::vector<double>* scale) {
  const Node& n = g.nodes[0];
  const float* w = reinterpret_cast<const float*>(g.tensors[n.inputs[1]].bytes());
  const float* bias = k.bias ? reinterpret_cast<const float*>(g.tensors[n.inputs[2]].bytes()) : nullptr;
  const int64_t oh = k.h + k.pads[0] + k.pads[2] - 2, ow = k.w + k.pads[1] + k.pads[3] - 2, cg = k.c / k.groups;
  y->assign(static_cast<size_t>(k.batch * k.m * oh * ow), 0.0);
  scale->assign(y->size(), 0.0);
  for (int64_t b = 0; b < k.batch; ++b)
    for (int64_t o = 0; o < k.m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double s = bias ? bias[o] : 0.0, a = bias ? std::fabs(bias[o]) : 0.0;
          const int64_t group = o / (k.m / k.groups);
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t q = 0; q < 3; ++q) {
                const int64_t iy = i + r - k.pads[0], ix = j + q - k.pads[1];
                if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                const double t = double{x[((b * k.c + group * cg + c) * k.h + iy) * k.w + ix]} * w[((o * cg + c) * 3 + r) * 3 + q];
                s += t;
                a += std::fabs(t);
              }
          if (k.activation == OpType::kRelu) s = std::max(s, 0.0);
          if (k.activation == OpType::kLeakyRelu && s < 0) s *= double{0.1f};
          if (k.activation == OpType::kClip) s = std::min(std::max(s, double{-0.2f}), double{0.3f});
          const size_t at = static_cast<size_t>(((b * k.m + o) * oh + i) * ow + j);
          (*y)[at] = s;
          (*scale)[at] = a;
        }
}

// Runs the 3x3 alone (a head of one node) and checks it against the
// reference; returns whether the loop ran it.
bool ExpectMatchesReference(const Case& k) {
  SCOPED_TRACE(Name(k));
  const Graph g = Build(k);
  EXPECT_EQ(g.nodes.size(), 2u);  // the activation is fused into the 3x3
  if (g.nodes.size() != 2) return false;
  auto ex = SegmentExecutor::Create(g, 0, 1, OneDnnBackend());
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return false;
  const bool own = Winograd((*ex)->kernel(0));
  const std::vector<float> x = testing::RandomInput(**ex, 11 + static_cast<uint64_t>(k.h));
  std::memcpy((*ex)->input(), x.data(), x.size() * 4);
  EXPECT_TRUE((*ex)->Invoke().ok());
  std::vector<double> want, scale;
  Reference(g, k, x, &want, &scale);
  EXPECT_EQ(static_cast<size_t>((*ex)->output_bytes()), want.size() * 4);
  if (static_cast<size_t>((*ex)->output_bytes()) != want.size() * 4) return own;
  const float* got = static_cast<const float*>((*ex)->output());  // NCHW at the segment's boundary
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    // The transforms add a few roundings of values up to ~10x the terms.
    EXPECT_NEAR(got[i], want[i], 2e-5 * scale[i] + 1e-6) << "output " << i;
    worst = std::max(worst, std::fabs(got[i] - want[i]) / (scale[i] + 1e-30));
  }
  std::printf("[ winograd ] %-60s %s  worst |d| / sum|terms| %.2e\n", Name(k).c_str(), own ? "own" : "oneDNN", worst);
  return own;
}

TEST(OneDnnWinogradTest, MatchesDoublePrecisionOnOddShapes) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "no AVX-512 here: oneDNN's kernels run";
  const std::vector<Case> cases = {
      {1, 32, 32, 16, 16},                                   // 4 divides the image
      {1, 16, 48, 15, 17},                                   // tiles cut by both edges; 16-channel slices
      {2, 64, 64, 14, 14, 1, {1, 1, 1, 1}, false},           // batch 2, ResNet's 14x14, no bias
      {1, 32, 64, 18, 20, 1, {0, 0, 0, 0}},                  // no padding: 16x18 out
      {1, 32, 32, 17, 15, 1, {1, 0, 0, 1}},                  // uneven pads
      {1, 16, 32, 16, 16, 1, {2, 2, 2, 2}},                  // pads of 2: 18x18 out
      {1, 64, 64, 28, 28, 2},                                // 2 groups of 32
      {1, 128, 128, 14, 14, 4},                              // 4 groups of 32 (ResNeXt's width at 14x14)
      {1, 32, 32, 16, 16, 1, {1, 1, 1, 1}, true, OpType::kRelu},
      {1, 32, 32, 16, 16, 1, {1, 1, 1, 1}, true, OpType::kClip},
      {1, 32, 32, 16, 16, 1, {1, 1, 1, 1}, false, OpType::kLeakyRelu},
  };
  for (const Case& k : cases) EXPECT_TRUE(ExpectMatchesReference(k)) << Name(k) << " should run on the loop";
}

// Where it does not pay (WinogradF43Pays) or cannot run, oneDNN runs the
// conv, with results within f32 rounding all the same.
TEST(OneDnnWinogradTest, LeavesOtherConvsToOneDnn) {
  EXPECT_FALSE(ExpectMatchesReference({1, 32, 32, 13, 13}));           // 13x13: 51% of the tiles' outputs padding
  EXPECT_FALSE(ExpectMatchesReference({1, 32, 32, 12, 12}));           // below 14x14
  EXPECT_FALSE(ExpectMatchesReference({1, 24, 32, 16, 16}));           // 24 input channels: not a multiple of 16
  EXPECT_FALSE(ExpectMatchesReference({1, 64, 64, 28, 28, 4}));        // groups of 16
  EXPECT_FALSE(ExpectMatchesReference({1, 32, 32, 16, 16, 1, {3, 3, 3, 3}}));  // pads of 3
}

// A CPU without AVX-512 (the hand kernels' switch off) runs oneDNN's conv.
TEST(OneDnnWinogradTest, WithoutAvx512OneDnnRunsIt) {
  onednn::SetInt8Avx512(false);
  const bool own = ExpectMatchesReference({1, 32, 32, 16, 16});
  onednn::SetInt8Avx512(true);
  EXPECT_FALSE(own);
}

// The bytes of a whole run on 1 and on 2 threads, of each image of a batch
// run alone, and of head + tail at every cut are the same: no output depends
// on the block size, the thread split or the batch.
TEST(OneDnnWinogradTest, SameBytesWhateverTheBatchThreadsOrCut) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "no AVX-512 here: oneDNN's kernels run";
  const int threads = OneDnnThreads();
  Case k{3, 64, 64, 30, 26, 1, {1, 1, 1, 1}, true, OpType::kRelu};
  const Graph g = Build(k);
  ASSERT_EQ(g.nodes.size(), 2u);
  std::vector<unsigned char> bytes[2];
  std::vector<float> x;
  for (int t : {1, 2}) {
    ASSERT_TRUE(SetOneDnnThreads(t).ok());
    auto ex = SegmentExecutor::Create(g, 0, 2, OneDnnBackend());
    ASSERT_TRUE(ex.ok()) << ex.status().message();
    ASSERT_TRUE(Winograd((*ex)->kernel(0)));
    if (x.empty()) x = testing::RandomInput(**ex, 5);
    std::memcpy((*ex)->input(), x.data(), x.size() * 4);
    ASSERT_TRUE((*ex)->Invoke().ok());
    const auto* o = static_cast<const unsigned char*>((*ex)->output());
    bytes[t - 1].assign(o, o + (*ex)->output_bytes());
  }
  ASSERT_TRUE(SetOneDnnThreads(threads).ok());
  EXPECT_EQ(bytes[0], bytes[1]) << "1 and 2 threads";

  Case one = k;
  one.batch = 1;
  const Graph g1 = Build(one);
  auto single = SegmentExecutor::Create(g1, 0, 2, OneDnnBackend());
  ASSERT_TRUE(single.ok()) << single.status().message();
  const size_t in_image = x.size() / 3, out_image = bytes[1].size() / 3;
  for (int b = 0; b < 3; ++b) {
    std::memcpy((*single)->input(), x.data() + b * in_image, in_image * 4);
    ASSERT_TRUE((*single)->Invoke().ok());
    EXPECT_EQ(std::memcmp((*single)->output(), bytes[1].data() + b * out_image, out_image), 0) << "image " << b;
  }

  const int checked = testing::ExpectEveryCutBitExact(g, OneDnnBackend(), x,
                                                      [](const CutPoint&, const SegmentExecutor&, const SegmentExecutor&) {});
  EXPECT_GE(checked, 1);
}

// A conv the loop takes alone, followed by a residual Add (ResNet's basic
// block) or by a Sigmoid (a conv's eltwise tail): oneDNN's fused pair would
// sum otherwise than the loop, so the pair stays apart and fused, unfused
// and every cut give the same bytes.
TEST(OneDnnWinogradTest, NoFusedPairChangesItsBytes) {
  for (const OpType after : {OpType::kAdd, OpType::kSigmoid}) {
    SCOPED_TRACE(OpTypeName(after));
    testing::GraphBuilder b;
    int x = b.Input("x", {1, 16, 16, 16});
    x = b.Op(OpType::kRelu, "expand.relu", {b.Conv("expand", x, 16, 32, 1, 1, 1, true)});
    int y = b.Conv("conv3x3", x, 32, 32, 3, 1, 1, true);
    y = after == OpType::kAdd ? b.Op(OpType::kAdd, "add", {y, x}) : b.Op(OpType::kSigmoid, "sigmoid", {y});
    const Graph g = b.Finish(b.Conv("project", y, 32, 16, 1));
    ASSERT_FALSE(g.nodes.empty());
    const int n = static_cast<int>(g.nodes.size());
    auto fused = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
    static const Backend unfused_backend = OneDnnBackend().WithoutFusion();
    auto apart = SegmentExecutor::Create(g, 0, n, unfused_backend);
    ASSERT_TRUE(fused.ok()) << fused.status().message();
    ASSERT_TRUE(apart.ok()) << apart.status().message();
    if (__builtin_cpu_supports("avx512f")) { EXPECT_TRUE(Winograd((*apart)->kernel(1))); }
    const std::vector<float> input = testing::RandomInput(**fused, 6);
    for (auto* ex : {fused->get(), apart->get()}) {
      std::memcpy(ex->input(), input.data(), input.size() * 4);
      ASSERT_TRUE(ex->Invoke().ok());
    }
    ASSERT_EQ((*fused)->output_bytes(), (*apart)->output_bytes());
    EXPECT_EQ(std::memcmp((*fused)->output(), (*apart)->output(), static_cast<size_t>((*fused)->output_bytes())), 0);
    EXPECT_GE(testing::ExpectEveryCutBitExact(g, OneDnnBackend(), input,
                                              [](const CutPoint&, const SegmentExecutor&, const SegmentExecutor&) {}),
              1);
  }
}

// SqueezeNet's fire module: a 3x3 expand concatenated with a 1x1 one. The
// loop writes the 3x3's outputs straight into its channels of the Concat
// (the 1x1's are copied beside them), within the reference's tolerance.
TEST(OneDnnWinogradTest, WritesIntoItsConcat) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 32, 28, 28});
  x = b.Op(OpType::kRelu, "squeeze.relu", {b.Conv("squeeze", x, 32, 16, 1, 1, 1, true)});
  const int e1 = b.Op(OpType::kRelu, "e1.relu", {b.Conv("e1", x, 16, 64, 1, 1, 1, true)});
  const int e3 = b.Op(OpType::kRelu, "e3.relu", {b.Conv("e3", x, 16, 64, 3, 1, 1, true)});
  const int cat = b.Op(OpType::kConcat, "cat", {e1, e3}, {b.Int("axis", 1)});
  const Graph g = b.Finish(b.Conv("project", cat, 128, 16, 1));
  ASSERT_FALSE(g.nodes.empty());
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  bool into = false;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const std::string impl = OneDnnImplementation((*ex)->kernel(i));
    into = into || (impl.find("edgesplit winograd") != std::string::npos && impl.find("into its Concat") != std::string::npos);
  }
  if (__builtin_cpu_supports("avx512f")) { EXPECT_TRUE(into); }
  testing::ExpectNearReferenceBackend(g, 8, 1e-4f);
  const int checked = testing::ExpectEveryCutBitExact(g, OneDnnBackend(), testing::RandomInput(**ex, 9),
                                                      [](const CutPoint&, const SegmentExecutor&, const SegmentExecutor&) {});
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace edgesplit
