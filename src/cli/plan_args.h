// What `plan` and `compare` share: where the instance comes from.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/instances.h"
#include "edgesplit/plan.h"

namespace edgesplit::cli {

// The instance's sources and builder live in the library (edgesplit/instances.h).
using runtime::PlanInput;
using runtime::PlanSource;

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
// runtime::LoadPlanInput (--problem, or MODEL + profiles; writes --dump-problem),
// its notes on stderr.
Result<PlanInput> LoadPlanInputWithNotes(const PlanSource& source);

}  // namespace edgesplit::cli
