// Planning instances from a model and profile names (module `runtime`,
// docs/planner.md, docs/dynamic.md): what `plan`, `compare`, `policy` and
// `simulate` build before they solve, so a library user gets the same
// instance the CLI does from the same names.
//
// Errors name the option that is wrong (the names are the CLI's flags).
// Notes (a profile measured for another dtype, a device with no security
// costs) are returned for the caller to show, not printed.
// Thread-safety: none shared; each call is independent.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/dynamic.h"
#include "edgesplit/graph.h"
#include "edgesplit/plan.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// Where a split-planning instance comes from: a problem file, or a model
// with device and link profiles.
struct PlanSource {
  std::string model, problem_file, link, links_file, dtype = "int8", profiles_dir;
  std::string dump_problem;  // when set with a model: the instance is written there (ProblemToJson)
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
  std::vector<std::string> notes;
};

Result<PlanInput> LoadPlanInput(const PlanSource& source);

// Where a dynamic split policy comes from: a model, the head device, the
// server and the link.
struct DynamicSource {
  std::string model, device, server, link, candidates = "strict", dtype = "int8", profiles_dir;
  std::vector<double> load_levels;
  // Joint cut x codec candidates (docs/codecs.md): the accuracy table, the cost file, the budget.
  std::string codec_table, codec_costs;
  double max_accuracy_drop = std::numeric_limits<double>::quiet_NaN();  // NaN: not given
  bool insecure = false;  // plain links; the default is sealed (docs/security.md "Costs in the model")
};

// `notes` (may be null) receives what the caller should tell the user.
Result<SplitPolicy> LoadSplitPolicy(const DynamicSource& source, std::vector<std::string>* notes = nullptr);

}  // namespace edgesplit::runtime
