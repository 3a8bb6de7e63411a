// int8 quantization: TFLite's fixed-point primitives against their definitions,
// every int8 kernel against a float-simulated reference (within 1 LSB), the
// quantized zoo split at every cut (bit-identical to the whole model), agreement
// with f32, calibration from folders, and clear errors for bad int8 graphs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/fixed_point.h"
#include "edgesplit/io.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "graph_builder.h"
#include "test_util.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace edgesplit {
namespace {

using namespace fixed_point;

// ---- Primitives against their definitions ---------------------------------------

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int32_t HighMulDefinition(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  return static_cast<int32_t>(FloorDiv(static_cast<int64_t>(a) * b + (int64_t{1} << 30), int64_t{1} << 31));
}

int32_t DivideByPotDefinition(int32_t x, int e) {  // nearest, ties away from zero
  const int64_t mag = x < 0 ? -static_cast<int64_t>(x) : x;
  const int64_t r = e == 0 ? mag : (mag + (int64_t{1} << (e - 1))) >> e;
  return static_cast<int32_t>(x < 0 ? -r : r);
}

TEST(FixedPoint, HighMulMatchesDefinition) {
  Rng rng(7);
  const int32_t edge[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 30, -(1 << 30), 46341, -46341};
  for (int32_t a : edge)
    for (int32_t b : edge) EXPECT_EQ(SaturatingRoundingDoublingHighMul(a, b), HighMulDefinition(a, b)) << a << " " << b;
  for (int i = 0; i < 200000; ++i) {
    const int32_t a = static_cast<int32_t>(rng.Next()), b = static_cast<int32_t>(rng.Next());
    ASSERT_EQ(SaturatingRoundingDoublingHighMul(a, b), HighMulDefinition(a, b)) << a << " " << b;
  }
  // Ties: 0.5 -> 1, -0.5 -> 0 (toward +infinity), as gemmlowp's nudge gives.
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1 << 30, 1), 1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-(1 << 30), 1), 0);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN), INT32_MAX);
}

TEST(FixedPoint, RoundingDivideByPotMatchesDefinition) {
  Rng rng(8);
  for (int e = 0; e <= 31; ++e) {
    for (int32_t x : {0, 1, -1, 3, -3, 5, -5, INT32_MAX, INT32_MIN, INT32_MIN + 1})
      EXPECT_EQ(RoundingDivideByPOT(x, e), DivideByPotDefinition(x, e)) << x << " >> " << e;
    for (int i = 0; i < 5000; ++i) {
      const int32_t x = static_cast<int32_t>(rng.Next());
      ASSERT_EQ(RoundingDivideByPOT(x, e), DivideByPotDefinition(x, e)) << x << " >> " << e;
    }
  }
  EXPECT_EQ(RoundingDivideByPOT(-3, 1), -2);  // -1.5: away from zero
  EXPECT_EQ(RoundingDivideByPOT(3, 1), 2);
  EXPECT_EQ(RoundingDivideByPOT(-5, 2), -1);  // -1.25
}

TEST(FixedPoint, QuantizeMultiplierRepresentsTheReal) {
  for (double m = 1e-7; m < 200.0; m *= 1.37) {
    int32_t q = 0;
    int shift = 0;
    QuantizeMultiplier(m, &q, &shift);
    EXPECT_GE(q, 1 << 30) << m;
    const double back = static_cast<double>(q) * std::ldexp(1.0, shift - 31);
    EXPECT_NEAR(back, m, m * std::ldexp(1.0, -30)) << m;
  }
  int32_t q = 0;
  int shift = 0;
  QuantizeMultiplier(1.0, &q, &shift);
  EXPECT_EQ(q, 1 << 30);
  EXPECT_EQ(shift, 1);
  // A mantissa rounding up to 1.0 carries into the exponent.
  QuantizeMultiplier(std::nextafter(1.0, 0.0), &q, &shift);
  EXPECT_EQ(q, 1 << 30);
  EXPECT_EQ(shift, 1);
  for (double bad : {0.0, -1.0, std::nan(""), std::ldexp(1.0, -40)}) {
    QuantizeMultiplier(bad, &q, &shift);
    EXPECT_EQ(q, 0) << bad;
  }
}

