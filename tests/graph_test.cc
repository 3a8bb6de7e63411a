// Unit tests of the graph core: shape inference, canonical passes, cut points,
// memory planning and segment extraction, on small hand-built graphs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "edgesplit/analysis.h"
#include "edgesplit/graph.h"
#include "graph_builder.h"

namespace edgesplit {
namespace {

using G = testing::GraphBuilder;

TEST(ShapeInference, ConvPadsStridesGroupsAndAutoPad) {
  G b;
  int x = b.Input("x", {1, 8, 15, 15});
  int y = b.Conv("c1", x, 8, 16, 3, 2);
  int z = b.Conv("dw", y, 16, 16, 3, 1, 16);
  int w = b.Const("w3", {4, 16, 3, 3});
  int s = b.Op(OpType::kConv, "same", {z, w}, {G::Str("auto_pad", "SAME_UPPER"), G::IntsAttr("strides", {2, 2})});
  b.g.outputs = {s};
  ASSERT_TRUE(InferShapes(b.g).ok());
  EXPECT_EQ(b.ShapeOf(y), (Shape{1, 16, 8, 8}));
  EXPECT_EQ(b.ShapeOf(z), (Shape{1, 16, 8, 8}));
  EXPECT_EQ(b.ShapeOf(s), (Shape{1, 4, 4, 4}));
  // auto_pad is resolved into explicit pads.
  EXPECT_EQ(b.g.nodes[2].FindAttr("auto_pad"), nullptr);
  EXPECT_EQ(b.g.nodes[2].GetInts("pads"), (std::vector<int64_t>{0, 0, 1, 1}));
}

TEST(ShapeInference, ConvChannelMismatchNamesTheNode) {
  G b;
  int x = b.Input("x", {1, 3, 8, 8});
  int w = b.Const("w", {4, 5, 3, 3});
  b.g.outputs = {b.Op(OpType::kConv, "bad_conv", {x, w})};
  Status s = InferShapes(b.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad_conv"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("input channels"), std::string::npos) << s.message();
}

TEST(ShapeInference, PoolingCeilModeAndGlobal) {
  G b;
  int x = b.Input("x", {1, 2, 10, 10});
  int m = b.Op(OpType::kMaxPool, "mp", {x}, {G::IntsAttr("kernel_shape", {3, 3}), G::IntsAttr("strides", {2, 2}), G::Int("ceil_mode", 1)});
  int a = b.Op(OpType::kAveragePool, "ap", {m}, {G::IntsAttr("kernel_shape", {2, 2})});
  int gap = b.Op(OpType::kGlobalAveragePool, "gap", {a});
  b.g.outputs = {gap};
  ASSERT_TRUE(InferShapes(b.g).ok());
  EXPECT_EQ(b.ShapeOf(m), (Shape{1, 2, 5, 5}));  // floor would give 4
  EXPECT_EQ(b.ShapeOf(a), (Shape{1, 2, 4, 4}));
  EXPECT_EQ(b.ShapeOf(gap), (Shape{1, 2, 1, 1}));
}

TEST(ShapeInference, DataMovementOps) {
  G b;
  int x = b.Input("x", {2, 3, 4, 5});
  int r = b.Op(OpType::kReshape, "r", {x, b.Ints("rs", {0, -1, 5})});
  int t = b.Op(OpType::kTranspose, "t", {r}, {G::IntsAttr("perm", {2, 0, 1})});
  int f = b.Op(OpType::kFlatten, "f", {x}, {G::Int("axis", 2)});
  int sl = b.Op(OpType::kSlice, "sl", {x, b.Ints("s0", {-1, 0}), b.Ints("e0", {-100, 5}), b.Ints("ax", {2, 3}),
                                         b.Ints("st", {-2, 2})});
  int sp = b.Op(OpType::kSplit, "sp", {x, b.Ints("sz", {1, 2})}, {G::Int("axis", 1)}, 2);
  int ga = b.Op(OpType::kGather, "ga", {x, b.Ints("idx", {0, 2, 1})}, {G::Int("axis", 1)});
  int pd = b.Op(OpType::kPad, "pd", {x, b.Ints("pads", {0, 0, 1, 2, 0, 0, 1, 2})});
  int us = b.Op(OpType::kUnsqueeze, "us", {x, b.Ints("ua", {0, -1})});
  int sq = b.Op(OpType::kSqueeze, "sq", {us, b.Ints("sa", {0})});
  int cat = b.Op(OpType::kConcat, "cat", {x, x}, {G::Int("axis", -1)});
  int rm = b.Op(OpType::kReduceMean, "rm", {x}, {G::IntsAttr("axes", {2, 3}), G::Int("keepdims", 0)});
  b.g.outputs = {t, f, sl, sp, ga, pd, sq, cat, rm};
  Status s = InferShapes(b.g);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(b.ShapeOf(r), (Shape{2, 12, 5}));
  EXPECT_EQ(b.ShapeOf(t), (Shape{5, 2, 12}));
  EXPECT_EQ(b.ShapeOf(f), (Shape{6, 20}));
  EXPECT_EQ(b.ShapeOf(sl), (Shape{2, 3, 2, 3}));
  EXPECT_EQ(b.ShapeOf(sp), (Shape{2, 1, 4, 5}));
  EXPECT_EQ(b.ShapeOf(sp + 1), (Shape{2, 2, 4, 5}));
  EXPECT_EQ(b.ShapeOf(ga), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(b.ShapeOf(pd), (Shape{2, 3, 6, 9}));
  EXPECT_EQ(b.ShapeOf(us), (Shape{1, 2, 3, 4, 5, 1}));
  EXPECT_EQ(b.ShapeOf(sq), (Shape{2, 3, 4, 5, 1}));
  EXPECT_EQ(b.ShapeOf(cat), (Shape{2, 3, 4, 10}));
  EXPECT_EQ(b.ShapeOf(rm), (Shape{2, 3}));
}

TEST(ShapeInference, MatrixProductsAndBroadcast) {
  G b;
  int a = b.Input("a", {4, 8});
  int gm = b.Op(OpType::kGemm, "gemm", {a, b.Const("B", {10, 8}), b.Const("C", {10})}, {G::Int("transB", 1)});
  int x = b.Input("x", {3, 1, 4, 8});
  int mm = b.Op(OpType::kMatMul, "mm", {x, b.Const("W", {2, 8, 6})});
  int add = b.Op(OpType::kAdd, "add", {mm, b.Const("bias", {6})});
  b.g.outputs = {gm, add};
  ASSERT_TRUE(InferShapes(b.g).ok());
  EXPECT_EQ(b.ShapeOf(gm), (Shape{4, 10}));
  EXPECT_EQ(b.ShapeOf(mm), (Shape{3, 2, 4, 6}));
  EXPECT_EQ(b.ShapeOf(add), (Shape{3, 2, 4, 6}));

  G bad;
  int p = bad.Input("p", {2, 3});
  bad.g.outputs = {bad.Op(OpType::kAdd, "badd", {p, bad.Const("q", {4})})};
  Status s = InferShapes(bad.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("badd"), std::string::npos);
}

TEST(ShapeInference, RejectsImpossibleAndHugeShapes) {
  G b;
  int x = b.Input("x", {1, 3, 4, 4});
  b.g.outputs = {b.Op(OpType::kReshape, "r", {x, b.Ints("s", {5, -1})})};
  EXPECT_FALSE(InferShapes(b.g).ok());
  G h;
  int y = h.Input("y", {1 << 20, 1 << 20});
  h.g.outputs = {h.Op(OpType::kPad, "p", {y, h.Ints("pads", {0, 0, 1 << 20, 1 << 20})})};
  Status s = InferShapes(h.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("too large"), std::string::npos) << s.message();
}

TEST(Passes, FoldsBatchNormAndFusesActivationKeepingAliases) {
  G b;
  int x = b.Input("x", {1, 2, 3, 3});
  int c = b.Conv("conv", x, 2, 2, 1);
  float gamma[2] = {2.0f, 0.5f}, beta[2] = {1.0f, -1.0f}, mean[2] = {0.25f, 0.0f}, var[2] = {3.0f, 0.0f};
  int bn = b.Op(OpType::kBatchNormalization, "conv_BN",
                {c, b.g.AddConstant("g", DType::kFloat32, {2}, gamma), b.g.AddConstant("b", DType::kFloat32, {2}, beta),
                 b.g.AddConstant("m", DType::kFloat32, {2}, mean), b.g.AddConstant("v", DType::kFloat32, {2}, var)});
  b.g.nodes.back().SetFloat("epsilon", 1.0f);
  float lo = 0.0f, hi = 6.0f;
  int r = b.Op(OpType::kClip, "conv_relu",
               {bn, b.g.AddConstant("lo", DType::kFloat32, {}, &lo), b.g.AddConstant("hi", DType::kFloat32, {}, &hi)});
  b.g.outputs = {r};
  const float* original = b.g.tensors[b.g.nodes[0].inputs[1]].data_as<float>();
  const std::vector<float> w0(original, original + 4);  // 2 output channels x 2 inputs
  ASSERT_TRUE(Canonicalize(b.g).ok());
  ASSERT_EQ(b.g.nodes.size(), 1u);
  const Node& n = b.g.nodes[0];
  EXPECT_EQ(n.aliases, (std::vector<std::string>{"conv_BN", "conv_relu"}));
  EXPECT_EQ(n.activation.kind, ActivationKind::kClip);
  EXPECT_EQ(n.activation.max, 6.0f);
  const Tensor& w = b.g.tensors[n.inputs[1]];
  const Tensor& bias = b.g.tensors[n.inputs[2]];
  // scale = gamma / sqrt(var + eps): channel 0 -> 2/2 = 1, channel 1 -> 0.5/1.
  EXPECT_FLOAT_EQ(w.data_as<float>()[0], w0[0] * 1.0f);
  EXPECT_FLOAT_EQ(w.data_as<float>()[1], w0[1] * 1.0f);
  EXPECT_FLOAT_EQ(w.data_as<float>()[2], w0[2] * 0.5f);
  EXPECT_FLOAT_EQ(w.data_as<float>()[3], w0[3] * 0.5f);
  EXPECT_FLOAT_EQ(bias.data_as<float>()[0], (0.0f - 0.25f) * 1.0f + 1.0f);
  EXPECT_FLOAT_EQ(bias.data_as<float>()[1], -1.0f);
  EXPECT_EQ(b.g.FindNode("conv_BN"), 0);
  EXPECT_EQ(b.g.tensors[b.g.outputs[0]].name, "conv_relu_out0");
}

// torchvision's avg_pool2d(padding=1) export: a zero Pad of H and W, then a
// pool without pads. Folded into one pool that counts the pads, except where
// that would change the function.
Graph PadThenPool(std::vector<int64_t> pads, float value, OpType pool_op, std::vector<int64_t> pool_pads,
                  int64_t count_include_pad, bool shared) {
  G b;
  int x = b.Input("x", {1, 2, 5, 5});
  int p = b.Op(OpType::kPad, "pad", {x, b.Ints("pads", pads), b.Scalar("value", value)});
  std::vector<Attribute> attrs = {G::IntsAttr("kernel_shape", {3, 3}), G::IntsAttr("strides", {1, 1})};
  if (!pool_pads.empty()) attrs.push_back(G::IntsAttr("pads", pool_pads));
  if (pool_op == OpType::kAveragePool) attrs.push_back(Attribute::Int("count_include_pad", count_include_pad));
  int y = b.Op(pool_op, "pool", {p}, attrs);
  if (shared) y = b.Op(OpType::kAdd, "add", {y, b.Op(OpType::kAveragePool, "other", {p}, {G::IntsAttr("kernel_shape", {3, 3})})});
  return b.Finish(y);
}

TEST(Passes, FoldsAZeroPlanePadIntoTheAveragePoolAfterIt) {
  Graph g = PadThenPool({0, 0, 1, 2, 0, 0, 1, 0}, 0.0f, OpType::kAveragePool, {}, 0, false);
  ASSERT_EQ(g.nodes.size(), 1u);
  const Node& pool = g.nodes[0];
  EXPECT_EQ(pool.op, OpType::kAveragePool);
  EXPECT_EQ(pool.GetInts("pads"), (std::vector<int64_t>{1, 2, 1, 0}));
  EXPECT_EQ(pool.GetInt("count_include_pad", 0), 1);
  EXPECT_EQ(pool.aliases, (std::vector<std::string>{"pad"}));
  EXPECT_EQ(g.tensors[g.outputs[0]].shape, (Shape{1, 2, 5, 5}));
  // Its own pads, counted too, add up.
  Graph both = PadThenPool({0, 0, 1, 1, 0, 0, 1, 1}, 0.0f, OpType::kAveragePool, {1, 0, 0, 1}, 1, false);
  ASSERT_EQ(both.nodes.size(), 1u);
  EXPECT_EQ(both.nodes[0].GetInts("pads"), (std::vector<int64_t>{2, 1, 1, 2}));
}

TEST(Passes, KeepsAPadThatIsNotThePoolsOwn) {
  struct Case {
    const char* why;
    Graph g;
  };
  const Case cases[] = {
      {"a non-zero pad value", PadThenPool({0, 0, 1, 1, 0, 0, 1, 1}, 1.0f, OpType::kAveragePool, {}, 0, false)},
      {"pads the channels", PadThenPool({0, 1, 1, 1, 0, 0, 1, 1}, 0.0f, OpType::kAveragePool, {}, 0, false)},
      {"the pool's own pads are not counted", PadThenPool({0, 0, 1, 1, 0, 0, 1, 1}, 0.0f, OpType::kAveragePool, {1, 1, 1, 1}, 0, false)},
      {"a max pool", PadThenPool({0, 0, 1, 1, 0, 0, 1, 1}, 0.0f, OpType::kMaxPool, {}, 0, false)},
      {"another reader of the padded tensor", PadThenPool({0, 0, 1, 1, 0, 0, 1, 1}, 0.0f, OpType::kAveragePool, {}, 0, true)},
  };
  for (const Case& c : cases) {
    ASSERT_FALSE(c.g.nodes.empty()) << c.why;
    EXPECT_EQ(c.g.nodes[0].op, OpType::kPad) << c.why;
  }
}

TEST(Passes, NoFusionWhenTheIntermediateIsShared) {
  G b;
  int x = b.Input("x", {1, 2, 4, 4});
  int c = b.Conv("conv", x, 2, 2, 1);
  int r = b.Op(OpType::kRelu, "relu", {c});
  int add = b.Op(OpType::kAdd, "add", {c, r});
  b.g.outputs = {add};
  ASSERT_TRUE(Canonicalize(b.g).ok());
  EXPECT_EQ(b.g.nodes.size(), 3u);
}

TEST(Passes, RemovesIdentitiesSortsAndDetectsCycles) {
  G b;
  int x = b.Input("x", {1, 4});
  // Out of order: the Relu reads the Identity's output but comes first.
  Node relu;
  relu.op = OpType::kRelu;
  relu.name = "relu";
  Tensor mid;
  mid.name = "mid";
  int mid_id = b.g.AddTensor(mid);
  Tensor out;
  out.name = "out";
  int out_id = b.g.AddTensor(out);
  relu.inputs = {mid_id};
  relu.outputs = {out_id};
  b.g.AddNode(relu);
  Node id;
  id.op = OpType::kIdentity;
  id.name = "id";
  id.inputs = {x};
  id.outputs = {mid_id};
  b.g.AddNode(id);
  b.g.outputs = {out_id};
  ASSERT_TRUE(Canonicalize(b.g).ok());
  ASSERT_EQ(b.g.nodes.size(), 1u);
  EXPECT_EQ(b.g.nodes[0].name, "relu");
  EXPECT_EQ(b.g.tensors[b.g.nodes[0].inputs[0]].name, "x");

  G cyc;
  Tensor a, c;
  a.name = "a";
  c.name = "c";
  int ia = cyc.g.AddTensor(a), ic = cyc.g.AddTensor(c);
  Node n1, n2;
  n1.op = n2.op = OpType::kRelu;
  n1.name = "n1";
  n2.name = "n2";
  n1.inputs = {ia};
  n1.outputs = {ic};
  n2.inputs = {ic};
  n2.outputs = {ia};
  cyc.g.AddNode(n1);
  cyc.g.AddNode(n2);
  cyc.g.outputs = {ic};
  Status s = Canonicalize(cyc.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

// x -> c1 -> [c2 -> c3] + c1 -> relu -> c4: cuts only outside the residual block.
Graph ResidualGraph() {
  G b;
  int x = b.Input("x", {1, 4, 8, 8});
  int c1 = b.Conv("c1", x, 4, 8, 3, 2);
  int c2 = b.Conv("c2", c1, 8, 8, 1);
  int c3 = b.Conv("c3", c2, 8, 8, 1);
  int add = b.Op(OpType::kAdd, "add", {c3, c1});
  int relu = b.Op(OpType::kRelu, "out", {add});
  int c4 = b.Conv("c4", relu, 8, 2, 1);
  b.g.outputs = {c4};
  EXPECT_TRUE(Canonicalize(b.g).ok());
  return std::move(b.g);
}

TEST(Cuts, ResidualBlocksAreNeverCutInside) {
  Graph g = ResidualGraph();
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok()) << cuts.status().message();
  std::vector<std::string> after;
  for (const CutPoint& c : *cuts) after.push_back(c.after);
  EXPECT_EQ(after, (std::vector<std::string>{"input", "c1", "add", "c4"}));
  EXPECT_EQ((*cuts)[2].aliases, (std::vector<std::string>{"out"}));
  auto by_alias = ResolveCut(*cuts, "out");
  ASSERT_TRUE(by_alias.ok());
  EXPECT_EQ(*by_alias, 2);
  EXPECT_EQ(*ResolveCut(*cuts, "3"), 3);
  EXPECT_EQ(*ResolveCut(*cuts, "output"), 3);
  auto inside = ResolveCut(*cuts, "c2");
  ASSERT_FALSE(inside.ok());
  EXPECT_NE(inside.status().message().find("c2"), std::string::npos);
  EXPECT_FALSE(ResolveCut(*cuts, "99").ok());

  // Head and tail costs add up to the whole model at every cut.
  ModelSummary m = Summarize(g);
  EXPECT_EQ(cuts->back().head_macs, m.total_macs);
  EXPECT_EQ((*cuts)[1].head_macs, 8 * 4 * 9 * 4 * 4);
  EXPECT_EQ((*cuts)[1].bytes_int8, 8 * 4 * 4);
  // The tail after c1 holds c1's output, c2's and c3's (add reuses none): 3 x 128 bytes.
  EXPECT_EQ((*cuts)[1].tail_arena_bytes_int8, 3 * 128);
}

TEST(Cuts, NaturalBottlenecksLooseAndStrict) {
  G b;
  int x = b.Input("x", {1, 4, 4, 4});  // 64 elements
  int c1 = b.Conv("a", x, 4, 2, 1);    // 32 loose+strict
  int c2 = b.Conv("b", c1, 2, 3, 1);   // 48 loose only
  int c3 = b.Conv("c", c2, 3, 1, 1);   // 16 loose+strict
  int c4 = b.Conv("d", c3, 1, 8, 1);   // 128 neither
  int c5 = b.Conv("e", c4, 8, 1, 1);   // output
  b.g.outputs = {c5};
  (void)c5;
  ASSERT_TRUE(Canonicalize(b.g).ok());
  auto cuts = FindCutPoints(b.g);
  ASSERT_TRUE(cuts.ok());
  ASSERT_EQ(cuts->size(), 6u);
  std::vector<int> loose, strict;
  for (const CutPoint& c : *cuts) {
    loose.push_back(c.bottleneck_loose);
    strict.push_back(c.bottleneck_strict);
  }
  EXPECT_EQ(loose, (std::vector<int>{0, 1, 1, 1, 0, 0}));
  EXPECT_EQ(strict, (std::vector<int>{0, 1, 0, 1, 0, 0}));
}

TEST(MemoryPlanner, NeverOverlapsLiveBuffersAndIsTightOnChains) {
  Rng rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> req(1 + rng.Next() % 20);
    for (auto& r : req) {
      r.size = 1 + static_cast<int64_t>(rng.Next() % 1000);
      r.first_use = static_cast<int>(rng.Next() % 10);
      r.last_use = r.first_use + static_cast<int>(rng.Next() % 5);
    }
    MemoryPlan plan = PlanMemory(req);
    int64_t peak_live = 0;
    for (int step = 0; step < 16; ++step) {
      int64_t live = 0;
      for (const auto& r : req) live += (r.first_use <= step && step <= r.last_use) ? r.size : 0;
      peak_live = std::max(peak_live, live);
    }
    EXPECT_GE(plan.arena_bytes, peak_live);
    for (size_t i = 0; i < req.size(); ++i) {
      EXPECT_EQ(plan.offsets[i] % 16, 0);
      EXPECT_LE(plan.offsets[i] + req[i].size, plan.arena_bytes);
      for (size_t j = i + 1; j < req.size(); ++j) {
        bool time = req[i].first_use <= req[j].last_use && req[j].first_use <= req[i].last_use;
        bool space = plan.offsets[i] < plan.offsets[j] + req[j].size && plan.offsets[j] < plan.offsets[i] + req[i].size;
        EXPECT_FALSE(time && space) << "trial " << trial << " buffers " << i << "," << j;
      }
    }
  }
  // A chain a->b->c->d: only neighbours overlap, so the arena is the largest adjacent pair.
  std::vector<BufferRequest> chain = {{160, 0, 0}, {320, 0, 1}, {64, 1, 2}, {256, 2, 2}};
  EXPECT_EQ(PlanMemory(chain).arena_bytes, 480);
}

TEST(Segments, ExtractedSegmentsChainBackToTheGraph) {
  Graph g = ResidualGraph();
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  std::vector<std::string> names;
  for (size_t k = 0; k + 1 < cuts->size(); ++k) {
    auto seg = ExtractSegment(g, (*cuts)[k].position, (*cuts)[k + 1].position);
    ASSERT_TRUE(seg.ok()) << seg.status().message();
    ASSERT_EQ(seg->inputs.size(), 1u);
    EXPECT_EQ(seg->tensors[seg->inputs[0]].name, g.tensors[(*cuts)[k].tensor].name);
    EXPECT_EQ(seg->tensors[seg->outputs[0]].name, g.tensors[(*cuts)[k + 1].tensor].name);
    EXPECT_TRUE(InferShapes(*seg).ok());
    for (const Node& n : seg->nodes) names.push_back(n.name);
  }
  std::vector<std::string> all;
  for (const Node& n : g.nodes) all.push_back(n.name);
  EXPECT_EQ(names, all);
  EXPECT_FALSE(ExtractSegment(g, 2, 4).ok());  // position 2 is inside the residual block
}

}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {
TEST(Cuts, LayerInsideAResidualBlockGetsTheNearestCuts) {
  Graph g = ResidualGraph();
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  auto r = ResolveCut(g, *cuts, "c3");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'c1' (cut 1)"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("'out' (cut 2)"), std::string::npos) << r.status().message();
  EXPECT_EQ(*ResolveCut(g, *cuts, "out"), 2);
  EXPECT_NE(ResolveCut(g, *cuts, "nope").status().message().find("names no cut"), std::string::npos);
}
}  // namespace
}  // namespace edgesplit

namespace edgesplit {
namespace {
TEST(Passes, CanonicalizeIsIdempotentWithDeadReaders) {
  // conv -> relu is fusable once the dead reader of conv's output is gone.
  G b;
  int x = b.Input("x", {1, 2, 4, 4});
  int c = b.Conv("conv", x, 2, 2, 1);
  b.Op(OpType::kSigmoid, "dead", {c});
  int r = b.Op(OpType::kRelu, "relu", {c});
  b.g.outputs = {r};
  ASSERT_TRUE(Canonicalize(b.g).ok());
  ASSERT_EQ(b.g.nodes.size(), 1u);
  EXPECT_EQ(b.g.nodes[0].activation.kind, ActivationKind::kRelu);
  Graph again = b.g;
  ASSERT_TRUE(Canonicalize(again).ok());
  EXPECT_EQ(again.nodes.size(), b.g.nodes.size());
}

TEST(ShapeInference, EmptyTensorsCannotHideHugeDims) {
  G b;
  int x = b.Input("x", {0, 1 << 20, 1 << 20});
  b.g.outputs = {b.Op(OpType::kUnsqueeze, "u", {x, b.Ints("a", {0})})};
  EXPECT_TRUE(InferShapes(b.g).ok());  // 2^40 elements over the non-zero dims: at the limit
  G h;
  int y = h.Input("y", {1 << 20, 1 << 20});
  h.g.outputs = {h.Op(OpType::kConcat, "c", {y, y}, {G::Int("axis", 0)})};
  EXPECT_FALSE(InferShapes(h.g).ok());
}

TEST(ShapeInference, PublicSliceAndConstantHelpers) {
  G b;
  int x = b.Input("x", {4, 10});
  int s = b.Op(OpType::kSlice, "s", {x, b.Ints("st", {1, -3}), b.Ints("en", {100, 0}), b.Ints("ax", {0, 1}),
                                     b.Ints("sp", {2, -1})});
  b.g.outputs = {s};
  ASSERT_TRUE(InferShapes(b.g).ok());
  auto bounds = ResolveSlice(b.g, b.g.nodes[0]);
  ASSERT_TRUE(bounds.ok());
  EXPECT_EQ(bounds->starts, (std::vector<int64_t>{1, 7}));
  EXPECT_EQ(bounds->steps, (std::vector<int64_t>{2, -1}));
  EXPECT_EQ(bounds->counts, (std::vector<int64_t>{2, 7}));
  auto not_const = ConstantInts(b.g, b.g.nodes[0], 0);
  ASSERT_FALSE(not_const.ok());
  EXPECT_NE(not_const.status().message().find("must be a constant"), std::string::npos);
}
}  // namespace
}  // namespace edgesplit
