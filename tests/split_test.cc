// Splitting a model at every cut, exporting each side as ONNX and importing it
// back chains to the original graph: same nodes, weights and shapes. Also the
// CLI contract of `inspect` and `split`.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using edgesplit::testing::MakeTempDir;
using edgesplit::testing::ExpectSameNode;
using edgesplit::testing::ReadFile;
using edgesplit::testing::RunCli;

class SplitChain : public ::testing::TestWithParam<const char*> {};

TEST_P(SplitChain, EverySegmentReimportsAndChainsBack) {
  auto model = LoadModel(GetParam());
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Graph& g = *model;
  auto cuts = FindCutPoints(g);
  ASSERT_TRUE(cuts.ok());
  ASSERT_GT(cuts->size(), 3u);
  const int end = static_cast<int>(g.nodes.size());
  for (size_t k = 1; k + 1 < cuts->size(); ++k) {
    const CutPoint& cut = (*cuts)[k];
    SCOPED_TRACE("cut " + std::to_string(k) + " after " + cut.after);
    std::vector<Graph> parts;
    for (auto [begin, stop] : {std::pair{0, cut.position}, std::pair{cut.position, end}}) {
      auto seg = ExtractSegment(g, begin, stop);
      ASSERT_TRUE(seg.ok()) << seg.status().message();
      auto bytes = ExportOnnxBytes(*seg);
      ASSERT_TRUE(bytes.ok()) << bytes.status().message();
      auto back = ImportOnnxBytes(bytes->data(), bytes->size(), "");
      ASSERT_TRUE(back.ok()) << back.status().message();
      parts.push_back(std::move(back).value());
    }
    // The head ends and the tail starts with the cut tensor.
    const Tensor& head_out = parts[0].tensors[parts[0].outputs[0]];
    const Tensor& tail_in = parts[1].tensors[parts[1].inputs[0]];
    EXPECT_EQ(head_out.shape, cut.shape);
    EXPECT_EQ(tail_in.shape, cut.shape);
    EXPECT_EQ(head_out.name, tail_in.name);
    // Head nodes then tail nodes are the original nodes.
    ASSERT_EQ(parts[0].nodes.size() + parts[1].nodes.size(), g.nodes.size());
    for (int n = 0; n < end; ++n) {
      const bool in_head = n < cut.position;
      const Graph& part = parts[in_head ? 0 : 1];
      ExpectSameNode(g, g.nodes[n], part, part.nodes[in_head ? n : n - cut.position]);
      if (::testing::Test::HasFailure()) return;  // one broken cut is enough to read
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, SplitChain,
                         ::testing::Values("mobilenet_v2:alpha=0.35,res=96", "resnet18:res=64"),
                         [](const auto& info) { return std::string(info.index == 0 ? "MobileNetV2" : "ResNet18"); });

TEST(Cli, InspectJsonKeepsTheContract) {
  std::string out, err;
  ASSERT_EQ(RunCli("inspect mobilenet_v2:alpha=0.35,res=224 --format json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  for (const char* key : {"schema_version", "model", "input_shape", "total_macs", "total_params", "layers", "cut_points"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["input_shape"], nlohmann::json::parse("[1,3,224,224]"));
  for (const char* key : {"name", "op", "output_shape", "macs", "params"}) EXPECT_TRUE(j["layers"][0].contains(key)) << key;
  bool found = false;
  for (const auto& c : j["cut_points"]) {
    for (const char* key : {"index", "after", "aliases", "shape", "bytes_f32", "bytes_int8", "head_macs",
                            "head_weight_bytes_int8", "head_arena_bytes_int8", "tail_arena_bytes_int8",
                            "bottleneck_loose", "bottleneck_strict"})
      ASSERT_TRUE(c.contains(key)) << key;
    for (const auto& alias : c["aliases"]) {
      if (alias != "block_16_project_BN") continue;
      found = true;
      EXPECT_EQ(c["bytes_int8"], 5488);
      EXPECT_EQ(c["shape"], nlohmann::json::parse("[1,112,7,7]"));
    }
  }
  EXPECT_TRUE(found);
  const double macs = j["total_macs"].get<double>();
  EXPECT_NEAR(macs, 59.3e6, 0.03 * 59.3e6);
}

TEST(Cli, InspectCsvAndTable) {
  std::string out, err;
  ASSERT_EQ(RunCli("inspect resnet18:res=64 --format csv", &out, &err), 0) << err;
  EXPECT_EQ(out.substr(0, out.find('\n')),
            "index,after,shape,bytes_f32,bytes_int8,head_macs,head_weight_bytes_int8,head_arena_bytes_int8,"
            "tail_arena_bytes_int8,bottleneck_loose,bottleneck_strict");
  ASSERT_EQ(RunCli("inspect resnet18:res=64 --layers", &out, &err), 0) << err;
  EXPECT_NE(out.find("conv2_block1_add"), std::string::npos);
  EXPECT_NE(out.find("Add+Relu"), std::string::npos);
}

TEST(Cli, SplitWritesSegmentsAndManifest) {
  std::string dir = MakeTempDir(), out, err;
  ASSERT_EQ(RunCli("split mobilenet_v2:alpha=0.35,res=96 --split block_13_project_BN,3 -o " + dir, &out, &err), 0) << err;
  auto manifest = nlohmann::json::parse(ReadFile(dir + "/manifest.json"));
  EXPECT_EQ(manifest["schema_version"], 1);
  ASSERT_EQ(manifest["segments"].size(), 3u);
  ASSERT_EQ(manifest["cut_tensors"].size(), 2u);
  EXPECT_EQ(manifest["cut_tensors"][0]["index"], 3);  // sorted into model order
  int64_t macs = 0;
  for (const auto& s : manifest["segments"]) {
    macs += s["macs"].get<int64_t>();
    auto seg = ImportOnnxFile(dir + "/" + s["file"].get<std::string>());
    ASSERT_TRUE(seg.ok()) << seg.status().message();
    EXPECT_EQ(seg->nodes.size(), s["nodes"].get<size_t>());
  }
  auto whole = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  EXPECT_EQ(macs, Summarize(*whole).total_macs);
  // The tensor leaving segment 0 is the one entering segment 1.
  EXPECT_EQ(manifest["segments"][0]["output"], manifest["segments"][1]["input"]);
}

TEST(Cli, InspectReportsLayersOfModelsWithoutCutPoints) {
  // ONNX's own Add test model has two inputs: layers yes, cut points no, and a note saying why.
  const std::string model = "/usr/share/libonnx-testdata/data/node/test_add/model.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "libonnx-testdata is not installed";
  std::string out, err;
  ASSERT_EQ(RunCli("inspect " + model + " --format json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["layers"].size(), 1u);
  EXPECT_TRUE(j["cut_points"].empty());
  EXPECT_NE(err.find("exactly one input"), std::string::npos) << err;
}

TEST(Cli, BadInputsGetClearErrors) {
  std::string out, err;
  EXPECT_EQ(RunCli("inspect no_such_model", &out, &err), 1);
  EXPECT_NE(err.find("no_such_model"), std::string::npos) << err;
  EXPECT_EQ(RunCli("inspect /nonexistent/model.onnx", &out, &err), 1);
  EXPECT_NE(err.find("/nonexistent/model.onnx"), std::string::npos) << err;
  std::string dir = MakeTempDir();
  EXPECT_EQ(RunCli("split resnet18:res=64 --split conv3_block1_2_conv -o " + dir, &out, &err), 1);
  EXPECT_NE(err.find("nearest cuts"), std::string::npos) << err;
  EXPECT_EQ(RunCli("split resnet18:res=64 --split 0 -o " + dir, &out, &err), 1);
  EXPECT_NE(err.find("strictly inside"), std::string::npos) << err;
  EXPECT_EQ(RunCli("split resnet18:res=64 --split 3,3 -o " + dir, &out, &err), 1);
  EXPECT_NE(err.find("twice"), std::string::npos) << err;
  testing::WriteFile(dir + "/junk.onnx", "this is not a protobuf");
  EXPECT_EQ(RunCli("inspect " + dir + "/junk.onnx", &out, &err), 1);
  EXPECT_FALSE(err.empty());
}

}  // namespace
}  // namespace edgesplit
