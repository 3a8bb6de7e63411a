// The model zoo on its own (no fixtures): published cost figures, Keras layer
// names, torchvision node order, spec parsing and seeded determinism.
#include "edgesplit/models.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"

namespace edgesplit {
namespace {

Graph Load(const std::string& spec) {
  Result<Graph> g = LoadModel(spec);
  EXPECT_TRUE(g.ok()) << spec << ": " << g.status().message();
  return g.ok() ? std::move(g).value() : Graph();
}

// |actual - expected| <= tolerance * expected.
void ExpectNear(double actual, double expected, double tolerance, const std::string& what) {
  EXPECT_LE(std::fabs(actual - expected), tolerance * expected)
      << what << ": " << actual << " is not within " << tolerance * 100 << "% of " << expected;
}

std::vector<CutPoint> Cuts(const Graph& g) {
  Result<std::vector<CutPoint>> cuts = FindCutPoints(g);
  EXPECT_TRUE(cuts.ok()) << g.name << ": " << cuts.status().message();
  return cuts.ok() ? std::move(cuts).value() : std::vector<CutPoint>();
}

int NodeIndex(const Graph& g, const std::string& name) {
  int index = g.FindNode(name);
  EXPECT_GE(index, 0) << g.name << " has no node or alias " << name;
  return index;
}

// Expects LoadModel(spec) to fail with InvalidArgument mentioning every one of `words`.
void ExpectSpecError(const std::string& spec, const std::vector<std::string>& words) {
  Result<Graph> g = LoadModel(spec);
  ASSERT_FALSE(g.ok()) << spec << " was accepted";
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument) << spec << ": " << g.status().message();
  for (const std::string& w : words) {
    EXPECT_NE(g.status().message().find(w), std::string::npos)
        << spec << ": error \"" << g.status().message() << "\" does not mention " << w;
  }
}

// Published figures (Sandler et al.; Keras applications table; torchvision docs).
// Params are after BatchNorm folding: each BN's scale/shift becomes a conv
// bias, so they come out a little under the framework counts.
TEST(ModelsTest, MobileNetV2CostMatchesPaper) {
  Graph g = Load("mobilenet_v2:alpha=1.0,res=224");
  ModelSummary s = Summarize(g);
  ExpectNear(static_cast<double>(s.total_macs), 300e6, 0.02, "MACs");
  ExpectNear(static_cast<double>(s.total_params), 3.50e6, 0.01, "params");
  EXPECT_EQ(s.input_shape, (Shape{1, 3, 224, 224}));
}

TEST(ModelsTest, MobileNetV2Alpha035CostAndBottleneck) {
  Graph g = Load("mobilenet_v2:alpha=0.35,res=224");
  ExpectNear(static_cast<double>(Summarize(g).total_macs), 59.3e6, 0.03, "MACs");
  std::vector<CutPoint> cuts = Cuts(g);
  Result<int> cut = ResolveCut(cuts, "block_16_project_BN");  // an alias: BN is folded into the conv
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  const CutPoint& c = cuts[static_cast<size_t>(*cut)];
  EXPECT_EQ(c.shape, (Shape{1, 112, 7, 7}));
  EXPECT_EQ(c.bytes_int8, 5488);
}

TEST(ModelsTest, ResNet50CostMatchesTorchvision) {
  ModelSummary s = Summarize(Load("resnet50"));
  ExpectNear(static_cast<double>(s.total_macs), 4.09e9, 0.02, "MACs");
  ExpectNear(static_cast<double>(s.total_params), 25.5e6, 0.01, "params");
}

TEST(ModelsTest, ResNet18CostMatchesTorchvision) {
  ModelSummary s = Summarize(Load("resnet18"));
  ExpectNear(static_cast<double>(s.total_macs), 1.81e9, 0.02, "MACs");
  ExpectNear(static_cast<double>(s.total_params), 11.69e6, 0.01, "params");
}

TEST(ModelsTest, EveryMobileNetV2VariantBuildsWithCuts) {
  for (const char* alpha : {"0.35", "0.5", "0.75", "1.0", "1.3", "1.4"}) {
    for (int res : {96, 128, 160, 192, 224}) {
      const std::string spec = std::string("mobilenet_v2:alpha=") + alpha + ",res=" + std::to_string(res);
      Graph g = Load(spec);
      std::vector<CutPoint> cuts = Cuts(g);
      EXPECT_GT(cuts.size(), 10u) << spec;
      ASSERT_FALSE(cuts.empty()) << spec;
      EXPECT_EQ(cuts.front().shape, (Shape{1, 3, res, res})) << spec;
      EXPECT_EQ(cuts.back().shape, (Shape{1, 1000})) << spec;
    }
  }
}

TEST(ModelsTest, MobileNetV2UsesKerasNamesAndFusesBnAndRelu6) {
  Graph g = Load("mobilenet_v2");
  // Conv + BN + ReLU6 become one node that answers to all three names.
  int conv1 = NodeIndex(g, "Conv1");
  EXPECT_EQ(g.nodes[static_cast<size_t>(conv1)].op, OpType::kConv);
  EXPECT_EQ(NodeIndex(g, "bn_Conv1"), conv1);
  EXPECT_EQ(NodeIndex(g, "Conv1_relu"), conv1);
  const FusedActivation& act = g.nodes[static_cast<size_t>(conv1)].activation;
  EXPECT_EQ(act.kind, ActivationKind::kClip);
  EXPECT_EQ(act.min, 0.0f);
  EXPECT_EQ(act.max, 6.0f);
  for (const char* name : {"expanded_conv_depthwise_relu", "expanded_conv_project_BN", "block_1_expand_relu",
                           "block_2_add", "block_16_project_BN", "Conv_1_bn", "out_relu",
                           "global_average_pooling2d", "flatten", "predictions"}) {
    NodeIndex(g, name);
  }
  // Residual adds exactly where stride is 1 and channels are kept (Keras' rule).
  int adds = 0;
  for (const Node& n : g.nodes) adds += n.op == OpType::kAdd;
  EXPECT_EQ(adds, 10);
  EXPECT_LT(g.FindNode("block_1_add"), 0);    // stride 2
  EXPECT_LT(g.FindNode("block_13_add"), 0);   // stride 2
  EXPECT_LT(g.FindNode("block_16_add"), 0);   // 160 -> 320 channels
  EXPECT_EQ(g.nodes.size(), 52u + 10u + 3u);  // convs, adds, pool/flatten/gemm
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.tensors[static_cast<size_t>(g.outputs[0])].name, "logits");
  EXPECT_EQ(g.nodes.back().op, OpType::kGemm);  // logits: no Softmax
}

