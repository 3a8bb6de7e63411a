// ONNX import of crafted models: legacy forms, constant folding, storage forms,
// external data, and hostile files that must fail with a message naming the
// culprit (and never crash).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "edgesplit/graph.h"
#include "edgesplit/onnx.h"
#include "onnx/onnx_pb.h"
#include "onnx_test_models.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using M = testing::OnnxModelBuilder;
using testing::LegacyFormsModel;
using testing::Opset18FormsModel;
using testing::TorchFlattenModel;
M ConvRelu(int64_t opset = 17) { return testing::ConvReluModel(opset); }

// Fails with a message containing every one of `parts`.
#define EXPECT_IMPORT_ERROR(result, ...)                                                      \
  do {                                                                                        \
    const auto& r_ = (result);                                                                \
    ASSERT_FALSE(r_.ok()) << "import unexpectedly succeeded";                                 \
    for (const char* part : {__VA_ARGS__})                                                    \
      EXPECT_NE(r_.status().message().find(part), std::string::npos)                          \
          << "message '" << r_.status().message() << "' does not mention '" << part << "'";   \
  } while (0)

// ---- well-formed models -----------------------------------------------------------

TEST(OnnxImportTest, ImportsAndCanonicalizes) {
  Result<Graph> g = ConvRelu().Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].name, "conv");
  EXPECT_EQ(g->nodes[0].aliases, std::vector<std::string>{"relu"});
  EXPECT_EQ(g->nodes[0].activation.kind, ActivationKind::kRelu);
  EXPECT_EQ(g->tensors[g->outputs[0]].name, "y");
  EXPECT_EQ(g->tensors[g->outputs[0]].shape, (Shape{1, 4, 8, 8}));

  OnnxImportOptions raw;
  raw.canonicalize = false;
  g = ConvRelu().Import("", raw);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->nodes.size(), 2u);
}

TEST(OnnxImportTest, DeadNodesDoNotBlockFusion) {
  // A dead Relu also reads the Conv's output (found by the fuzzer: the export
  // drops it, so a re-import fused the activation and had one node fewer).
  M b = ConvRelu();
  b.Node("Relu", "dead", {"c"}, {"unused"});
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].activation.kind, ActivationKind::kRelu);
}

TEST(OnnxImportTest, SymbolicDimsTakeTheOptionValue) {
  M b = ConvRelu();
  b.g()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  b.g()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  OnnxImportOptions options;
  options.symbolic_dim_value = 4;
  Result<Graph> g = b.Import("", options);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->tensors[g->inputs[0]].shape, (Shape{4, 3, 8, 8}));
  EXPECT_EQ(g->tensors[g->outputs[0]].shape, (Shape{4, 4, 8, 8}));
}

TEST(OnnxImportTest, InputThatIsAnInitializerIsAConstant) {
  M b = ConvRelu(9);
  b.Input("W", {4, 3, 3, 3});  // old exporters list weights as inputs too
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->tensors[g->inputs[0]].name, "x");
  EXPECT_TRUE(g->tensors[g->FindTensor("W")].is_constant);
}

TEST(OnnxImportTest, FoldsTorchFlattenShapeSubgraph) {
  // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])), as torch writes x.view(x.size(0), -1).
  M b = TorchFlattenModel();
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].op, OpType::kReshape);
  const Tensor& target = g->tensors[g->nodes[0].inputs[1]];
  ASSERT_TRUE(target.is_constant);
  ASSERT_EQ(target.shape, Shape{2});
  EXPECT_EQ(target.data_as<int64_t>()[0], 2);
  EXPECT_EQ(target.data_as<int64_t>()[1], -1);
  // Nothing but the graph's own tensors is left behind.
  EXPECT_EQ(g->tensors.size(), 3u);
}

