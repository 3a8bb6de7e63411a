// JSON and text renderings of the analysis, and output writing, shared by the subcommands
// (the `report` subcommand is report.cc; its page is built by include/edgesplit/report.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/graph.h"

namespace edgesplit::cli {

// Keys keep insertion order, so documents read schema_version first.
using Json = nlohmann::ordered_json;

Json ShapeJson(const Shape& shape);
std::string ActivationText(const FusedActivation& activation);  // "" when none
Json CutJson(const CutPoint& cut);
Json LayerJson(const Graph& graph, int node_index, const LayerStats& stats);

// "59.3M", "4.09G", "5.36KiB"...
std::string Human(double value);
std::string HumanBytes(int64_t bytes);

// --format csv of a JSON document's rows (an array of objects): one column per
// key in first-seen order, nested objects as "parent.child", arrays of scalars
// joined with ';', null as empty, true/false as 1/0; fields quoted when needed.
std::string RowsCsv(const Json& rows);

// Writes `text` to `path`, or to stdout when `path` is empty or "-".
Status WriteOutput(const std::string& path, const std::string& text);

}  // namespace edgesplit::cli
