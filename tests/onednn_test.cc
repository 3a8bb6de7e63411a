// The oneDNN backend: every tensor within 1e-4 * max|reference| of the
// reference backend, channels-last kept between native nodes and never seen by
// users, head + tail at every cut bit-identical to the whole, fallback nodes,
// thread cap and registration.
#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "edgesplit/onednn.h"
#include "graph_builder.h"
#include "onednn_test_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {

Graph Load(const std::string& spec) {
  Result<Graph> g = LoadModel(spec);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? std::move(g).value() : Graph{};
}

using testing::RandomInput;

// Largest |a - b| over `n` floats, and the largest |b|.
void Compare(const float* a, const float* b, int64_t n, float* max_err, float* max_ref) {
  *max_err = 0;
  *max_ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    *max_err = std::max(*max_err, std::fabs(a[i] - b[i]));
    *max_ref = std::max(*max_ref, std::fabs(b[i]));
  }
}

// The whole graph on both backends, fed RandomInput(seed): the onednn output
// within 1e-4 * max|reference| of the reference backend's.
void ExpectMatchesReference(const Graph& g, uint64_t seed) {
  const int n = static_cast<int>(g.nodes.size());
  auto ref = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  auto dnn = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  ASSERT_TRUE(ref.ok() && dnn.ok()) << (dnn.ok() ? "" : dnn.status().message());
  const std::vector<float> input = RandomInput(**ref, seed);
  std::memcpy((*ref)->input(), input.data(), input.size() * 4);
  std::memcpy((*dnn)->input(), input.data(), input.size() * 4);
  ASSERT_TRUE((*ref)->Invoke().ok());
  ASSERT_TRUE((*dnn)->Invoke().ok());
  float err, max_ref;
  Compare(static_cast<const float*>((*dnn)->output()), static_cast<const float*>((*ref)->output()),
          (*ref)->output_bytes() / 4, &err, &max_ref);
  EXPECT_GT(max_ref, 0.0f);
  EXPECT_LE(err, 1e-4f * max_ref);
}

TEST(OneDnnTest, IsRegisteredByName) {
  EXPECT_EQ(FindBackend("onednn"), &OneDnnBackend());
  EXPECT_STREQ(OneDnnBackend().name(), "onednn");
  EXPECT_EQ(FindBackend("reference"), &ReferenceBackend());
  EXPECT_FALSE(RegisterBackend(&OneDnnBackend())) << "a name can be registered once";
}

// Head [0, p) for every position p has every tensor live at p as an output, so
// together they cover every activation of the model (MobileNetV2). ResNet18's
// weights make that quadratic sweep slow: it is checked at its cut points.
struct ToleranceCase {
  const char* model;
  bool every_position;
};
class EveryTensorMatchesReference : public ::testing::TestWithParam<ToleranceCase> {};

TEST_P(EveryTensorMatchesReference, WithinTolerance) {
  Graph g = Load(GetParam().model);
  ASSERT_FALSE(g.nodes.empty());
  const int compared = testing::CompareHeadsWithReference(
      g, GetParam().every_position, 5, [](const SegmentExecutor& dnn, const SegmentExecutor& ref, int o, int p) {
        float err, max_ref;
        Compare(static_cast<const float*>(dnn.output(o)), static_cast<const float*>(ref.output(o)), ref.output_bytes(o) / 4,
                &err, &max_ref);
        EXPECT_LE(err, 1e-4f * max_ref) << "tensor '" << ref.output_tensor(o).name << "' at position " << p;
      });
  EXPECT_GT(compared, 10);
}

INSTANTIATE_TEST_SUITE_P(Zoo, EveryTensorMatchesReference,
                         ::testing::Values(ToleranceCase{"mobilenet_v2:alpha=0.35,res=96", true},
                                           ToleranceCase{"resnet18:res=32", false}),
                         [](const auto& info) { return std::string(info.index == 0 ? "MobileNetV2" : "ResNet18"); });

class OneDnnSplitEveryCut : public ::testing::TestWithParam<const char*> {};

