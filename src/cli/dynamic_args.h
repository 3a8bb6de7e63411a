// What `policy` and `simulate` share: the model, the head device, the server
// and the link, turned into a SplitPolicy (include/edgesplit/dynamic.h).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgesplit/dynamic.h"
#include "edgesplit/instances.h"
#include "render.h"

namespace edgesplit::cli {

using runtime::DynamicSource;  // the policy's sources and builder: edgesplit/instances.h

void AddDynamicSourceOptions(CLI::App& app, DynamicSource& source);
// runtime::LoadSplitPolicy, its notes on stderr.
Result<SplitPolicy> LoadSplitPolicyWithNotes(const DynamicSource& source);
// The keys every policy/simulate JSON document starts with: schema_version,
// model, device, server, link, then sealed and handshake_s (set-up, in no latency).
Json DynamicSetupJson(const SplitPolicy& policy);

}  // namespace edgesplit::cli
