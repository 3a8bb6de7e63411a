// What `policy` and `simulate` share: the model, the head device, the server
// and the link, turned into a SplitPolicy (include/edgesplit/dynamic.h).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgesplit/dynamic.h"

namespace edgesplit::cli {

struct DynamicSource {
  std::string model, device, server, link, candidates = "strict", dtype = "int8", profiles_dir;
  std::vector<double> load_levels;
};

void AddDynamicSourceOptions(CLI::App& app, DynamicSource& source);
Result<SplitPolicy> LoadSplitPolicy(const DynamicSource& source);

}  // namespace edgesplit::cli