TEST_P(OneDnnSplitEveryCut, IsBitExact) {
  Graph g = Load(GetParam());
  ASSERT_FALSE(g.nodes.empty());
  auto probe = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  const int checked = testing::ExpectEveryCutBitExact(
      g, OneDnnBackend(), RandomInput(**probe, 7), [](const CutPoint& c, const SegmentExecutor& head, const SegmentExecutor& tail) {
        EXPECT_EQ(head.arena_bytes(), c.head_arena_bytes_f32) << "the arena is the planner's figure";
        EXPECT_EQ(tail.arena_bytes(), c.tail_arena_bytes_f32);
      });
  EXPECT_GT(checked, 5);
}

INSTANTIATE_TEST_SUITE_P(Zoo, OneDnnSplitEveryCut,
                         ::testing::Values("mobilenet_v2:alpha=0.35,res=96", "resnet18:res=64"),
                         [](const auto& info) { return std::string(info.index == 0 ? "MobileNetV2" : "ResNet18"); });

// The cut tensor users see is NCHW: a oneDNN head feeds a reference tail (and
// the other way round) and both agree with the all-reference run.
TEST(OneDnnTest, HeadsAndTailsOfDifferentBackendsInteroperate) {
  Graph g = Load("mobilenet_v2:alpha=0.35,res=96");
  const int n = static_cast<int>(g.nodes.size());
  const int cut = g.FindNode("block_6_project") + 1;
  ASSERT_GT(cut, 0);
  auto whole = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  ASSERT_TRUE(whole.ok());
  const std::vector<float> input = RandomInput(**whole, 3);
  std::memcpy((*whole)->input(), input.data(), input.size() * 4);
  ASSERT_TRUE((*whole)->Invoke().ok());
  for (bool onednn_head : {true, false}) {
    auto head = SegmentExecutor::Create(g, 0, cut, onednn_head ? OneDnnBackend() : ReferenceBackend());
    auto tail = SegmentExecutor::Create(g, cut, n, onednn_head ? ReferenceBackend() : OneDnnBackend());
    ASSERT_TRUE(head.ok() && tail.ok());
    ASSERT_EQ((*head)->num_outputs(), 1);
    std::memcpy((*head)->input(), input.data(), input.size() * 4);
    ASSERT_TRUE((*head)->Invoke().ok());
    std::memcpy((*tail)->input(), (*head)->output(), static_cast<size_t>((*head)->output_bytes()));
    ASSERT_TRUE((*tail)->Invoke().ok());
    float err, max_ref;
    Compare(static_cast<const float*>((*tail)->output()), static_cast<const float*>((*whole)->output()),
            (*whole)->output_bytes() / 4, &err, &max_ref);
    EXPECT_LE(err, 1e-4f * max_ref) << (onednn_head ? "onednn head" : "onednn tail");
  }
}

// Convs run on oneDNN with their activations channels-last in between; the
// graph's input and output stay row-major; reshapes fall back to the reference.
TEST(OneDnnTest, KeepsChannelsLastBetweenNativeNodes) {
  Graph g = Load("resnet18:res=32");
  const int n = static_cast<int>(g.nodes.size());
  int native = 0, fallback = 0, channels_last = 0;
  for (int i = 0; i < n; ++i) {
    PreparedKernel k;
    Status s = OneDnnBackend().Prepare(g, i, &k);
    ASSERT_TRUE(s.ok()) << s.message();
    const std::string impl = OneDnnImplementation(k);
    if (g.nodes[i].op == OpType::kConv) {
      EXPECT_NE(impl, "reference") << g.nodes[i].name;
      ++native;
    }
    if (impl == "reference") {
      ++fallback;
      for (const TensorDesc& d : k.inputs) EXPECT_EQ(d.layout, TensorLayout::kRowMajor) << g.nodes[i].name;
      EXPECT_EQ(k.outputs[0].layout, TensorLayout::kRowMajor) << g.nodes[i].name;
    }
    if (i == 0) {
      EXPECT_EQ(k.inputs[0].layout, TensorLayout::kChannelsLast) << "the stem reads NHWC (transposed at the boundary)";
    }
    if (i == n - 1) {
      EXPECT_EQ(k.outputs[0].layout, TensorLayout::kRowMajor) << "the graph output is row-major";
    }
    channels_last += k.outputs[0].layout == TensorLayout::kChannelsLast;
  }
  EXPECT_GT(native, 10);
  EXPECT_GE(fallback, 1) << "resnet's flatten runs on the reference kernel";
  EXPECT_GT(channels_last, 10);
}

