// The oneDNN backend's fused groups of the sweep over torchvision CNNs
// (fused_groups.cc): a conv with its eltwise tail (SiLU, Sigmoid, HardSwish,
// HardSigmoid) as post-ops, a Pad that pads nothing folded into the pooling
// after it, Concat + BatchNormalization(+Relu) in one pass, HardSigmoid(x) * x
// in one pass, and a Winograd conv reordering its output into its Concat's
// channels. Each must give the bytes of its nodes run one by one, whole and
// split at every position.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/onednn.h"
#include "edgesplit/onnx.h"
#include "graph_builder.h"
#include "onednn_test_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using testing::RandomInput;

const Backend& Unfused() {
  static const Backend backend = OneDnnBackend().WithoutFusion();
  return backend;
}

// EfficientNet- and MobileNetV3-style blocks: SiLU after a pointwise and a
// depthwise conv, a squeeze-excitation (SiLU, then Sigmoid and a broadcast
// Mul), HardSwish, and a HardSigmoid gate.
Graph EltwiseTails() {
  testing::GraphBuilder b;
  const auto silu = [&](const std::string& name, int x) {
    return b.Op(OpType::kMul, name + ".mul", {x, b.Op(OpType::kSigmoid, name + ".sigmoid", {x})});
  };
  int x = b.Input("x", {1, 16, 12, 12});
  x = silu("stem", b.Conv("stem", x, 16, 32, 1, 1, 1, true));
  const int dw = silu("dw", b.Conv("dw", x, 32, 32, 3, 1, 32, true));
  int s = b.Op(OpType::kGlobalAveragePool, "se.pool", {dw});
  s = silu("se.fc1", b.Conv("se.fc1", s, 32, 8, 1, 1, 1, true));
  s = b.Op(OpType::kSigmoid, "se.gate", {b.Conv("se.fc2", s, 8, 32, 1, 1, 1, true)});
  x = b.Op(OpType::kMul, "se.scale", {dw, s});
  x = b.Op(OpType::kHardSwish, "hswish", {b.Conv("project", x, 32, 16, 1, 1, 1, true)});
  const int h = b.Op(OpType::kHardSigmoid, "hsigmoid", {b.Conv("gate", x, 16, 16, 1, 1, 1, true)},
                     {b.Float("alpha", 1.0f / 6), b.Float("beta", 0.5f)});
  x = b.Op(OpType::kMul, "gated", {x, h});
  x = b.Op(OpType::kGlobalAveragePool, "gap", {x});
  x = b.Op(OpType::kReshape, "flatten", {x, b.Ints("flat_shape", {1, -1})});
  x = b.Op(OpType::kGemm, "fc", {x, b.Const("fc.weight", {10, 16}), b.Const("fc.bias", {10})}, {b.Int("transB", 1)});
  return b.Finish(x);
}

// MobileNetV3 exported at opset 13: HardSwish as HardSigmoid(t) and t times
// it, after a pointwise and a depthwise conv (both Mul operand orders), and
// alone after the classifier's Gemm.
Graph HardSwishPairs() {
  testing::GraphBuilder b;
  const auto hswish = [&](const std::string& name, int t, bool t_first) {
    const int h = b.Op(OpType::kHardSigmoid, name + ".hsigmoid", {t}, {b.Float("alpha", 1.0f / 6), b.Float("beta", 0.5f)});
    return b.Op(OpType::kMul, name + ".mul", t_first ? std::vector<int>{t, h} : std::vector<int>{h, t});
  };
  int x = b.Input("x", {1, 16, 12, 12});
  x = hswish("expand", b.Conv("expand", x, 16, 40, 1, 1, 1, true), true);
  x = hswish("dw", b.Conv("dw", x, 40, 40, 3, 1, 40, true), false);
  x = b.Op(OpType::kGlobalAveragePool, "gap", {x});
  x = b.Op(OpType::kReshape, "flatten", {x, b.Ints("flat_shape", {1, -1})});
  x = b.Op(OpType::kGemm, "fc", {x, b.Const("fc.weight", {37, 40}), b.Const("fc.bias", {37})}, {b.Int("transB", 1)});
  return b.Finish(hswish("fc", x, true));
}