TEST(FixedPoint, MultiplyByQuantizedMultiplierIsWithinOneOfTheReal) {
  Rng rng(9);
  for (int i = 0; i < 20000; ++i) {
    const double m = std::exp(rng.Uniform(-14.0f, 3.0f));
    const int32_t x = static_cast<int32_t>(rng.Next() % 2000001) - 1000000;
    int32_t q = 0;
    int shift = 0;
    QuantizeMultiplier(m, &q, &shift);
    const double want = static_cast<double>(x) * m;
    ASSERT_LE(std::fabs(MultiplyByQuantizedMultiplier(x, q, shift) - want), 1.0) << x << " * " << m;
  }
  int32_t q = 0;
  int shift = 0;
  QuantizeMultiplier(100.0, &q, &shift);
  // The left shift saturates instead of overflowing (undefined in TFLite's int32 form).
  EXPECT_EQ(MultiplyByQuantizedMultiplier(INT32_MAX, q, shift), SaturatingRoundingDoublingHighMul(INT32_MAX, q));
  EXPECT_EQ(MultiplyByQuantizedMultiplier(INT32_MIN, q, shift), SaturatingRoundingDoublingHighMul(INT32_MIN, q));
  EXPECT_EQ(RoundedAverage(5, 2), 3);
  EXPECT_EQ(RoundedAverage(-5, 2), -3);
  EXPECT_EQ(RoundedAverage(4, 3), 1);
}

TEST(ActivationParams, ZeroIsExactAndTheRangeIsCovered) {
  for (auto [lo, hi] : std::vector<std::pair<float, float>>{{-1.0f, 1.0f}, {0.0f, 6.0f}, {-3.7f, 0.2f}, {0.5f, 2.0f}, {-9.0f, -1.0f}}) {
    QuantParams p = ChooseActivationParams(lo, hi);
    ASSERT_EQ(p.scales.size(), 1u);
    const float s = p.scales[0];
    const int z = p.zero_points[0];
    EXPECT_GE(z, -128);
    EXPECT_LE(z, 127);
    EXPECT_GT(s, 0.0f);
    EXPECT_LE(std::min(0.0f, lo), s * (-128 - z) + s);
    EXPECT_GE(std::max(0.0f, hi), s * (127 - z) - s);
  }
  EXPECT_EQ(ChooseActivationParams(0.0f, 6.0f).zero_points[0], -128);  // ReLU6 output: 0 is the lowest code
  EXPECT_FLOAT_EQ(ChooseActivationParams(0.0f, 0.0f).scales[0], 1.0f / 255.0f);
}

// ---- int8 kernels against a float simulation --------------------------------------

float Dequant(const Tensor& t, int64_t i, int8_t q) {
  const size_t c = t.quant.scales.size() == 1 ? 0 : static_cast<size_t>((i / std::max<int64_t>(1, [&] {
                     int64_t inner = 1;
                     for (size_t d = t.quant.axis + 1; d < t.shape.size(); ++d) inner *= t.shape[d];
                     return inner;
                   }())) % t.shape[t.quant.axis]);
  return t.quant.scales[c] * (q - t.quant.zero_points[c]);
}