// A node oneDNN does not run (Softmax, a 1-D conv) sits between native ones:
// the tensors around it stay row-major and the result matches the reference.
TEST(OneDnnTest, FallbackNodesBetweenNativeOnes) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 4, 6, 6});
  x = b.Conv("conv_a", x, 4, 8, 3, 1, 1, true);
  x = b.Op(OpType::kSoftmax, "softmax", {x}, {b.Int("axis", 1)});
  x = b.Conv("conv_b", x, 8, 8, 3, 2, 8);  // depthwise, strided
  x = b.Op(OpType::kAdd, "bias", {x, b.Const("c", {1, 8, 1, 1})});
  x = b.Op(OpType::kRelu, "relu", {x});
  x = b.Op(OpType::kAveragePool, "pool", {x}, {b.IntsAttr("kernel_shape", {2, 2}), b.IntsAttr("strides", {2, 2}), b.Int("ceil_mode", 1)});
  Graph g = b.Finish(x);
  ASSERT_FALSE(g.nodes.empty());
  ExpectMatchesReference(g, 9);
}

// MNASNet ends in `x.mean([2, 3])`: a ReduceMean over H and W (keepdims 0 or
// 1, axes positive or negative) runs as a native global average pool, and
// other reductions stay on the reference kernel; both match the reference.
TEST(OneDnnTest, ReduceMeanOverThePlaneRunsAsGlobalPooling) {
  struct Case {
    std::vector<int64_t> axes;
    int64_t keepdims;
    bool native;
  };
  for (const Case& c : {Case{{2, 3}, 0, true}, Case{{-2, -1}, 1, true}, Case{{1, 2, 3}, 0, false}, Case{{3}, 1, false}}) {
    SCOPED_TRACE(::testing::Message() << "axes " << c.axes.size() << " keepdims " << c.keepdims);
    testing::GraphBuilder b;
    int x = b.Input("x", {1, 8, 7, 7});
    x = b.Op(OpType::kRelu, "relu", {b.Conv("conv", x, 8, 16, 3, 1, 1, true)});
    x = b.Op(OpType::kReduceMean, "mean", {x}, {b.IntsAttr("axes", c.axes), b.Int("keepdims", c.keepdims)});
    Graph g = b.Finish(x);
    ASSERT_FALSE(g.nodes.empty());
    ExpectMatchesReference(g, 21);
    auto dnn = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
    ASSERT_TRUE(dnn.ok()) << dnn.status().message();
    const std::string impl = OneDnnImplementation((*dnn)->kernel((*dnn)->num_nodes() - 1));
    EXPECT_EQ(impl != "reference", c.native) << impl;
  }
}

