// ShuffleNetV2's channel shuffle on the oneDNN backend (shuffle.cc): the
// channel-group Reshapes and channel Slices run natively (the convs around
// them keep channels-last), and Concat -> Reshape -> Transpose -> Reshape
// [-> two Slices] is one fused permutation pass. Fused must equal unfused bit
// for bit, and head + tail the whole run at every position.
#include <gtest/gtest.h>

#include <string>

#include "edgesplit/exec.h"
#include "edgesplit/onednn.h"
#include "edgesplit/onnx.h"
#include "graph_builder.h"
#include "onednn_test_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using testing::GraphBuilder;
using testing::RandomInput;

const Backend& Unfused() {
  static const Backend backend = OneDnnBackend().WithoutFusion();
  return backend;
}

// Concat(a, c) [n, 2 * half, h, w] -> channel shuffle in two groups, as
// torchvision exports it (the builder infers shapes only at Finish).
int Shuffle(GraphBuilder& b, const std::string& name, int a, int c, int64_t half, int64_t n, int64_t h, int64_t w) {
  int x = b.Op(OpType::kConcat, name + ".cat", {a, c}, {b.Int("axis", 1)});
  x = b.Op(OpType::kReshape, name + ".split", {x, b.Ints(name + ".shape5", {n, 2, half, h, w})});
  x = b.Op(OpType::kTranspose, name + ".perm", {x}, {b.IntsAttr("perm", {0, 2, 1, 3, 4})});
  return b.Op(OpType::kReshape, name + ".join", {x, b.Ints(name + ".shape4", {n, -1, h, w})});
}

int Slice(GraphBuilder& b, const std::string& name, int x, int64_t from, int64_t to) {
  return b.Op(OpType::kSlice, name, {x, b.Ints(name + ".starts", {from}), b.Ints(name + ".ends", {to}), b.Ints(name + ".axes", {1})});
}

int Branch(GraphBuilder& b, const std::string& name, int x, int64_t cin, int64_t c, int64_t stride) {
  x = b.Op(OpType::kRelu, name + ".relu1", {b.Conv(name + ".pw1", x, cin, c, 1, 1, 1, true)});
  x = b.Conv(name + ".dw", x, c, c, 3, stride, c, true);
  return b.Op(OpType::kRelu, name + ".relu2", {b.Conv(name + ".pw2", x, c, c, 1, 1, 1, true)});
}

// A stride-2 block into 2 * half channels, then `blocks` stride-1 blocks
// (split, branch on the second half, concat, shuffle).
int Stage(GraphBuilder& b, const std::string& name, int x, int64_t cin, int64_t half, int blocks, int64_t size) {
  const int64_t out = (size - 1) / 2 + 1;  // 3x3, pad 1, stride 2
  int left = b.Conv(name + ".b1.dw", x, cin, cin, 3, 2, cin, true);
  left = b.Op(OpType::kRelu, name + ".b1.relu", {b.Conv(name + ".b1.pw", left, cin, half, 1, 1, 1, true)});
  x = Shuffle(b, name + ".0", left, Branch(b, name + ".0.b2", x, cin, half, 2), half, 1, out, out);
  for (int i = 1; i <= blocks; ++i) {
    const std::string block = name + "." + std::to_string(i);
    const int keep = Slice(b, block + ".slice", x, 0, half);
    const int work = Slice(b, block + ".slice_1", x, half, 2 * half);
    x = Shuffle(b, block, keep, Branch(b, block + ".b2", work, half, half, 1), half, 1, out, out);
  }
  return x;
}

// Two stages: 20 + 20 channels (the AVX-512 interleave, 16 lanes and a
// tail) and 21 + 21 (odd halves: the gather by table), then a 1x1 conv and
// the ReduceMean head.
Graph ShuffleNet() {
  GraphBuilder b;
  int x = b.Input("x", {1, 3, 24, 24});
  // A wide stem keeps the arena's peak there, so the groups' outputs held
  // apart from their inputs fit in the planner's arena (exec.h).
  x = b.Op(OpType::kRelu, "stem.relu", {b.Conv("stem", x, 3, 96, 3, 1, 1, true)});
  x = b.Op(OpType::kRelu, "stem2.relu", {b.Conv("stem2", x, 96, 16, 1, 1, 1, true)});
  x = Stage(b, "stage2", x, 16, 20, 2, 24);
  x = Stage(b, "stage3", x, 40, 21, 1, 12);
  x = b.Op(OpType::kRelu, "conv5.relu", {b.Conv("conv5", x, 42, 64, 1, 1, 1, true)});
  x = b.Op(OpType::kReduceMean, "mean", {x}, {b.IntsAttr("axes", {2, 3}), b.Int("keepdims", 0)});
  x = b.Op(OpType::kGemm, "fc", {x, b.Const("fc.weight", {10, 64}), b.Const("fc.bias", {10})}, {b.Int("transB", 1)});
  return b.Finish(x);
}