// Runs node `n` of the int8 graph in float on the dequantized inputs (weights,
// int32 biases at their scales), quantizes the result with the output's params,
// and expects the int8 kernel's output within 1 LSB.
void ExpectNodeMatchesFloat(const Graph& q, int n, const std::vector<std::vector<uint8_t>>& bytes, int* checked) {
  const Node& node = q.nodes[n];
  const Tensor& yt = q.tensors[node.outputs[0]];
  if (yt.dtype != DType::kInt8 || node.op == OpType::kQuantizeLinear) return;
  Graph f;
  Node fn = node;
  std::vector<std::vector<float>> values;
  fn.inputs.clear();
  for (int t : node.inputs) {
    if (t == kNoTensor) {
      fn.inputs.push_back(kNoTensor);
      continue;
    }
    const Tensor& src = q.tensors[t];
    Tensor ft = src;
    ft.quant = QuantParams();
    if (src.dtype == DType::kInt8 || src.dtype == DType::kInt32) {
      std::vector<float> v(static_cast<size_t>(src.num_elements()));
      for (int64_t i = 0; i < src.num_elements(); ++i) {
        if (src.dtype == DType::kInt8) {
          v[i] = Dequant(src, i, static_cast<int8_t>(bytes[t][i]));
        } else {
          int32_t b;
          std::memcpy(&b, bytes[t].data() + 4 * i, 4);
          v[i] = static_cast<float>(static_cast<double>(b) * src.quant.scales[src.quant.scales.size() == 1 ? 0 : i]);
        }
      }
      ft.dtype = DType::kFloat32;
      if (ft.is_constant) ft.data.assign(reinterpret_cast<uint8_t*>(v.data()), reinterpret_cast<uint8_t*>(v.data()) + 4 * v.size());
      values.push_back(std::move(v));
    } else {
      values.emplace_back();
    }
    fn.inputs.push_back(f.AddTensor(ft));
  }
  Tensor fy = yt;
  fy.dtype = DType::kFloat32;
  fy.quant = QuantParams();
  fn.outputs = {f.AddTensor(fy)};
  f.AddNode(fn);
  PreparedKernel k;
  ASSERT_TRUE(ReferenceBackend().Prepare(f, 0, &k).ok()) << node.name;
  std::vector<unsigned char> scratch(static_cast<size_t>(k.scratch_bytes) + 16);
  std::vector<const void*> ins;
  for (size_t i = 0; i < fn.inputs.size(); ++i) {
    const int t = node.inputs[i];
    if (t == kNoTensor) ins.push_back(nullptr);
    else if (!values[i].empty()) ins.push_back(values[i].data());
    else ins.push_back(bytes[t].data());
  }
  std::vector<float> out(static_cast<size_t>(yt.num_elements()));
  void* outs[] = {out.data()};
  ASSERT_TRUE(ReferenceBackend().Eval(k, ins.data(), outs, scratch.data()).ok()) << node.name;
  const float s = yt.quant.scales[0];
  const int z = yt.quant.zero_points[0];
  int worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const int want = std::clamp(static_cast<int>(std::lround(out[i] / s)) + z, -128, 127);
    const int got = static_cast<int8_t>(bytes[node.outputs[0]][i]);
    worst = std::max(worst, std::abs(want - got));
  }
  EXPECT_LE(worst, 1) << "node '" << node.name << "' (" << OpTypeName(node.op) << ") is " << worst << " LSB off";
  ++*checked;
}

Graph QuantizeOrDie(const Graph& g, int samples = 4) {
  Result<Graph> q = Quantize(g, RandomCalibrationSamples(g.tensors[g.inputs[0]], samples, 11));
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? std::move(q).value() : Graph{};
}

void ExpectEveryInt8NodeMatchesFloat(const std::string& spec_or_empty, const Graph& g, int min_checked) {
  Graph q = QuantizeOrDie(g);
  ASSERT_FALSE(q.nodes.empty());
  Result<std::vector<std::vector<uint8_t>>> bytes = RunAllTensors(q, RandomCalibrationSamples(q.tensors[q.inputs[0]], 1, 99)[0]);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  int checked = 0;
  for (size_t n = 0; n < q.nodes.size(); ++n) ExpectNodeMatchesFloat(q, static_cast<int>(n), *bytes, &checked);
  EXPECT_GE(checked, min_checked) << spec_or_empty;
}