TEST(OnnxImportTest, FoldsSliceAndArithmeticOnConstants) {
  M b(13);
  b.Input("x", {1, 6});
  b.Init("table", {2, 3}, {1, 2, 3, 4, 5, 6});
  b.Ints("starts", {1, 2});
  b.Ints("ends", {-100, -4});
  b.Ints("axes", {0, 1});
  b.Ints("steps", {-1, -1});
  b.Node("Slice", "slice", {"table", "starts", "ends", "axes", "steps"}, {"rev"});  // [[6,5],[3,2]]... reversed
  b.Init("two", {}, {2.0f});
  b.Node("Mul", "double", {"rev", "two"}, {"rev2"});
  b.Ints("flat", {1, 6});
  b.Node("Reshape", "flatten", {"rev2", "flat"}, {"k"});
  b.Node("Add", "add", {"x", "k"}, {"y"});
  b.Output("y", {1, 6});
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 1u);
  const Tensor& k = g->tensors[g->nodes[0].inputs[1]];
  ASSERT_EQ(k.shape, (Shape{1, 6}));
  const float expected[] = {12, 10, 8, 6, 4, 2};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(k.data_as<float>()[i], expected[i]) << i;
}

TEST(OnnxImportTest, CastOfRunTimeTensorsOnlyAsIdentity) {
  for (int to : {onnx::TensorProto::FLOAT, onnx::TensorProto::INT8}) {
    M b = ConvRelu();
    b.g()->mutable_node(1)->set_output(0, "r");
    M::Attr(b.Node("Cast", "cast", {"r"}, {"y"}), "to", int64_t{to});
    Result<Graph> g = b.Import();
    if (to == onnx::TensorProto::FLOAT) {
      ASSERT_TRUE(g.ok()) << g.status().message();
      EXPECT_EQ(g->nodes.size(), 1u);  // the identity is gone
      EXPECT_EQ(g->tensors[g->outputs[0]].name, "y");
    } else {
      EXPECT_IMPORT_ERROR(g, "'cast'", "int8");
    }
  }
}

TEST(OnnxImportTest, IntegerDivisionByZeroWhileFoldingIsAnError) {
  M b(13);
  b.Input("x", {2, 3});
  b.Ints("a", {6});
  b.Ints("zero", {0});
  b.Node("Div", "bad_div", {"a", "zero"}, {"q"});
  b.Node("Reshape", "r", {"x", "q"}, {"y"});
  b.Output("y", {6});
  EXPECT_IMPORT_ERROR(b.Import(), "bad_div", "division");
}

TEST(OnnxImportTest, LegacyAttributeFormsBecomeInputs) {
  // Opset 9: Slice, Pad, Squeeze/Unsqueeze and Split with attributes; opset 10 Clip.
  M b = LegacyFormsModel();
  OnnxImportOptions raw;
  raw.canonicalize = false;
  Result<Graph> g = b.Import("", raw);
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto const_input = [&](const std::string& node, size_t index) -> const Tensor* {
    int n = g->FindNode(node);
    if (n < 0 || !g->nodes[n].HasInput(index)) return nullptr;
    const Tensor* t = &g->tensors[g->nodes[n].inputs[index]];
    return t->is_constant ? t : nullptr;
  };
  for (auto [node, index] : {std::pair{"slice", 1}, {"slice", 2}, {"slice", 3}, {"pad", 1}, {"pad", 2}, {"split", 1},
                             {"unsq", 1}, {"sq", 1}, {"clip", 1}, {"clip", 2}}) {
    const Tensor* t = const_input(node, index);
    ASSERT_NE(t, nullptr) << node << " input " << index;
    EXPECT_TRUE(g->nodes[g->FindNode(node)].attrs.empty() || std::string(node) == "split") << node;
  }
  EXPECT_EQ(const_input("clip", 2)->data_as<float>()[0], 6.0f);
  EXPECT_EQ(const_input("pad", 2)->data_as<float>()[0], 0.5f);
}

TEST(OnnxImportTest, OldSoftmaxOnlyWhereItEqualsTheNewOne) {
  using Dims = std::vector<int64_t>;
  for (auto [dims, ok] : {std::pair{Dims{1, 10, 1, 1}, true}, std::pair{Dims{1, 10, 2, 2}, false}}) {
    M b(11);
    b.Input("x", dims);
    b.Node("Softmax", "old_softmax", {"x"}, {"y"});  // default axis 1: flattens C*H*W
    b.Output("y", dims);
    Result<Graph> g = b.Import();
    if (ok) {
      ASSERT_TRUE(g.ok()) << g.status().message();
      EXPECT_EQ(g->nodes[0].GetInt("axis", -1), 1);
    } else {
      EXPECT_IMPORT_ERROR(g, "old_softmax", "opset 13");
      EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    }
  }
}

