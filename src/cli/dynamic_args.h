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
  bool insecure = false;  // plain links; the default is sealed (docs/security.md "Costs in the model")
};

void AddDynamicSourceOptions(CLI::App& app, DynamicSource& source);
Result<SplitPolicy> LoadSplitPolicy(const DynamicSource& source);
// The keys every policy/simulate JSON document starts with: schema_version,
// model, device, server, link, then sealed and handshake_s (set-up, in no latency).
Json DynamicSetupJson(const SplitPolicy& policy);

}  // namespace edgesplit::cli
