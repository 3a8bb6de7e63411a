// Grouped f32 convs on the oneDNN backend (primitives.cc, GroupedRowsAlias):
// a grouped 3x3 whose channel rows are a multiple of 2 KiB runs on blocked
// copies in scratch (ResNeXt101-32x8d's 512-channel convs), other grouped
// convs on the arena's channels-last tensors; either way within the reference
// backend's tolerance and bit-identical split and whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edgesplit/exec.h"
#include "edgesplit/onednn.h"
#include "graph_builder.h"
#include "onednn_test_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {

// 1x1 to `c` channels, a grouped 3x3 (`groups`) at stride 2 then one at
// stride 1 (ResNeXt's conv2 shapes), each with its Relu, and 1x1 back to 16.
// The 1x1 before them makes their input channels-last.
Graph GroupedStack(int64_t c, int64_t groups, int64_t side) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 16, side, side});
  x = b.Op(OpType::kRelu, "expand.relu", {b.Conv("expand", x, 16, c, 1, 1, 1, true)});
  x = b.Op(OpType::kRelu, "g2.relu", {b.Conv("g2", x, c, c, 3, 2, groups, true)});
  x = b.Op(OpType::kRelu, "g1.relu", {b.Conv("g1", x, c, c, 3, 1, groups, true)});
  return b.Finish(b.Conv("project", x, c, 16, 1, 1, 1, true));
}

// The implementation oneDNN runs each grouped conv of `g` with, by node name.
std::vector<std::pair<std::string, std::string>> GroupedImplementations(const Graph& g) {
  std::vector<std::pair<std::string, std::string>> out;
  const int n = static_cast<int>(g.nodes.size());
  auto ex = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return out;
  for (int i = 0; i < n; ++i)
    if (g.nodes[i].op == OpType::kConv && g.nodes[i].GetInt("group", 1) > 1)
      out.emplace_back(g.nodes[i].name, OneDnnImplementation((*ex)->kernel(i)));
  return out;
}

bool OnCopies(const std::string& impl) { return impl.find("on copies in scratch") != std::string::npos; }

// 512 channels in 32 groups of 16 at 56x56: the stride-2 conv reads a 56x56
// image, the stride-1 one 28x28, both at least 28x28, so both take the copies
// where oneDNN's jit grouped kernel is the one it picks on channels-last.
TEST(OneDnnGroupedTest, PowerOfTwoRowsRunOnBlockedCopies) {
  const Graph g = GroupedStack(512, 32, 56);
  ASSERT_FALSE(g.nodes.empty());
  const auto impls = GroupedImplementations(g);
  ASSERT_EQ(impls.size(), 2u);
  for (const auto& [name, impl] : impls) {
    std::printf("[ grouped ] %s: %s\n", name.c_str(), impl.c_str());
    if (impl.rfind("jit:", 0) == 0) { EXPECT_TRUE(OnCopies(impl)) << name << ": " << impl; }
    EXPECT_NE(impl.rfind("ref", 0), 0u) << name << ": " << impl;
  }
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_TRUE(std::any_of(impls.begin(), impls.end(), [](const auto& p) { return OnCopies(p.second); }));
  }
}

// 768 channels (3 KiB rows) and 256 channels (1 KiB) stay on the arena's
// tensors, and so does 512 below 28x28 (the reorders would cost more).
TEST(OneDnnGroupedTest, OtherGroupedConvsStayChannelsLast) {
  struct Case {
    int64_t c, groups, side;
  };
  for (const Case& k : {Case{768, 48, 28}, Case{256, 32, 28}, Case{512, 32, 20}}) {
    const Graph g = GroupedStack(k.c, k.groups, k.side);
    ASSERT_FALSE(g.nodes.empty());
    for (const auto& [name, impl] : GroupedImplementations(g))
      EXPECT_FALSE(OnCopies(impl)) << k.c << " channels at " << k.side << ": " << name << ": " << impl;
  }
}

// On copies or not: within 1e-4 * max|reference| of the reference backend,
// and head + tail at every cut gives the whole run's bytes.
TEST(OneDnnGroupedTest, MatchesReferenceAndSplitsBitExact) {
  for (int64_t c : {512, 256}) {
    const Graph g = GroupedStack(c, 32, 56);
    ASSERT_FALSE(g.nodes.empty());
    {
      SCOPED_TRACE(std::to_string(c) + " channels");
      testing::ExpectNearReferenceBackend(g, 3, 1e-4f);
    }
    auto probe = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
    ASSERT_TRUE(probe.ok()) << probe.status().message();
    const int checked = testing::ExpectEveryCutBitExact(g, OneDnnBackend(), testing::RandomInput(**probe, 4),
                                                        [](const CutPoint&, const SegmentExecutor&, const SegmentExecutor&) {});
    EXPECT_GE(checked, 3) << c << " channels";
  }
}

}  // namespace
}  // namespace edgesplit