TEST(OnnxImportTest, Opset18FormsBecomeOpset17Forms) {
  M b = Opset18FormsModel();
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  const Node& mean = g->nodes[g->FindNode("mean")];
  EXPECT_EQ(mean.GetInts("axes"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(mean.inputs.size(), 1u);
  EXPECT_EQ(g->nodes[g->FindNode("split")].FindAttr("num_outputs"), nullptr);
  const Node& pad = g->nodes[g->FindNode("pad")];
  ASSERT_EQ(pad.inputs.size(), 3u);
  EXPECT_EQ(pad.inputs[2], kNoTensor);  // "" -> omitted optional input
  EXPECT_EQ(g->tensors[pad.inputs[1]].num_elements(), 8);
}

TEST(OnnxImportTest, UnreadTrainingOutputsAreDropped) {
  M b(7);  // BatchNormalization-7 still has 'spatial'
  b.Input("x", {1, 2, 3, 3});
  for (const char* p : {"scale", "bias", "mean", "var"}) b.Init(p, {2}, {1.0f, 1.0f});
  auto* bn = b.Node("BatchNormalization", "bn", {"x", "scale", "bias", "mean", "var"},
                    {"b", "running_mean", "running_var", "saved_mean", "saved_var"});
  M::Attr(bn, "spatial", int64_t{1});
  auto* drop = b.Node("Dropout", "drop", {"b"}, {"y", "mask"});
  M::Attr(drop, "ratio", 0.25f);
  b.Output("y", {1, 2, 3, 3});
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->nodes.size(), 1u);  // Dropout removed by the canonical pipeline
}

TEST(OnnxImportTest, InitializerStorageForms) {
  M b(13);
  b.Input("x", {4});
  auto* f = b.g()->add_initializer();
  f->set_name("f");
  f->set_data_type(onnx::TensorProto::FLOAT);
  f->add_dims(4);
  for (float v : {1.f, 2.f, 3.f, 4.f}) f->add_float_data(v);
  auto* i8 = b.g()->add_initializer();
  i8->set_name("i8");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(2);
  i8->add_int32_data(-128);
  i8->add_int32_data(127);
  auto* u8 = b.g()->add_initializer();
  u8->set_name("u8");
  u8->set_data_type(onnx::TensorProto::UINT8);
  u8->add_dims(1);
  u8->add_int32_data(255);
  b.Node("Add", "add", {"x", "f"}, {"y"});
  b.Output("y", {4});
  Result<Graph> g = b.Import("", {.canonicalize = false});
  ASSERT_TRUE(g.ok()) << g.status().message();
  const Tensor& ft = g->tensors[g->nodes.back().inputs[1]];
  EXPECT_EQ(ft.data_as<float>()[3], 4.0f);

  u8->set_int32_data(0, 256);
  EXPECT_IMPORT_ERROR(b.Import(), "'u8'", "256");
  u8->set_int32_data(0, 1);
  f->add_float_data(5.f);
  EXPECT_IMPORT_ERROR(b.Import(), "'f'", "float_data", "5");
  f->clear_float_data();
  f->set_raw_data(std::string(16, '\0'));
  f->add_float_data(1.f);
  EXPECT_IMPORT_ERROR(b.Import(), "'f'", "more than one form");
}

TEST(OnnxImportTest, RestoresAliasesFromMetadata) {
  M b = ConvRelu();
  auto* prop = b.m.add_metadata_props();
  prop->set_key("edgesplit.aliases.conv");
  prop->set_value("bn\\;1;relu;");
  Result<Graph> g = b.Import();
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->nodes[0].aliases, (std::vector<std::string>{"bn;1", "relu"}));
  prop->set_value("unterminated");
  EXPECT_IMPORT_ERROR(b.Import(), "edgesplit.aliases.conv");
}

// ---- external data ------------------------------------------------------------------

class OnnxExternalDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    std::vector<float> w(108, 0.5f);
    testing::WriteFile(dir_ + "/weights.bin",
                       std::string(8, 'x') + std::string(reinterpret_cast<const char*>(w.data()), w.size() * 4));
  }
  // ConvRelu with W as external data at `location`.
  M Model(const std::string& location, const std::string& offset = "8", const std::string& length = "") {
    M b = ConvRelu();
    auto* w = b.g()->mutable_initializer(0);
    w->clear_raw_data();
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const std::string& k, const std::string& v) {
      auto* e = w->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", location);
    if (!offset.empty()) add("offset", offset);
    if (!length.empty()) add("length", length);
    return b;
  }
  std::string dir_;
};

