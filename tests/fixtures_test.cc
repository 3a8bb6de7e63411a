// The torchvision fixtures (tools/make_fixtures.py): every export imports and
// can be cut, and the zoo builders agree with torchvision's exports on cost
// and on every cut point, so that plans made on zoo models hold for real ones.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "test_util.h"

namespace edgesplit {
namespace {

// The shape stored in a .npy file's header (format versions 1-3), or a
// message saying why it could not be read. Only what the tests need: the
// dtype must be little-endian float32 in C order.
struct NpyHeader {
  Shape shape;
  std::string error;
};

NpyHeader ReadNpyShape(const std::string& path) {
  NpyHeader h;
  const std::string bytes = testing::ReadFile(path);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    h.error = path + ": not a .npy file";
    return h;
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len =
        static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    header_start = 10;
  } else {
    if (bytes.size() < 12) {
      h.error = path + ": truncated header";
      return h;
    }
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  }
  if (header_start + header_len > bytes.size()) {
    h.error = path + ": header runs past the end of the file";
    return h;
  }
  const std::string header = bytes.substr(header_start, header_len);
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    h.error = path + ": expected C-order little-endian float32, header " + header;
    return h;
  }
  size_t open = header.find("'shape': (");
  size_t close = open == std::string::npos ? open : header.find(')', open);
  if (close == std::string::npos) {
    h.error = path + ": no shape in header " + header;
    return h;
  }
  // "(1, 1000)" or "(5,)": comma-separated integers, possibly a trailing comma.
  const char* p = header.c_str() + open + std::strlen("'shape': (");
  const char* end = header.c_str() + close;
  while (p < end) {
    char* next = nullptr;
    long long dim = std::strtoll(p, &next, 10);
    if (next == p) break;
    h.shape.push_back(dim);
    p = next;
    while (p < end && (*p == ',' || *p == ' ')) ++p;
  }
  return h;
}

Result<Graph> ImportFixture(const std::string& path) {
  Result<Graph> g = ImportOnnxFile(path);
  if (!g.ok()) return g.status().WithContext(path);
  return g;
}

// ---- Every fixture ----------------------------------------------------------

class FixtureModelTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureModelTest, ImportsWithCutsAndTorchShapes) {
  const std::string name = GetParam();
  ES_REQUIRE_FIXTURE(path, name + ".onnx");
  // The external-data copy shares its reference tensors with its source model.
  const std::string npy_base = name == "resnet18_external" ? "resnet18" : name;
  ES_REQUIRE_FIXTURE(input_npy, npy_base + ".input.npy");
  ES_REQUIRE_FIXTURE(output_npy, npy_base + ".output.npy");

  Result<Graph> g = ImportFixture(path);
  ASSERT_TRUE(g.ok()) << g.status().message();
  Result<std::vector<CutPoint>> cuts = FindCutPoints(*g);
  ASSERT_TRUE(cuts.ok()) << name << ": " << cuts.status().message();
  // At least the model input, the model output and one cut in between.
  EXPECT_GE(cuts->size(), 3u) << name;

  NpyHeader in = ReadNpyShape(input_npy), out = ReadNpyShape(output_npy);
  ASSERT_TRUE(in.error.empty()) << in.error;
  ASSERT_TRUE(out.error.empty()) << out.error;
  ASSERT_EQ(g->inputs.size(), 1u);
  ASSERT_EQ(g->outputs.size(), 1u);
  EXPECT_EQ(g->tensors[static_cast<size_t>(g->inputs[0])].shape, in.shape) << name;
  EXPECT_EQ(g->tensors[static_cast<size_t>(g->outputs[0])].shape, out.shape) << name;
  EXPECT_EQ(cuts->front().shape, in.shape) << name;
  EXPECT_EQ(cuts->back().shape, out.shape) << name;
}

