// The oneDNN backend on quantized (int8) graphs: every tensor within 1 LSB of
// the reference int8 kernels (they are in fact equal), head + tail at every
// cut bit-identical to the whole, convs native and int8 activations
// channels-last, the AVX-512 loops equal to the portable ones, and Invoke's
// allocations confined to oneDNN's execute as for f32.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "alloc_counter.h"  // counts every allocation in this binary
#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/fixed_point.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "edgesplit/onnx.h"
#include "edgesplit/quant.h"
#include "../src/kernels_onednn/int8.h"
#include "graph_builder.h"
#include "onednn_test_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {

// The int8 graph of a zoo spec, or of a fixture ONNX file ("fixture:NAME").
Graph Quantized(const std::string& spec) {
  Result<Graph> f32 = spec.rfind("fixture:", 0) == 0 ? ImportOnnxFile(testing::FixturePath(spec.substr(8))) : LoadModel(spec);
  EXPECT_TRUE(f32.ok()) << f32.status().message();
  if (!f32.ok()) return Graph{};
  Result<Graph> q = Quantize(*f32, RandomCalibrationSamples(f32->tensors[f32->inputs[0]], 4, 3));
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? std::move(q).value() : Graph{};
}

using testing::RandomInput;

// Worst difference of output `o` in units of its last place: int8 values
// directly, a dequantized f32 output in units of its producer's input scale.
double LsbError(const Graph& g, const SegmentExecutor& a, const SegmentExecutor& b, int o, int64_t* differing) {
  const Tensor& t = a.output_tensor(o);
  double worst = 0;
  if (t.dtype == DType::kInt8) {
    const int8_t* x = static_cast<const int8_t*>(a.output(o));
    const int8_t* y = static_cast<const int8_t*>(b.output(o));
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - static_cast<double>(y[i])));
      *differing += x[i] != y[i];
    }
    return worst;
  }
  EXPECT_EQ(t.dtype, DType::kFloat32) << t.name;
  double unit = 0;  // the scale of the int8 tensor this float came from (0: a float op's output)
  for (const Node& n : g.nodes)
    if (n.op == OpType::kDequantizeLinear && n.outputs[0] == g.FindTensor(t.name)) unit = g.tensors[n.inputs[0]].quant.scales[0];
  const float* x = static_cast<const float*>(a.output(o));
  const float* y = static_cast<const float*>(b.output(o));
  double max_ref = 0;
  for (int64_t i = 0; i < t.num_elements(); ++i) max_ref = std::max(max_ref, std::fabs(double{y[i]}));
  if (unit == 0) unit = 1e-4 * max_ref;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    worst = std::max(worst, std::fabs(double{x[i]} - double{y[i]}) / (unit * 1.0001));
    *differing += x[i] != y[i];
  }
  return worst;
}

struct Int8Case {
  const char* name;
  const char* spec;
  bool every_position;  // else the cut points only
};
class Int8EveryTensor : public ::testing::TestWithParam<Int8Case> {};

TEST_P(Int8EveryTensor, WithinOneLsbOfReference) {
  const std::string spec = GetParam().spec;
  if (spec.rfind("fixture:", 0) == 0) {
    ES_REQUIRE_FIXTURE(path, spec.substr(8));
  }
  Graph g = Quantized(spec);
  ASSERT_FALSE(g.nodes.empty());
  int64_t differing = 0;
  const int compared = testing::CompareHeadsWithReference(
      g, GetParam().every_position, 5, [&](const SegmentExecutor& dnn, const SegmentExecutor& ref, int o, int p) {
        EXPECT_LE(LsbError(g, dnn, ref, o, &differing), 1.0) << "tensor '" << ref.output_tensor(o).name << "' at position " << p;
      });
  EXPECT_GT(compared, 5);
  std::printf("[ info ] %s: %d tensors compared, %lld values differ from the reference\n", GetParam().name, compared,
              static_cast<long long>(differing));
}