TEST_F(OnnxExternalDataTest, ReadsDataInsideTheModelFolder) {
  Result<Graph> g = Model("weights.bin", "8", "432").Import(dir_);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const Tensor& w = g->tensors[g->nodes[0].inputs[1]];
  EXPECT_EQ(w.data_as<float>()[107], 0.5f);
  // Through ImportOnnxFile the folder is the model's.
  testing::WriteFile(dir_ + "/model.onnx", Model("weights.bin").Bytes());
  EXPECT_TRUE(ImportOnnxFile(dir_ + "/model.onnx").ok());
}

TEST_F(OnnxExternalDataTest, RefusesPathsLeavingTheFolder) {
  EXPECT_IMPORT_ERROR(Model("../weights.bin").Import(dir_), "'W'", "../weights.bin", "..");
  EXPECT_IMPORT_ERROR(Model("sub/../../x").Import(dir_), "'W'", "..");
  EXPECT_IMPORT_ERROR(Model("/etc/passwd", "0").Import(dir_), "'W'", "/etc/passwd", "absolute");
  // A symlink inside the folder that points outside it.
  const std::string outside = testing::MakeTempDir();
  testing::WriteFile(outside + "/secret.bin", std::string(440, 's'));
  ASSERT_EQ(symlink((outside + "/secret.bin").c_str(), (dir_ + "/link.bin").c_str()), 0);
  EXPECT_IMPORT_ERROR(Model("link.bin").Import(dir_), "'W'", "link.bin", "outside");
  ASSERT_EQ(symlink(outside.c_str(), (dir_ + "/linkdir").c_str()), 0);
  EXPECT_IMPORT_ERROR(Model("linkdir/secret.bin").Import(dir_), "'W'", "outside");
  // No folder at all (a model from memory).
  EXPECT_IMPORT_ERROR(Model("weights.bin").Import(""), "'W'", "not allowed");
}

TEST_F(OnnxExternalDataTest, RefusesBadOffsetsAndLengths) {
  EXPECT_IMPORT_ERROR(Model("weights.bin", "100000").Import(dir_), "'W'", "offset 100000", "beyond");
  EXPECT_IMPORT_ERROR(Model("weights.bin", "8", "1000").Import(dir_), "'W'", "beyond");
  EXPECT_IMPORT_ERROR(Model("weights.bin", "0").Import(dir_), "'W'", "440 bytes", "432");
  EXPECT_IMPORT_ERROR(Model("weights.bin", "-8").Import(dir_), "'W'", "offset");
  EXPECT_IMPORT_ERROR(Model("weights.bin", "8x").Import(dir_), "'W'", "offset");
  EXPECT_IMPORT_ERROR(Model("missing.bin").Import(dir_), "'W'", "missing.bin");
  EXPECT_IMPORT_ERROR(Model("").Import(dir_), "'W'", "location");
  std::filesystem::create_directory(dir_ + "/sub");
  EXPECT_IMPORT_ERROR(Model("sub").Import(dir_), "'W'", "regular file");
}

TEST_F(OnnxExternalDataTest, TensorsCannotReadTheSameBytesTwice) {
  // Many tensors naming one file would otherwise multiply it in memory.
  M b = Model("weights.bin", "8", "432");
  *b.g()->add_initializer() = b.g()->initializer(0);
  b.g()->mutable_initializer(1)->set_name("W_again");
  EXPECT_IMPORT_ERROR(b.Import(dir_), "'W_again'", "share");
}

// ---- hostile and broken files ----------------------------------------------------------

TEST(OnnxHostileTest, EmptyAndRandomBytes) {
  EXPECT_IMPORT_ERROR(ImportOnnxBytes("", 0, ""), "not a valid ONNX model");
  Rng rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng.Next() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(rng.Next());
    EXPECT_FALSE(ImportOnnxBytes(bytes.data(), bytes.size(), "").ok());
  }
  EXPECT_IMPORT_ERROR(ImportOnnxBytes("\xff\xff\xff", 3, ""), "not a valid ONNX model");
}

