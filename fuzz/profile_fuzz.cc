// libFuzzer target: the profile and instance-file parsers must reject any
// input with a Status (no crash, no sanitizer report), and any instance they
// accept must solve with dp and evaluate without failing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "edgesplit/cost.h"
#include "edgesplit/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)edgesplit::ParseDeviceProfile(text, "fuzz.json");
  (void)edgesplit::ParseLinkProfile(text, "fuzz.json");
  auto problem = edgesplit::ParseProblem(text, "fuzz.json");
  if (problem.ok() && problem->layers.size() <= 64 && problem->devices.size() <= 16) {
    edgesplit::PlanOptions o;
    for (auto obj : {edgesplit::Objective::kLatency, edgesplit::Objective::kThroughput, edgesplit::Objective::kEnergy}) {
      o.objective = obj;
      (void)edgesplit::SolvePlan(*problem, edgesplit::Algorithm::kDp, o);
      (void)edgesplit::SolvePlan(*problem, edgesplit::Algorithm::kBeam, o);
      (void)edgesplit::SolvePlan(*problem, edgesplit::Algorithm::kRandomFit, o);
    }
  }
  return 0;
}