INSTANTIATE_TEST_SUITE_P(Models, Int8EveryTensor,
                         ::testing::Values(Int8Case{"MobileNetV2", "mobilenet_v2:alpha=0.35,res=96", true},
                                           Int8Case{"ResNet18", "resnet18:res=32", false},
                                           Int8Case{"ResNet50", "resnet50:res=32", false},
                                           Int8Case{"DigitsCnn", "fixture:digits_cnn.onnx", true},
                                           Int8Case{"DigitsMobileNetV2", "fixture:digits_mobilenet_v2.onnx", false}),
                         [](const auto& info) { return std::string(info.param.name); });

class Int8SplitEveryCut : public ::testing::TestWithParam<const char*> {};

TEST_P(Int8SplitEveryCut, IsBitExactOnOneDnn) {
  Graph g = Quantized(GetParam());
  ASSERT_FALSE(g.nodes.empty());
  auto probe = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  const int checked = testing::ExpectEveryCutBitExact(
      g, OneDnnBackend(), RandomInput(**probe, 7), [](const CutPoint&, const SegmentExecutor& head, const SegmentExecutor&) {
        EXPECT_EQ(head.output_tensor().dtype, DType::kInt8) << "the cut tensor crosses the link as int8";
      });
  EXPECT_GT(checked, 5);
}

INSTANTIATE_TEST_SUITE_P(Zoo, Int8SplitEveryCut, ::testing::Values("mobilenet_v2:alpha=0.35,res=96", "resnet18:res=64"),
                         [](const auto& info) { return std::string(info.index == 0 ? "MobileNetV2" : "ResNet18"); });

// The int8 convs, adds and pools run natively with their int8 activations
// channels-last; the float input is quantized straight into NHWC.
TEST(OneDnnInt8Test, RunsNativelyChannelsLast) {
  Graph g = Quantized("resnet18:res=32");
  int convs = 0, adds = 0, int8_channels_last = 0;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    PreparedKernel k;
    Status s = OneDnnBackend().Prepare(g, i, &k);
    ASSERT_TRUE(s.ok()) << s.message();
    const Node& node = g.nodes[i];
    const std::string impl = OneDnnImplementation(k);
    if (node.op == OpType::kConv || node.op == OpType::kAdd || node.op == OpType::kMaxPool ||
        node.op == OpType::kGemm || node.op == OpType::kGlobalAveragePool) {
      EXPECT_NE(impl, "reference") << node.name;
    }
    if (node.op == OpType::kConv) {
      ++convs;
      EXPECT_EQ(impl.find("ref"), std::string::npos) << node.name << " runs oneDNN's slow " << impl;
    }
    adds += node.op == OpType::kAdd;
    if (node.op == OpType::kQuantizeLinear) {
      EXPECT_EQ(k.inputs[0].layout, TensorLayout::kRowMajor) << "the float input stays NCHW";
      EXPECT_EQ(k.outputs[0].layout, TensorLayout::kChannelsLast);
    }
    int8_channels_last += k.outputs[0].dtype == DType::kInt8 && k.outputs[0].layout == TensorLayout::kChannelsLast;
  }
  EXPECT_GT(convs, 10);
  EXPECT_GT(adds, 3);
  EXPECT_GT(int8_channels_last, 20);
}

