// FindCutPoints' per-cut arenas come from a linear-time walk (src/graph/cut_arenas.cc).
// They must equal what planning each head and tail segment separately gives
// (PlanSegmentMemory, the algorithm the cut analysis used before): checked on
// random chains of residual blocks and on the zoo models; a 20k-node chain
// (which took minutes before) only has to finish.
#include <gtest/gtest.h>

#include <random>

#include "edgesplit/analysis.h"
#include "edgesplit/graph.h"
#include "edgesplit/models.h"
#include "relu_chain.h"
#include "../src/graph/liveness.h"  // detail::CutArenas: checked to take the fast path, not the fallback

namespace edgesplit {
namespace {

class RandomNet {
 public:
  explicit RandomNet(uint64_t seed) : rng_(seed) {}

  // A node nobody reads leaves one tensor live at two cuts in a row: FindCutPoints
  // then plans each segment (cut_arenas.cc's fallback) instead of walking the units.
  bool dead_nodes = false;

  Graph Build(int units, bool wide_sizes, bool allow_dead) {
    wide_ = wide_sizes;
    int x = NewTensor();
    g_.inputs.push_back(x);
    for (int u = 0; u < units; ++u) {
      switch (rng_() % 5) {
        case 0:
        case 1: x = Op(OpType::kRelu, {x}); break;
        case 2: {  // a residual block: branches of random length joined by Add
          std::vector<int> ends = {x};
          const int branches = 1 + static_cast<int>(rng_() % 3);
          for (int b = 0; b < branches; ++b) {
            int y = x;
            for (int len = 1 + static_cast<int>(rng_() % 3); len > 0; --len) y = Op(OpType::kRelu, {y});
            ends.push_back(y);
          }
          x = Op(OpType::kAdd, ends);
          break;
        }
        case 3: {  // a node with a second output nobody reads
          x = Op(OpType::kSplit, {x}, 2);
          break;
        }
        default: {  // a dead side node, then the chain goes on
          if (allow_dead) Op(OpType::kRelu, {x});
          dead_nodes |= allow_dead;
          x = Op(OpType::kRelu, {x});
          break;
        }
      }
    }
    g_.outputs.push_back(x);
    return std::move(g_);
  }

 private:
  int NewTensor() {
    Tensor t;
    t.name = "t" + std::to_string(g_.tensors.size());
    // Few distinct sizes, so ties in the greedy's order are common; some int8
    // tensors, so the f32 and int8 orders differ.
    const int64_t channels = wide_ ? 1 + static_cast<int64_t>(rng_() % 64) : 1 + static_cast<int64_t>(rng_() % 3);
    t.shape = {1, channels, 4, 4};
    t.dtype = rng_() % 4 == 0 ? DType::kInt8 : DType::kFloat32;
    return g_.AddTensor(t);
  }
  int Op(OpType op, std::vector<int> inputs, int outputs = 1) {
    Node n;
    n.op = op;
    n.name = "n" + std::to_string(g_.nodes.size());
    n.inputs = std::move(inputs);
    for (int i = 0; i < outputs; ++i) n.outputs.push_back(NewTensor());
    const int first = n.outputs[0];
    g_.AddNode(std::move(n));
    return first;
  }

  std::mt19937_64 rng_;
  bool wide_ = false;
  Graph g_;
};

void ExpectArenasAsPlanned(const Graph& g, const std::string& what, bool walk = true) {
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok()) << what << ": " << cuts.status().message();
  // The chain walk itself ran (FindCutPoints would fall back to planning each segment).
  std::vector<int> positions, tensors;
  for (const CutPoint& c : *cuts) positions.push_back(c.position), tensors.push_back(c.tensor);
  std::vector<int64_t> head, tail;
  ASSERT_EQ(detail::CutArenas(g, detail::ComputeLifetimes(g), positions, tensors, DType::kFloat32, &head, &tail), walk)
      << what;
  const int n = static_cast<int>(g.nodes.size());
  for (const CutPoint& c : *cuts) {
    auto head32 = PlanSegmentMemory(g, 0, c.position, DType::kFloat32);
    auto tail32 = PlanSegmentMemory(g, c.position, n, DType::kFloat32);
    auto head8 = PlanSegmentMemory(g, 0, c.position, DType::kInt8);
    auto tail8 = PlanSegmentMemory(g, c.position, n, DType::kInt8);
    ASSERT_TRUE(head32.ok() && tail32.ok() && head8.ok() && tail8.ok());
    EXPECT_EQ(c.head_arena_bytes_f32, head32->arena_bytes) << what << " cut " << c.index;
    EXPECT_EQ(c.tail_arena_bytes_f32, tail32->arena_bytes) << what << " cut " << c.index;
    EXPECT_EQ(c.head_arena_bytes_int8, head8->arena_bytes) << what << " cut " << c.index;
    EXPECT_EQ(c.tail_arena_bytes_int8, tail8->arena_bytes) << what << " cut " << c.index;
  }
}

TEST(CutArenas, RandomChainsEqualPlanningEachSegment) {
  int walked = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    RandomNet net(seed);
    Graph g = net.Build(5 + static_cast<int>(seed % 40), seed % 2 == 0, seed % 3 == 0);
    ASSERT_TRUE(g.Validate().ok()) << g.Validate().message();
    ExpectArenasAsPlanned(g, "seed " + std::to_string(seed), !net.dead_nodes);
    walked += !net.dead_nodes;
  }
  EXPECT_GE(walked, 10);  // enough graphs take the walk, not the fallback
}

TEST(CutArenas, ReluChainEqualsPlanningEachSegment) { ExpectArenasAsPlanned(testing::ReluChain(150), "relu chain"); }

TEST(CutArenas, ZooModelsEqualPlanningEachSegment) {
  for (const char* spec : {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=64"}) {
    auto g = LoadModel(spec);
    ASSERT_TRUE(g.ok()) << g.status().message();
    ExpectArenasAsPlanned(*g, spec);
  }
}

TEST(CutArenas, TwentyThousandNodeChain) {
  // Equal sizes: the case where every tail's greedy placement flips parity.
  const Graph g = testing::ReluChain(20000);
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  ASSERT_EQ(cuts->size(), 20001u);
  const int64_t bytes = 8 * 16 * 16 * 4;
  // Input and output of one ReLU live at once: two buffers (the first and last cut hold one fewer).
  EXPECT_EQ((*cuts)[5000].head_arena_bytes_f32, 2 * bytes);
  EXPECT_EQ((*cuts)[5000].tail_arena_bytes_f32, 2 * bytes);
  EXPECT_EQ((*cuts)[5000].tail_arena_bytes_int8, 2 * bytes / 4);
  EXPECT_EQ(cuts->front().head_arena_bytes_f32, 0);
  EXPECT_EQ(cuts->back().tail_arena_bytes_f32, 0);
}

}  // namespace
}  // namespace edgesplit
