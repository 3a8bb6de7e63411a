// The weight-streaming Gemm of the oneDNN backend (src/kernels_onednn/gemv.cc):
// f32 Gemm / MatMul with constant weights and at most 8 rows, against a
// double-precision reference on sizes that end inside a 16-input block and a
// 3-feature panel, with and without bias and fused activation; and each row
// of a batch gets the bytes it gets alone.
#include <gtest/gtest.h>

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

constexpr int64_t kMaxStreamingRows = 8;  // onednn::kStreamingGemmMaxRows

struct Case {
  OpType op = OpType::kGemm;
  int64_t rows = 1, depth = 1, cols = 1;
  bool trans_b = true, bias = true;
  OpType activation = OpType::kIdentity;  // kRelu, kClip, kLeakyRelu or none
};

// The loop runs it (" on the calling thread" may follow, for a small one).
bool Streams(const PreparedKernel& k) {
  return std::string(OneDnnImplementation(k)).rfind("edgesplit streaming gemm", 0) == 0;
}

std::string Name(const Case& c) {
  return std::string(c.op == OpType::kGemm ? "Gemm" : "MatMul") + " M=" + std::to_string(c.rows) +
         " K=" + std::to_string(c.depth) + " N=" + std::to_string(c.cols) + " transB=" + std::to_string(c.trans_b) +
         " bias=" + std::to_string(c.bias) + " act=" + OpTypeName(c.activation);
}

// y = act(x B (+ C)) as one node (Canonicalize folds the activation into it).
// The builder's seed is fixed, so graphs of the same K and N share weights.
Graph Build(const Case& c) {
  testing::GraphBuilder b;
  const int x = b.Input("x", {c.rows, c.depth});
  const bool trans = c.op == OpType::kGemm && c.trans_b;
  std::vector<int> in = {x, b.Const("B", trans ? Shape{c.cols, c.depth} : Shape{c.depth, c.cols})};
  if (c.op == OpType::kGemm && c.bias) in.push_back(b.Const("C", {c.cols}));
  std::vector<Attribute> attrs;
  if (c.op == OpType::kGemm) attrs.push_back(b.Int("transB", trans ? 1 : 0));
  int y = b.Op(c.op, "fc", in, attrs);
  if (c.activation == OpType::kRelu) y = b.Op(OpType::kRelu, "act", {y});
  if (c.activation == OpType::kLeakyRelu) y = b.Op(OpType::kLeakyRelu, "act", {y}, {b.Float("alpha", 0.1f)});
  if (c.activation == OpType::kClip) y = b.Op(OpType::kClip, "act", {y, b.Scalar("lo", -0.2f), b.Scalar("hi", 0.3f)});
  return b.Finish(y);
}

// The double-precision result and, per output, the sum of |terms| (the
// scale of f32's rounding error).
void Reference(const Graph& g, const Case& c, const std::vector<float>& x, std::vector<double>* y,
               std::vector<double>* scale) {
  const Node& n = g.nodes[0];
  const float* w = reinterpret_cast<const float*>(g.tensors[n.inputs[1]].bytes());
  const float* bias = n.inputs.size() > 2 ? reinterpret_cast<const float*>(g.tensors[n.inputs[2]].bytes()) : nullptr;
  const bool trans = c.op == OpType::kGemm && c.trans_b;
  y->assign(static_cast<size_t>(c.rows * c.cols), 0.0);
  scale->assign(y->size(), 0.0);
  for (int64_t m = 0; m < c.rows; ++m)
    for (int64_t j = 0; j < c.cols; ++j) {
      double s = bias ? bias[j] : 0.0, a = bias ? std::fabs(bias[j]) : 0.0;
      for (int64_t k = 0; k < c.depth; ++k) {
        const double t = double{x[m * c.depth + k]} * (trans ? w[j * c.depth + k] : w[k * c.cols + j]);
        s += t;
        a += std::fabs(t);
      }
      if (c.activation == OpType::kRelu) s = std::max(s, 0.0);
      if (c.activation == OpType::kLeakyRelu && s < 0) s *= 0.1f;
      if (c.activation == OpType::kClip) s = std::min(std::max(s, double{-0.2f}), double{0.3f});
      (*y)[m * c.cols + j] = s;
      (*scale)[m * c.cols + j] = a;
    }
}