// The AVX-512 requantization equals the portable fixed-point code on random
// and extreme accumulators, multipliers and shifts, in both layouts and at
// channel counts that leave vector tails.
TEST(OneDnnInt8Test, VectorRequantizationIsTheFixedPointOne) {
  if (!onednn::Int8UsesAvx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  Rng rng(17);
  // Clamps: both bounds inside int8's range, only the lower one (a ReLU's:
  // the loops narrow with saturation instead of clamping above), none.
  for (int clamp = 0; clamp < 3; ++clamp) {
    for (int64_t channels : {1, 7, 16, 19, 40}) {
      for (bool channels_last : {true, false}) {
        onednn::Int8Stage st;
        st.op = onednn::Int8Stage::Op::kRequant;
        st.y = {2, channels, 13, channels_last};
        st.y_zp = static_cast<int32_t>(rng.Uniform(-128, 127));
        st.lo = clamp == 2 ? -128 : -127 + static_cast<int32_t>(rng.Uniform(0, 100));
        st.hi = clamp == 0 ? 126 - static_cast<int32_t>(rng.Uniform(0, 100)) : 127;
        for (int64_t c = 0; c < channels; ++c) {
          int32_t m = 0;
          int shift = 0;
          fixed_point::QuantizeMultiplier(std::pow(10.0, rng.Uniform(-9.0f, -0.01f)), &m, &shift);
          st.multiplier.push_back(m);
          st.shift.push_back(shift);
          st.bias.push_back(static_cast<int32_t>(rng.Uniform(-1e6f, 1e6f)));
        }
        if (channels > 1) st.multiplier[0] = st.shift[0] = 0;  // a multiplier too small to represent
        std::vector<int32_t> acc(static_cast<size_t>(st.y.elements()));
        for (size_t i = 0; i < acc.size(); ++i) {
          const float r = rng.Uniform(0, 1);
          acc[i] = r < 0.05f ? INT32_MAX - 2000000 : r < 0.1f ? INT32_MIN + 2000000
                                                 : static_cast<int32_t>(rng.Uniform(-3e7f, 3e7f));
        }
        std::vector<int8_t> fast(acc.size()), portable(acc.size());
        void* out = fast.data();
        onednn::RunInt8Stage(st, nullptr, &out, acc.data());
        onednn::SetInt8Avx512(false);
        out = portable.data();
        onednn::RunInt8Stage(st, nullptr, &out, acc.data());
        onednn::SetInt8Avx512(true);
        EXPECT_EQ(fast, portable) << channels << " channels, channels_last " << channels_last << ", clamp [" << st.lo
                                  << ", " << st.hi << "]";
        int distinct = 0;
        for (int8_t v : portable) distinct += v != portable[0];
        EXPECT_GT(distinct, 0) << "the case exercises nothing";
      }
    }
  }
}

// Whole models: the AVX-512 loops and the portable ones give the same bits.
TEST(OneDnnInt8Test, VectorLoopsMatchPortableOnAModel) {
  if (!onednn::Int8UsesAvx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  Graph g = Quantized("mobilenet_v2:alpha=0.35,res=96");
  std::vector<unsigned char> outputs[2];
  for (int pass = 0; pass < 2; ++pass) {
    onednn::SetInt8Avx512(pass == 0);
    outputs[pass] = testing::WholeModelOutput(g, OneDnnBackend(), 11);
  }
  onednn::SetInt8Avx512(true);
  ASSERT_FALSE(outputs[0].empty());
  EXPECT_EQ(outputs[0], outputs[1]);
}

// Pointwise convs run in bands of rows, each band requantized as it is
// computed (src/kernels_onednn/int8_band.cc), the bands shared by the
// threads: with 1, 2 or 3 threads the output equals the reference's.
TEST(OneDnnInt8Test, BandedPointwiseConvsMatchReference) {
  Graph g = Quantized("mobilenet_v2:alpha=0.35,res=96");
  const int n = static_cast<int>(g.nodes.size());
  auto ref = SegmentExecutor::Create(g, 0, n, ReferenceBackend());
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const std::vector<float> input = RandomInput(**ref, 5);
  std::memcpy((*ref)->input(), input.data(), input.size() * 4);
  ASSERT_TRUE((*ref)->Invoke().ok());
  const auto* want = static_cast<const unsigned char*>((*ref)->output());
  const int saved = OneDnnThreads();
  for (int threads : {1, 2, 3}) {
    ASSERT_TRUE(SetOneDnnThreads(threads).ok());
    int banded = 0;
    for (int i = 0; i < n; ++i) {
      PreparedKernel k;
      ASSERT_TRUE(OneDnnBackend().Prepare(g, i, &k).ok());
      banded += std::string(OneDnnImplementation(k)).find(" in bands of ") != std::string::npos;
    }
    EXPECT_GE(banded, 1) << "the 48x48 expand conv runs in bands with " << threads << " threads";
    auto ex = SegmentExecutor::Create(g, 0, n, OneDnnBackend());
    ASSERT_TRUE(ex.ok()) << ex.status().message();
    for (int run = 0; run < 2; ++run) {  // the second run with the memory handles already bound
      std::memcpy((*ex)->input(), input.data(), input.size() * 4);  // (the arena may reuse the input's bytes)
      ASSERT_TRUE((*ex)->Invoke().ok());
      ASSERT_EQ((*ex)->output_bytes(), (*ref)->output_bytes());
      const auto* got = static_cast<const unsigned char*>((*ex)->output());
      EXPECT_TRUE(std::equal(got, got + (*ex)->output_bytes(), want)) << threads << " threads, run " << run;
    }
  }
  ASSERT_TRUE(SetOneDnnThreads(saved).ok());
}

// Pointwise convs too small for bands, and dense convs on images of at
// least 4 rows a thread, run as one run of rows per thread, each thread's
// primitive made for its rows (RowPart in src/kernels_onednn/onednn_internal.h;
// a 3x3 conv's parts padded only at the image's top and bottom): at odd
// sizes that split unevenly, with 1-3 threads, every tensor equals the
// reference's.
TEST(OneDnnInt8Test, ConvsInRunsOfRowsMatchReference) {
  const int saved = OneDnnThreads();
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{7, 7}, {5, 9}, {13, 11}}) {
    testing::GraphBuilder b;
    int x = b.Input("image", {1, 8, h, w});
    x = b.Op(OpType::kRelu, "stem.relu", {b.Conv("stem", x, 8, 64, 3)});
    x = b.Op(OpType::kRelu, "expand.relu", {b.Conv("expand", x, 64, 96, 1, 1, 1, true)});
    x = b.Conv("project", x, 96, 64, 1, 1, 1, true);
    x = b.Conv("head", x, 64, 8, 3);
    Graph f32 = b.Finish(x);
    ASSERT_FALSE(f32.nodes.empty());
    Result<Graph> q = Quantize(f32, RandomCalibrationSamples(f32.tensors[f32.inputs[0]], 4, 3));
    ASSERT_TRUE(q.ok()) << q.status().message();
    const Graph& g = *q;
    const int n = static_cast<int>(g.nodes.size());
    for (int p = 1; p <= n; ++p) {  // every head [0, p): its outputs are the tensors live at p
      auto ref = SegmentExecutor::Create(g, 0, p, ReferenceBackend());
      ASSERT_TRUE(ref.ok()) << ref.status().message();
      const std::vector<float> input = RandomInput(**ref, 11);
      std::memcpy((*ref)->input(), input.data(), input.size() * 4);
      ASSERT_TRUE((*ref)->Invoke().ok());
      for (int threads : {1, 2, 3}) {
        ASSERT_TRUE(SetOneDnnThreads(threads).ok());
        auto dnn = SegmentExecutor::Create(g, 0, p, OneDnnBackend());
        ASSERT_TRUE(dnn.ok()) << dnn.status().message();
        int split = 0;
        for (int i = 0; i < p; ++i) split += std::string(OneDnnImplementation((*dnn)->kernel(i))).find(" runs of rows") != std::string::npos;
        if (p == n) {
          // The two pointwise convs, and the 3x3 stem where it has 4 rows a thread.
          const int want = threads == 1 ? 0 : 2 + (h >= 4 * threads ? 1 : 0);
          EXPECT_EQ(split, want) << h << "x" << w << ", " << threads << " threads";
        }
        std::memcpy((*dnn)->input(), input.data(), input.size() * 4);
        ASSERT_TRUE((*dnn)->Invoke().ok());
        for (int o = 0; o < (*ref)->num_outputs(); ++o) {
          const Tensor& t = (*ref)->output_tensor(o);
          ASSERT_EQ((*dnn)->output_bytes(o), (*ref)->output_bytes(o));
          const auto* a = static_cast<const unsigned char*>((*dnn)->output(o));
          const auto* r = static_cast<const unsigned char*>((*ref)->output(o));
          EXPECT_TRUE(std::equal(a, a + (*ref)->output_bytes(o), r))
              << h << "x" << w << ", head of " << p << " nodes, tensor '" << t.name << "', " << threads << " threads";
        }
      }
    }
  }
  ASSERT_TRUE(SetOneDnnThreads(saved).ok());
}

