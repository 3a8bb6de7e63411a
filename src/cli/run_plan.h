// `run --plan`: the plan file (edgesplit/plan.h ReadPlanFile) as the
// command's defaults, and the planner's predictions beside the run's
// measurements (edgesplit/runtime_plan.h PlanVsMeasured) as text.
#pragma once

#include <string>
#include <vector>

#include "edgesplit/plan.h"
#include "edgesplit/runtime.h"
#include "edgesplit/runtime_plan.h"
#include "render.h"

namespace edgesplit::cli {

// Reads the plan: its chain's nodes (runtime::PlanNodes), and its link and
// dtype into *link / *dtype when the command left them empty.
Status ReadPlan(const std::string& path, std::string* link, std::string* dtype, std::vector<runtime::ChainNodeSpec>* nodes,
                PlanFile* plan);

// The text table of runtime::PlanVsMeasured's document.
std::string PlanVsMeasuredText(const Json& plan);

}  // namespace edgesplit::cli
