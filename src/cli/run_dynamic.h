// `edgesplit run MODEL --dynamic ...`: the live dynamic split run
// (docs/dynamic.md, "Live"). run.cc registers these flags beside its own and
// hands over when --dynamic is given.
#pragma once

#include <limits>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "edgesplit/status.h"

namespace edgesplit::cli {

struct DynamicRunArgs {
  bool dynamic = false;
  std::string schedule, candidates = "strict";
  double probe_interval = 1.0, hysteresis = 0.02, probe_timeout = 2.0;
  // Larger than the controller's 4 KiB: the head times probes on the wall clock,
  // and a longer probe averages the host's jitter out of the rate sample.
  int64_t probe_bytes = 16384;
  // The joint cut x codec choice (docs/codecs.md): candidates per cut x codec
  // of the accuracy table within the budget (NaN: not given).
  std::string codec_table, codec_costs;
  double max_accuracy_drop = std::numeric_limits<double>::quiet_NaN();
};

// The flags `run` already has, as it parsed them.
struct RunCommonArgs {
  std::string model, link, dtype, format, profiles, output, shape, plan;
  std::vector<std::string> devices, split;
  int repeat = 0, inflight = 1;
  double loss = -1, time_scale = 1, timeout = 120;
  std::vector<std::string> attach;  // a running `serve` instead of starting one
};

void AddDynamicRunOptions(CLI::App& app, DynamicRunArgs* args);
Status RunDynamic(const DynamicRunArgs& args, const RunCommonArgs& common);

}  // namespace edgesplit::cli