// A depthwise conv for DepthwiseConvsMatchReference: [1, c, h, w] input, an
// optional 1x1 conv + ReLU first (x's zero point then -128, so the padding
// matters), the k x k depthwise conv (+ ReLU6) and a 1x1 conv after it (so
// that its output is channels-last too), quantized.
struct DepthwiseCase {
  int64_t c, h, w, k, stride, dilation;
  std::vector<int64_t> pads;  // top, left, bottom, right
  bool relu_first;
  bool threaded = false;  // big enough for the kernel to share it between threads (>= 2M multiply-adds)
};

Graph DepthwiseGraph(const DepthwiseCase& dc) {
  testing::GraphBuilder b;
  int x = b.Input("image", {1, dc.c, dc.h, dc.w});
  if (dc.relu_first) {
    x = b.Conv("pw0", x, dc.c, dc.c, 1);
    x = b.Op(OpType::kRelu, "pw0.relu", {x});
  }
  x = b.Op(OpType::kConv, "dw", {x, b.Const("dw.weight", {dc.c, 1, dc.k, dc.k}, -1.0f, 1.0f), b.Const("dw.bias", {dc.c})},
           {b.IntsAttr("strides", {dc.stride, dc.stride}), b.IntsAttr("dilations", {dc.dilation, dc.dilation}),
            b.IntsAttr("pads", dc.pads), b.IntsAttr("kernel_shape", {dc.k, dc.k}), b.Int("group", dc.c)});
  x = b.Op(OpType::kClip, "dw.relu6", {x, b.Scalar("six_min", 0.0f), b.Scalar("six_max", 6.0f)});
  x = b.Conv("pw1", x, dc.c, 8, 1);
  Graph f32 = b.Finish(x);
  EXPECT_FALSE(f32.nodes.empty());
  if (f32.nodes.empty()) return f32;
  Result<Graph> q = Quantize(f32, RandomCalibrationSamples(f32.tensors[f32.inputs[0]], 4, 3));
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? std::move(q).value() : Graph{};
}

