// One spelling per concept (docs/cli.md): the new flags work, every old
// spelling still parses (one per renamed command), old spellings stay out of
// --help and the completion scripts, and --format csv where it was added.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "edgesplit/io.h"

#include "test_util.h"

namespace edgesplit {
namespace {

using testing::MakeTempDir;
using testing::RunCli;

TEST(CliSpelling, SplitTakesOutDirAndStillDashO) {
  const std::string dir = MakeTempDir();
  std::string out, err;
  ASSERT_EQ(RunCli("split mobilenet_v2:alpha=0.35,res=96 --split block_3_project_BN --out-dir " + dir + "/new", &out, &err), 0) << err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/new/manifest.json"));
  ASSERT_EQ(RunCli("split mobilenet_v2:alpha=0.35,res=96 --split block_3_project_BN -o " + dir + "/old", &out, &err), 0) << err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/old/manifest.json"));
  ASSERT_EQ(RunCli("split mobilenet_v2:alpha=0.35,res=96 --split block_3_project_BN --output " + dir + "/older", &out, &err), 0) << err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/older/manifest.json"));
  EXPECT_EQ(RunCli("split mobilenet_v2:alpha=0.35,res=96 --split block_3_project_BN", &out, &err), 1);
  EXPECT_NE(err.find("--out-dir"), std::string::npos) << err;
}

TEST(CliSpelling, PlanSplitAndItsOldSpellingCuts) {
  const std::string base = "plan mobilenet_v2:alpha=0.35,res=96 --devices esp32s3,esp32s3 --link espnow --format json ";
  const nlohmann::json now = testing::RunCliJson(base + "--split block_6_project_BN");
  const nlohmann::json old = testing::RunCliJson(base + "--cuts block_6_project_BN");
  ASSERT_TRUE(now.contains("segments")) << now.dump();
  EXPECT_EQ(now["segments"], old["segments"]);
  EXPECT_EQ(now["segments"].size(), 2u);
  EXPECT_EQ(now["algorithm"], "fixed");  // evaluated, not solved
}

TEST(CliSpelling, SimulateDataRatesAndTheirOldSpellings) {
  const std::string base = "simulate mobilenet_v2:alpha=0.35,res=96 --device esp32s3-espnn --server edge-x86 --link udp "
                           "--generate random-walk --steps 40 --policy dynamic --format json ";
  const nlohmann::json now = testing::RunCliJson(base + "--min-data-rate 20000 --max-data-rate 30000");
  const nlohmann::json old = testing::RunCliJson(base + "--min-rate 20000 --max-rate 30000");
  ASSERT_EQ(now["timeline"]["requests"].size(), 40u) << now.dump();
  for (const auto& r : now["timeline"]["requests"]) {
    EXPECT_GE(r["rate_bytes_per_s"].get<double>(), 20000);
    EXPECT_LE(r["rate_bytes_per_s"].get<double>(), 30000);
  }
  EXPECT_EQ(now["timeline"], old["timeline"]);
}

// The dynamic controller's give-up time is --probe-timeout in simulate as in run --dynamic.
TEST(CliSpelling, SimulateProbeTimeoutAndItsOldSpellingTimeout) {
  const std::string base = "simulate mobilenet_v2:alpha=0.35,res=96 --device esp32s3-espnn --server edge-x86 --link udp "
                           "--generate gilbert-elliott --steps 60 --policy dynamic --format json ";
  const nlohmann::json now = testing::RunCliJson(base + "--probe-timeout 0.05");
  const nlohmann::json old = testing::RunCliJson(base + "--timeout 0.05");
  ASSERT_EQ(now["timeline"]["requests"].size(), 60u) << now.dump();
  EXPECT_EQ(now["timeline"], old["timeline"]);
  EXPECT_EQ(now["policies"], old["policies"]);
  std::string out, err;
  // Both spellings set the controller's timeout, which is checked.
  for (const char* flag : {"--probe-timeout", "--timeout"}) {
    EXPECT_NE(testing::RunCli(base + flag + " -1", &out, &err), 0) << flag;
    EXPECT_NE(err.find("and --probe-timeout must be >= 0"), std::string::npos) << err;
  }
  ASSERT_EQ(testing::RunCli("simulate --help", &out, &err), 0);
  EXPECT_NE(out.find("--probe-timeout"), std::string::npos);
  EXPECT_EQ(out.find("--timeout"), std::string::npos) << out;  // the old spelling is hidden
}

TEST(CliSpelling, BenchProtocolsSplitAndItsOldSpellingCut) {
  // Both spellings reach the cut: an unknown cut is refused by name (not a usage error, exit 2).
  for (const char* flag : {"--split", "--cut"}) {
    std::string out, err;
    EXPECT_EQ(RunCli(std::string("bench-protocols --protocols udp --repeat 2 --time-scale 0.01 ") + flag + " no_such_cut", &out, &err), 1)
        << flag << ": " << err;
    EXPECT_NE(err.find("no_such_cut"), std::string::npos) << flag << ": " << err;
  }
}

TEST(CliSpelling, InferTakesDashO) {
  const std::string dir = MakeTempDir();
  std::string out, err;
  std::vector<float> x(3 * 96 * 96, 0.25f);
  ASSERT_TRUE(WriteNpy(dir + "/x.npy", {1, 3, 96, 96}, x.data()).ok());
  ASSERT_EQ(RunCli("infer mobilenet_v2:alpha=0.35,res=96 --input " + dir + "/x.npy -o " + dir + "/y.npy",
                   &out, &err),
            0)
      << err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/y.npy"));
}

TEST(CliSpelling, OldSpellingsAreHiddenFromHelpAndCompletion) {
  std::string out, err;
  ASSERT_EQ(RunCli("simulate --help", &out, &err), 0);
  EXPECT_NE(out.find("--min-data-rate"), std::string::npos);
  EXPECT_EQ(out.find("--min-rate"), std::string::npos) << out;
  ASSERT_EQ(RunCli("plan --help", &out, &err), 0);
  EXPECT_EQ(out.find("--cuts"), std::string::npos) << out;
  ASSERT_EQ(RunCli("completion bash", &out, &err), 0);
  EXPECT_NE(out.find("--out-dir"), std::string::npos);
  EXPECT_EQ(out.find("--min-rate "), std::string::npos);
  EXPECT_EQ(out.find("--cut "), std::string::npos);
  ASSERT_EQ(RunCli("completion fish", &out, &err), 0);
  EXPECT_EQ(out.find("-l min-rate"), std::string::npos);
  // Did-you-mean suggests the new spelling.
  EXPECT_EQ(RunCli("simulate mobilenet_v2 --device esp32s3-espnn --server edge-x86 --link udp --generate step --min-data-rat 5", &out,
                   &err),
            2);
  EXPECT_NE(err.find("--min-data-rate"), std::string::npos) << err;
}

TEST(CliSpelling, CsvWhereItWasAdded) {
  std::string out, err;
  ASSERT_EQ(RunCli("policy mobilenet_v2:alpha=0.35,res=96 --device esp32s3-espnn --server edge-x86 --link udp --format csv", &out, &err), 0)
      << err;
  EXPECT_EQ(out.rfind("name,kind,cut_index,bytes,", 0), 0u) << out;
  EXPECT_NE(out.find("\ndevice-only,device-only,"), std::string::npos) << out;
  ASSERT_EQ(RunCli("plan mobilenet_v2:alpha=0.35,res=96 --devices esp32s3,esp32s3 --link espnow --format csv", &out, &err), 0) << err;
  EXPECT_NE(out.find("device"), std::string::npos) << out;
  EXPECT_GE(std::count(out.begin(), out.end(), '\n'), 2) << out;
  ASSERT_EQ(RunCli("simulate mobilenet_v2:alpha=0.35,res=96 --device esp32s3-espnn --server edge-x86 --link udp --generate step "
                   "--steps 20 --format csv",
                   &out, &err),
            0)
      << err;
  EXPECT_EQ(out.rfind("policy,mean_s,p50_s,p95_s,", 0), 0u) << out;
  EXPECT_NE(out.find("\ndynamic,"), std::string::npos) << out;
  EXPECT_NE(RunCli("policy mobilenet_v2 --device esp32s3-espnn --server edge-x86 --link udp --format xml", &out, &err), 0);
}

}  // namespace
}  // namespace edgesplit
