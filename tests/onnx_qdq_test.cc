// int8 graphs through ONNX's QDQ form: export passes onnx::checker and writes
// no int8 Conv/Gemm/Add; re-import gives the same int8 graph (nodes, tensors,
// quantization parameters) and bit-identical outputs; hostile Quantize/
// DequantizeLinear parameters are clear errors; QDQ patterns edgesplit's int8
// kernels cannot run stay in float.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "edgesplit/quant.h"
#include "graph_builder.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "test_util.h"

namespace edgesplit {
namespace {

Graph Quantized(const Graph& g) {
  Result<Graph> q = Quantize(g, RandomCalibrationSamples(g.tensors[g.inputs[0]], 4, 21));
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? std::move(q).value() : Graph{};
}

void ExpectSameInt8Graph(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    testing::ExpectSameNode(a, a.nodes[i], b, b.nodes[i]);
    for (size_t k = 0; k < a.nodes[i].inputs.size() && k < b.nodes[i].inputs.size(); ++k) {
      const int ta = a.nodes[i].inputs[k], tb = b.nodes[i].inputs[k];
      if (ta == kNoTensor || tb == kNoTensor) continue;
      EXPECT_EQ(a.tensors[ta].quant, b.tensors[tb].quant) << a.nodes[i].name << " input " << k;
    }
    EXPECT_EQ(a.tensors[a.nodes[i].outputs[0]].quant, b.tensors[b.nodes[i].outputs[0]].quant) << a.nodes[i].name;
  }
}

void ExpectSameOutputs(const Graph& a, const Graph& b) {
  const CalibrationSample in = RandomCalibrationSamples(a.tensors[a.inputs[0]], 1, 3)[0];
  auto ra = RunAllTensors(a, in);
  auto rb = RunAllTensors(b, in);
  ASSERT_TRUE(ra.ok() && rb.ok()) << (ra.ok() ? rb.status().message() : ra.status().message());
  EXPECT_EQ((*ra)[a.outputs[0]], (*rb)[b.outputs[0]]);
}

Result<Graph> RoundTrip(const Graph& q, std::string* bytes_out = nullptr) {
  ES_ASSIGN_OR_RETURN(std::string bytes, ExportOnnxBytes(q));
  if (bytes_out) *bytes_out = bytes;
  return ImportOnnxBytes(bytes.data(), bytes.size(), "");
}

TEST(OnnxQdq, QuantizedZooModelsRoundTripToTheSameInt8Graph) {
  for (const char* spec : {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=32"}) {
    SCOPED_TRACE(spec);
    Result<Graph> g = LoadModel(spec);
    ASSERT_TRUE(g.ok());
    Graph q = Quantized(*g);
    std::string bytes;
    Result<Graph> back = RoundTrip(q, &bytes);
    ASSERT_TRUE(back.ok()) << back.status().message();
    onnx::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(bytes));
    EXPECT_NO_THROW(onnx::checker::check_model(model));
    int qdq = 0;
    for (const auto& n : model.graph().node()) qdq += n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear";
    EXPECT_GT(qdq, static_cast<int>(g->nodes.size()));  // every int8 op spelled out
    for (const auto& vi : model.graph().value_info())
      if (vi.type().tensor_type().elem_type() == onnx::TensorProto::INT8) { EXPECT_EQ(vi.name().find("_float"), std::string::npos); }
    ExpectSameInt8Graph(q, *back);
    ExpectSameOutputs(q, *back);
    EXPECT_TRUE(IsQuantized(*back));
  }
}

TEST(OnnxQdq, FloatFallbacksAndAFileRoundTrip) {
  Graph q = Quantized(testing::ResidualNet());
  ASSERT_FALSE(q.nodes.empty());
  const std::string path = testing::MakeTempDir() + "/residual_int8.onnx";
  ASSERT_TRUE(ExportOnnxFile(q, path).ok());
  Result<Graph> back = ImportOnnxFile(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSameInt8Graph(q, *back);
  ExpectSameOutputs(q, *back);
}

// The exported QDQ model of a one-conv net, to be tampered with.
onnx::ModelProto ConvModel(Graph* q_out = nullptr) {
  testing::GraphBuilder b;
  int x = b.Input("x", {1, 3, 8, 8});
  Graph g = b.Finish(b.Conv("c", x, 3, 4, 3, 1, 1, true));
  Graph q = Quantized(g);
  Result<std::string> bytes = ExportOnnxBytes(q);
  EXPECT_TRUE(bytes.ok());
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(*bytes));
  if (q_out) *q_out = std::move(q);
  return m;
}

onnx::TensorProto* Initializer(onnx::ModelProto& m, const std::string& suffix) {
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name().size() >= suffix.size() && t.name().compare(t.name().size() - suffix.size(), suffix.size(), suffix) == 0) return &t;
  return nullptr;
}