// int8 depthwise convs run edgesplit's own kernel (int8_depthwise.cc), which
// reads x's zero point outside the input: every tensor equals the reference's
// at odd sizes, strides 1 and 2, symmetric, one-sided and no padding,
// dilation, 3x3 and 5x5 windows, channel counts that leave vector tails, with
// 1-3 threads (for a case big enough to be split between them), on the
// AVX-512 loops and on the portable ones.
TEST(OneDnnInt8Test, DepthwiseConvsMatchReference) {
  const std::vector<DepthwiseCase> cases = {
      {19, 9, 11, 3, 1, 1, {1, 1, 1, 1}, true},   {19, 9, 11, 3, 2, 1, {1, 1, 1, 1}, true},
      {37, 8, 7, 3, 2, 1, {0, 0, 1, 1}, true},    {32, 7, 13, 3, 1, 1, {0, 0, 0, 0}, false},
      {16, 6, 9, 5, 1, 1, {2, 2, 2, 2}, true},    {24, 10, 10, 3, 1, 2, {2, 2, 2, 2}, true},
      {3, 5, 37, 3, 2, 1, {1, 1, 1, 1}, false},   {48, 2, 3, 3, 1, 1, {1, 1, 1, 1}, true},
      {40, 4, 29, 3, 2, 1, {0, 0, 1, 1}, true},   {17, 3, 30, 3, 1, 1, {1, 1, 1, 1}, true},
      {24, 100, 97, 3, 1, 1, {1, 1, 1, 1}, false, true},
  };
  const int saved = OneDnnThreads();
  for (const DepthwiseCase& dc : cases) {
    Graph g = DepthwiseGraph(dc);
    ASSERT_FALSE(g.nodes.empty());
    const std::string what = "c " + std::to_string(dc.c) + " " + std::to_string(dc.h) + "x" + std::to_string(dc.w) + " k " +
                             std::to_string(dc.k) + " stride " + std::to_string(dc.stride) + " dilation " +
                             std::to_string(dc.dilation) + " pads " + std::to_string(dc.pads[0]) + std::to_string(dc.pads[1]) +
                             std::to_string(dc.pads[2]) + std::to_string(dc.pads[3]);
    int own = 0;
    for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
      PreparedKernel k;
      ASSERT_TRUE(OneDnnBackend().Prepare(g, i, &k).ok());
      own += std::string(OneDnnImplementation(k)).rfind("edgesplit:int8_depthwise", 0) == 0;
    }
    EXPECT_EQ(own, 1) << what << ": the depthwise conv runs edgesplit's kernel";
    // Every head [0, p) outputs the tensors live at p: the depthwise conv's
    // output and everything after it. The reference runs once per head.
    int64_t values = 0, distinct = 0;
    for (int p = 1; p <= static_cast<int>(g.nodes.size()); ++p) {
      auto ref = SegmentExecutor::Create(g, 0, p, ReferenceBackend());
      ASSERT_TRUE(ref.ok()) << ref.status().message();
      const std::vector<float> input = RandomInput(**ref, 9);
      std::memcpy((*ref)->input(), input.data(), input.size() * 4);
      ASSERT_TRUE((*ref)->Invoke().ok());
      for (bool avx512 : {true, false}) {
        if (avx512 && !onednn::Int8UsesAvx512()) continue;
        for (int threads : {1, 2, 3}) {
          if (threads > 1 && !dc.threaded) continue;  // it runs on the calling thread anyway
          onednn::SetInt8Avx512(avx512);
          ASSERT_TRUE(SetOneDnnThreads(threads).ok());
          auto dnn = SegmentExecutor::Create(g, 0, p, OneDnnBackend());
          ASSERT_TRUE(dnn.ok()) << dnn.status().message();
          std::memcpy((*dnn)->input(), input.data(), input.size() * 4);
          const Status run = (*dnn)->Invoke();
          onednn::SetInt8Avx512(true);
          ASSERT_TRUE(run.ok()) << run.message();
          for (int o = 0; o < (*ref)->num_outputs(); ++o) {
            const Tensor& t = (*ref)->output_tensor(o);
            if (t.dtype != DType::kInt8) continue;
            const auto* a = static_cast<const int8_t*>((*dnn)->output(o));
            const auto* r = static_cast<const int8_t*>((*ref)->output(o));
            int64_t differing = 0;
            for (int64_t i = 0; i < t.num_elements(); ++i) {
              differing += a[i] != r[i];
              distinct += r[i] != r[0];
            }
            values += t.num_elements();
            EXPECT_EQ(differing, 0) << what << ": tensor '" << t.name << "', " << threads << " threads, "
                                    << (avx512 ? "AVX-512" : "portable");
          }
        }
      }
    }
    EXPECT_GT(distinct, values / 4) << what << ": the outputs are too uniform to test anything";
  }
  ASSERT_TRUE(SetOneDnnThreads(saved).ok());
}