TEST(Int8Kernels, EveryNodeOfTheQuantizedZooIsWithinOneLsbOfFloat) {
  for (const char* spec : {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=32"}) {
    Result<Graph> g = LoadModel(spec);
    ASSERT_TRUE(g.ok());
    ExpectEveryInt8NodeMatchesFloat(spec, *g, 20);
  }
}

TEST(Int8Kernels, PoolsPaddingStridesAndRelu6AreWithinOneLsbOfFloat) {
  testing::GraphBuilder b;
  int x = b.Input("image", {1, 3, 11, 9});
  x = b.Conv("conv", x, 3, 6, 3, 2, 1, true);
  x = b.Op(OpType::kClip, "relu6", {x, b.Scalar("lo", 0.0f), b.Scalar("hi", 6.0f)});
  int dw = b.Conv("dw", x, 6, 6, 3, 1, 6, true);
  int a = b.Op(OpType::kAveragePool, "avg", {dw}, {b.IntsAttr("kernel_shape", {3, 3}), b.IntsAttr("pads", {1, 1, 1, 1})});
  int c = b.Op(OpType::kAveragePool, "avg_pad", {x},
               {b.IntsAttr("kernel_shape", {2, 3}), b.IntsAttr("pads", {1, 1, 0, 1}), b.IntsAttr("strides", {2, 1}),
                b.Int("count_include_pad", 1)});
  int m = b.Op(OpType::kMaxPool, "max", {x}, {b.IntsAttr("kernel_shape", {2, 3}), b.IntsAttr("pads", {1, 1, 0, 1}), b.IntsAttr("strides", {2, 1})});
  int s = b.Op(OpType::kAdd, "sum", {c, m});
  s = b.Op(OpType::kRelu, "sum_relu", {s});
  int g1 = b.Op(OpType::kGlobalAveragePool, "gap_a", {a});
  int g2 = b.Op(OpType::kGlobalAveragePool, "gap_s", {s});
  int y = b.Op(OpType::kAdd, "heads", {g1, g2});  // broadcast-free add of two [1,6,1,1]
  y = b.Op(OpType::kFlatten, "flat", {y}, {b.Int("axis", 1)});
  y = b.Op(OpType::kGemm, "fc", {y, b.Const("fc.w", {6, 5}), b.Const("fc.b", {5})});  // transB 0: columns
  Graph g = b.Finish(y);
  ASSERT_FALSE(g.nodes.empty());
  ExpectEveryInt8NodeMatchesFloat("pools", g, 10);
}

// ---- Quantized graphs ---------------------------------------------------------------

TEST(Quantize, GraphIsInt8BetweenAFloatInputAndOutput) {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  Graph q = QuantizeOrDie(*g);
  ASSERT_FALSE(q.nodes.empty());
  EXPECT_EQ(q.tensors[q.inputs[0]].dtype, DType::kFloat32);
  EXPECT_EQ(q.tensors[q.outputs[0]].dtype, DType::kFloat32);
  EXPECT_EQ(q.tensors[q.outputs[0]].name, g->tensors[g->outputs[0]].name);
  EXPECT_EQ(q.nodes.front().op, OpType::kQuantizeLinear);
  EXPECT_EQ(q.nodes.back().op, OpType::kDequantizeLinear);
  EXPECT_EQ(q.nodes.size(), g->nodes.size() + 2);
  for (size_t n = 1; n + 1 < q.nodes.size(); ++n) {
    const Tensor& y = q.tensors[q.nodes[n].outputs[0]];
    EXPECT_EQ(y.dtype, DType::kInt8) << q.nodes[n].name;
    EXPECT_EQ(y.quant.scales.size(), 1u) << q.nodes[n].name;
    for (int t : q.nodes[n].inputs) {
      if (t == kNoTensor || !q.tensors[t].is_constant || q.nodes[n].op != OpType::kConv) continue;
      const Tensor& w = q.tensors[t];
      EXPECT_TRUE(w.dtype == DType::kInt8 || w.dtype == DType::kInt32) << w.name;
      if (w.dtype == DType::kInt8) {
        EXPECT_EQ(static_cast<int64_t>(w.quant.scales.size()), w.shape[0]) << w.name;  // per output channel
        EXPECT_EQ(w.quant.axis, 0);
        for (int64_t i = 0; i < w.num_elements(); ++i) ASSERT_GE(w.data_as<int8_t>()[i], -127) << w.name;
      }
    }
  }
  // Cut names resolve as on the float graph, and the cut tensor is int8.
  Result<std::vector<CutPoint>> cuts = FindCutPoints(q);
  ASSERT_TRUE(cuts.ok()) << cuts.status().message();
  Result<int> cut = ResolveCut(q, *cuts, "block_16_project_BN");
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  EXPECT_EQ((*cuts)[*cut].bytes_int8, 112 * 3 * 3);
  EXPECT_EQ(q.tensors[(*cuts)[*cut].tensor].dtype, DType::kInt8);
}

TEST(Quantize, TheCutTensorOfMobileNetV2At224Is5488Bytes) {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=224");
  ASSERT_TRUE(g.ok());
  Graph q = QuantizeOrDie(*g, 1);
  Result<std::vector<CutPoint>> cuts = FindCutPoints(q);
  ASSERT_TRUE(cuts.ok());
  Result<int> cut = ResolveCut(q, *cuts, "block_16_project_BN");
  ASSERT_TRUE(cut.ok());
  auto head = SegmentExecutor::Create(q, 0, (*cuts)[*cut].position, ReferenceBackend());
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_EQ((*head)->output_bytes(), 5488);
  // The executor's arena is the planner's figure, with 1-byte int8 activations.
  Result<SegmentMemory> mem = PlanSegmentMemory(q, 0, (*cuts)[*cut].position, DType::kFloat32);
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ((*head)->arena_bytes(), mem->arena_bytes);
  EXPECT_LT((*head)->arena_bytes(), (*cuts)[*cut].head_arena_bytes_f32 + 1);
}

// Head [0, p) then tail [p, end) for every cut equals the whole model, bit for bit.
void ExpectSplitsExact(const Graph& q) {
  const int n = static_cast<int>(q.nodes.size());
  const CalibrationSample input = RandomCalibrationSamples(q.tensors[q.inputs[0]], 1, 5)[0];
  auto whole = SegmentExecutor::Create(q, 0, n, ReferenceBackend());
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  std::memcpy((*whole)->input(), input.data(), input.size() * 4);
  ASSERT_TRUE((*whole)->Invoke().ok());
  const std::vector<uint8_t> want(static_cast<const uint8_t*>((*whole)->output()),
                                  static_cast<const uint8_t*>((*whole)->output()) + (*whole)->output_bytes());
  Result<std::vector<CutPoint>> cuts = FindCutPoints(q);
  ASSERT_TRUE(cuts.ok());
  for (const CutPoint& c : *cuts) {
    if (c.position == 0 || c.position == n) continue;
    auto head = SegmentExecutor::Create(q, 0, c.position, ReferenceBackend());
    auto tail = SegmentExecutor::Create(q, c.position, n, ReferenceBackend());
    ASSERT_TRUE(head.ok() && tail.ok()) << c.after;
    std::memcpy((*head)->input(), input.data(), input.size() * 4);
    ASSERT_TRUE((*head)->Invoke().ok());
    ASSERT_EQ((*head)->output_bytes(), (*tail)->input_bytes());
    std::memcpy((*tail)->input(), (*head)->output(), (*head)->output_bytes());
    ASSERT_TRUE((*tail)->Invoke().ok());
    ASSERT_EQ(std::memcmp((*tail)->output(), want.data(), want.size()), 0) << "cut after " << c.after;
  }
}

TEST(Quantize, SplitAtEveryCutIsBitIdenticalToTheWholeModel) {
  for (const char* spec : {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=32"}) {
    Result<Graph> g = LoadModel(spec);
    ASSERT_TRUE(g.ok());
    SCOPED_TRACE(spec);
    ExpectSplitsExact(QuantizeOrDie(*g));
  }
}

size_t Argmax(const std::vector<uint8_t>& bytes, int64_t n) {
  const float* v = reinterpret_cast<const float*>(bytes.data());
  return static_cast<size_t>(std::max_element(v, v + n) - v);
}

TEST(Quantize, Top1AgreesWithFloatOnRandomInputs) {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96,classes=10");
  ASSERT_TRUE(g.ok());
  Graph q = QuantizeOrDie(*g, 16);
  const std::vector<CalibrationSample> inputs = RandomCalibrationSamples(g->tensors[g->inputs[0]], 20, 1234);
  int agree = 0;
  for (const CalibrationSample& in : inputs) {
    auto f = RunAllTensors(*g, in);
    auto i8 = RunAllTensors(q, in);
    ASSERT_TRUE(f.ok() && i8.ok());
    const int64_t classes = g->tensors[g->outputs[0]].num_elements();
    agree += Argmax((*f)[g->outputs[0]], classes) == Argmax((*i8)[q.outputs[0]], classes);
  }
  EXPECT_GE(agree, 16) << agree << " of 20";
}

TEST(Quantize, OpsWithoutInt8KernelsRunInFloatBetweenDequantizeAndQuantize) {
  Graph g = testing::ResidualNet();  // LeakyRelu-fused conv, mixed Concat, Softmax
  ASSERT_FALSE(g.nodes.empty());
  Graph q = QuantizeOrDie(g, 8);
  ASSERT_FALSE(q.nodes.empty());
  int dequantize = 0;
  for (const Node& n : q.nodes) dequantize += n.op == OpType::kDequantizeLinear;
  EXPECT_GE(dequantize, 2);
  const int softmax = q.FindNode("softmax");
  ASSERT_GE(softmax, 0);
  EXPECT_EQ(q.tensors[q.nodes[softmax].outputs[0]].dtype, DType::kFloat32);
  const CalibrationSample in = RandomCalibrationSamples(g.tensors[g.inputs[0]], 1, 77)[0];
  auto f = RunAllTensors(g, in);
  auto i8 = RunAllTensors(q, in);
  ASSERT_TRUE(f.ok() && i8.ok()) << i8.status().message();
  const float* a = reinterpret_cast<const float*>((*f)[g.outputs[0]].data());
  const float* b = reinterpret_cast<const float*>((*i8)[q.outputs[0]].data());
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(a[i], b[i], 0.05f) << i;
  ExpectSplitsExact(q);
}

TEST(Quantize, SqnrIsReportedForEveryLayer) {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  const std::vector<CalibrationSample> samples = RandomCalibrationSamples(g->tensors[g->inputs[0]], 4, 3);
  Result<Graph> q = Quantize(*g, samples);
  ASSERT_TRUE(q.ok());
  Result<std::vector<LayerSqnr>> sqnr = MeasureSqnr(*g, *q, {samples[0]});
  ASSERT_TRUE(sqnr.ok()) << sqnr.status().message();
  EXPECT_EQ(sqnr->size(), g->nodes.size());
  // Seeded random weights and inputs: noise grows with depth, from ~40 dB at the stem.
  for (const LayerSqnr& l : *sqnr) EXPECT_GT(l.sqnr_db, 5.0) << l.node;
  EXPECT_GT(sqnr->front().sqnr_db, 25.0);
  EXPECT_EQ(sqnr->front().node, g->nodes.front().name);
}

// ---- Calibration ---------------------------------------------------------------------

TEST(Calibration, FromAFolderOfNpyAndOfImages) {
  Tensor input;
  input.name = "x";
  input.shape = {1, 3, 8, 8};
  const std::string dir = testing::MakeTempDir();
  std::vector<float> v(192);
  for (int i = 0; i < 3; ++i) {
    for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(i) + static_cast<float>(j) / 192.0f;
    ASSERT_TRUE(WriteNpy(dir + "/s" + std::to_string(i) + ".npy", {1, 3, 8, 8}, v.data()).ok());
  }
  testing::WriteFile(dir + "/notes.txt", "ignored");
  auto npy = LoadCalibrationSamples(dir, input, Preprocessing{});
  ASSERT_TRUE(npy.ok()) << npy.status().message();
  ASSERT_EQ(npy->size(), 3u);
  EXPECT_FLOAT_EQ((*npy)[2][0], 2.0f);
  EXPECT_EQ(LoadCalibrationSamples(dir, input, Preprocessing{}, 2)->size(), 2u);

  const std::string images = testing::MakeTempDir();
  std::vector<unsigned char> px(16 * 16 * 3, 200);
  ASSERT_TRUE(stbi_write_png((images + "/a.png").c_str(), 16, 16, 3, px.data(), 16 * 3));
  ASSERT_TRUE(stbi_write_jpg((images + "/b.jpg").c_str(), 16, 16, 3, px.data(), 95));
  auto img = LoadCalibrationSamples(images, input, Preprocessing{});
  ASSERT_TRUE(img.ok()) << img.status().message();
  ASSERT_EQ(img->size(), 2u);
  EXPECT_NEAR((*img)[0][0], (200.0f / 255.0f - 0.485f) / 0.229f, 1e-3f);

  // Calibrating from the folder sets the input's range from those samples.
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 3, 8, 8});
  Graph g = b.Finish(b.Conv("c", x, 3, 4, 3));
  Result<Graph> q = Quantize(g, *npy);
  ASSERT_TRUE(q.ok()) << q.status().message();
  const QuantParams& in_q = q->tensors[q->nodes[0].outputs[0]].quant;
  EXPECT_NEAR(in_q.scales[0] * (127 - in_q.zero_points[0]), 3.0f, 0.03f);
}