// A shuffle whose tensors are all row-major (Softmax, a reference-kernel op,
// writes its inputs and reads its outputs), on a batch of two. The wide input
// keeps the arena's peak before the group (its held outputs fit).
Graph RowMajorShuffle() {
  GraphBuilder b;
  const int x = b.Input("x", {2, 48, 5, 6});
  const int a = b.Op(OpType::kSoftmax, "a", {Slice(b, "in0", x, 0, 6)}, {b.Int("axis", -1)});
  const int c = b.Op(OpType::kSoftmax, "c", {Slice(b, "in1", x, 6, 12)}, {b.Int("axis", -1)});
  const int s = Shuffle(b, "shuffle", a, c, 6, 2, 5, 6);
  const int first = Slice(b, "slice", s, 0, 6), second = Slice(b, "slice_1", s, 6, 12);
  const int keep = b.Op(OpType::kSoftmax, "keep", {first}, {b.Int("axis", -1)});
  const int work = b.Op(OpType::kSoftmax, "work", {second}, {b.Int("axis", -1)});
  return b.Finish(b.Op(OpType::kAdd, "sum", {keep, work}));
}

// Checks that the whole fused run gives the unfused run's bytes; returns the
// fused groups' implementation strings.
std::vector<std::string> ExpectFusedEqualsUnfused(const Graph& g, uint64_t seed) {
  const std::vector<unsigned char> fused = testing::WholeModelOutput(g, OneDnnBackend(), seed);
  EXPECT_FALSE(fused.empty());
  EXPECT_TRUE(fused == testing::WholeModelOutput(g, Unfused(), seed)) << "the fused groups changed the output";
  std::vector<std::string> groups;
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  if (!ex.ok()) return groups;
  for (int i = 0; i < (*ex)->num_nodes(); ++i)
    if ((*ex)->kernel(i).fused_nodes > 1) groups.push_back(OneDnnImplementation((*ex)->kernel(i)));
  return groups;
}

int Count(const std::vector<std::string>& groups, const std::string& what) {
  int count = 0;
  for (const std::string& s : groups) count += s.find(what) != std::string::npos;
  return count;
}

// Head [0, p) + tail [p, n) give the whole fused run's bytes at every
// position p, inside the groups included.
void ExpectSplitsBitExact(const Graph& g, uint64_t seed) {
  const int n = static_cast<int>(g.nodes.size());
  const std::vector<unsigned char> want = testing::WholeModelOutput(g, OneDnnBackend(), seed);
  ASSERT_FALSE(want.empty());
  for (int p = 1; p < n; ++p) {
    auto head = SegmentExecutor::Create(g, 0, p, OneDnnBackend());
    auto tail = SegmentExecutor::Create(g, p, n, OneDnnBackend());
    ASSERT_TRUE(head.ok() && tail.ok()) << "split before node " << g.nodes[p].name;
    EXPECT_TRUE(testing::HeadThenTail(**head, **tail, RandomInput(**head, seed)) == want) << "split before node " << g.nodes[p].name;
  }
}

TEST(OneDnnShuffleTest, ShuffleGroupsGiveTheUnfusedBytes) {
  const Graph g = ShuffleNet();
  ASSERT_FALSE(g.nodes.empty());
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(g, 3);
  // Each stage's last shuffle feeds the next stage's two branches (4 nodes);
  // the others are followed by the next block's two Slices (6 nodes).
  EXPECT_EQ(Count(groups, "edgesplit channel shuffle + split"), 3) << ::testing::PrintToString(groups);
  EXPECT_EQ(Count(groups, "edgesplit channel shuffle"), 5) << ::testing::PrintToString(groups);
  ExpectSplitsBitExact(g, 4);
}

