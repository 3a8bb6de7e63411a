// Making device profiles through the library (edgesplit/device_profiling.h):
// profile --measure's measure-fit-validate and profile --from-mcu-trace's fit,
// without the CLI.
#include "edgesplit/device_profiling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "edgesplit/models.h"
#include "edgesplit/quant.h"

namespace edgesplit {
namespace {

// Small enough to time in well under a second each on the reference kernels.
runtime::MeasureProfileOptions TinyFit() {
  runtime::MeasureProfileOptions o;
  o.fit_models = {"mobilenet_v2:alpha=0.35,res=96", "resnet18:res=32"};
  o.held_out = {"resnet18:res=48"};
  o.repeat = 1;
  o.name = "tiny-host";
  return o;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(MeasureDeviceProfile, FitsOnTinyModelsAndEvaluatesTheHeldOutOne) {
  runtime::MeasureProfileOptions o = TinyFit();
  std::vector<std::pair<int, int>> calls;
  o.progress = [&](int done, int total) { calls.emplace_back(done, total); };
  Result<runtime::MeasuredProfile> r = runtime::MeasureDeviceProfile(o);
  ASSERT_TRUE(r.ok()) << r.status().message();

  // The profile: named, f32, this host's memory, every coefficient's source stated.
  EXPECT_EQ(r->profile.name, "tiny-host");
  EXPECT_EQ(r->profile.dtype, DType::kFloat32);
  EXPECT_EQ(r->backend, "reference");
  EXPECT_EQ(r->clock, runtime::TimingClock::kProcessCpu);  // auto on the single-threaded reference backend
  EXPECT_GT(r->profile.ram_bytes, 0);
  EXPECT_EQ(r->profile.ram_bytes, runtime::HostMemoryBytes());
  EXPECT_GE(r->profile.per_layer_overhead_s, 0);
  for (const char* k : {"macs_per_cycle", "cycles_per_element", "per_layer_overhead_s"})
    EXPECT_TRUE(Contains(r->profile.sources.at(k), "[measured]")) << k;
  EXPECT_TRUE(Contains(r->profile.sources.at("active_w"), "[unknown]"));
  // Both models have convolutions, depthwise and pointwise layers and an fc: those classes are fitted.
  for (OpClass c : {OpClass::kConv, OpClass::kDepthwise, OpClass::kPointwise, OpClass::kFc}) {
    const int i = static_cast<int>(c);
    EXPECT_GT(r->fit.samples[i], 0) << OpClassName(c);
    EXPECT_GT(r->profile.work_per_cycle[i], 0) << OpClassName(c);
  }
  int samples = 0;
  for (int c = 0; c < kNumOpClasses; ++c) samples += r->fit.samples[c];
  EXPECT_LE(samples, r->layers);
  EXPECT_GT(r->layers, 50);  // every layer of both models

  // The returned text is the profile: it reads back to the same figures.
  Result<DeviceProfile> back = ParseDeviceProfile(r->profile_json, "back.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->name, "tiny-host");
  EXPECT_DOUBLE_EQ(back->per_layer_overhead_s, r->profile.per_layer_overhead_s);

  // The held-out model: measured, predicted, a finite error, and the mean of one is that error.
  ASSERT_EQ(r->held_out.size(), 1u);
  const runtime::HeldOutError& h = r->held_out[0];
  EXPECT_EQ(h.model, "resnet18:res=48");
  EXPECT_GT(h.measured_s, 0);
  EXPECT_GT(h.predicted_s, 0);
  EXPECT_TRUE(std::isfinite(h.error_pct));
  EXPECT_NEAR(h.error_pct, std::fabs(h.predicted_s - h.measured_s) / h.measured_s * 100, 1e-9);
  double class_predicted = 0;
  for (double s : h.class_predicted_s) class_predicted += s;
  EXPECT_NEAR(class_predicted, h.predicted_s, h.predicted_s * 1e-9);  // the per-class split sums to the whole
  EXPECT_DOUBLE_EQ(r->mape_pct, h.error_pct);

  // Progress: once per model, fit models then the held-out one.
  const std::vector<std::pair<int, int>> expected = {{1, 3}, {2, 3}, {3, 3}};
  EXPECT_EQ(calls, expected);
}

TEST(MeasureDeviceProfile, NoHeldOutModelMeansNoError) {
  runtime::MeasureProfileOptions o = TinyFit();
  o.fit_models = {"resnet18:res=32"};
  o.held_out.clear();
  o.clock = "wall";
  Result<runtime::MeasuredProfile> r = runtime::MeasureDeviceProfile(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->held_out.empty());
  EXPECT_TRUE(std::isnan(r->mape_pct));
  EXPECT_EQ(r->clock, runtime::TimingClock::kWall);
  // resnet18 has no depthwise layer: that class keeps a stated placeholder.
  EXPECT_EQ(r->fit.samples[static_cast<int>(OpClass::kDepthwise)], 0);
  EXPECT_TRUE(r->profile.sources.count("no_samples_depthwise"));
}

TEST(MeasureDeviceProfile, BadOptionsAreClearErrors) {
  struct Case {
    std::function<void(runtime::MeasureProfileOptions*)> change;
    std::string expected;
  };
  const Case cases[] = {
      {[](auto* o) { o->fit_models.clear(); }, "--models is empty"},
      {[](auto* o) { o->held_out = {"resnet18:res=32"}; }, "'resnet18:res=32' is both fitted on and held out"},
      {[](auto* o) { o->backend = "tpu"; }, "--backend tpu"},
      {[](auto* o) { o->clock = "sundial"; }, "--clock sundial"},
      {[](auto* o) { o->repeat = 0; }, "--repeat"},
      {[](auto* o) { o->name.clear(); }, "--name"},
      {[](auto* o) { o->fit_models = {"no_such_model"}; }, "fit model 'no_such_model'"},
      {[](auto* o) { o->held_out = {"no_such_model"}; }, "held-out model 'no_such_model'"},
  };
  for (const Case& c : cases) {
    runtime::MeasureProfileOptions o = TinyFit();
    o.fit_models = {"resnet18:res=32"};
    c.change(&o);
    Result<runtime::MeasuredProfile> r = runtime::MeasureDeviceProfile(o);
    ASSERT_FALSE(r.ok()) << c.expected;
    EXPECT_TRUE(Contains(r.status().message(), c.expected)) << r.status().message();
  }
}

TEST(McuTraceProfile, FitsTheTraceAndCopiesTheBoardsMemoryAndPower) {
  // A trace of two layers of the int8 graph, written as the firmware prints it.
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  Result<Graph> q = Quantize(*g, RandomCalibrationSamples(g->tensors[g->inputs[0]], 1, 1));
  ASSERT_TRUE(q.ok()) << q.status().message();
  const std::string path = (std::filesystem::temp_directory_path() / "edgesplit_device_profiling_qemu.out").string();
  std::ofstream(path) << "segment mobilenet_v2:alpha=0.35,res=96 cuts 0..3\n"
                      << "layer 0 X " << q->nodes[1].name << " ticks 50\n"
                      << "layer 1 X " << q->nodes[2].name << " ticks 80\n"
                      << "ticks_hz 25000000\nicount_shift 1\ndone\n";
  runtime::McuTraceProfileOptions o;
  o.trace = path;
  o.clock_hz = 1e8;
  Result<runtime::McuTraceProfile> r = runtime::ProfileFromMcuTrace(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->profile.name, "cortex-m4-qemu");
  EXPECT_EQ(r->profile.dtype, DType::kInt8);
  EXPECT_DOUBLE_EQ(r->profile.clock_hz, 1e8);
  EXPECT_DOUBLE_EQ(r->total_instructions, (50 + 80) * 20.0);  // shift 1 at 25 MHz ticks: 20 instructions a tick
  EXPECT_EQ(r->profile.ram_bytes, r->reference.ram_bytes);      // copied from esp32s3
  EXPECT_EQ(r->reference.name, "esp32s3");
  EXPECT_GT(r->reference_s, 0);
  EXPECT_TRUE(Contains(r->profile.sources.at("ram_bytes"), "copied from the 'esp32s3' profile"));
  EXPECT_TRUE(ParseDeviceProfile(r->profile_json, "back.json").ok());

  o.clock_hz = 0;
  EXPECT_TRUE(Contains(runtime::ProfileFromMcuTrace(o).status().message(), "--mcu-clock-hz"));
  o.clock_hz = 1e8;
  o.compare = "no_such_board";
  EXPECT_FALSE(runtime::ProfileFromMcuTrace(o).ok());
  o.compare = "esp32s3";
  o.trace = "/dev/zero";
  EXPECT_TRUE(Contains(runtime::ProfileFromMcuTrace(o).status().message(), "not a regular file"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace edgesplit