TEST(Calibration, BadFoldersAndSamplesAreClearErrors) {
  Tensor input;
  input.name = "x";
  input.shape = {1, 3, 8, 8};
  auto missing = LoadCalibrationSamples("/nonexistent/calib", input, Preprocessing{});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/calib"), std::string::npos);
  const std::string empty = testing::MakeTempDir();
  auto none = LoadCalibrationSamples(empty, input, Preprocessing{});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no .npy"), std::string::npos);
  const std::string wrong = testing::MakeTempDir();
  std::vector<float> v(12, 1.0f);
  ASSERT_TRUE(WriteNpy(wrong + "/w.npy", {1, 3, 2, 2}, v.data()).ok());
  auto bad = LoadCalibrationSamples(wrong, input, Preprocessing{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("w.npy"), std::string::npos);

  testing::GraphBuilder b;
  int x = b.Input("x", {1, 3, 8, 8});
  Graph g = b.Finish(b.Conv("c", x, 3, 4, 3));
  Result<Graph> q = Quantize(g, {CalibrationSample(5, 0.0f)});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("192"), std::string::npos);
  Result<Graph> q8 = Quantize(g, {});
  ASSERT_TRUE(q8.ok());
  Result<Graph> twice = Quantize(*q8, {});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("already"), std::string::npos);
}

