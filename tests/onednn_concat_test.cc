// Concat on channels of channels-last tensors on the oneDNN backend
// (src/kernels_onednn/concat.cc): edgesplit's copy loop moves the bytes the
// reference kernel does, at channel counts that end inside a 64-byte vector.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "edgesplit/exec.h"
#include "edgesplit/onednn.h"
#include "edgesplit/onnx.h"
#include "graph_builder.h"
#include "onednn_test_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using testing::RandomInput;

// Exact ops only (max pooling, Relu, Concat), so the oneDNN backend must give
// the reference kernels' bytes: Concat(a, Concat(b, c)) of 20 + (20 + 20)
// channels (80- and 160-byte runs per pixel) between channels-last tensors.
Graph NestedConcats() {
  testing::GraphBuilder b;
  const int x = b.Input("x", {1, 20, 7, 5});
  const auto pool = [&](const std::string& name, int in, int64_t k) {
    return b.Op(OpType::kMaxPool, name, {in},
                {b.IntsAttr("kernel_shape", {k, k}), b.IntsAttr("pads", {k / 2, k / 2, k / 2, k / 2})});
  };
  const int a = pool("a", x, 3), c = pool("c", x, 5);
  const int bc = b.Op(OpType::kConcat, "cat.bc", {b.Op(OpType::kRelu, "b", {x}), c}, {b.Int("axis", 1)});
  const int y = b.Op(OpType::kConcat, "cat", {a, bc}, {b.Int("axis", 1)});
  return b.Finish(pool("out", y, 3));
}

TEST(OneDnnConcatTest, ChannelsLastConcatMovesTheReferenceBytes) {
  const Graph g = NestedConcats();
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  auto ex = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  int loops = 0;
  for (int i = 0; i < n; ++i)
    if (g.nodes[i].op == OpType::kConcat)
      loops += std::string(OneDnnImplementation((*ex)->kernel(i))).rfind("edgesplit channels-last concat", 0) == 0;
  EXPECT_TRUE(loops == 2 || loops == 0) << loops;
  if (loops == 0) std::printf("note: no AVX-512 here, oneDNN's concat ran\n");
  for (uint64_t seed : {1, 2})
    EXPECT_TRUE(testing::WholeModelOutput(g, OneDnnBackend(), seed) == testing::WholeModelOutput(g, ReferenceBackend(), seed))
        << "seed " << seed;
}

}  // namespace
}  // namespace edgesplit