TEST(ModelsTest, MobileNetV2WideVariantUsesWiderLastConv) {
  Graph g = Load("mobilenet_v2:alpha=1.4");
  std::vector<CutPoint> cuts = Cuts(g);
  Result<int> cut = ResolveCut(cuts, "out_relu");
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  EXPECT_EQ(cuts[static_cast<size_t>(*cut)].shape, (Shape{1, 1792, 7, 7}));  // make_divisible(1280 * 1.4)
}

TEST(ModelsTest, ResNetNodeOrderFollowsTorchvisionForward) {
  Graph g = Load("resnet50");
  // Branch convs, then the shortcut conv, then the Add (which absorbs the Relu).
  int c3 = NodeIndex(g, "conv3_block1_3_conv");
  int c0 = NodeIndex(g, "conv3_block1_0_conv");
  int add = NodeIndex(g, "conv3_block1_add");
  EXPECT_LT(NodeIndex(g, "conv3_block1_1_conv"), NodeIndex(g, "conv3_block1_2_conv"));
  EXPECT_LT(NodeIndex(g, "conv3_block1_2_conv"), c3);
  EXPECT_EQ(c0, c3 + 1);
  EXPECT_EQ(add, c0 + 1);
  EXPECT_EQ(NodeIndex(g, "conv3_block1_out"), add);
  // v1.5: the stride is on the 3x3 conv.
  EXPECT_EQ(g.nodes[static_cast<size_t>(NodeIndex(g, "conv3_block1_2_conv"))].GetInts("strides"),
            (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(g.nodes[static_cast<size_t>(NodeIndex(g, "conv3_block1_1_conv"))].GetInts("strides"),
            (std::vector<int64_t>{1, 1}));
  // The first stage keeps the stride but still needs a shortcut (64 -> 256 channels).
  NodeIndex(g, "conv2_block1_0_conv");
  EXPECT_LT(g.FindNode("conv2_block2_0_conv"), 0);
  for (const char* name :
       {"conv1_bn", "conv1_relu", "pool1_pool", "conv5_block3_out", "avg_pool", "flatten", "predictions"}) {
    NodeIndex(g, name);
  }

  std::vector<CutPoint> cuts = Cuts(g);
  Result<int> cut = ResolveCut(cuts, "conv3_block4_out");
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  EXPECT_EQ(cuts[static_cast<size_t>(*cut)].shape, (Shape{1, 512, 28, 28}));
}

TEST(ModelsTest, ResNet18UsesBasicBlocks) {
  Graph g = Load("resnet18:res=160,seed=3,classes=10");
  EXPECT_EQ(g.tensors[static_cast<size_t>(g.inputs[0])].shape, (Shape{1, 3, 160, 160}));
  EXPECT_EQ(g.tensors[static_cast<size_t>(g.outputs[0])].shape, (Shape{1, 10}));
  NodeIndex(g, "conv2_block2_2_bn");
  EXPECT_LT(g.FindNode("conv2_block1_3_conv"), 0);  // no third conv in a basic block
  EXPECT_LT(g.FindNode("conv2_block1_0_conv"), 0);  // 64 -> 64, stride 1: identity shortcut
  NodeIndex(g, "conv3_block1_0_conv");
}

TEST(ModelsTest, BadSpecsNameTheProblem) {
  ExpectSpecError("vgg16", {"vgg16", "mobilenet_v2", "resnet18", "resnet50", ".onnx"});
  ExpectSpecError("", {"mobilenet_v2"});
  ExpectSpecError("mobilenet_v2:alpha=0.4", {"0.4", "0.35", "1.4"});
  ExpectSpecError("mobilenet_v2:res=100", {"100", "96", "224"});
  ExpectSpecError("mobilenet_v2:alpha=big", {"alpha", "big"});
  ExpectSpecError("mobilenet_v2:beta=1", {"beta", "alpha", "res", "classes", "seed"});
  ExpectSpecError("mobilenet_v2:alpha", {"key=value", "alpha"});
  ExpectSpecError("mobilenet_v2:alpha=0.5,alpha=0.5", {"alpha", "twice"});
  ExpectSpecError("mobilenet_v2:classes=0", {"classes=0", "100000"});
  ExpectSpecError("resnet50:classes=1000000", {"classes=1000000", "100000"});
  ExpectSpecError("resnet50:alpha=1.0", {"alpha", "res", "classes", "seed"});
  ExpectSpecError("resnet18:res=16", {"16", "32"});
  ExpectSpecError("resnet18:seed=-1", {"seed", "-1"});

  ResNetOptions r;
  r.depth = 34;
  Result<Graph> g = BuildResNet(r);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("18, 50"), std::string::npos) << g.status().message();
}

TEST(ModelsTest, MissingOnnxFileIsAnImportError) {
  Result<Graph> g = LoadModel("/nonexistent/model.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().code(), StatusCode::kOk);
}

// Constant tensor contents, in graph order.
std::vector<std::vector<uint8_t>> Weights(const Graph& g) {
  std::vector<std::vector<uint8_t>> out;
  for (const Tensor& t : g.tensors) {
    if (t.is_constant) out.push_back(t.data);
  }
  return out;
}

TEST(ModelsTest, WeightsAreSeeded) {
  for (const char* model : {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=64"}) {
    const std::string spec = std::string(model) + ",seed=";
    std::vector<std::vector<uint8_t>> a = Weights(Load(spec + "7"));
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, Weights(Load(spec + "7"))) << model;
    std::vector<std::vector<uint8_t>> c = Weights(Load(spec + "8"));
    ASSERT_EQ(a.size(), c.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NE(a[i], c[i]) << model << " constant " << i;
  }
}

TEST(ModelsTest, DefaultPreprocessing) {
  Preprocessing mb = DefaultPreprocessing("mobilenet_v2:alpha=0.35");
  EXPECT_EQ(mb.mean[0], 0.5f);
  EXPECT_EQ(mb.std[2], 0.5f);
  for (const char* spec : {"resnet50", "resnet18:res=160", "mobilenet_v2.onnx", "/models/x.onnx"}) {
    Preprocessing p = DefaultPreprocessing(spec);
    EXPECT_FLOAT_EQ(p.mean[0], 0.485f) << spec;
    EXPECT_FLOAT_EQ(p.std[2], 0.225f) << spec;
  }
}

}  // namespace
}  // namespace edgesplit