// SqueezeNet-style fire modules: a squeeze conv, then a 1x1 and a 3x3
// expand conv (Winograd on AVX-512) whose outputs a Concat on channels joins
// (in node order, then reversed), a max pooling between the two.
Graph FireModules() {
  testing::GraphBuilder b;
  const auto conv_relu = [&](const std::string& conv, int in, int64_t c, int64_t m, int64_t k) {
    return b.Op(OpType::kRelu, conv + ".relu", {b.Conv(conv, in, c, m, k, 1, 1, true)});
  };
  const auto fire = [&](const std::string& name, int x, int64_t cin, bool reversed) {
    const int s = conv_relu(name + ".squeeze", x, cin, 16, 1);
    const int e1 = conv_relu(name + ".expand1x1", s, 16, 32, 1), e3 = conv_relu(name + ".expand3x3", s, 16, 48, 3);
    return b.Op(OpType::kConcat, name + ".cat", reversed ? std::vector<int>{e3, e1} : std::vector<int>{e1, e3},
                {b.Int("axis", 1)});
  };
  int x = b.Input("x", {1, 3, 27, 23});
  x = b.Op(OpType::kRelu, "stem.relu", {b.Conv("stem", x, 3, 64, 3, 2, 1, true)});
  x = fire("fire1", x, 64, false);
  x = b.Op(OpType::kMaxPool, "pool", {x}, {b.IntsAttr("kernel_shape", {3, 3}), b.IntsAttr("strides", {2, 2})});
  x = fire("fire2", x, 80, true);
  return b.Finish(b.Op(OpType::kGlobalAveragePool, "gap", {x}));
}

// A DenseNet-style block (each layer: Concat of all earlier features,
// BatchNormalization + Relu, 1x1 conv, 3x3 conv to 16 channels) and a
// transition whose AveragePool reads a Pad that pads nothing.
Graph DenseBlock() {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 3, 10, 10});
  // A wide stem keeps the arena's peak there, so the groups' outputs held
  // apart from their inputs fit in the planner's arena (exec.h).
  x = b.Op(OpType::kRelu, "wide.relu", {b.Conv("wide", x, 3, 256, 3, 1, 1, true)});
  std::vector<int> features = {b.Op(OpType::kRelu, "stem.relu", {b.Conv("stem", x, 256, 32, 1, 1, 1, true)})};
  int64_t channels = 32;
  for (int layer = 1; layer <= 3; ++layer) {
    const std::string name = "layer" + std::to_string(layer);
    int y = b.Op(OpType::kConcat, name + ".cat", features, {b.Int("axis", 1)});
    y = b.Op(OpType::kRelu, name + ".relu1", {b.Bn(name + ".norm1", y, channels)});
    y = b.Op(OpType::kRelu, name + ".relu2", {b.Conv(name + ".conv1", y, channels, 32, 1, 1, 1, true)});
    features.push_back(b.Conv(name + ".conv2", y, 32, 16, 3));
    channels += 16;
  }
  x = b.Op(OpType::kConcat, "block.cat", features, {b.Int("axis", 1)});
  x = b.Op(OpType::kRelu, "trans.relu", {b.Bn("trans.norm", x, channels)});
  x = b.Conv("trans.conv", x, channels, 32, 1);
  x = b.Op(OpType::kPad, "trans.pad", {x, b.Ints("trans.pads", {0, 0, 0, 0, 0, 0, 0, 0})});
  x = b.Op(OpType::kAveragePool, "trans.pool", {x},
           {b.IntsAttr("kernel_shape", {2, 2}), b.IntsAttr("strides", {2, 2})});
  x = b.Op(OpType::kGlobalAveragePool, "gap", {x});
  return b.Finish(x);
}

// The implementation strings of the fused groups of a whole-graph executor.
std::vector<std::string> Groups(const SegmentExecutor& ex) {
  std::vector<std::string> groups;
  for (int i = 0; i < ex.num_nodes(); ++i)
    if (ex.kernel(i).fused_nodes > 1)
      groups.push_back(std::string(OpTypeName(ex.node(i).op)) + ": " + OneDnnImplementation(ex.kernel(i)));
  return groups;
}

std::vector<unsigned char> Run(SegmentExecutor& ex, const std::vector<float>& input) {
  std::memcpy(ex.input(), input.data(), input.size() * 4);
  EXPECT_TRUE(ex.Invoke().ok());
  const auto* o = static_cast<const unsigned char*>(ex.output());
  return std::vector<unsigned char>(o, o + ex.output_bytes());
}

// Fused and unfused whole runs give the same bytes; returns the groups.
std::vector<std::string> ExpectFusedEqualsUnfused(const Graph& g, uint64_t seed) {
  const int n = static_cast<int>(g.nodes.size());
  auto fused = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  auto apart = SegmentExecutor::Create(g, 0, n, Unfused());
  EXPECT_TRUE(fused.ok() && apart.ok());
  if (!fused.ok() || !apart.ok()) return {};
  const std::vector<float> input = RandomInput(**fused, seed);
  const std::vector<unsigned char> a = Run(**fused, input), b = Run(**apart, input);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "the fused groups changed the output";
  return Groups(**fused);
}