Status ImportModelProto(const onnx::ModelProto& m) {
  std::string bytes;
  m.SerializeToString(&bytes);
  return ImportOnnxBytes(bytes.data(), bytes.size(), "").status();
}

TEST(OnnxQdq, HostileScalesAndZeroPointsAreRejectedByName) {
  for (float bad : {0.0f, -0.5f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    onnx::ModelProto m = ConvModel();
    onnx::TensorProto* scale = Initializer(m, "x_quantized_scale");
    ASSERT_NE(scale, nullptr);
    std::memcpy(scale->mutable_raw_data()->data(), &bad, 4);
    Status s = ImportModelProto(m);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("scale"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("Linear"), std::string::npos) << s.message();
  }
  {  // per-axis scales that do not match the weight's output channels
    onnx::ModelProto m = ConvModel();
    onnx::TensorProto* scale = Initializer(m, "c.weight_quantized_scale");
    ASSERT_NE(scale, nullptr);
    scale->set_dims(0, 3);
    scale->mutable_raw_data()->resize(12);
    onnx::TensorProto* zp = Initializer(m, "c.weight_quantized_zero_point");
    zp->set_dims(0, 3);
    zp->mutable_raw_data()->resize(3);
    Status s = ImportModelProto(m);
    ASSERT_FALSE(s.ok());
  }
  {  // zero point and scale of different sizes
    onnx::ModelProto m = ConvModel();
    onnx::TensorProto* zp = Initializer(m, "c.weight_quantized_zero_point");
    ASSERT_NE(zp, nullptr);
    zp->set_dims(0, 2);
    zp->mutable_raw_data()->resize(2);
    EXPECT_FALSE(ImportModelProto(m).ok());
  }
}

TEST(OnnxQdq, PatternsTheInt8KernelsCannotRunStayInFloat) {
  Graph q;
  onnx::ModelProto m = ConvModel(&q);
  // Asymmetric weights (zero point 3): a valid QDQ model, but not TFLite's scheme.
  onnx::TensorProto* zp = Initializer(m, "c.weight_quantized_zero_point");
  ASSERT_NE(zp, nullptr);
  for (char& c : *zp->mutable_raw_data()) c = 3;
  std::string bytes;
  m.SerializeToString(&bytes);
  Result<Graph> g = ImportOnnxBytes(bytes.data(), bytes.size(), "");
  ASSERT_TRUE(g.ok()) << g.status().message();
  const int conv = g->FindNode("c");
  ASSERT_GE(conv, 0);
  EXPECT_EQ(g->tensors[g->nodes[conv].outputs[0]].dtype, DType::kFloat32);
  const CalibrationSample in = RandomCalibrationSamples(q.tensors[q.inputs[0]], 1, 3)[0];
  EXPECT_TRUE(RunAllTensors(*g, in).ok());
  // Untouched, the same file folds back to the int8 conv.
  onnx::ModelProto clean = ConvModel();
  clean.SerializeToString(&bytes);
  Result<Graph> folded = ImportOnnxBytes(bytes.data(), bytes.size(), "");
  ASSERT_TRUE(folded.ok());
  EXPECT_EQ(folded->tensors[folded->nodes[folded->FindNode("c")].outputs[0]].dtype, DType::kInt8);
}

}  // namespace
}  // namespace edgesplit