// Inception v3's avg_pool2d(padding=1): the zero Pad folded into the pool
// (graph passes) gives the reference's bytes of the unfolded pair, and runs
// natively on oneDNN within the tolerance.
TEST(OneDnnTest, AZeroPadFoldedIntoAnAveragePoolKeepsItsResult) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 8, 9, 9});
  x = b.Op(OpType::kRelu, "relu", {b.Conv("conv", x, 8, 16, 3, 1, 1, true)});
  x = b.Op(OpType::kPad, "pad", {x, b.Ints("pads", {0, 0, 1, 1, 0, 0, 1, 1}), b.Scalar("value", 0.0f)});
  x = b.Op(OpType::kAveragePool, "pool", {x}, {b.IntsAttr("kernel_shape", {3, 3}), b.IntsAttr("strides", {1, 1})});
  b.g.outputs = {x};
  Graph unfolded = b.g;
  ASSERT_TRUE(SortTopologically(unfolded).ok());
  ASSERT_TRUE(InferShapes(unfolded).ok());
  Graph folded = b.Finish(x);
  ASSERT_EQ(unfolded.nodes.size(), 4u);  // conv, relu, pad, pool
  ASSERT_EQ(folded.nodes.size(), 2u);    // conv + relu, pool with the pads
  ASSERT_EQ(folded.nodes.back().op, OpType::kAveragePool);
  ExpectMatchesReference(folded, 5);
  std::vector<std::vector<float>> outs;
  for (const Graph* g : {&unfolded, &folded}) {
    auto ex = SegmentExecutor::Create(*g, 0, static_cast<int>(g->nodes.size()), ReferenceBackend());
    ASSERT_TRUE(ex.ok()) << ex.status().message();
    const std::vector<float> input = RandomInput(**ex, 5);
    std::memcpy((*ex)->input(), input.data(), input.size() * 4);
    ASSERT_TRUE((*ex)->Invoke().ok());
    const float* y = static_cast<const float*>((*ex)->output());
    outs.emplace_back(y, y + (*ex)->output_bytes() / 4);
  }
  EXPECT_EQ(outs[0], outs[1]);
  auto dnn = SegmentExecutor::Create(folded, 0, static_cast<int>(folded.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(dnn.ok());
  EXPECT_NE(std::string(OneDnnImplementation((*dnn)->kernel((*dnn)->num_nodes() - 1))), "reference");
}

// libgomp reads its environment once, before main(): the CLI re-executes
// itself with the wait policy set. libgomp reports its spin count (the first
// process shows its default, 300000; the re-executed one reports last):
// bench-engine and infer spin a bounded time then sleep when the machine is
// quiet or the process real-time scheduled (else passive), every other command (the runtime's node processes
// among them) sleeps at once (passive: 0).
std::string CliSpinCount(const char* args) {
  EXPECT_EQ(unsetenv("OMP_WAIT_POLICY"), 0);
  EXPECT_EQ(unsetenv("GOMP_SPINCOUNT"), 0);
  EXPECT_EQ(setenv("OMP_DISPLAY_ENV", "verbose", 1), 0);
  std::string out, err;
  const int rc = testing::RunCli(args, &out, &err);
  unsetenv("OMP_DISPLAY_ENV");
  EXPECT_EQ(rc, 0) << err;
  const size_t last = err.rfind("GOMP_SPINCOUNT = '");
  if (last == std::string::npos) return "none in: " + err;
  EXPECT_NE(err.find("GOMP_SPINCOUNT = '"), last) << "the CLI did not re-execute itself";
  const size_t begin = last + 18;
  return err.substr(begin, err.find('\'', begin) - begin);
}

TEST(OneDnnTest, CliRunsOpenMpWithPassiveWaitByDefault) { EXPECT_EQ(CliSpinCount("--version"), "0"); }

TEST(OneDnnTest, CliSpinsBoundedOnlyForEngineCommands) {
  // Which of the two depends on the machine's load when the test runs.
  for (const char* engine_command : {"bench-engine --help", "infer --help"}) {
    const std::string spin = CliSpinCount(engine_command);
    EXPECT_TRUE(spin == "0" || spin == "100000") << engine_command << ": " << spin;
  }
  EXPECT_EQ(CliSpinCount("run --help"), "0");
  EXPECT_EQ(CliSpinCount("profile --help"), "0");
}

// A real-time scheduled process (e.g. under `chrt -f`) cannot be preempted by
// ordinary tasks, so bench-engine spins whatever the load (the quiet test is
// skipped). Setting SCHED_FIFO needs privileges: skipped without them.
TEST(OneDnnTest, CliSpinsWhenRealTimeScheduled) {
  sched_param rt{};
  rt.sched_priority = 1;
  if (sched_setscheduler(0, SCHED_FIFO, &rt) != 0) GTEST_SKIP() << "cannot set SCHED_FIFO here";
  const std::string spin = CliSpinCount("bench-engine --help");
  const std::string passive = CliSpinCount("run --help");
  sched_param normal{};
  ASSERT_EQ(sched_setscheduler(0, SCHED_OTHER, &normal), 0);
  EXPECT_EQ(spin, "100000");
  EXPECT_EQ(passive, "0") << "only the engine commands spin";
}

// An explicit OMP_WAIT_POLICY is the user's: the CLI keeps it (no re-exec).
TEST(OneDnnTest, CliKeepsExplicitWaitPolicy) {
  ASSERT_EQ(setenv("OMP_WAIT_POLICY", "passive", 1), 0);
  ASSERT_EQ(unsetenv("GOMP_SPINCOUNT"), 0);
  ASSERT_EQ(setenv("OMP_DISPLAY_ENV", "verbose", 1), 0);
  std::string out, err;
  const int rc = testing::RunCli("--version", &out, &err);
  unsetenv("OMP_DISPLAY_ENV");
  unsetenv("OMP_WAIT_POLICY");
  EXPECT_EQ(rc, 0) << err;
  const size_t first = err.find("GOMP_SPINCOUNT = '");
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.substr(first, 20), "GOMP_SPINCOUNT = '0'") << err;
  EXPECT_EQ(err.rfind("GOMP_SPINCOUNT = '"), first) << "the CLI re-executed itself";
}

