// libFuzzer target: the profile, instance-file and codec table/cost parsers must reject any
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
  // The codec accuracy table and cost file the joint cut x codec choice reads.
  auto table = edgesplit::ParseCodecTable(text, "fuzz.json");
  auto costs = edgesplit::ParseCodecCosts(text, "fuzz.json", {});
  if (table.ok() && costs.ok()) {
    edgesplit::Problem p;
    p.dtype = table->dtype;
    p.devices = {edgesplit::PlanDevice{"a", 1, 1}};
    for (const auto& e : table->entries) p.layers.push_back(edgesplit::PlanLayer{e.after, 1, 1, 1, {0.0}});
    (void)edgesplit::AttachCodecs(*table, *costs, 1.0, &p);
  }
  auto problem = edgesplit::ParseProblem(text, "fuzz.json");
  const int hosts = problem.ok() ? static_cast<int>(edgesplit::HostNames(*problem).size()) : 0;
  if (problem.ok() && problem->layers.size() <= 64 && hosts <= 16) {
    edgesplit::PlanOptions o;
    for (auto order : {edgesplit::Order::kFixed, edgesplit::Order::kFree}) {
      const bool small = edgesplit::CountPlans(static_cast<int>(problem->layers.size()), hosts, false, order) <= 20000;
      for (bool use_all : {false, true})
        for (auto obj : {edgesplit::Objective::kLatency, edgesplit::Objective::kThroughput, edgesplit::Objective::kEnergy})
          for (auto alg : edgesplit::AllAlgorithms()) {
            if (alg == edgesplit::Algorithm::kBruteForce && !small) continue;
            if (order == edgesplit::Order::kFree && !edgesplit::SupportsFreeOrder(alg)) continue;
            o.objective = obj;
            o.use_all = use_all;
            o.order = order;
            (void)edgesplit::SolvePlan(*problem, alg, o);
          }
    }
  }
  return 0;
}