// Runs `c` on the oneDNN backend and checks it against the reference;
// returns whether the streaming loop ran it.
bool ExpectMatchesReference(const Case& c) {
  SCOPED_TRACE(Name(c));
  const Graph g = Build(c);
  EXPECT_EQ(g.nodes.size(), 1u);  // the activation is fused (the loop applies it)
  if (g.nodes.size() != 1) return false;
  auto ex = SegmentExecutor::Create(g, 0, 1, OneDnnBackend());
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return false;
  const bool streaming = Streams((*ex)->kernel(0));
  const std::vector<float> x = testing::RandomInput(**ex, 7 + static_cast<uint64_t>(c.rows));
  std::memcpy((*ex)->input(), x.data(), x.size() * 4);
  EXPECT_TRUE((*ex)->Invoke().ok());
  std::vector<double> want, scale;
  Reference(g, c, x, &want, &scale);
  const float* got = static_cast<const float*>((*ex)->output());
  for (size_t i = 0; i < want.size(); ++i)  // f32 sums of K terms: well within K * 2^-24 of the |terms|' sum
    EXPECT_NEAR(got[i], want[i], 1e-6 * scale[i] + 1e-7) << "output " << i;
  return streaming;
}

TEST(OneDnnGemvTest, MatchesDoublePrecisionOnOddSizes) {
  int streamed = 0, cases = 0;
  for (int64_t rows = 1; rows <= 9; ++rows)
    for (const int64_t depth : {1, 15, 37})
      for (const int64_t cols : {1, 7, 20})
        for (const bool trans_b : {false, true}) {
          const bool ran = ExpectMatchesReference({OpType::kGemm, rows, depth, cols, trans_b, (rows + depth) % 2 == 0});
          streamed += ran;
          ++cases;
          if (rows > kMaxStreamingRows) {
            EXPECT_FALSE(ran) << "M=" << rows << " should run on oneDNN";
          }
        }
  // Nine rows are oneDNN's inner product; 1..8 the loop, where the CPU has AVX-512.
  EXPECT_TRUE(streamed == cases * 8 / 9 || streamed == 0) << streamed << " of " << cases;
  if (streamed == 0) std::printf("note: no AVX-512 here, oneDNN's inner product ran\n");
}

TEST(OneDnnGemvTest, FusedActivationsBiasAndMatMul) {
  for (const OpType act : {OpType::kIdentity, OpType::kRelu, OpType::kLeakyRelu, OpType::kClip})
    for (const bool bias : {false, true}) {
      ExpectMatchesReference({OpType::kGemm, 3, 129, 17, true, bias, act});
      ExpectMatchesReference({OpType::kGemm, 8, 70, 5, false, bias, act});
    }
  for (const int64_t rows : {1, 2, 5, 8}) {
    ExpectMatchesReference({OpType::kMatMul, rows, 33, 11, false, false});
    ExpectMatchesReference({OpType::kMatMul, rows, 48, 6, false, false, OpType::kRelu});
  }
}

// A CPU without AVX-512 (the hand kernels' switch off) runs oneDNN's inner
// product, with the same results within f32 rounding.
TEST(OneDnnGemvTest, WithoutAvx512OneDnnRunsIt) {
  onednn::SetInt8Avx512(false);
  const bool streamed = ExpectMatchesReference({OpType::kGemm, 4, 37, 7, true, true, OpType::kRelu});
  onednn::SetInt8Avx512(true);
  EXPECT_FALSE(streamed);
}

// Batch N gives each row batch 1's bytes: the loop's arithmetic per output
// does not depend on the row count (the edge server batches requests).
TEST(OneDnnGemvTest, EveryRowOfABatchIsBitIdenticalToItAlone) {
  for (const bool trans_b : {true, false}) {
    Case one{OpType::kGemm, 1, 1001, 38, trans_b, true, OpType::kRelu};
    const Graph g1 = Build(one);
    auto single = SegmentExecutor::Create(g1, 0, 1, OneDnnBackend());
    ASSERT_TRUE(single.ok()) << single.status().message();
    if (!Streams((*single)->kernel(0)))
      GTEST_SKIP() << "no AVX-512 here: oneDNN's inner product runs (no such promise)";
    for (int64_t rows = 2; rows <= kMaxStreamingRows; ++rows) {
      Case many = one;
      many.rows = rows;
      const Graph gn = Build(many);
      auto batch = SegmentExecutor::Create(gn, 0, 1, OneDnnBackend());
      ASSERT_TRUE(batch.ok()) << batch.status().message();
      const std::vector<float> x = testing::RandomInput(**batch, 100 + static_cast<uint64_t>(rows));
      std::memcpy((*batch)->input(), x.data(), x.size() * 4);
      ASSERT_TRUE((*batch)->Invoke().ok());
      const auto* y = static_cast<const unsigned char*>((*batch)->output());
      const size_t row_bytes = static_cast<size_t>(one.cols) * 4;
      for (int64_t m = 0; m < rows; ++m) {
        std::memcpy((*single)->input(), x.data() + m * one.depth, static_cast<size_t>(one.depth) * 4);
        ASSERT_TRUE((*single)->Invoke().ok());
        EXPECT_EQ(std::memcmp((*single)->output(), y + m * row_bytes, row_bytes), 0)
            << "row " << m << " of " << rows << " (transB " << trans_b << ")";
      }
    }
  }
}

}  // namespace
}  // namespace edgesplit