// ---- Hostile int8 graphs --------------------------------------------------------------

TEST(Int8Kernels, BadQuantizationParametersAreRejectedByName) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 3, 8, 8});
  Graph g = b.Finish(b.Conv("c", x, 3, 4, 3, 1, 1, true));
  Result<Graph> good = Quantize(g, {});
  ASSERT_TRUE(good.ok());
  const int conv = good->FindNode("c");
  ASSERT_GE(conv, 0);
  auto expect_rejected = [&](const char* what, auto mutate) {
    Graph q = *good;
    mutate(q, q.nodes[conv]);
    PreparedKernel k;
    Status s = ReferenceBackend().Prepare(q, conv, &k);
    ASSERT_FALSE(s.ok()) << what;
    EXPECT_NE(s.message().find("'c'"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  };
  expect_rejected("scale", [](Graph& q, Node& n) { q.tensors[n.inputs[0]].quant.scales[0] = 0.0f; });
  expect_rejected("scale", [](Graph& q, Node& n) { q.tensors[n.outputs[0]].quant.scales[0] = std::nanf(""); });
  expect_rejected("zero point", [](Graph& q, Node& n) { q.tensors[n.outputs[0]].quant.zero_points[0] = 300; });
  expect_rejected("per-tensor", [](Graph& q, Node& n) { q.tensors[n.outputs[0]].quant.scales.push_back(1.0f); });
  expect_rejected("symmetric", [](Graph& q, Node& n) { q.tensors[n.inputs[1]].quant.zero_points[1] = 3; });
  expect_rejected("scales along axis", [](Graph& q, Node& n) { q.tensors[n.inputs[1]].quant.scales.pop_back(); });
  expect_rejected("bias", [](Graph& q, Node& n) { q.tensors[n.inputs[2]].dtype = DType::kInt8; });
  expect_rejected("int8 output", [](Graph& q, Node& n) { q.tensors[n.outputs[0]].dtype = DType::kUInt8; });
}

// ---- CLI ------------------------------------------------------------------------------

TEST(QuantCli, InferInt8SplitQuantizeAndSqnr) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = "mobilenet_v2:alpha=0.35,res=96";
  Result<Graph> g = LoadModel(model);
  ASSERT_TRUE(g.ok());
  const CalibrationSample x = RandomCalibrationSamples(g->tensors[g->inputs[0]], 1, 4242)[0];
  ASSERT_TRUE(WriteNpy(dir + "/x.npy", g->tensors[g->inputs[0]].shape, x.data()).ok());
  std::string out, err;
  ASSERT_EQ(testing::RunCli("infer " + model + " --input " + dir + "/x.npy --dtype int8 --backend reference --split "
                            "block_16_project_BN --top 1 --output " + dir + "/y.npy", &out, &err), 0) << err;
  EXPECT_NE(out.find("dtype int8"), std::string::npos) << out;
  EXPECT_NE(out.find("'block_16_project_BN' [1,112,3,3] (1008B)"), std::string::npos) << out;  // int8 on the link
  // The CLI's default calibration: 16 seeded random inputs (seed 1).
  Result<Graph> q = Quantize(*g, RandomCalibrationSamples(g->tensors[g->inputs[0]], 16, 1));
  ASSERT_TRUE(q.ok());
  auto want = RunAllTensors(*q, x);
  ASSERT_TRUE(want.ok());
  Result<FloatArray> y = ReadNpy(dir + "/y.npy");
  ASSERT_TRUE(y.ok());
  ASSERT_EQ(y->data.size() * 4, (*want)[q->outputs[0]].size());
  EXPECT_EQ(std::memcmp(y->data.data(), (*want)[q->outputs[0]].data(), y->data.size() * 4), 0);

  // quantize -> QDQ .onnx -> infer gives the same bits.
  ASSERT_EQ(testing::RunCli("quantize " + model + " -o " + dir + "/m.onnx", &out, &err), 0) << err;
  EXPECT_NE(out.find("int8 nodes"), std::string::npos) << out;
  ASSERT_EQ(testing::RunCli("infer " + dir + "/m.onnx --input " + dir + "/x.npy --backend reference --output " + dir +
                            "/y2.npy", &out, &err), 0) << err;
  EXPECT_NE(out.find("dtype int8"), std::string::npos) << out;
  EXPECT_EQ(testing::ReadFile(dir + "/y.npy"), testing::ReadFile(dir + "/y2.npy"));

  ASSERT_EQ(testing::RunCli("sqnr " + model + " --samples 2 --format json", &out, &err), 0) << err;
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["samples"], 2);
  ASSERT_EQ(j["layers"].size(), g->nodes.size());
  EXPECT_EQ(j["layers"][0]["name"], "Conv1");
  EXPECT_GT(j["layers"][0]["sqnr_db"].get<double>(), 20.0);

  EXPECT_EQ(testing::RunCli("infer " + model + " --input " + dir + "/x.npy --dtype int8 --calib /nonexistent/calib", &out, &err), 1);
  EXPECT_NE(err.find("/nonexistent/calib"), std::string::npos) << err;
}

