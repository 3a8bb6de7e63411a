// Batching: WithBatch keeps the cut numbering, and a batch of n different
// images through the whole model or a head/tail split, on both backends, gives
// each image's batch-1 result (int8 bit for bit, f32 within 1e-5 relative).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/batched_segment.h"
#include "edgesplit/exec.h"
#include "edgesplit/models.h"
#include "edgesplit/onednn.h"
#include "edgesplit/onnx.h"
#include "edgesplit/quant.h"
#include "graph_builder.h"
#include "test_util.h"

#include "alloc_counter.h"  // counts every allocation in this binary

namespace edgesplit {
namespace {

using Bytes = std::vector<unsigned char>;

Graph Load(const std::string& spec) {
  Result<Graph> g = spec.find(".onnx") != std::string::npos ? ImportOnnxFile(spec) : LoadModel(spec);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? std::move(g).value() : Graph{};
}

Graph QuantizeRandom(const Graph& f32) {
  Result<Graph> q = Quantize(f32, RandomCalibrationSamples(f32.tensors[f32.inputs[0]], 4, 7));
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? std::move(q).value() : Graph{};
}

// Image i's f32 input: seeded, different for every i.
Bytes Image(const Graph& g, int i) {
  Rng rng(1000 + static_cast<uint64_t>(i));
  std::vector<float> v(static_cast<size_t>(NumElements(g.tensors[g.inputs[0]].shape)));
  for (float& x : v) x = rng.Uniform(-1.0f, 1.0f);
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Runs nodes [begin, end) of `g` once on the concatenation of `inputs` (one
// per image, each of the segment input's per-image size); returns the output
// split per image. Empty on failure (with a test failure saying why).
std::vector<Bytes> RunSegment(const Graph& g, int begin, int end, const Backend& backend, const std::vector<Bytes>& inputs) {
  auto ex = SegmentExecutor::Create(g, begin, end, backend);
  if (!ex.ok()) {
    ADD_FAILURE() << ex.status().message();
    return {};
  }
  const size_t k = inputs.size();
  EXPECT_EQ((*ex)->input_tensor().shape[0], static_cast<int64_t>(k));
  size_t off = 0;
  for (const Bytes& in : inputs) {
    if (off + in.size() > static_cast<size_t>((*ex)->input_bytes())) {
      ADD_FAILURE() << "input larger than the segment's";
      return {};
    }
    std::memcpy(static_cast<unsigned char*>((*ex)->input()) + off, in.data(), in.size());
    off += in.size();
  }
  EXPECT_EQ(off, static_cast<size_t>((*ex)->input_bytes()));
  if (Status s = (*ex)->Invoke(); !s.ok()) {
    ADD_FAILURE() << s.message();
    return {};
  }
  const size_t per = static_cast<size_t>((*ex)->output_bytes()) / k;
  const auto* o = static_cast<const unsigned char*>((*ex)->output());
  std::vector<Bytes> out;
  for (size_t i = 0; i < k; ++i) out.emplace_back(o + i * per, o + (i + 1) * per);
  return out;
}

// Largest f32 difference ExpectSame saw (relative), printed per model and backend.
float g_worst_f32 = 0.0f;

// Bit for bit (int8 models, whose f32 outputs are dequantized int8), else
// f32 within 1e-5 of the output's largest magnitude.
void ExpectSame(const Bytes& got, const Bytes& want, bool bitwise, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  if (bitwise) {
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0) << what;
    return;
  }
  std::vector<float> a(got.size() / 4), b(want.size() / 4);
  std::memcpy(a.data(), got.data(), got.size());
  std::memcpy(b.data(), want.data(), want.size());
  float scale = 1e-30f;
  for (float x : b) scale = std::max(scale, std::fabs(x));
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / scale);
  EXPECT_LE(worst, 1e-5f) << what;
  g_worst_f32 = std::max(g_worst_f32, worst);
}

// The middle cut of `g` (by position).
int MiddleCut(const Graph& g) {
  auto cuts = FindCutPoints(g);
  EXPECT_TRUE(cuts.ok());
  if (!cuts.ok() || cuts->size() < 3) return 0;
  return (*cuts)[cuts->size() / 2].position;
}

// Batches 1, 2, 3, 8 of different images, whole and split at the middle cut,
// on both backends, against per-image batch-1 runs of the same backend.
void ExpectBatchesMatchSingles(const Graph& g1, const std::vector<int>& batches) {
  const int n = static_cast<int>(g1.nodes.size());
  const int cut = MiddleCut(g1);
  ASSERT_GT(cut, 0);
  const bool bitwise = IsQuantized(g1);
  int max_batch = 0;
  for (int b : batches) max_batch = std::max(max_batch, b);
  std::vector<Bytes> images;
  for (int i = 0; i < max_batch; ++i) images.push_back(Image(g1, i));
  for (const Backend* backend : {&ReferenceBackend(), &OneDnnBackend()}) {
    g_worst_f32 = 0.0f;
    std::vector<Bytes> singles;
    for (const Bytes& img : images) {
      std::vector<Bytes> o = RunSegment(g1, 0, n, *backend, {img});
      ASSERT_EQ(o.size(), 1u);
      singles.push_back(o[0]);
    }
    for (int b : batches) {
      Result<Graph> gb = WithBatch(g1, b);
      ASSERT_TRUE(gb.ok()) << gb.status().message();
      const std::vector<Bytes> in(images.begin(), images.begin() + b);
      const std::vector<Bytes> whole = RunSegment(*gb, 0, n, *backend, in);
      const std::vector<Bytes> head = RunSegment(*gb, 0, cut, *backend, in);
      const std::vector<Bytes> tail = RunSegment(*gb, cut, n, *backend, head);
      ASSERT_EQ(whole.size(), static_cast<size_t>(b));
      ASSERT_EQ(tail.size(), static_cast<size_t>(b));
      for (int i = 0; i < b; ++i) {
        const std::string what = std::string(backend->name()) + " batch " + std::to_string(b) + " image " + std::to_string(i);
        ExpectSame(whole[i], singles[i], bitwise, what + " whole");
        ExpectSame(tail[i], singles[i], bitwise, what + " split at position " + std::to_string(cut));
      }
    }
    if (!bitwise)
      std::printf("%s f32: largest batch-vs-single difference %.3g of the output's magnitude\n", backend->name(),
                  static_cast<double>(g_worst_f32));
  }
}

const std::vector<int> kBatches = {1, 2, 3, 8};

TEST(BatchTest, MobileNetV2F32) { ExpectBatchesMatchSingles(Load("mobilenet_v2:alpha=0.35,res=96"), kBatches); }
TEST(BatchTest, MobileNetV2Int8) {
  ExpectBatchesMatchSingles(QuantizeRandom(Load("mobilenet_v2:alpha=0.35,res=96")), kBatches);
}
TEST(BatchTest, ResNet18F32) { ExpectBatchesMatchSingles(Load("resnet18:res=48"), kBatches); }
TEST(BatchTest, ResNet18Int8) { ExpectBatchesMatchSingles(QuantizeRandom(Load("resnet18:res=48")), kBatches); }

TEST(BatchTest, DigitsModels) {
  for (const char* name : {"digits_cnn.onnx", "digits_mobilenet_v2.onnx"}) {
    ES_REQUIRE_FIXTURE(path, name);
    SCOPED_TRACE(name);
    const Graph f32 = Load(path);
    ExpectBatchesMatchSingles(f32, kBatches);
    ExpectBatchesMatchSingles(QuantizeRandom(f32), kBatches);
  }
}

// torchvision's ONNX exports (Flatten, folded Reshape constants, ShuffleNet's
// channel shuffle, SE blocks): batch 2 on oneDNN against two batch-1 runs.
TEST(BatchTest, TorchvisionImports) {
  for (const char* name : {"mobilenet_v2_035.onnx", "resnet18.onnx", "shufflenet_v2_x0_5.onnx", "mobilenet_v3_small.onnx",
                           "efficientnet_b0.onnx"}) {
    ES_REQUIRE_FIXTURE(path, name);
    SCOPED_TRACE(name);
    const Graph g1 = Load(path);
    const int n = static_cast<int>(g1.nodes.size()), cut = MiddleCut(g1);
    Result<Graph> g2 = WithBatch(g1, 2);
    ASSERT_TRUE(g2.ok()) << g2.status().message();
    const std::vector<Bytes> images = {Image(g1, 0), Image(g1, 1)};
    const std::vector<Bytes> head = RunSegment(*g2, 0, cut, OneDnnBackend(), images);
    const std::vector<Bytes> batch = RunSegment(*g2, cut, n, OneDnnBackend(), head);
    ASSERT_EQ(batch.size(), 2u);
    for (int i = 0; i < 2; ++i)
      ExpectSame(batch[i], RunSegment(g1, 0, n, OneDnnBackend(), {images[i]})[0], false,
                 std::string(name) + " image " + std::to_string(i));
  }
}

// QuantizeLinear -> QLinearConv -> Flatten -> QLinearMatMul -> DequantizeLinear
// (the QLinear ops of an ONNX QOperator import) at batch 3 against batch 1.
Graph QLinearModel() {
  testing::GraphBuilder b;
  Graph& g = b.g;
  auto scale = [&](const std::string& name, float v) { return g.AddConstant(name, DType::kFloat32, {}, &v); };
  auto zp = [&](const std::string& name, int8_t v) { return g.AddConstant(name, DType::kInt8, {}, &v); };
  auto int8s = [&](const std::string& name, Shape shape) {
    std::vector<int8_t> v(static_cast<size_t>(NumElements(shape)));
    for (int8_t& x : v) x = static_cast<int8_t>(b.rng.Uniform(-60.0f, 60.0f));
    return g.AddConstant(name, DType::kInt8, std::move(shape), v.data());
  };
  const int x = b.Input("x", {1, 3, 6, 6});
  const int xq = b.Op(OpType::kQuantizeLinear, "q", {x, scale("xs", 0.02f), zp("xz", 3)});
  std::vector<int32_t> bias = {100, -50, 7, 0};
  const int bias_id = g.AddConstant("bias", DType::kInt32, {4}, bias.data());
  const int conv = b.Op(OpType::kQLinearConv, "qconv",
                        {xq, scale("xs2", 0.02f), zp("xz2", 3), int8s("w", {4, 3, 3, 3}), scale("ws", 0.01f), zp("wz", 0),
                         scale("ys", 0.05f), zp("yz", -5), bias_id},
                        {b.IntsAttr("pads", {1, 1, 1, 1})});
  const int flat = b.Op(OpType::kFlatten, "flat", {conv}, {b.Int("axis", 1)});
  const int mm = b.Op(OpType::kQLinearMatMul, "qmm",
                      {flat, scale("ys2", 0.05f), zp("yz2", -5), int8s("m", {144, 5}), scale("ms", 0.01f), zp("mz", 0),
                       scale("os", 0.2f), zp("oz", 1)});
  const int out = b.Op(OpType::kDequantizeLinear, "dq", {mm, scale("os2", 0.2f), zp("oz2", 1)});
  g.outputs = {out};
  EXPECT_TRUE(InferShapes(g).ok());
  return std::move(g);
}

TEST(BatchTest, QLinearOps) {
  const Graph g1 = QLinearModel();
  ASSERT_EQ(g1.tensors[g1.outputs[0]].shape, (Shape{1, 5}));
  const int n = static_cast<int>(g1.nodes.size());
  Result<Graph> g3 = WithBatch(g1, 3);
  ASSERT_TRUE(g3.ok()) << g3.status().message();
  const std::vector<Bytes> images = {Image(g1, 0), Image(g1, 1), Image(g1, 2)};
  for (const Backend* backend : {&ReferenceBackend(), &OneDnnBackend()}) {
    const std::vector<Bytes> batch = RunSegment(*g3, 0, n, *backend, images);
    ASSERT_EQ(batch.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      const std::vector<Bytes> single = RunSegment(g1, 0, n, *backend, {images[i]});
      ASSERT_EQ(single.size(), 1u);
      EXPECT_EQ(batch[i], single[0]) << backend->name() << " image " << i;  // dequantized int8: bit for bit
    }
    EXPECT_NE(batch[0], batch[1]) << "different images should give different outputs";
  }
}

TEST(BatchTest, CutNumberingIsTheSameAtEveryBatch) {
  for (const std::string spec : {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=48"}) {
    const Graph g = Load(spec);
    auto c1 = FindCutPoints(g);
    ASSERT_TRUE(c1.ok());
    for (int b : {2, 5}) {
      Result<Graph> gb = WithBatch(g, b);
      ASSERT_TRUE(gb.ok()) << gb.status().message();
      auto cb = FindCutPoints(*gb);
      ASSERT_TRUE(cb.ok());
      ASSERT_EQ(cb->size(), c1->size()) << spec;
      for (size_t i = 0; i < c1->size(); ++i) {
        const CutPoint &a = (*c1)[i], &z = (*cb)[i];
        EXPECT_EQ(z.index, a.index);
        EXPECT_EQ(z.position, a.position);
        EXPECT_EQ(z.after, a.after);
        EXPECT_EQ(z.tensor, a.tensor);
        EXPECT_EQ(z.bytes_f32, a.bytes_f32 * b);
        EXPECT_EQ(z.bottleneck_strict, a.bottleneck_strict);
        EXPECT_EQ(z.bottleneck_loose, a.bottleneck_loose);
        ASSERT_FALSE(z.shape.empty());
        EXPECT_EQ(z.shape[0], b);
      }
    }
  }
}

TEST(BatchTest, WeightsAreBorrowedNotCopied) {
  const Graph g = Load("mobilenet_v2:alpha=0.35,res=96");
  Result<Graph> gb = WithBatch(g, 4);
  ASSERT_TRUE(gb.ok());
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].is_constant && g.tensors[t].byte_size() > 64) {
      EXPECT_EQ(gb->tensors[t].bytes(), g.tensors[t].bytes()) << g.tensors[t].name;
      EXPECT_TRUE(gb->tensors[t].data.empty());
    }
}

// x [1,2,3] -> Reshape(shape constant) -> y -> Softmax(axis) -> z.
Graph ReshapeModel(std::vector<int64_t> target, int64_t axis_softmax = -1) {
  testing::GraphBuilder b;
  const int x = b.Input("x", {1, 2, 3});
  const int y = b.Op(OpType::kReshape, "r", {x, b.Ints("s", std::move(target))});
  b.g.tensors[y].name = "y";
  const int z = b.Op(OpType::kSoftmax, "sm", {y}, {b.Int("axis", axis_softmax)});
  b.g.outputs = {z};
  EXPECT_TRUE(InferShapes(b.g).ok());
  return std::move(b.g);
}

TEST(BatchTest, ReshapeConstantsFollowTheBatch) {
  for (const std::vector<int64_t>& target : {std::vector<int64_t>{1, -1}, std::vector<int64_t>{-1, 6},
                                             std::vector<int64_t>{0, 6}}) {
    const Graph g = ReshapeModel(target);
    Result<Graph> gb = WithBatch(g, 3);
    ASSERT_TRUE(gb.ok()) << gb.status().message();
    EXPECT_EQ(gb->tensors[g.outputs[0]].shape, (Shape{3, 6}));
    EXPECT_EQ(g.tensors[g.outputs[0]].shape, (Shape{1, 6})) << "the source graph changed";
  }
}

TEST(BatchTest, OpsThatMixImagesAreRefusedByName) {
  // A reshape that folds the batch into the channel axis.
  Result<Graph> folded = WithBatch(ReshapeModel({-1}), 2);
  ASSERT_FALSE(folded.ok());
  EXPECT_NE(folded.status().message().find("'y'"), std::string::npos) << folded.status().message();
  // A softmax over the batch axis.
  Result<Graph> softmax = WithBatch(ReshapeModel({1, 6}, 0), 2);
  ASSERT_FALSE(softmax.ok());
  EXPECT_NE(softmax.status().message().find("'sm'"), std::string::npos) << softmax.status().message();
  EXPECT_FALSE(WithBatch(ReshapeModel({1, 6}), 0).ok());
}

// The server's API: a tail at the middle cut, batches of every k <= max, both
// strategies, against batch-1 runs of the same tail (int8: bit for bit).
TEST(BatchedSegmentTest, EveryBatchSizeMatchesSingleImages) {
  const Graph g = QuantizeRandom(Load("mobilenet_v2:alpha=0.35,res=96"));
  const int n = static_cast<int>(g.nodes.size()), cut = MiddleCut(g);
  ASSERT_GT(cut, 0);
  const int max_batch = 6;
  // Cut tensors of different images (batch-1 heads on the reference backend).
  std::vector<Bytes> cut_in;
  for (int i = 0; i < max_batch; ++i) cut_in.push_back(RunSegment(g, 0, cut, ReferenceBackend(), {Image(g, i)})[0]);
  for (const Backend* backend : {&ReferenceBackend(), &OneDnnBackend()}) {
    std::vector<Bytes> singles;
    for (const Bytes& c : cut_in) singles.push_back(RunSegment(g, cut, n, *backend, {c})[0]);
    for (auto strategy : {BatchedSegment::Strategy::kSumOfSizes, BatchedSegment::Strategy::kPadded}) {
      auto b = BatchedSegment::Create(g, cut, n, *backend, max_batch, strategy);
      ASSERT_TRUE(b.ok()) << b.status().message();
      EXPECT_EQ((*b)->sizes(), (std::vector<int>{1, 2, 4, 6}));
      EXPECT_EQ((*b)->input_bytes(), static_cast<int64_t>(cut_in[0].size()));
      EXPECT_EQ((*b)->output_bytes(), static_cast<int64_t>(singles[0].size()));
      EXPECT_GT((*b)->arena_bytes(), 0);
      EXPECT_EQ((*b)->InvocationsFor(5), strategy == BatchedSegment::Strategy::kPadded ? 1 : 2);
      EXPECT_EQ((*b)->InvocationsFor(3), strategy == BatchedSegment::Strategy::kPadded ? 1 : 2);
      std::vector<Bytes> out(max_batch, Bytes(singles[0].size()));
      for (int k = 1; k <= max_batch; ++k) {
        // Images rotated per k, so that no slot sees the same image every time.
        std::vector<const void*> in_ptr;
        std::vector<void*> out_ptr;
        for (int i = 0; i < k; ++i) {
          in_ptr.push_back(cut_in[(i + k) % max_batch].data());
          out_ptr.push_back(out[i].data());
        }
        ASSERT_TRUE((*b)->Run(in_ptr, out_ptr).ok());
        for (int i = 0; i < k; ++i)
          EXPECT_EQ(out[i], singles[(i + k) % max_batch]) << backend->name() << " k " << k << " image " << i;
      }
    }
  }
}

// A tail at cut 0 takes the image itself, which the oneDNN backend keeps
// channels-last: BatchedSegment writes each request straight into that layout
// (WriteInputImage), and the results equal whole-model runs fed through
// input() and Invoke(). Also: the executor refuses an image or input out of range.
TEST(BatchedSegmentTest, ImagesWrittenChannelsLastEqualInvokeOnRowMajorInput) {
  for (const bool quantized : {false, true}) {
    const Graph g = quantized ? QuantizeRandom(Load("mobilenet_v2:alpha=0.35,res=96")) : Load("mobilenet_v2:alpha=0.35,res=96");
    const int n = static_cast<int>(g.nodes.size());
    for (const Backend* backend : {&ReferenceBackend(), &OneDnnBackend()}) {
      std::vector<Bytes> images, singles;
      for (int i = 0; i < 3; ++i) {
        images.push_back(Image(g, i));
        singles.push_back(RunSegment(g, 0, n, *backend, {images.back()})[0]);
      }
      auto b = BatchedSegment::Create(g, 0, n, *backend, 3);
      ASSERT_TRUE(b.ok()) << b.status().message();
      std::vector<Bytes> out(3, Bytes(singles[0].size()));
      for (int round = 0; round < 2; ++round) {  // the second run must not see the first's conversion
        const std::vector<const void*> in_ptr{images[0].data(), images[1].data(), images[2].data()};
        const std::vector<void*> out_ptr{out[0].data(), out[1].data(), out[2].data()};
        ASSERT_TRUE((*b)->Run(in_ptr, out_ptr).ok());
        for (int i = 0; i < 3; ++i)
          ExpectSame(out[i], singles[i], quantized, std::string(backend->name()) + " image " + std::to_string(i));
      }
    }
  }
  const Graph g = Load("mobilenet_v2:alpha=0.35,res=96");
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), OneDnnBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  const Bytes img = Image(g, 0);
  EXPECT_EQ((*ex)->WriteInputImage(0, 1, img.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ex)->WriteInputImage(1, 0, img.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*ex)->WriteInputImage(0, 0, img.data()).ok());
  ASSERT_TRUE((*ex)->Invoke().ok());
  const Bytes aligned_result(static_cast<const uint8_t*>((*ex)->output()),
                             static_cast<const uint8_t*>((*ex)->output()) + (*ex)->output_bytes());
  // A request's tensor sits in its wire frame at any offset (here one byte
  // past a float boundary): the same image gives the same result.
  Bytes shifted(img.size() + 1);
  std::memcpy(shifted.data() + 1, img.data(), img.size());
  ASSERT_TRUE((*ex)->WriteInputImage(0, 0, shifted.data() + 1).ok());
  ASSERT_TRUE((*ex)->Invoke().ok());
  EXPECT_EQ(0, std::memcmp((*ex)->output(), aligned_result.data(), aligned_result.size()));
}