// The threading rule: a node with little work runs on the calling thread
// (its primitive made for one thread), the big convs on the whole pool, and an
// Invoke leaves the caller's OpenMP cap as the backend's cap.
TEST(OneDnnTest, SmallNodesRunOnTheCallingThread) {
  ASSERT_TRUE(SetOneDnnThreads(2).ok());
  Graph g = Load("mobilenet_v2:alpha=1.0,res=224");
  const int n = static_cast<int>(g.nodes.size());
  int serial = 0, pooled = 0;
  for (int i = 0; i < n; ++i) {
    PreparedKernel k;
    ASSERT_TRUE(OneDnnBackend().Prepare(g, i, &k).ok());
    const std::string impl = OneDnnImplementation(k);
    if (impl == "reference") continue;
    const bool on_caller = impl.find(" on the calling thread") != std::string::npos;
    serial += on_caller;
    pooled += !on_caller;
    if (g.nodes[i].name == "Conv1") { EXPECT_FALSE(on_caller) << "the stem conv (10.8M MACs) uses the pool"; }
    if (g.nodes[i].name == "block_16_project") { EXPECT_FALSE(on_caller) << impl; }
    if (g.nodes[i].name == "block_15_add") { EXPECT_TRUE(on_caller) << "a 7x7x160 add is too small to fork for"; }
  }
  EXPECT_GT(serial, 0);
  EXPECT_GT(pooled, serial);
  Result<std::unique_ptr<SegmentExecutor>> ex = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  ASSERT_TRUE((*ex)->Invoke().ok());
  EXPECT_EQ(OneDnnThreads(), 2);
  EXPECT_EQ(omp_get_max_threads(), 2) << "a serial node left the caller's cap at 1";
  ASSERT_TRUE(SetOneDnnThreads(0).ok());
}

// Dense 3x3 stride-1 f32 convs run as oneDNN's Winograd on AVX-512 (on
// blocked copies in scratch), every other conv as a direct one; the zoo
// tolerance and every-cut tests above cover its numerics and split equality.
// Dense 3x3 convs of 64 output channels or more; narrower ones (the stems of
// EfficientNetV2 and Inception v3) run direct, where Winograd's reorders cost more.
TEST(OneDnnTest, Dense3x3ConvsRunAsWinogradOnAvx512) {
  Graph g = Load("resnet18:res=64");
  {  // a 32-channel 3x3 conv
    testing::GraphBuilder b;
    const int x = b.Input("x", {1, 32, 20, 20});
    Graph narrow = b.Finish(b.Conv("narrow", x, 32, 32, 3, 1, 1, true));
    ASSERT_FALSE(narrow.nodes.empty());
    PreparedKernel k;
    ASSERT_TRUE(OneDnnBackend().Prepare(narrow, 0, &k).ok());
    EXPECT_EQ(std::string(OneDnnImplementation(k)).find("wino"), std::string::npos) << OneDnnImplementation(k);
  }
  int winograd = 0;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const Node& node = g.nodes[i];
    if (node.op != OpType::kConv) continue;
    PreparedKernel k;
    ASSERT_TRUE(OneDnnBackend().Prepare(g, i, &k).ok());
    const std::string impl = OneDnnImplementation(k);
    const bool dense_3x3 = node.GetInts("kernel_shape") == std::vector<int64_t>{3, 3} && node.GetInt("group", 1) == 1 &&
                           node.GetInts("strides") == std::vector<int64_t>{1, 1} &&
                           g.tensors[node.outputs[0]].shape[1] >= 64;
    const bool wino = impl.find("wino") != std::string::npos;
    winograd += wino;
    if (!dense_3x3) { EXPECT_FALSE(wino) << node.name << ": " << impl; }
    if (wino) { EXPECT_GT(k.scratch_bytes, 0) << "the blocked copies live in scratch"; }
  }
  if (__builtin_cpu_supports("avx512f")) { EXPECT_GT(winograd, 0) << "no conv ran as Winograd"; }
}

