// What `plan` and `compare` share: where the instance comes from.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/plan.h"

namespace edgesplit::cli {

struct PlanSource {
  std::string model, problem_file, link, links_file, dtype = "int8", profiles_dir, dump_problem;
  std::vector<std::string> devices;
  // Joint cut x codec choice (docs/codecs.md): the accuracy table, the
  // encode/decode cost file (default PROFILES/codecs/codec_costs.json) and the budget.
  std::string codec_table, codec_costs;
  double max_accuracy_drop = std::numeric_limits<double>::quiet_NaN();  // NaN: not given
  bool insecure = false;  // plain links; the default is sealed (docs/security.md "Costs in the model")
};

struct PlanInput {
  Problem problem;
  std::optional<Graph> graph;  // when built from a model
  std::vector<CutPoint> cuts;
};

// The solver settings both take (--objective, --order, --use-all, --beam-width, --seed, --max-plans).
inline PlanOptions SolverOptions(Objective objective, Order order, bool use_all, int beam_width, uint64_t seed, int64_t max_plans) {
  PlanOptions o;
  o.objective = objective;
  o.order = order;
  o.use_all = use_all;
  o.beam_width = beam_width;
  o.seed = seed;
  o.max_plans = max_plans;
  return o;
}

void AddPlanSourceOptions(CLI::App& app, PlanSource& source);
// The instance from --problem, or built from MODEL + profiles (writes --dump-problem).
Result<PlanInput> LoadPlanInput(const PlanSource& source);

}  // namespace edgesplit::cli