// Where calibration samples come from, and a graph in a named dtype, through
// the library (what every command's --dtype/--calib/--calib-data/--samples calls).
TEST(CalibrationSourceTest, FolderDataSetOrSeededRandom) {
  const Graph g = testing::ResidualNet();
  const Preprocessing pre;
  CalibrationSource random;
  random.samples = 3;
  Result<std::vector<CalibrationSample>> r = LoadCalibration(g, random, pre);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].size(), 3u * 16 * 16);
  EXPECT_EQ(*r, RandomCalibrationSamples(g.tensors[g.inputs[0]], 3, 1));  // seeded: the same every time

  // A folder of .npy samples: at most `samples` of them, in name order.
  const std::string dir = testing::MakeTempDir();
  std::vector<float> x(3 * 16 * 16, 0.25f);
  for (const char* name : {"a.npy", "b.npy", "c.npy"}) ASSERT_TRUE(WriteNpy(dir + "/" + name, Shape{1, 3, 16, 16}, x.data()).ok());
  CalibrationSource folder{.folder = dir, .samples = 2};
  Result<std::vector<CalibrationSample>> f = LoadCalibration(g, folder, pre);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[1], x);

  struct Case {
    CalibrationSource source;
    std::string expected;
  };
  const Case bad[] = {
      {{.folder = dir, .data = "fashion-mnist"}, "alternatives"},
      {{.data = "imagenet"}, "--calib-data imagenet"},
      {{.samples = 0}, "--samples"},
      {{.folder = dir + "/missing"}, "missing"},
  };
  for (const Case& c : bad) {
    Result<std::vector<CalibrationSample>> e = LoadCalibration(g, c.source, pre);
    ASSERT_FALSE(e.ok()) << c.expected;
    EXPECT_NE(e.status().message().find(c.expected), std::string::npos) << e.status().message();
  }
}

TEST(CalibrationSourceTest, WithDtypeQuantizesOnlyWhenAsked) {
  const Graph g = testing::ResidualNet();
  CalibrationSource src;
  src.samples = 2;
  Result<Graph> f32 = WithDtype(g, "f32", src, Preprocessing{});
  ASSERT_TRUE(f32.ok());
  EXPECT_FALSE(IsQuantized(*f32));
  int calls = 0, total = 0;
  QuantizeOptions o;
  o.progress = [&](int, int t) { ++calls, total = t; };
  Result<Graph> q = WithDtype(g, "int8", src, Preprocessing{}, o);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_TRUE(IsQuantized(*q));
  EXPECT_EQ(total, 2);  // calibration over the source's two samples, reported
  EXPECT_GE(calls, 2);
  // A quantized graph stays as it is (no second calibration).
  calls = 0;
  Result<Graph> again = WithDtype(*q, "int8", src, Preprocessing{}, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(again->nodes.size(), q->nodes.size());
  Result<Graph> bad = WithDtype(g, "int4", src, Preprocessing{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--dtype int4"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace edgesplit
