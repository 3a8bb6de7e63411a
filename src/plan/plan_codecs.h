// Planner codecs inside the plan module: reading, writing and checking a
// layer's "codecs" in instance files (src/plan/codecs.cc). Not public.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "internal/json_fields.h"
#include "edgesplit/plan.h"

namespace edgesplit::plan_internal {

// Reads the "codecs" array `a` of a layer (errors into `r`, at "codecs[i].").
void ReadPlanCodecs(const json_fields::Json& a, json_fields::Reader& r, size_t devices, std::vector<PlanCodec>* out);
nlohmann::ordered_json PlanCodecsJson(const std::vector<PlanCodec>& codecs);
// Names, bytes >= 0, finite drops, encode_s/decode_s one per device entry.
Status ValidatePlanCodecs(const std::vector<PlanCodec>& codecs, size_t devices, const std::string& where);

}  // namespace edgesplit::plan_internal