// Below 28x28 pixels, dense 3x3s of 96 to 255 input channels (GoogLeNet's
// 14x14 and 7x7 ones) run direct; 256 channels and up (ResNet50's) and under
// 96 (SqueezeNet's 13x13 expand convs) stay Winograd on AVX-512.
TEST(OneDnnTest, SmallImageWinogradDependsOnInputChannels) {
  struct Case {
    int64_t cin, cout, side;
    bool winograd;
  };
  for (const Case& c : {Case{128, 256, 14, false}, Case{192, 384, 7, false}, Case{256, 256, 14, true},
                        Case{64, 256, 13, true}, Case{128, 192, 28, true}}) {
    testing::GraphBuilder b;
    const int x = b.Input("x", {1, c.cin, c.side, c.side});
    Graph g = b.Finish(b.Conv("conv", x, c.cin, c.cout, 3, 1, 1, true));
    ASSERT_FALSE(g.nodes.empty());
    PreparedKernel k;
    ASSERT_TRUE(OneDnnBackend().Prepare(g, 0, &k).ok());
    const std::string impl = OneDnnImplementation(k);
    const bool wino = impl.find("wino") != std::string::npos;
    if (!c.winograd || __builtin_cpu_supports("avx512f")) {
      EXPECT_EQ(wino, c.winograd) << c.cin << " -> " << c.cout << " at " << c.side << ": " << impl;
    }
  }
}

