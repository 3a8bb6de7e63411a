// Running a plan (`edgesplit run --plan`): the chain a plan file describes
// (include/edgesplit/plan.h, ReadPlanFile), each hop on the plan's own link,
// and the planner's predictions set beside the run's measurements
// (docs/runtime.md, docs/planner.md). Errors are Status values naming the plan
// and the field. Thread-safety: plain functions over values; ScratchDir is not
// to be shared between threads.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgesplit/plan.h"
#include "edgesplit/runtime.h"

namespace edgesplit::runtime {

// One node per segment, from "input" to "output" (the plan names the last
// layer; an int8 graph ends in a DequantizeLinear after it); a host `name#k`
// emulates device profile `name`, a host "" none.
std::vector<ChainNodeSpec> PlanNodes(const PlanFile& plan);

// Gives `o` the plan's per-hop links (ChainOptions::hop_links, input_link),
// each from o->link's settings with its own profile and shaping (`shape` as
// --shape; --loss applies to the datagram hops, TCP loss being real). A link
// that matches the profile of its name under o->link.profiles_dir runs as that
// profile; any other (inline parameters, or changed numbers) is written as a
// profile file into `scratch_dir` (an existing private folder, e.g. a
// ScratchDir's). A result the sensor computed itself goes back unshaped, as
// does the input to a sensor that runs stage 1. `origin` (the plan's path)
// names the plan in errors: a plan without links[], a link that is neither a
// profile nor spelled out, an unknown transport.
Status ApplyPlanLinks(const PlanFile& plan, const std::string& origin, const std::string& shape, bool emulating,
                      const std::string& scratch_dir, ChainOptions* o);

// The plan's predictions beside the last inference's measurements and the
// steady median, per stage and per transfer (with its hosts, link, transport
// and bytes): {"predicted_latency_s", "measured_steady_rtt_s", "error_pct",
// "segments": [...], "hops": [...], "input"?, "result"?} (docs/runtime.md).
// `o` is the chain's options (each hop's settings, for its transport and
// shaping); `records` is not empty.
nlohmann::ordered_json PlanVsMeasured(const PlanFile& plan, const ChainOptions& o, const std::vector<InferenceRecord>& records,
                                      const RunSummary& summary);

// "espnow (espnow, shaped), tcp (tcp, local)": every link a chain uses, in hop order.
std::string DescribeHopLinks(const ChainOptions& o);

// A private folder under the temporary directory, removed with its files on
// destruction; path is "" when it could not be made (ApplyPlanLinks then
// reports the file it cannot write).
struct ScratchDir {
  std::string path;
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace edgesplit::runtime
