// Cross-node fusion on the oneDNN backend: a conv and the residual Add after
// it run as one primitive (oneDNN's sum post-op, written in place over the
// Add's other operand) with the bytes of the two nodes run apart; never
// across a tensor a segment exposes; the in-place arena plan behind it.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "graph_builder.h"
#include "onednn_test_util.h"

namespace edgesplit {
namespace {

using testing::RandomInput;

// Two bottleneck blocks (1x1, 3x3, 1x1, residual Add + Relu), the second with
// a strided 1x1 shortcut conv right before its Add, then a classifier.
Graph Bottlenecks() {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 16, 12, 12});
  x = b.Op(OpType::kRelu, "stem.relu", {b.Conv("stem", x, 16, 32, 3, 1, 1, true)});
  auto block = [&](const std::string& name, int in, int64_t cin, int64_t stride) {
    int y = b.Op(OpType::kRelu, name + ".relu1", {b.Conv(name + ".conv1", in, cin, 16, 1, 1, 1, true)});
    y = b.Op(OpType::kRelu, name + ".relu2", {b.Conv(name + ".conv2", y, 16, 16, 3, stride, 1, true)});
    y = b.Conv(name + ".conv3", y, 16, 32, 1, 1, 1, true);
    const int shortcut = stride == 1 ? in : b.Conv(name + ".down", in, cin, 32, 1, stride, 1, true);
    return b.Op(OpType::kRelu, name + ".out", {b.Op(OpType::kAdd, name + ".add", {y, shortcut})});
  };
  x = block("block1", x, 32, 1);
  x = block("block2", x, 32, 2);
  x = b.Op(OpType::kGlobalAveragePool, "gap", {x});
  x = b.Op(OpType::kReshape, "flatten", {x, b.Ints("flat_shape", {1, -1})});
  x = b.Op(OpType::kGemm, "fc", {x, b.Const("fc.weight", {10, 32}), b.Const("fc.bias", {10})}, {b.Int("transB", 1)});
  return b.Finish(x);
}

// Node indices (relative to the segment) that start a fused group.
std::vector<int> FusedAt(const SegmentExecutor& ex) {
  std::vector<int> at;
  for (int i = 0; i < ex.num_nodes(); ++i)
    if (ex.kernel(i).fused_nodes > 1) at.push_back(i);
  return at;
}

const Backend& Unfused() {
  static const Backend backend = OneDnnBackend().WithoutFusion();
  return backend;
}

// The whole graph on the oneDNN backend with and without fusion: the same
// bytes out, the same arena (the planner's figure), and the pairs fused.
void ExpectFusedEqualsUnfused(const Graph& g, int min_fused) {
  const int n = static_cast<int>(g.nodes.size());
  auto fused = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  auto apart = SegmentExecutor::Create(g, 0, n, Unfused());
  ASSERT_TRUE(fused.ok()) << fused.status().message();
  ASSERT_TRUE(apart.ok()) << apart.status().message();
  const std::vector<int> at = FusedAt(**fused);
  EXPECT_GE(static_cast<int>(at.size()), min_fused);
  EXPECT_TRUE(FusedAt(**apart).empty());
  for (int i : at) {
    EXPECT_EQ((*fused)->node(i).op, OpType::kConv);
    EXPECT_EQ((*fused)->node(i + 1).op, OpType::kAdd);
    EXPECT_EQ((*fused)->kernel(i + 1).fused_nodes, 0);
    EXPECT_NE(std::string(OneDnnImplementation((*fused)->kernel(i))).find(" + Add"), std::string::npos);
  }
  Result<SegmentMemory> plan = PlanSegmentMemory(g, 0, n, DType::kFloat32);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*fused)->arena_bytes(), plan->arena_bytes);
  EXPECT_EQ((*apart)->arena_bytes(), plan->arena_bytes);
  const std::vector<float> input = RandomInput(**fused, 3);
  for (auto* ex : {fused->get(), apart->get()}) {
    std::memcpy(ex->input(), input.data(), input.size() * 4);
    ASSERT_TRUE(ex->Invoke().ok());
  }
  ASSERT_EQ((*fused)->output_bytes(), (*apart)->output_bytes());
  EXPECT_EQ(std::memcmp((*fused)->output(), (*apart)->output(), static_cast<size_t>((*fused)->output_bytes())), 0);
  // A second Invoke gives the same bytes (the in-place Add overwrote nothing the next run reads).
  std::vector<unsigned char> first(static_cast<const unsigned char*>((*fused)->output()),
                                   static_cast<const unsigned char*>((*fused)->output()) + (*fused)->output_bytes());
  std::memcpy((*fused)->input(), input.data(), input.size() * 4);
  ASSERT_TRUE((*fused)->Invoke().ok());
  EXPECT_EQ(std::memcmp((*fused)->output(), first.data(), first.size()), 0);
}