TEST(OnnxHostileTest, EveryTruncationFailsAndByteFlipsNeverCrash) {
  const std::string full = ConvRelu().Bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    Result<Graph> g = ImportOnnxBytes(full.data(), n, "");
    EXPECT_FALSE(g.ok()) << "a " << n << "-byte prefix of " << full.size() << " imported";
  }
  EXPECT_TRUE(ImportOnnxBytes(full.data(), full.size(), "").ok());
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bytes = full;
      bytes[i] = static_cast<char>(bytes[i] ^ mask);
      Result<Graph> g = ImportOnnxBytes(bytes.data(), bytes.size(), "");  // any result, no crash
      if (g.ok()) {
        EXPECT_TRUE(g->Validate().ok());
      }
    }
  }
}

TEST(OnnxHostileTest, FileSizeLimit) {
  OnnxImportOptions options;
  options.max_file_bytes = 10;
  EXPECT_IMPORT_ERROR(ConvRelu().Import("", options), "limit");
  const std::string path = testing::MakeTempDir() + "/m.onnx";
  testing::WriteFile(path, ConvRelu().Bytes());
  EXPECT_IMPORT_ERROR(ImportOnnxFile(path, options), "m.onnx", "limit");
  EXPECT_IMPORT_ERROR(ImportOnnxFile(path + ".missing"), "m.onnx.missing");
}

TEST(OnnxHostileTest, UnsupportedOpsDomainsAndOpsets) {
  M b = ConvRelu();
  b.g()->mutable_node(1)->set_op_type("Tanh");
  Result<Graph> g = b.Import();
  EXPECT_IMPORT_ERROR(g, "'relu'", "Tanh");
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);

  b = ConvRelu();
  b.g()->mutable_node(0)->set_domain("com.microsoft");
  EXPECT_IMPORT_ERROR(b.Import(), "'conv'", "com.microsoft");

  EXPECT_IMPORT_ERROR(ConvRelu(19).Import(), "opset 19");
  EXPECT_IMPORT_ERROR(ConvRelu(6).Import(), "opset 6");
  b = ConvRelu();
  b.m.mutable_opset_import(0)->set_domain("ai.onnx.ml");
  EXPECT_IMPORT_ERROR(b.Import(), "opset_import");
  b = ConvRelu();
  b.m.clear_graph();
  EXPECT_IMPORT_ERROR(b.Import(), "no graph");
}

TEST(OnnxHostileTest, NodesMustMatchTheOnnxSchema) {
  M b = ConvRelu();
  M::Attr(b.g()->mutable_node(0), "kernel_siape", std::vector<int64_t>{3, 3});
  EXPECT_IMPORT_ERROR(b.Import(), "'conv'", "kernel_siape");
  b = ConvRelu();
  M::Attr(b.g()->mutable_node(0), "group", 1.5f);  // an int attribute given as float
  EXPECT_IMPORT_ERROR(b.Import(), "'conv'", "group");
  b = ConvRelu();
  b.g()->mutable_node(1)->add_input("c");  // Relu takes one input
  EXPECT_IMPORT_ERROR(b.Import(), "'relu'");
  b = ConvRelu(13);
  b.g()->mutable_node(1)->set_op_type("HardSwish");  // only from opset 14
  EXPECT_IMPORT_ERROR(b.Import(), "'relu'", "HardSwish", "opset 13");
}

TEST(OnnxHostileTest, ShapeMismatchNamesTheNode) {
  M b = ConvRelu();
  b.g()->mutable_initializer(0)->clear_dims();
  for (int64_t d : {4, 2, 3, 3}) b.g()->mutable_initializer(0)->add_dims(d);
  b.g()->mutable_initializer(0)->set_raw_data(std::string(72 * 4, '\0'));
  EXPECT_IMPORT_ERROR(b.Import(), "'conv'", "channels");
  // The declared output shape disagrees with what the model computes.
  b = ConvRelu();
  b.g()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(2)->set_dim_value(9);
  EXPECT_IMPORT_ERROR(b.Import(), "'y'", "[1,4,9,8]", "[1,4,8,8]");
}

