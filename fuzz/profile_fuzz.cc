// libFuzzer target: the profile and instance-file parsers must reject any
// input with a Status (no crash, no sanitizer report), and every algorithm must
// run on any instance they accept (brute force on small ones).
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
    const bool small = edgesplit::CountPlans(static_cast<int>(problem->layers.size()),
                                             static_cast<int>(problem->devices.size()), false) <= 20000;
    edgesplit::PlanOptions o;
    for (bool use_all : {false, true})
      for (auto obj : {edgesplit::Objective::kLatency, edgesplit::Objective::kThroughput, edgesplit::Objective::kEnergy})
        for (auto alg : edgesplit::AllAlgorithms()) {
          if (alg == edgesplit::Algorithm::kBruteForce && !small) continue;
          o.objective = obj;
          o.use_all = use_all;
          (void)edgesplit::SolvePlan(*problem, alg, o);
        }
  }
  return 0;
}
