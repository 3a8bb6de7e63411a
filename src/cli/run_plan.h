// `run --plan`: the chain a plan JSON (`edgesplit plan --format json`)
// describes, the link of each of its hops, and its predictions set beside the
// run's measurements (docs/runtime.md, docs/planner.md).
#pragma once

#include <string>
#include <vector>

#include "edgesplit/runtime.h"
#include "render.h"

namespace edgesplit::cli {

// One transfer of the plan: "input" (the sensor to the first stage), "hop"
// (stage to stage) or "result" (the last stage to the sensor).
struct PlanTransfer {
  std::string from, to, link;
  int link_index = -1;  // into PlanPrediction::links; -1: the plan has no links[]
  int64_t bytes = 0;
  double time_s = 0;
};

struct PlanPrediction {
  double latency_s = 0;
  std::vector<double> compute_s;   // per segment
  std::vector<std::string> hosts;  // per segment, as the plan names them (name#k)
  std::vector<PlanTransfer> hops;  // kind "hop", in stage order
  PlanTransfer input, result;
  bool has_input = false;   // the sensor runs no first stage: it sends the input
  bool has_result = false;  // the sensor did not run the last stage: the result comes back
  std::vector<Json> links;  // the plan's links[]: empty in a plan from before per-hop links
};

// Reads the plan: one node per segment (devices emulated; a host `name#k`
// emulates profile `name`), the predictions, and its link and dtype into
// *link / *dtype when they are empty. Errors name the file and the field
// (a transfer's link_index outside links[], a malformed link).
Status ReadPlan(const std::string& path, std::string* link, std::string* dtype, std::vector<runtime::ChainNodeSpec>* nodes,
                PlanPrediction* pred);

// Gives `o` the plan's per-hop links (ChainOptions::hop_links, input_link),
// each from o->link's settings with its own profile and shaping (`shape` as
// --shape; --loss applies to the datagram hops, TCP loss being real). A link
// that matches the profile of its name under `profiles` runs as that profile;
// any other (inline parameters, or changed numbers) is written as a profile
// file into `scratch_dir` (an existing private folder, e.g. a ScratchDir's). A result the sensor computed
// itself goes back unshaped, as does the input to a sensor that runs stage 1.
Status ApplyPlanLinks(const std::string& plan_path, const PlanPrediction& pred, const std::string& shape, bool emulating,
                      const std::string& scratch_dir, runtime::ChainOptions* o);

// The `plan` object of run's JSON: the plan's predictions beside the last
// inference's measurements and the steady median, per stage and per transfer
// (with its hosts, link, transport and bytes); `o` is the chain's options
// (each hop's settings, for its transport and shaping).
Json PlanVsMeasured(const PlanPrediction& pred, const runtime::ChainOptions& o, const std::vector<runtime::InferenceRecord>& recs,
                    const runtime::RunSummary& summary);
std::string PlanVsMeasuredText(const Json& plan);

// A private folder under the temporary directory, removed with its files on destruction.
struct ScratchDir {
  std::string path;
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// "espnow (espnow, shaped) -> tcp ..." for the header: every link a chain uses, in hop order.
std::string DescribeHopLinks(const runtime::ChainOptions& o);

}  // namespace edgesplit::cli
