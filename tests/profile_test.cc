// profile --measure: the per-class fit, the written profile, the CLI.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgesplit/cost.h"
#include "test_util.h"

namespace edgesplit {
namespace {

TEST(ProfileFit, RecoversSyntheticRates) {
  // Known seconds per unit of work per class, and an overhead.
  const double truth[kNumOpClasses] = {1.0 / 2e9, 1.0 / 4e8, 1.0 / 5e9, 1.0 / 1e9, 1.0 / 3e8, 1.0 / 6e8};
  const double overhead = 7e-6;
  std::vector<LayerTiming> timings;
  for (int c = 0; c < kNumOpClasses; ++c)
    for (int k = 1; k <= 5; ++k) {
      const double work = 1000.0 * k * k * (c + 1);
      timings.push_back({static_cast<OpClass>(c), work, overhead + truth[c] * work});
    }
  timings.push_back({OpClass::kElementwise, 0, overhead});  // a Reshape: overhead only
  Result<FittedRates> fit = FitLayerTimings(timings);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  for (int c = 0; c < kNumOpClasses; ++c) {
    EXPECT_NEAR(fit->seconds_per_work[c], truth[c], truth[c] * 1e-6) << OpClassName(static_cast<OpClass>(c));
    EXPECT_EQ(fit->samples[c], 5);
  }
  EXPECT_NEAR(fit->per_layer_overhead_s, overhead, overhead * 1e-6);
}

TEST(ProfileFit, NonNegative) {
  // Data that an unconstrained fit would explain with a negative overhead.
  std::vector<LayerTiming> timings = {{OpClass::kConv, 100, 1e-6}, {OpClass::kConv, 200, 3e-6}, {OpClass::kConv, 400, 7e-6}};
  Result<FittedRates> fit = FitLayerTimings(timings);
  ASSERT_TRUE(fit.ok());
  EXPECT_GE(fit->per_layer_overhead_s, 0);
  EXPECT_GT(fit->seconds_per_work[0], 0);
  EXPECT_EQ(fit->samples[1], 0);
  EXPECT_EQ(fit->seconds_per_work[1], 0);
}

TEST(ProfileFit, Errors) {
  EXPECT_FALSE(FitLayerTimings({}).ok());
  EXPECT_FALSE(FitLayerTimings({{OpClass::kConv, 10, -1}}).ok());
  EXPECT_FALSE(FitLayerTimings({{OpClass::kConv, 10, 0}}).ok());
}

TEST(ProfileFit, WrittenProfileRoundTrips) {
  FittedRates fit;
  fit.seconds_per_work[static_cast<int>(OpClass::kConv)] = 1.0 / 2e9;
  fit.seconds_per_work[static_cast<int>(OpClass::kElementwise)] = 1.0 / 5e8;
  fit.samples[static_cast<int>(OpClass::kConv)] = 3;
  fit.samples[static_cast<int>(OpClass::kElementwise)] = 3;
  fit.per_layer_overhead_s = 5e-6;
  DeviceProfile d = ProfileFromFit(fit, "host-measured", DType::kFloat32, nullptr);
  d.ram_bytes = d.weight_capacity_bytes = int64_t{8} << 30;
  d.sources["macs_per_cycle"] = "[measured] test";
  const std::string text = DeviceProfileToJson(d, "test");
  Result<DeviceProfile> back = ParseDeviceProfile(text, "written.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->name, "host-measured");
  EXPECT_EQ(back->dtype, DType::kFloat32);
  EXPECT_EQ(back->ram_bytes, int64_t{8} << 30);
  EXPECT_NEAR(back->per_layer_overhead_s, 5e-6, 1e-15);
  for (int c = 0; c < kNumOpClasses; ++c) EXPECT_NEAR(back->work_per_cycle[c], d.work_per_cycle[c], d.work_per_cycle[c] * 1e-9);
  EXPECT_NEAR(back->work_per_cycle[0] * back->clock_hz, 2e9, 1);
  EXPECT_NEAR(back->work_per_cycle[static_cast<int>(OpClass::kElementwise)] * back->clock_hz, 5e8, 1);
  EXPECT_EQ(back->sources.at("macs_per_cycle"), "[measured] test");
  // Through the file loader too.
  const std::string path = (std::filesystem::temp_directory_path() / "edgesplit_profile_roundtrip.json").string();
  std::ofstream(path) << text;
  Result<DeviceProfile> loaded = LoadDeviceProfile("", path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->name, "host-measured");
  std::remove(path.c_str());
}

TEST(ProfileCli, MeasureTinyModels) {
  const std::string path = (std::filesystem::temp_directory_path() / "edgesplit_profile_cli.json").string();
  std::string out, err;
  ASSERT_EQ(testing::RunCli("profile --measure -o " + path +
                                " --models 'mobilenet_v2:alpha=0.35,res=96;resnet18:res=32'"
                                " --held-out 'resnet18:res=64' --repeat 1 --format json",
                            &out, &err),
            0)
      << err;
  const nlohmann::json j = nlohmann::json::parse(out);
  for (const char* k : {"schema_version", "fit_models", "held_out_models", "rates", "per_layer_overhead_s", "held_out",
                        "mape_pct", "dtype", "clock"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["fit_models"].size(), 2u);
  EXPECT_EQ(j["held_out"].size(), 1u);
  for (const char* c : {"conv", "depthwise", "pointwise", "fc", "elementwise", "pool"}) EXPECT_TRUE(j["rates"].contains(c)) << c;
  Result<DeviceProfile> loaded = LoadDeviceProfile("", path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->dtype, DType::kFloat32);
  EXPECT_EQ(loaded->name, "host-measured");
  std::remove(path.c_str());
  // Errors: no --measure, a model both fitted and held out.
  EXPECT_NE(testing::RunCli("profile -o " + path, &out, &err), 0);
  EXPECT_NE(testing::RunCli("profile --measure -o " + path + " --models resnet18:res=32 --held-out resnet18:res=32", &out, &err), 0);
  EXPECT_NE(err.find("both"), std::string::npos) << err;
}

}  // namespace
}  // namespace edgesplit