TEST(BatchedSegmentTest, RunAllocatesNothingAndRejectsBadBatches) {
  const Graph g = Load("mobilenet_v2:alpha=0.35,res=96");
  const int n = static_cast<int>(g.nodes.size()), cut = MiddleCut(g);
  auto b = BatchedSegment::Create(g, cut, n, ReferenceBackend(), 4);
  ASSERT_TRUE(b.ok()) << b.status().message();
  std::vector<Bytes> in(5, Bytes(static_cast<size_t>((*b)->input_bytes()))), out(5, Bytes(static_cast<size_t>((*b)->output_bytes())));
  const void* in_ptr[5] = {in[0].data(), in[1].data(), in[2].data(), in[3].data(), in[4].data()};
  void* out_ptr[5] = {out[0].data(), out[1].data(), out[2].data(), out[3].data(), out[4].data()};
  ASSERT_TRUE((*b)->Run({in_ptr, 3}, {out_ptr, 3}).ok());  // warm-up
  const long before = testing::AllocationCount();
  for (int k = 1; k <= 4; ++k) EXPECT_TRUE((*b)->Run({in_ptr, static_cast<size_t>(k)}, {out_ptr, static_cast<size_t>(k)}).ok());
  EXPECT_EQ(testing::AllocationCount() - before, 0);
  EXPECT_FALSE((*b)->Run({in_ptr, 5}, {out_ptr, 5}).ok()) << "more than max_batch";
  EXPECT_FALSE((*b)->Run({in_ptr, 0}, {out_ptr, 0}).ok()) << "empty batch";
  EXPECT_FALSE((*b)->Run({in_ptr, 2}, {out_ptr, 3}).ok()) << "counts differ";
  in_ptr[1] = nullptr;
  EXPECT_FALSE((*b)->Run({in_ptr, 2}, {out_ptr, 2}).ok()) << "null input";
  EXPECT_FALSE(BatchedSegment::Create(g, cut, n, ReferenceBackend(), 0).ok());
  EXPECT_FALSE(BatchedSegment::Create(g, 0, 0, ReferenceBackend(), 2).ok());
}

TEST(BatchCliTest, BenchEngineReportsBatchAndThroughput) {
  const nlohmann::json j =
      testing::RunCliJson("bench-engine mobilenet_v2:alpha=0.35,res=96 --batch 3 --repeat 2 --dtype int8 --format json");
  ASSERT_TRUE(j.is_object());
  for (const char* key : {"schema_version", "median_ms", "min_ms", "p95_ms", "layers", "batch", "images_per_s"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["batch"], 3);
  EXPECT_NEAR(j["images_per_s"].get<double>(), 3000.0 / j["median_ms"].get<double>(), 1e-6 * j["images_per_s"].get<double>());
  std::string out, err;
  EXPECT_NE(testing::RunCli("bench-engine mobilenet_v2:alpha=0.35,res=96 --batch 0", &out, &err), 0);
  EXPECT_NE(err.find("batch"), std::string::npos) << err;
}

}  // namespace
}  // namespace edgesplit
