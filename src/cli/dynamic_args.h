// What `policy` and `simulate` share: the model, the head device, the server
// and the link, turned into a SplitPolicy (include/edgesplit/dynamic.h).
#pragma once

#include <limits>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgesplit/dynamic.h"
#include "render.h"

namespace edgesplit::cli {

struct DynamicSource {
  std::string model, device, server, link, candidates = "strict", dtype = "int8", profiles_dir;
  std::vector<double> load_levels;
  // Joint cut x codec candidates (docs/codecs.md): the accuracy table, the cost file, the budget.
  std::string codec_table, codec_costs;
  double max_accuracy_drop = std::numeric_limits<double>::quiet_NaN();  // NaN: not given
};

void AddDynamicSourceOptions(CLI::App& app, DynamicSource& source);
Result<SplitPolicy> LoadSplitPolicy(const DynamicSource& source);
// The keys every policy/simulate JSON document starts with: schema_version,
// model, device, server, link.
Json DynamicSetupJson(const SplitPolicy& policy);

}  // namespace edgesplit::cli