// No node of the torchvision exports whose reference-kernel neighbours used to
// mix layouts (MobileNetV3's HardSigmoid, ShuffleNetV2's Reshape/Transpose)
// runs oneDNN's own reference implementation ("ref:any", 50-100x slower than
// its jit kernels): HardSigmoid is native, and a conv whose arena layouts
// would get it runs on copies in a layout oneDNN picks. (Numerics: the parity
// tests run these models against PyTorch, whole and split.)
TEST(OneDnnTest, TorchvisionExportsAvoidOneDnnReferenceKernels) {
  int checked = 0;
  for (const char* name : {"mobilenet_v3_small", "shufflenet_v2_x0_5"}) {
    ES_REQUIRE_FIXTURE(path, std::string(name) + ".onnx");
    Result<Graph> g = ImportOnnxFile(path);
    ASSERT_TRUE(g.ok()) << g.status().message();
    int hard_sigmoid = 0, conv_copies = 0;
    for (int i = 0; i < static_cast<int>(g->nodes.size()); ++i) {
      PreparedKernel k;
      ASSERT_TRUE(OneDnnBackend().Prepare(*g, i, &k).ok());
      const std::string impl = OneDnnImplementation(k);
      const Node& node = g->nodes[i];
      if (node.op == OpType::kConv) {
        EXPECT_NE(impl.rfind("ref", 0), 0u) << name << " " << node.name << ": " << impl;
        conv_copies += impl.find("on copies in scratch") != std::string::npos;
      }
      if (node.op == OpType::kHardSigmoid) {
        ++hard_sigmoid;
        EXPECT_NE(impl, "reference") << node.name;
        EXPECT_NE(impl.rfind("ref", 0), 0u) << node.name << ": " << impl;
      }
    }
    if (std::string(name) == "mobilenet_v3_small") { EXPECT_GT(hard_sigmoid, 0); }
    std::printf("[ layouts ] %s: %d HardSigmoid, %d convs on copies in scratch\n", name, hard_sigmoid, conv_copies);
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

// DenseNet's shapes: a pre-activation BatchNormalization (no conv to fold it
// into) runs natively with its Relu, and the Pad that pads nothing before the
// AveragePool runs natively as a copy (fused_groups.cc), so the pooling sees
// one layout on both sides (no copy in scratch, no reference kernel). Within
// tolerance of the reference backend and bit-identical at every cut.
TEST(OneDnnTest, DenseNetTransitionRunsNatively) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 16, 12, 12});
  x = b.Conv("conv_a", x, 16, 32, 3);
  x = b.Bn("bn_a", x, 32);
  x = b.Op(OpType::kRelu, "relu_a", {x});
  x = b.Conv("conv_b", x, 32, 16, 1);
  x = b.Op(OpType::kPad, "pad", {x, b.Ints("pads", {0, 0, 0, 0, 0, 0, 0, 0})});
  x = b.Op(OpType::kAveragePool, "pool", {x}, {b.IntsAttr("kernel_shape", {2, 2}), b.IntsAttr("strides", {2, 2})});
  x = b.Bn("bn_b", x, 16);
  x = b.Op(OpType::kRelu, "relu_b", {x});
  x = b.Conv("conv_c", x, 16, 8, 1);
  Graph g = b.Finish(x);
  ASSERT_FALSE(g.nodes.empty());
  const int n = static_cast<int>(g.nodes.size());
  for (int i = 0; i < n; ++i) {
    PreparedKernel k;
    ASSERT_TRUE(OneDnnBackend().Prepare(g, i, &k).ok());
    const std::string impl = OneDnnImplementation(k);
    EXPECT_NE(impl, "reference") << g.nodes[i].name;
    EXPECT_NE(impl.rfind("ref", 0), 0u) << g.nodes[i].name << ": " << impl;
    if (g.nodes[i].op == OpType::kAveragePool) { EXPECT_EQ(impl.find("on a copy in scratch"), std::string::npos) << impl; }
  }
  ExpectMatchesReference(g, 5);
  const std::vector<float> input = RandomInput(**SegmentExecutor::Create(g, 0, n, OneDnnBackend()), 5);
  EXPECT_GT(testing::ExpectEveryCutBitExact(g, OneDnnBackend(), input,
                                            [](const CutPoint&, const SegmentExecutor&, const SegmentExecutor&) {}),
            3);
}

// An eltwise or BatchNormalization node whose input is channels-last and
// whose output feeds a reference-kernel node (so stays row-major) writes its
// output in the output's layout (oneDNN's eltwise and batch normalization
// take one layout for both: the result is reordered within the node).
TEST(OneDnnTest, EltwiseAndBatchNormBeforeAFallbackNode) {
  for (OpType op : {OpType::kSigmoid, OpType::kBatchNormalization, OpType::kHardSigmoid}) {
    testing::GraphBuilder b;
    int x = b.Input("x", {1, 8, 6, 6});
    x = b.Conv("conv", x, 8, 8, 3);
    const int conv_out = x;
    x = op == OpType::kBatchNormalization ? b.Bn("bn", x, 8) : b.Op(op, "act", {x});
    x = b.Op(OpType::kSoftmax, "softmax", {x}, {b.Int("axis", 1)});
    x = b.Op(OpType::kAdd, "add", {x, conv_out});  // keeps conv_out's consumers native
    Graph g = b.Finish(x);
    ASSERT_FALSE(g.nodes.empty());
    SCOPED_TRACE(OpTypeName(op));
    ExpectMatchesReference(g, 11);
  }
}

TEST(OneDnnTest, ThreadCap) {
  const int before = OneDnnThreads();
  EXPECT_GE(before, 1);
  ASSERT_TRUE(SetOneDnnThreads(1).ok());
  EXPECT_EQ(OneDnnThreads(), 1);
  Status bad = SetOneDnnThreads(-2);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("-2"), std::string::npos) << bad.message();
  ASSERT_TRUE(SetOneDnnThreads(0).ok());  // back to all cores
  EXPECT_GE(OneDnnThreads(), 1);
}

}  // namespace
}  // namespace edgesplit
