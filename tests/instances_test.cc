// The planning instances the CLI builds, built through the library
// (edgesplit/instances.h), and the engine's per-layer timing
// (edgesplit/engine_timing.h).
#include <gtest/gtest.h>

#include <cmath>

#include "edgesplit/engine_timing.h"
#include "edgesplit/instances.h"
#include "edgesplit/kernels.h"
#include "edgesplit/models.h"
#include "test_util.h"

namespace edgesplit {
namespace {

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";

runtime::PlanSource TwoEsp32sOverEspNow() {
  runtime::PlanSource s;
  s.model = kModel;
  s.devices = {"esp32s3", "esp32s3"};
  s.link = "espnow";
  return s;
}

bool HasNoteWith(const std::vector<std::string>& notes, const std::string& text) {
  for (const std::string& n : notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}

TEST(Instances, APlanInputFromAModelIsSealedByDefaultAndPlainWhenAsked) {
  auto sealed = runtime::LoadPlanInput(TwoEsp32sOverEspNow());
  ASSERT_TRUE(sealed.ok()) << sealed.status().message();
  EXPECT_TRUE(sealed->problem.sealed);
  ASSERT_TRUE(sealed->graph.has_value());
  EXPECT_FALSE(sealed->cuts.empty());
  EXPECT_FALSE(sealed->problem.layers.empty());
  EXPECT_TRUE(sealed->notes.empty()) << sealed->notes.front();  // int8 profiles, int8 plan, security costs known

  runtime::PlanSource plain = TwoEsp32sOverEspNow();
  plain.insecure = true;
  auto p = runtime::LoadPlanInput(plain);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_FALSE(p->problem.sealed);
}

TEST(Instances, NotesAreReturnedNotPrinted) {
  runtime::PlanSource s = TwoEsp32sOverEspNow();
  s.dtype = "f32";  // the profiles are int8's
  s.devices = {"esp32s3", "rpi4", "esp32s3"};  // rpi4 has no security costs
  auto in = runtime::LoadPlanInput(s);
  ASSERT_TRUE(in.ok()) << in.status().message();
  EXPECT_TRUE(HasNoteWith(in->notes, "'esp32s3' is profiled for int8"));
  EXPECT_TRUE(HasNoteWith(in->notes, "'rpi4' has no \"security\" costs"));
}

TEST(Instances, DumpedProblemReadsBackAsTheSameInstance) {
  runtime::PlanSource s = TwoEsp32sOverEspNow();
  s.dump_problem = testing::MakeTempDir() + "/problem.json";
  auto in = runtime::LoadPlanInput(s);
  ASSERT_TRUE(in.ok()) << in.status().message();
  runtime::PlanSource from_file;
  from_file.problem_file = s.dump_problem;
  auto again = runtime::LoadPlanInput(from_file);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(again->graph.has_value());
  EXPECT_EQ(ProblemToJson(again->problem), ProblemToJson(in->problem));
}

// plan --split's runs, from cut names (a model) or group names (a problem file).
TEST(Instances, ASplitByNameBecomesRunsInHostOrder) {
  auto in = runtime::LoadPlanInput(TwoEsp32sOverEspNow());
  ASSERT_TRUE(in.ok()) << in.status().message();
  const Problem& p = in->problem;
  const int L = static_cast<int>(p.layers.size());
  auto runs = RunsFromCutNames(p, &*in->graph, in->cuts, {"block_16_project_BN"});
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  ASSERT_EQ(runs->size(), 2u);
  const int k = (*runs)[0].last + 1;  // the groups before the cut
  EXPECT_EQ(in->cuts[k].after, "block_16_project");
  EXPECT_EQ((*runs)[0].device, 0);
  EXPECT_EQ((*runs)[0].first, 0);
  EXPECT_EQ((*runs)[1].device, 1);
  EXPECT_EQ((*runs)[1].first, k);
  EXPECT_EQ((*runs)[1].last, L - 1);
  EXPECT_TRUE(EvaluatePlan(p, *runs).ok());

  // A problem file has no graph: its group names or 1-based numbers name the same boundary.
  auto by_number = RunsFromCutNames(p, nullptr, {}, {std::to_string(k)});
  ASSERT_TRUE(by_number.ok()) << by_number.status().message();
  EXPECT_EQ((*by_number)[1].first, k);
  auto by_name = RunsFromCutNames(p, nullptr, {}, {p.layers[k - 1].name});
  ASSERT_TRUE(by_name.ok()) << by_name.status().message();
  EXPECT_EQ((*by_name)[1].first, k);

  auto expect_error = [&](const Graph* g, const std::vector<std::string>& names, const std::string& needle) {
    auto r = RunsFromCutNames(p, g, g ? in->cuts : std::vector<CutPoint>{}, names);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_error(nullptr, {"no_such_group"}, "no layer group named 'no_such_group'");
  expect_error(nullptr, {std::to_string(L)}, "not strictly inside");
  expect_error(nullptr, {std::to_string(k), "1"}, "in model order");
  expect_error(nullptr, {"1", "2"}, "2 cuts need 3 devices");
  expect_error(&*in->graph, {"no_such_cut"}, "no_such_cut");
}

TEST(Instances, BadSourcesNameTheOption) {
  auto expect_error = [](const runtime::PlanSource& s, const std::string& needle) {
    auto in = runtime::LoadPlanInput(s);
    ASSERT_FALSE(in.ok());
    EXPECT_NE(in.status().message().find(needle), std::string::npos) << in.status().message();
  };
  expect_error(runtime::PlanSource{}, "give a MODEL");
  runtime::PlanSource s = TwoEsp32sOverEspNow();
  s.dtype = "f16";
  expect_error(s, "--dtype");
  s = TwoEsp32sOverEspNow();
  s.devices.clear();
  expect_error(s, "--devices");
  s = TwoEsp32sOverEspNow();
  s.problem_file = "p.json";
  expect_error(s, "not both");
  s = TwoEsp32sOverEspNow();
  s.codec_table = "t.json";
  expect_error(s, "--max-accuracy-drop");
}

TEST(Instances, ASplitPolicyFromNamesFollowsTheSecurityFlag) {
  runtime::DynamicSource s;
  s.model = kModel;
  s.device = "esp32s3";
  s.server = "edge-x86";
  s.link = "udp";
  std::vector<std::string> notes;
  auto sealed = runtime::LoadSplitPolicy(s, &notes);
  ASSERT_TRUE(sealed.ok()) << sealed.status().message();
  EXPECT_TRUE(sealed->candidate_set().sealing.sealed);
  EXPECT_GT(sealed->candidate_set().handshake_s, 0);
  EXPECT_TRUE(notes.empty());
  EXPECT_GE(sealed->candidates().size(), 3u);  // device-only, server-only and a bottleneck at least
  s.insecure = true;
  auto plain = runtime::LoadSplitPolicy(s);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_FALSE(plain->candidate_set().sealing.sealed);
  s.server = "rpi4";  // no security costs: said, not hidden
  s.insecure = false;
  notes.clear();
  ASSERT_TRUE(runtime::LoadSplitPolicy(s, &notes).ok());
  EXPECT_TRUE(HasNoteWith(notes, "'rpi4'"));
  s.candidates = "sometimes";
  EXPECT_FALSE(runtime::LoadSplitPolicy(s).ok());
}

TEST(EngineTiming, TimesWholeRunsAndEveryLayer) {
  auto g = LoadModel(kModel);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const Backend* backend = FindBackend("reference");
  ASSERT_NE(backend, nullptr);
  auto t = runtime::TimeLayers(*g, *backend, 2, runtime::TimingClock::kProcessCpu);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->totals_ms.size(), 2u);
  ASSERT_EQ(t->layers_ms.size(), g->nodes.size());
  ASSERT_NE(t->executor, nullptr);
  for (const auto& layer : t->layers_ms) EXPECT_EQ(layer.size(), 2u);
  for (double ms : t->totals_ms) EXPECT_TRUE(std::isfinite(ms) && ms >= 0);
  EXPECT_FALSE(runtime::TimeLayers(*g, *backend, 0).ok());
  EXPECT_EQ(runtime::Percentile({3, 1, 2}, 0.5), 2);
  EXPECT_EQ(runtime::Percentile({3, 1, 2, 4}, 1.0), 4);
}

}  // namespace
}  // namespace edgesplit