TEST(OneDnnFusionTest, ConvAndResidualAddGiveTheUnfusedBytes) {
  Graph g = Bottlenecks();
  ASSERT_FALSE(g.nodes.empty());
  ExpectFusedEqualsUnfused(g, 2);
}

TEST(OneDnnFusionTest, ResNet50FusesItsBottleneckAdds) {
  Result<Graph> g = LoadModel("resnet50:res=64");
  ASSERT_TRUE(g.ok()) << g.status().message();
  ExpectFusedEqualsUnfused(*g, 8);
}

// A segment that ends between the conv and its Add exposes the conv's output:
// the head runs the conv alone, the tail the Add alone, and head + tail (the
// live tensors matched by name) give the whole fused run's bytes.
TEST(OneDnnFusionTest, NeverFusesAcrossAnExposedTensor) {
  Graph g = Bottlenecks();
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  const std::vector<unsigned char> want = testing::WholeModelOutput(g, OneDnnBackend(), 11);
  auto whole = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  ASSERT_TRUE(whole.ok() && !want.empty());
  const std::vector<float> input = RandomInput(**whole, 11);
  const std::vector<int> at = FusedAt(**whole);
  ASSERT_FALSE(at.empty());
  for (int i : at) {
    const int p = i + 1;  // between the conv and the Add
    auto head = SegmentExecutor::Create(g, 0, p, OneDnnBackend());
    auto tail = SegmentExecutor::Create(g, p, n, OneDnnBackend());
    ASSERT_TRUE(head.ok() && tail.ok());
    EXPECT_EQ((*head)->kernel(i).fused_nodes, 1) << "the conv's output is the head's output";
    EXPECT_EQ((*tail)->kernel(0).fused_nodes, 1);
    EXPECT_GE((*head)->num_outputs(), 2);
    ASSERT_EQ((*tail)->num_inputs(), (*head)->num_outputs());
    EXPECT_TRUE(testing::HeadThenTail(**head, **tail, input) == want) << "split before node " << g.nodes[p].name;
  }
}

// The in-place plan: the Add's output gets its other operand's bytes, no
// tensor live beside them shares those bytes, and the arena does not grow
// on this graph.
TEST(OneDnnFusionTest, InPlacePlanSharesTheOperandsBytes) {
  Graph g = Bottlenecks();
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  int add = -1;
  for (int i = 0; i < n && add < 0; ++i)
    if (g.nodes[i].op == OpType::kAdd) add = i;
  ASSERT_GT(add, 0);
  const int y = g.nodes[add].outputs[0];
  const int conv_out = g.nodes[add - 1].outputs[0];
  const int u = g.nodes[add].inputs[0] == conv_out ? g.nodes[add].inputs[1] : g.nodes[add].inputs[0];
  Result<SegmentMemory> plain = PlanSegmentMemory(g, 0, n, DType::kFloat32);
  Result<SegmentMemory> shared = PlanSegmentMemory(g, 0, n, DType::kFloat32, {{y, u}});
  ASSERT_TRUE(plain.ok() && shared.ok());
  EXPECT_LE(shared->arena_bytes, plain->arena_bytes);
  std::map<int, int64_t> offset;
  for (size_t i = 0; i < shared->tensor_ids.size(); ++i) offset[shared->tensor_ids[i]] = shared->offsets[i];
  ASSERT_TRUE(offset.count(y) && offset.count(u) && offset.count(conv_out));
  EXPECT_EQ(offset[y], offset[u]);
  const int64_t bytes = g.tensors[y].num_elements() * 4;
  EXPECT_TRUE(offset[conv_out] + bytes <= offset[u] || offset[u] + bytes <= offset[conv_out])
      << "the conv's own output is live beside the shared bytes";
}

}  // namespace
}  // namespace edgesplit
