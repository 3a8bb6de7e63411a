// Measured accuracy on Fashion-MNIST (tools/train_fashion.py fixtures): edgesplit
// eval predicts what PyTorch predicts on the 10,000 test images (exact ties
// aside), int8 stays within 1 point of f32, and a split through codecs behaves
// (raw: the whole model's predictions; smaller codecs: fewer bytes).
#include <gtest/gtest.h>

#include <cmath>

#include "edgesplit/eval.h"
#include "edgesplit/idx.h"
#include "edgesplit/io.h"
#include "test_util.h"

namespace edgesplit {
namespace {

bool HaveData() { return LoadFashionMnist(FashionMnistDir(), "test", 1).ok(); }

std::vector<int> ReadPredictions(const std::string& path) {
  Result<FloatArray> a = ReadNpy(path);
  EXPECT_TRUE(a.ok()) << a.status().message();
  if (!a.ok()) return {};
  return std::vector<int>(a->data.begin(), a->data.end());
}

void ExpectPyTorchPredictions(const std::string& name) {
  ES_REQUIRE_FIXTURE(model, name + ".onnx");
  ES_REQUIRE_FIXTURE(logits_path, name + ".logits.npy");
  ES_REQUIRE_FIXTURE(acc_path, "fashion_accuracy.json");
  if (!HaveData()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const std::string dir = testing::MakeTempDir();
  const nlohmann::json j = testing::RunCliJson("eval " + model + " --data fashion-mnist --format json --threads 1 --predictions " +
                                               dir + "/f32.npy");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["samples"], 10000);
  EXPECT_TRUE(j["split"].is_null() && j["codec"].is_null() && j["cut_bytes"].is_null());
  Result<FloatArray> logits = ReadNpy(logits_path);
  ASSERT_TRUE(logits.ok());
  ASSERT_EQ(logits->shape, (Shape{10000, 10}));
  const std::vector<int> ours = ReadPredictions(dir + "/f32.npy");
  ASSERT_EQ(ours.size(), 10000u);
  int differ = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    const float* row = logits->data.data() + 10 * i;
    const int theirs = TopClass(row, 10);
    if (ours[i] == theirs) continue;
    ++differ;
    EXPECT_EQ(row[ours[i]], row[theirs]) << "image " << i << ": edgesplit predicts " << ours[i] << ", PyTorch " << theirs
                                         << " (logits " << row[ours[i]] << " vs " << row[theirs] << ": not a tie)";
  }
  const double torch_acc = nlohmann::json::parse(testing::ReadFile(acc_path))["models"][name]["accuracy"].get<double>();
  std::printf("%s: edgesplit f32 %.4f, PyTorch %.4f, %d exact ties resolved differently\n", name.c_str(),
              j["accuracy"].get<double>(), torch_acc, differ);
  if (differ == 0) { EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), torch_acc); }
  EXPECT_GT(torch_acc, 0.8);  // a trained model, not a chance-level one

  // int8 (calibrated on training images) within 1 point of f32.
  const nlohmann::json q = testing::RunCliJson("eval " + model + " --data fashion-mnist --dtype int8 --samples 64 --format json --threads 1");
  ASSERT_FALSE(q.is_null());
  std::printf("%s: int8 %.4f\n", name.c_str(), q["accuracy"].get<double>());
  EXPECT_GE(q["accuracy"].get<double>(), j["accuracy"].get<double>() - 0.01);
}

TEST(FashionTest, MobileNetV2StyleMatchesPyTorch) { ExpectPyTorchPredictions("fashion_mobilenet_v2"); }
TEST(FashionTest, ResNetStyleMatchesPyTorch) { ExpectPyTorchPredictions("fashion_resnet"); }

// Split at the first strict bottleneck: raw gives the whole model's predictions
// (the split is bit-identical); int4+lz4 sends far fewer bytes.
TEST(FashionTest, SplitThroughCodecs) {
  ES_REQUIRE_FIXTURE(model, "fashion_mobilenet_v2.onnx");
  if (!HaveData()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const std::string dir = testing::MakeTempDir();
  const std::string base = "eval " + model + " --data fashion-mnist --limit 300 --format json --threads 1 ";
  const nlohmann::json whole = testing::RunCliJson(base + "--predictions " + dir + "/whole.npy");
  const nlohmann::json raw = testing::RunCliJson(base + "--split 6 --codec raw --predictions " + dir + "/raw.npy");
  const nlohmann::json int4 = testing::RunCliJson(base + "--split 6 --codec int4+lz4");
  ASSERT_FALSE(whole.is_null() || raw.is_null() || int4.is_null());
  EXPECT_EQ(raw["samples"], 300);
  EXPECT_EQ(raw["codec"], "raw");
  EXPECT_EQ(ReadPredictions(dir + "/raw.npy"), ReadPredictions(dir + "/whole.npy"));
  EXPECT_EQ(raw["accuracy"], whole["accuracy"]);
  const double raw_bytes = raw["cut_bytes"].get<double>(), int4_bytes = int4["cut_bytes"].get<double>();
  EXPECT_GT(raw_bytes, 12.0);
  EXPECT_LT(int4_bytes, raw_bytes / 4) << "int4+lz4 " << int4_bytes << " bytes vs raw " << raw_bytes;
  EXPECT_GE(int4["accuracy"].get<double>(), 0.0);
  EXPECT_LE(int4["accuracy"].get<double>(), 1.0);
  // Errors: a codec without a split, an unknown codec, fp16 on an int8 cut.
  std::string out, err;
  EXPECT_NE(testing::RunCli(base + "--codec int4", &out, &err), 0);
  EXPECT_NE(err.find("--codec needs --split"), std::string::npos) << err;
  EXPECT_NE(testing::RunCli(base + "--split 6 --codec int5", &out, &err), 0);
  EXPECT_NE(err.find("int5"), std::string::npos) << err;
  EXPECT_NE(testing::RunCli(base + "--split 6 --codec fp16 --dtype int8", &out, &err), 0);
  EXPECT_NE(err.find("needs a float32 cut tensor"), std::string::npos) << err;
}

// The codec table: every natural bottleneck x every codec, lossless codecs
// agreeing with the unsplit model exactly.
TEST(FashionTest, SweepTable) {
  ES_REQUIRE_FIXTURE(model, "fashion_resnet.onnx");
  if (!HaveData()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const std::string dir = testing::MakeTempDir();
  const nlohmann::json t = testing::RunCliJson("eval " + model + " --data fashion-mnist --limit 100 --sweep --format json --threads 1");
  ASSERT_FALSE(t.is_null());
  EXPECT_EQ(t["kind"], "codec_table");
  ASSERT_GE(t["entries"].size(), 15u);
  for (const auto& e : t["entries"]) {
    const std::string codec = e["codec"];
    if (codec.rfind("raw", 0) == 0) {
      EXPECT_EQ(e["agreement"], 1.0) << codec << " at cut " << e["cut_index"];
      EXPECT_NEAR(e["accuracy_drop"].get<double>(), 0.0, 1e-9);
    }
    EXPECT_GT(e["cut_bytes"].get<double>(), 12.0);
  }
}

}  // namespace
}  // namespace edgesplit
