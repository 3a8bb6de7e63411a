// SegmentExecutor: the arena is the planner's figure, Invoke allocates nothing,
// unsupported nodes are named, and head+tail at every cut equals the whole model
// bit for bit.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "graph_builder.h"

#include "alloc_counter.h"  // counts every allocation in this binary

namespace edgesplit {
namespace {

Graph SmallMobileNet() {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? std::move(g).value() : Graph{};
}

void FillInput(SegmentExecutor& ex, uint64_t seed) {
  Rng rng(seed);
  float* p = static_cast<float*>(ex.input());
  for (int64_t i = 0; i < ex.input_bytes() / 4; ++i) p[i] = rng.Uniform(-1.0f, 1.0f);
}

TEST(ExecTest, ArenaEqualsPlannerFigure) {
  Graph g = SmallMobileNet();
  const int n = static_cast<int>(g.nodes.size());
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  for (const CutPoint& c : *cuts) {
    if (c.position == 0 || c.position == n) continue;
    auto head = SegmentExecutor::Create(g, 0, c.position, ReferenceBackend());
    auto tail = SegmentExecutor::Create(g, c.position, n, ReferenceBackend());
    ASSERT_TRUE(head.ok() && tail.ok());
    EXPECT_EQ((*head)->arena_bytes(), c.head_arena_bytes_f32) << "cut " << c.index;
    EXPECT_EQ((*tail)->arena_bytes(), c.tail_arena_bytes_f32) << "cut " << c.index;
    EXPECT_EQ((*head)->arena_bytes(), PlanSegmentMemory(g, 0, c.position, DType::kFloat32)->arena_bytes);
    EXPECT_EQ((*head)->scratch_bytes(), 0);
    EXPECT_EQ((*head)->num_outputs(), 1);
    EXPECT_EQ((*head)->output_tensor().name, g.tensors[c.tensor].name);
    EXPECT_EQ((*tail)->num_inputs(), 1);
    EXPECT_EQ((*tail)->input_tensor().name, g.tensors[c.tensor].name);
  }
  auto whole = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ((*whole)->arena_bytes(), PlanSegmentMemory(g, 0, n, DType::kFloat32)->arena_bytes);
}

TEST(ExecTest, InvokeAllocatesNothing) {
  Graph g = SmallMobileNet();
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), ReferenceBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  FillInput(**ex, 1);
  ASSERT_TRUE((*ex)->Invoke().ok());  // warm-up
  {
    const long probe = testing::AllocationCount();
    auto* counted = new std::vector<int>(100);
    EXPECT_GT(testing::AllocationCount(), probe) << "allocation counting does not work";
    delete counted;
  }
  const long before = testing::AllocationCount();
  for (int i = 0; i < 3; ++i) {
    Status s = (*ex)->Invoke();
    if (!s.ok()) ADD_FAILURE() << s.message();
  }
  EXPECT_EQ(testing::AllocationCount() - before, 0);
}

// The oneDNN backend: primitives, packed weights and the user-managed
// scratchpad come from Prepare; Eval re-points memory objects and executes.
// oneDNN 2.6's execute itself builds a small argument map per primitive call
// (inside libdnnl, no public way around it), so Invoke is not allocation-free
// there: the test pins that down as a constant, small per-call cost (no growth).
TEST(ExecTest, OneDnnInvokeAllocatesOnlyInsideOneDnnExecute) {
  Graph g = SmallMobileNet();
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  FillInput(**ex, 1);
  ASSERT_TRUE((*ex)->Invoke().ok());  // warm-up (the thread's stream)
  const long before = testing::AllocationCount();
  ASSERT_TRUE((*ex)->Invoke().ok());
  const long one = testing::AllocationCount() - before;
  for (int i = 0; i < 3; ++i) {
    Status s = (*ex)->Invoke();
    if (!s.ok()) ADD_FAILURE() << s.message();
  }
  EXPECT_EQ(testing::AllocationCount() - before, 4 * one) << "allocations per Invoke grow";
  EXPECT_LE(one, 16 * (*ex)->num_nodes()) << "more than oneDNN's per-call argument map";
}

class SplitEveryCut : public ::testing::TestWithParam<const char*> {};

TEST_P(SplitEveryCut, IsBitExact) {
  Result<Graph> loaded = LoadModel(GetParam());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  Graph g = std::move(loaded).value();
  const int n = static_cast<int>(g.nodes.size());
  auto whole = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  ASSERT_TRUE(whole.ok());
  FillInput(**whole, 7);
  std::vector<float> input(static_cast<const float*>((*whole)->input()),
                           static_cast<const float*>((*whole)->input()) + (*whole)->input_bytes() / 4);
  ASSERT_TRUE((*whole)->Invoke().ok());
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  int checked = 0;
  for (const CutPoint& c : *cuts) {
    if (c.position == 0 || c.position == n) continue;
    auto head = SegmentExecutor::Create(g, 0, c.position, ReferenceBackend());
    auto tail = SegmentExecutor::Create(g, c.position, n, ReferenceBackend());
    ASSERT_TRUE(head.ok() && tail.ok());
    std::memcpy((*head)->input(), input.data(), input.size() * 4);
    ASSERT_TRUE((*head)->Invoke().ok());
    ASSERT_EQ((*head)->output_bytes(), (*tail)->input_bytes());
    std::memcpy((*tail)->input(), (*head)->output(), static_cast<size_t>((*head)->output_bytes()));
    ASSERT_TRUE((*tail)->Invoke().ok());
    ASSERT_EQ((*tail)->output_bytes(), (*whole)->output_bytes());
    EXPECT_EQ(std::memcmp((*tail)->output(), (*whole)->output(), static_cast<size_t>((*whole)->output_bytes())), 0)
        << "cut " << c.index << " after " << c.after;
    ++checked;
  }
  EXPECT_GT(checked, 5);
}

INSTANTIATE_TEST_SUITE_P(Zoo, SplitEveryCut,
                         ::testing::Values("mobilenet_v2:alpha=0.35,res=96", "resnet18:res=64"),
                         [](const auto& info) { return std::string(info.index == 0 ? "MobileNetV2" : "ResNet18"); });

TEST(ExecTest, ThreeSegmentsChainToTheWhole) {
  Graph g = testing::ResidualNet();
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  ASSERT_GE(cuts->size(), 4u);
  const int a = (*cuts)[1].position, b = (*cuts)[cuts->size() - 2].position;
  auto whole = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  FillInput(**whole, 3);
  std::vector<unsigned char> carry(static_cast<const unsigned char*>((*whole)->input()),
                                   static_cast<const unsigned char*>((*whole)->input()) + (*whole)->input_bytes());
  ASSERT_TRUE((*whole)->Invoke().ok());
  for (auto [lo, hi] : {std::pair{0, a}, std::pair{a, b}, std::pair{b, n}}) {
    auto ex = SegmentExecutor::Create(g, lo, hi, ReferenceBackend());
    ASSERT_TRUE(ex.ok()) << ex.status().message();
    ASSERT_EQ(static_cast<size_t>((*ex)->input_bytes()), carry.size());
    std::memcpy((*ex)->input(), carry.data(), carry.size());
    ASSERT_TRUE((*ex)->Invoke().ok());
    const auto* out = static_cast<const unsigned char*>((*ex)->output());
    carry.assign(out, out + (*ex)->output_bytes());
  }
  ASSERT_EQ(static_cast<int64_t>(carry.size()), (*whole)->output_bytes());
  EXPECT_EQ(std::memcmp(carry.data(), (*whole)->output(), carry.size()), 0);
}

// At positions inside a residual block two activations are live: the head
// hands both to the tail (matched by name), and the result is still exact.
TEST(ExecTest, SplitAtEveryPositionPassesAllLiveTensors) {
  Graph g = testing::ResidualNet();
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  auto whole = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  ASSERT_TRUE(whole.ok());
  FillInput(**whole, 11);
  std::vector<unsigned char> input(static_cast<const unsigned char*>((*whole)->input()),
                                   static_cast<const unsigned char*>((*whole)->input()) + (*whole)->input_bytes());
  ASSERT_TRUE((*whole)->Invoke().ok());
  int multi = 0;
  for (int p = 1; p < n; ++p) {
    auto head = SegmentExecutor::Create(g, 0, p, ReferenceBackend());
    auto tail = SegmentExecutor::Create(g, p, n, ReferenceBackend());
    ASSERT_TRUE(head.ok() && tail.ok()) << p;
    std::memcpy((*head)->input(), input.data(), input.size());
    ASSERT_TRUE((*head)->Invoke().ok());
    ASSERT_EQ((*head)->num_outputs(), (*tail)->num_inputs()) << p;
    multi += (*tail)->num_inputs() > 1;
    for (int i = 0; i < (*tail)->num_inputs(); ++i) {
      int j = 0;
      while (j < (*head)->num_outputs() && (*head)->output_tensor(j).name != (*tail)->input_tensor(i).name) ++j;
      ASSERT_LT(j, (*head)->num_outputs()) << (*tail)->input_tensor(i).name;
      std::memcpy((*tail)->input(i), (*head)->output(j), static_cast<size_t>((*head)->output_bytes(j)));
    }
    ASSERT_TRUE((*tail)->Invoke().ok());
    EXPECT_EQ(std::memcmp((*tail)->output(), (*whole)->output(), static_cast<size_t>((*whole)->output_bytes())), 0)
        << "position " << p;
  }
  EXPECT_GT(multi, 0) << "no position inside a residual block was tried";
}

TEST(ExecTest, UnsupportedNodeIsNamed) {
  testing::GraphBuilder b;
  Tensor t;
  t.name = "ids";
  t.dtype = DType::kInt64;
  t.shape = {4};
  const int x = b.g.AddTensor(t);
  b.g.inputs.push_back(x);
  const int y = b.Op(OpType::kSigmoid, "squash", {x});
  b.g.outputs = {y};
  ASSERT_TRUE(InferShapes(b.g).ok());
  auto ex = SegmentExecutor::Create(b.g, 0, 1, ReferenceBackend());
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("squash"), std::string::npos) << ex.status().message();
  EXPECT_NE(ex.status().message().find("int64"), std::string::npos) << ex.status().message();
}

TEST(ExecTest, BadSegmentBoundsAreRejected) {
  Graph g = SmallMobileNet();
  EXPECT_FALSE(SegmentExecutor::Create(g, 3, 3, ReferenceBackend()).ok());
  EXPECT_FALSE(SegmentExecutor::Create(g, -1, 3, ReferenceBackend()).ok());
  EXPECT_FALSE(SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()) + 1, ReferenceBackend()).ok());
  EXPECT_EQ(FindBackend("nope"), nullptr);
  EXPECT_EQ(FindBackend("reference"), &ReferenceBackend());
}

}  // namespace
}  // namespace edgesplit