INSTANTIATE_TEST_SUITE_P(Torchvision, FixtureModelTest,
                         ::testing::Values("mobilenet_v2", "mobilenet_v2_035", "resnet18", "resnet50",
                                           "efficientnet_b0", "mobilenet_v3_small", "shufflenet_v2_x0_5",
                                           "squeezenet1_1", "resnet18_external"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST(FixturesTest, ExternalDataLoadsTheSameWeights) {
  ES_REQUIRE_FIXTURE(inline_path, "resnet18.onnx");
  ES_REQUIRE_FIXTURE(external_path, "resnet18_external.onnx");
  Result<Graph> a = ImportFixture(inline_path), b = ImportFixture(external_path);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  int constants = 0;
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    const Tensor &ta = a->tensors[i], &tb = b->tensors[i];
    EXPECT_EQ(ta.name, tb.name);
    EXPECT_EQ(ta.shape, tb.shape) << ta.name;
    EXPECT_EQ(ta.is_constant, tb.is_constant) << ta.name;
    if (ta.is_constant) {
      ++constants;
      EXPECT_TRUE(ta.data == tb.data) << ta.name << " differs between inline and external data";
    }
  }
  EXPECT_GT(constants, 20);
}

// ---- Zoo vs torchvision -----------------------------------------------------

struct ParityCase {
  const char* fixture;
  const char* zoo_spec;
};

class ZooParityTest : public ::testing::TestWithParam<ParityCase> {
 protected:
  // Loads both models; a missing fixture skips (or fails, in CI) the test.
  void SetUp() override {
    ES_REQUIRE_FIXTURE(path, std::string(GetParam().fixture) + ".onnx");
    Result<Graph> exported = ImportFixture(path);
    ASSERT_TRUE(exported.ok()) << exported.status().message();
    Result<Graph> zoo = LoadModel(GetParam().zoo_spec);
    ASSERT_TRUE(zoo.ok()) << zoo.status().message();
    exported_ = std::move(exported).value();
    zoo_ = std::move(zoo).value();
  }

  Graph exported_, zoo_;
};

TEST_P(ZooParityTest, SameCost) {
  ModelSummary e = Summarize(exported_), z = Summarize(zoo_);
  EXPECT_EQ(z.input_shape, e.input_shape);
  EXPECT_EQ(z.total_macs, e.total_macs);
  EXPECT_EQ(z.total_params, e.total_params);
  EXPECT_EQ(z.total_weight_bytes_int8, e.total_weight_bytes_int8);
}

TEST_P(ZooParityTest, SameCutPoints) {
  Result<std::vector<CutPoint>> e = FindCutPoints(exported_), z = FindCutPoints(zoo_);
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_TRUE(z.ok()) << z.status().message();
  // Compare whole sequences so a mismatch shows where the two diverge.
  std::vector<int64_t> e_elements, z_elements, e_positions, z_positions, e_head_macs, z_head_macs;
  std::vector<Shape> e_shapes, z_shapes;
  for (const CutPoint& c : *e) {
    e_elements.push_back(c.elements);
    e_shapes.push_back(c.shape);
    e_positions.push_back(c.position);
    e_head_macs.push_back(c.head_macs);
  }
  for (const CutPoint& c : *z) {
    z_elements.push_back(c.elements);
    z_shapes.push_back(c.shape);
    z_positions.push_back(c.position);
    z_head_macs.push_back(c.head_macs);
  }
  EXPECT_EQ(z_elements, e_elements);
  EXPECT_EQ(z_shapes, e_shapes);
  EXPECT_EQ(z_positions, e_positions);
  EXPECT_EQ(z_head_macs, e_head_macs);
}

// Same canonical node sequence: op types and fused activations, node by node.
TEST_P(ZooParityTest, SameNodeSequence) {
  auto describe = [](const Graph& g) {
    std::vector<std::string> out;
    for (const Node& n : g.nodes) {
      std::string d = OpTypeName(n.op);
      if (n.activation.kind == ActivationKind::kRelu) d += "+Relu";
      if (n.activation.kind == ActivationKind::kClip) d += "+Clip";
      out.push_back(d);
    }
    return out;
  };
  EXPECT_EQ(describe(zoo_), describe(exported_));
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ZooParityTest,
                         ::testing::Values(ParityCase{"mobilenet_v2", "mobilenet_v2"},
                                           ParityCase{"mobilenet_v2_035", "mobilenet_v2:alpha=0.35"},
                                           ParityCase{"resnet18", "resnet18"},
                                           ParityCase{"resnet50", "resnet50"}),
                         [](const ::testing::TestParamInfo<ParityCase>& info) {
                           return std::string(info.param.fixture);
                         });

}  // namespace
}  // namespace edgesplit