// Head [0, p) + tail [p, n) (the live tensors matched by name) give the whole
// fused run's bytes at every position p, inside the groups included.
void ExpectEveryPositionBitExact(const Graph& g, uint64_t seed) {
  const int n = static_cast<int>(g.nodes.size());
  auto whole = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  const std::vector<float> input = RandomInput(**whole, seed);
  const std::vector<unsigned char> want = Run(**whole, input);
  for (int p = 1; p < n; ++p) {
    auto head = SegmentExecutor::Create(g, 0, p, OneDnnBackend());
    auto tail = SegmentExecutor::Create(g, p, n, OneDnnBackend());
    ASSERT_TRUE(head.ok() && tail.ok()) << "split before node " << g.nodes[p].name;
    EXPECT_TRUE(testing::HeadThenTail(**head, **tail, input) == want) << "split before node " << g.nodes[p].name;
  }
}

int Count(const std::vector<std::string>& groups, const std::string& what) {
  int count = 0;
  for (const std::string& s : groups) count += s.find(what) != std::string::npos;
  return count;
}

TEST(OneDnnGroupsTest, ConvEltwiseTailsGiveTheUnfusedBytes) {
  const Graph g = EltwiseTails();
  ASSERT_FALSE(g.nodes.empty());
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(g, 5);
  // stem and dw SiLU, se.fc1 SiLU, se.fc2 Sigmoid, HardSwish, HardSigmoid.
  EXPECT_EQ(Count(groups, "eltwise post-ops"), 6) << ::testing::PrintToString(groups);
  ExpectEveryPositionBitExact(g, 6);
}

// HardSigmoid + Mul is edgesplit's pass (after the conv, in place, or
// alone) only where the two nodes alone run the jit kernels it repeats.
TEST(OneDnnGroupsTest, HardSigmoidTimesInputGivesTheUnfusedBytes) {
  const Graph g = HardSwishPairs();
  ASSERT_FALSE(g.nodes.empty());
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(g, 11);
  const int after_conv = Count(groups, "+ HardSigmoid * x"), pairs = Count(groups, "HardSigmoid * x");
  EXPECT_TRUE((after_conv == 2 && pairs == 3) || pairs == 0) << ::testing::PrintToString(groups);
  if (pairs == 0) std::printf("note: no AVX-512 here, HardSigmoid + Mul not fused\n");
  ExpectEveryPositionBitExact(g, 12);
}

// A conv on copies in scratch (Winograd) reorders its output straight into
// its channels of the Concat's output, the loop copies the other input's;
// the fused plan (which places no bytes for the conv's own output) fits the
// planner's arena.
TEST(OneDnnGroupsTest, WinogradConvIntoItsConcatGivesTheUnfusedBytes) {
  const Graph g = FireModules();
  ASSERT_FALSE(g.nodes.empty());
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(g, 13);
  const int into = Count(groups, "into its Concat");
  EXPECT_TRUE(into == 2 || into == 0) << ::testing::PrintToString(groups);
  if (into == 0) std::printf("note: no Winograd (AVX-512) here, the expand convs write their own outputs\n");
  const int n = static_cast<int>(g.nodes.size());
  auto ex = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  Result<SegmentMemory> planned = PlanSegmentMemory(g, 0, n, DType::kFloat32);
  ASSERT_TRUE(ex.ok() && planned.ok());
  EXPECT_EQ((*ex)->arena_bytes(), planned->arena_bytes);
  ExpectEveryPositionBitExact(g, 14);
}

TEST(OneDnnGroupsTest, ConcatNormAndPadPoolGiveTheUnfusedBytes) {
  const Graph g = DenseBlock();
  ASSERT_FALSE(g.nodes.empty());
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(g, 7);
  EXPECT_EQ(Count(groups, "Pad: "), 1) << ::testing::PrintToString(groups);
  // Concat + BatchNormalization is edgesplit's loop only where oneDNN's own
  // BatchNormalization is its AVX-512 jit (whose float operations it repeats).
  const int norm = Count(groups, "edgesplit concat + bnorm_jit:avx512_core");
  EXPECT_TRUE(norm == 0 || norm == 4) << ::testing::PrintToString(groups);
  if (norm == 0) std::printf("note: no AVX-512 BatchNormalization here, Concat + BN not fused\n");
  ExpectEveryPositionBitExact(g, 8);
}