// As for f32 (tests/exec_test.cc): edgesplit's int8 loops allocate nothing;
// the only allocations are oneDNN 2.6's per-call argument maps, a constant
// number per Invoke.
TEST(OneDnnInt8Test, InvokeAllocatesOnlyInsideOneDnnExecute) {
  Graph g = Quantized("mobilenet_v2:alpha=0.35,res=96");
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  const std::vector<float> input = RandomInput(**ex, 1);
  std::memcpy((*ex)->input(), input.data(), input.size() * 4);
  ASSERT_TRUE((*ex)->Invoke().ok());  // warm-up (the thread's stream)
  int primitives = 0;
  for (int i = 0; i < (*ex)->num_nodes(); ++i) {
    PreparedKernel k;
    ASSERT_TRUE(OneDnnBackend().Prepare(g, i, &k).ok());
    const std::string impl = OneDnnImplementation(k);
    primitives += impl != "reference" && impl.rfind("edgesplit:", 0) != 0;
  }
  std::vector<long> per_invoke;
  for (int i = 0; i < 4; ++i) {
    const long before = testing::AllocationCount();
    Status s = (*ex)->Invoke();
    per_invoke.push_back(testing::AllocationCount() - before);
    if (!s.ok()) ADD_FAILURE() << s.message();
  }
  const long one = per_invoke[0];
  EXPECT_EQ(per_invoke, std::vector<long>(4, one)) << "allocations per Invoke vary";
  EXPECT_LE(one, 16 * primitives) << "more than oneDNN's per-call argument maps";
}

}  // namespace
}  // namespace edgesplit