TEST(OnnxHostileTest, BadTensorsNameTheTensor) {
  M b = ConvRelu();
  b.g()->mutable_initializer(0)->set_raw_data(std::string(100, '\0'));
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "raw_data", "100");
  b = ConvRelu();
  b.g()->mutable_initializer(0)->set_dims(1, -3);
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "negative");
  b = ConvRelu();
  b.g()->mutable_initializer(0)->set_dims(0, int64_t{1} << 40);
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "elements");
  // Empty, but with dims whose product overflows int64 in later size arithmetic.
  b = ConvRelu();
  b.g()->mutable_initializer(0)->clear_dims();
  for (int64_t d : {int64_t{0}, int64_t{1} << 40, int64_t{1} << 40}) b.g()->mutable_initializer(0)->add_dims(d);
  b.g()->mutable_initializer(0)->clear_raw_data();
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "elements");
  b = ConvRelu();
  b.g()->mutable_initializer(0)->set_data_type(onnx::TensorProto::DOUBLE);
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "DOUBLE");
  b = ConvRelu();
  b.g()->mutable_initializer(0)->set_data_type(12345);
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "12345");
  // Graph inputs: negative, huge, unknown rank, unsupported dtype.
  b = ConvRelu();
  b.g()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-3);
  EXPECT_IMPORT_ERROR(b.Import(), "'x'", "negative");
  b = ConvRelu();
  for (int d : {2, 3})
    b.g()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(d)->set_dim_value(
        int64_t{1} << 40);
  EXPECT_IMPORT_ERROR(b.Import(), "'x'", "elements");
  b = ConvRelu();
  b.g()->mutable_input(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  EXPECT_IMPORT_ERROR(b.Import(), "'x'", "unknown rank");
  b = ConvRelu();
  b.g()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT16);
  EXPECT_IMPORT_ERROR(b.Import(), "'x'", "FLOAT16");
}

TEST(OnnxHostileTest, BrokenGraphStructure) {
  // A cycle: relu reads its own consumer's output.
  M b = ConvRelu();
  b.g()->mutable_node(0)->set_input(0, "y");
  EXPECT_IMPORT_ERROR(b.Import(), "cycle");
  // An undefined tensor.
  b = ConvRelu();
  b.g()->mutable_node(1)->set_input(0, "nowhere");
  EXPECT_IMPORT_ERROR(b.Import(), "'relu'", "'nowhere'", "not defined");
  // Two nodes writing the same tensor.
  b = ConvRelu();
  b.Node("Relu", "relu_again", {"x"}, {"c"});
  EXPECT_IMPORT_ERROR(b.Import(), "'c'", "relu_again");
  // A node output shadowing an input.
  b = ConvRelu();
  b.g()->mutable_node(1)->set_output(0, "x");
  EXPECT_IMPORT_ERROR(b.Import(), "'x'", "graph input");
  // Outputs listed twice, never produced, or constant.
  b = ConvRelu();
  b.Output("y", {1, 4, 8, 8});
  EXPECT_IMPORT_ERROR(b.Import(), "'y'", "twice");
  b = ConvRelu();
  b.Output("ghost", {1});
  EXPECT_IMPORT_ERROR(b.Import(), "'ghost'");
  b = ConvRelu();
  b.Output("W", {4, 3, 3, 3});
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "constant");
  // Duplicate initializers and inputs.
  b = ConvRelu();
  b.Init("W", {1}, {1.0f});
  EXPECT_IMPORT_ERROR(b.Import(), "'W'", "twice");
  b = ConvRelu();
  b.Input("x", {1, 3, 8, 8});
  EXPECT_IMPORT_ERROR(b.Import(), "'x'", "twice");
}

TEST(OnnxHostileTest, UnsortedNodesAreSortedAndDuplicateNodeNamesRenamed) {
  M b = ConvRelu();
  b.g()->mutable_node()->SwapElements(0, 1);
  b.g()->mutable_node(0)->set_name("conv");  // now both are called "conv"
  OnnxImportOptions raw;
  raw.canonicalize = false;
  Result<Graph> g = b.Import("", raw);
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->nodes[0].op, OpType::kConv);
  EXPECT_NE(g->nodes[0].name, g->nodes[1].name);
}

}  // namespace
}  // namespace edgesplit