// The Pad that pads nothing runs natively (a copy) when a cut keeps it apart
// from its pooling, so its neighbours keep channels-last layouts.
TEST(OneDnnGroupsTest, PadThatPadsNothingIsACopy) {
  const Graph g = DenseBlock();
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  int pad = -1;
  for (int i = 0; i < n; ++i)
    if (g.nodes[i].op == OpType::kPad) pad = i;
  ASSERT_GT(pad, 0);
  auto head = SegmentExecutor::Create(g, 0, pad + 1, OneDnnBackend());
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_EQ((*head)->kernel(pad).fused_nodes, 1);
  EXPECT_NE(std::string(OneDnnImplementation((*head)->kernel(pad))), "reference");
}

// The held plan (PlanSegmentMemory's `held_from`): a group's output shares no
// bytes with any tensor the group reads, here where the plain plan puts the
// SiLU's output over the conv's input (dead after the conv, and twice the
// size of the conv's output).
TEST(OneDnnGroupsTest, HeldPlanKeepsTheOutputApartFromWhatTheGroupReads) {
  testing::GraphBuilder b;
  const int x = b.Input("x", {1, 32, 8, 8});
  const int t = b.Conv("conv", x, 32, 16, 1);
  const int y = b.Op(OpType::kMul, "silu", {t, b.Op(OpType::kSigmoid, "sigmoid", {t})});
  const Graph g = b.Finish(b.Op(OpType::kGlobalAveragePool, "gap", {y}));
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  int conv = -1;
  for (int i = 0; i < n; ++i)
    if (g.nodes[i].op == OpType::kConv) conv = i;
  ASSERT_GE(conv, 0);
  ASSERT_LT(conv + 2, n);
  ASSERT_EQ(g.nodes[conv + 1].op, OpType::kSigmoid);
  ASSERT_EQ(g.nodes[conv + 2].op, OpType::kMul);
  const int in = g.nodes[conv].inputs[0], out = g.nodes[conv + 2].outputs[0];
  const auto overlaps = [&](const SegmentMemory& mem, int a, int c) {
    int64_t at = -1, ct = -1;
    for (size_t i = 0; i < mem.tensor_ids.size(); ++i) {
      if (mem.tensor_ids[i] == a) at = mem.offsets[i];
      if (mem.tensor_ids[i] == c) ct = mem.offsets[i];
    }
    EXPECT_TRUE(at >= 0 && ct >= 0);
    const int64_t a_bytes = g.tensors[a].num_elements() * 4, c_bytes = g.tensors[c].num_elements() * 4;
    return at < ct + c_bytes && ct < at + a_bytes;
  };
  Result<SegmentMemory> plain = PlanSegmentMemory(g, 0, n, DType::kFloat32);
  Result<SegmentMemory> held = PlanSegmentMemory(g, 0, n, DType::kFloat32, {}, {{out, conv}});
  ASSERT_TRUE(plain.ok() && held.ok());
  EXPECT_TRUE(overlaps(*plain, out, in)) << "this graph no longer shows the case the held plan is for";
  for (int node = conv; node <= conv + 2; ++node)
    for (int read : g.nodes[node].inputs)
      if (!g.tensors[read].is_constant) {
        EXPECT_FALSE(overlaps(*held, out, read)) << g.tensors[read].name;
      }
}

// The torchvision models these groups were made for, whole runs fused and
// unfused: each model's group kind must be found at least `min_groups` times.
// All five are fixtures (tools/make_fixtures.py).
struct TorchvisionCase {
  const char* model;
  const char* group;  // a substring of the group's implementation string
  int min_groups;
  const char* suffix = "";  // tells apart two cases of one model
};

class TorchvisionGroupsTest : public ::testing::TestWithParam<TorchvisionCase> {};

TEST_P(TorchvisionGroupsTest, FusedEqualsUnfused) {
  ES_REQUIRE_FIXTURE(path, std::string(GetParam().model) + ".onnx");
  Result<Graph> g = ImportOnnxFile(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const std::vector<std::string> groups = ExpectFusedEqualsUnfused(*g, 9);
  EXPECT_GE(Count(groups, GetParam().group), GetParam().min_groups) << ::testing::PrintToString(groups);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchvisionGroupsTest,
                         ::testing::Values(TorchvisionCase{"efficientnet_b0", "eltwise post-ops", 40},
                                           TorchvisionCase{"mobilenet_v3_small", "eltwise post-ops", 8},
                                           TorchvisionCase{"mobilenet_v3_large", "eltwise post-ops", 8},
                                           TorchvisionCase{"mobilenet_v3_large", "HardSigmoid * x", 15, "_hardswish"},
                                           TorchvisionCase{"densenet121", "Pad: ", 3},
                                           TorchvisionCase{"squeezenet1_1", "into its Concat", 8}),
                         [](const ::testing::TestParamInfo<TorchvisionCase>& info) { return std::string(info.param.model) + info.param.suffix; });

}  // namespace
}  // namespace edgesplit