// A group's outputs: the first Slice's half (read only after the group)
// before the last node's; its inputs: the Concat's, then the constants.
TEST(OneDnnShuffleTest, FusedTensorsListsTheFirstSliceBeforeTheLast) {
  const Graph g = ShuffleNet();
  ASSERT_FALSE(g.nodes.empty());
  int first = -1;
  for (int i = 0; i + 5 < static_cast<int>(g.nodes.size()) && first < 0; ++i)
    if (g.nodes[i].op == OpType::kConcat && g.nodes[i + 4].op == OpType::kSlice) first = i;
  ASSERT_GE(first, 0);
  std::vector<int> ins, outs;
  FusedTensors(g, first, 6, &ins, &outs);
  EXPECT_EQ(outs, (std::vector<int>{g.nodes[first + 4].outputs[0], g.nodes[first + 5].outputs[0]}));
  ASSERT_GE(ins.size(), 2u);
  EXPECT_EQ(ins[0], g.nodes[first].inputs[0]);
  EXPECT_EQ(ins[1], g.nodes[first].inputs[1]);
  for (size_t i = 2; i < ins.size(); ++i) EXPECT_TRUE(g.tensors[ins[i]].is_constant) << g.tensors[ins[i]].name;
  FusedTensors(g, first, 4, &ins, &outs);
  EXPECT_EQ(outs, (std::vector<int>{g.nodes[first + 3].outputs[0]}));
}

TEST(OneDnnShuffleTest, RowMajorShuffleGivesTheUnfusedBytes) {
  const Graph g = RowMajorShuffle();
  ASSERT_FALSE(g.nodes.empty());
  EXPECT_EQ(Count(ExpectFusedEqualsUnfused(g, 5), "edgesplit channel shuffle + split"), 1);  // planes copied
  ExpectSplitsBitExact(g, 6);
}

// Unfused, the Reshapes, Slices and the ReduceMean run natively (so the convs
// around them keep channels-last); the 5-D Transpose stays on the reference.
TEST(OneDnnShuffleTest, ReshapesSlicesAndMeanRunNatively) {
  const Graph g = ShuffleNet();
  ASSERT_FALSE(g.nodes.empty());
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), Unfused());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  int native = 0;
  for (int i = 0; i < (*ex)->num_nodes(); ++i) {
    const Node& node = (*ex)->node(i);
    const std::string impl = OneDnnImplementation((*ex)->kernel(i));
    if (node.op == OpType::kReshape || node.op == OpType::kSlice || node.op == OpType::kReduceMean) {
      EXPECT_NE(impl, "reference") << node.name;
      ++native;
    }
    if (node.op == OpType::kTranspose) { EXPECT_EQ(impl, "reference") << node.name; }
    if (node.op == OpType::kConv) {
      const PreparedKernel& k = (*ex)->kernel(i);
      EXPECT_EQ(k.outputs[0].layout, TensorLayout::kChannelsLast) << node.name;
    }
  }
  EXPECT_EQ(native, 5 * 2 + 3 * 2 + 1);
}

// A ReduceMean of a row-major input (as in the int8 graph, after a
// DequantizeLinear) never runs on oneDNN's reference pooling ("ref:any", 8x
// slower than the reference backend there): the reference kernel takes it.
TEST(OneDnnShuffleTest, RowMajorMeanAvoidsOneDnnReferencePooling) {
  GraphBuilder b;
  const int x = b.Op(OpType::kSoftmax, "soft", {b.Input("x", {1, 64, 7, 7})}, {b.Int("axis", -1)});
  const Graph g = b.Finish(b.Op(OpType::kReduceMean, "mean", {x}, {b.IntsAttr("axes", {2, 3}), b.Int("keepdims", 0)}));
  ASSERT_EQ(g.nodes.size(), 2u);
  PreparedKernel k;
  ASSERT_TRUE(OneDnnBackend().Prepare(g, 1, &k).ok());
  const std::string impl = OneDnnImplementation(k);
  EXPECT_TRUE(impl == "reference" || impl.rfind("ref", 0) != 0) << impl;
  EXPECT_FALSE(testing::WholeModelOutput(g, OneDnnBackend(), 2).empty());
}

// The torchvision export (tools/make_fixtures.py): 16 shuffles, 13 of them
// with the next block's split; fused equals unfused, and head + tail equals
// the whole at every cut point.
TEST(OneDnnShuffleTest, ShuffleNetV2FixtureFusedAndSplitAreBitExact) {
  ES_REQUIRE_FIXTURE(path, "shufflenet_v2_x0_5.onnx");
  Result<Graph> g = ImportOnnxFile(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(*g, 9);
  EXPECT_EQ(Count(groups, "edgesplit channel shuffle + split"), 13) << ::testing::PrintToString(groups);
  EXPECT_EQ(Count(groups, "edgesplit channel shuffle"), 16) << ::testing::PrintToString(groups);
  auto probe = SegmentExecutor::Create(*g, 0, static_cast<int>(g->nodes.size()), OneDnnBackend());
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  const int checked = testing::ExpectEveryCutBitExact(*g, OneDnnBackend(), RandomInput(**probe, 10),
                                                      [](const CutPoint&, const SegmentExecutor&, const SegmentExecutor&) {});
  EXPECT_GT(checked, 30);
}

}  // namespace
}  // namespace edgesplit
