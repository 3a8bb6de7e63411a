// ChartSpecs: one Vega-Lite spec per non-empty section, data inlined. The
// page draws them with vega-embed (html.cc); no spec names a URL.
#include <algorithm>
#include <set>

#include "edgesplit/report.h"

namespace edgesplit::report {
namespace {

constexpr int kWidth = 780;  // plus axes and legends: fits a 1000-pixel page

Json Tooltip(std::initializer_list<std::pair<const char*, const char*>> fields) {
  Json t = Json::array();
  for (const auto& [field, type] : fields) t.push_back({{"field", field}, {"type", type}});
  return t;
}

// Clicking a legend entry highlights its marks (the others fade).
Json LegendParam(const char* name, const char* field) {
  return {{"name", name}, {"select", {{"type", "point"}, {"fields", {field}}}}, {"bind", "legend"}};
}
Json Highlight(const char* param) { return {{"condition", {{"param", param}, {"value", 1}}}, {"value", 0.2}}; }

Json CutsSpec(const Section& s) {
  const std::string bytes = s.meta.value("dtype", "int8") == "f32" ? "bytes_f32" : "bytes_int8";
  Json x = {{"field", "after"},
            {"type", "ordinal"},
            {"sort", {{"field", "index"}, {"op", "min"}}},
            {"axis", {{"labelAngle", -60}, {"labelFontSize", 9}, {"title", "cut after (input to output)"}}}};
  Json bars = {{"mark", {{"type", "bar"}}},
               {"params", {LegendParam("bottleneck_pick", "bottleneck")}},
               {"encoding",
                {{"x", x},
                 {"y", {{"field", bytes}, {"type", "quantitative"}, {"title", "cut tensor bytes (" + bytes.substr(6) + ")"}}},
                 {"color",
                  {{"field", "bottleneck"},
                   {"type", "nominal"},
                   {"title", "natural bottleneck"},
                   {"scale", {{"domain", {"strict", "loose", "none"}}, {"range", {"#d62728", "#ff7f0e", "#9ecae1"}}}}}},
                 {"opacity", Highlight("bottleneck_pick")},
                 {"tooltip", Tooltip({{"index", "quantitative"}, {"after", "nominal"}, {bytes.c_str(), "quantitative"},
                                      {"head_macs", "quantitative"}, {"bottleneck", "nominal"}})}}}};
  Json line = {{"mark", {{"type", "line"}, {"color", "#333333"}, {"point", {{"filled", true}, {"size", 18}}}}},
               {"encoding",
                {{"x", x},
                 {"y", {{"field", "head_macs"}, {"type", "quantitative"}, {"title", "head compute (MACs up to the cut, line)"}}},
                 {"tooltip", Tooltip({{"after", "nominal"}, {"head_macs", "quantitative"}})}}}};
  return {{"width", kWidth},
          {"height", 320},
          {"data", {{"values", s.rows}}},
          {"layer", {bars, line}},
          {"resolve", {{"scale", {{"y", "independent"}}}}}};
}

Json PlannersSpec(const Section& s) {
  const std::string objective = s.meta.value("objective", "latency");
  const std::string unit = objective == "energy" ? "J" : "s";
  Json base = {{"x", {{"field", "devices"}, {"type", "ordinal"}, {"title", "devices (first N)"}}},
               {"xOffset", {{"field", "algorithm"}}},
               {"color", {{"field", "algorithm"}, {"type", "nominal"}, {"title", "algorithm"}}},
               {"opacity", Highlight("algorithm_pick")},
               {"tooltip", Tooltip({{"devices", "ordinal"}, {"algorithm", "nominal"}, {"value", "quantitative"},
                                    {"latency_s", "quantitative"}, {"gap_pct", "quantitative"}, {"solve_time_s", "quantitative"},
                                    {"segments", "nominal"}})}};
  Json value = {{"width", kWidth}, {"height", 220}, {"mark", "bar"}, {"params", {LegendParam("algorithm_pick", "algorithm")}},
                {"encoding", base}};
  value["encoding"]["y"] = {{"field", "value"}, {"type", "quantitative"}, {"title", objective + " (" + unit + ")"}};
  Json gap = {{"width", kWidth}, {"height", 160}, {"mark", "bar"}, {"encoding", base}};
  gap["encoding"]["y"] = {{"field", "gap_pct"}, {"type", "quantitative"}, {"title", "gap to the optimum (%)"}};
  return {{"data", {{"values", s.rows}}}, {"transform", {{{"filter", "datum.feasible"}}}}, {"vconcat", {value, gap}}};
}

Json RoundTripSpec(const Section& s) {
  // Bars in protocol order, each protocol's predicted, measured and paper bars together.
  std::vector<std::string> protocols, bars, phases;
  std::set<std::string> seen_bars, seen_phases;
  for (const Json& r : s.rows) {
    const std::string p = r["protocol"];
    if (std::find(protocols.begin(), protocols.end(), p) == protocols.end()) protocols.push_back(p);
  }
  for (const std::string& p : protocols)
    for (const char* source_rank : {"predicted", "measured", "paper"})
      for (const Json& r : s.rows) {
        const std::string source = r["source"];
        const std::string bar = p + " · " + source;
        if (r["protocol"] == p && source.rfind(source_rank, 0) == 0 && seen_bars.insert(bar).second) bars.push_back(bar);
      }
  for (const Json& r : s.rows)
    if (seen_phases.insert(r["phase"].get<std::string>()).second) phases.push_back(r["phase"]);
  std::stable_sort(phases.begin(), phases.end(), [&](const std::string& a, const std::string& b) {
    return (a.rfind("paper", 0) == 0) < (b.rfind("paper", 0) == 0);  // the paper's last
  });
  Json y = {{"field", "bar"}, {"type", "nominal"}, {"title", nullptr}, {"sort", bars}};
  Json stacked = {{"mark", "bar"},
                  {"params", {LegendParam("phase_pick", "phase")}},
                  {"encoding",
                   {{"y", y},
                    {"x", {{"field", "seconds"}, {"type", "quantitative"}, {"stack", "zero"}, {"title", "seconds (cold round trip)"}}},
                    {"color", {{"field", "phase"}, {"type", "nominal"}, {"title", "phase"}, {"scale", {{"domain", phases}}}}},
                    {"order", {{"field", "order"}, {"type", "quantitative"}}},
                    {"opacity", Highlight("phase_pick")},
                    {"tooltip", Tooltip({{"protocol", "nominal"}, {"source", "nominal"}, {"phase", "nominal"}, {"seconds", "quantitative"}})}}}};
  Json totals = {{"transform", {{{"aggregate", {{{"op", "sum"}, {"field", "seconds"}, {"as", "total"}}}}, {"groupby", {"bar"}}}}},
                 {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 4}}},
                 {"encoding",
                  {{"y", y},
                   {"x", {{"field", "total"}, {"type", "quantitative"}}},
                   {"text", {{"field", "total"}, {"type", "quantitative"}, {"format", ".3f"}}}}}};
  return {{"width", kWidth - 200},
          {"height", {{"step", 22}}},
          {"data", {{"values", s.rows}}},
          {"transform", {{{"calculate", "datum.protocol + ' · ' + datum.source"}, {"as", "bar"}}}},
          {"layer", {stacked, totals}}};
}

Json TraceSpec(const Section& s) {
  Json x = {{"field", "request"}, {"type", "quantitative"}, {"title", "request"}};
  auto panel = [&](Json mark, Json y, Json extra = Json::object()) {
    Json enc = {{"x", x}, {"y", std::move(y)},
                {"tooltip", Tooltip({{"request", "quantitative"}, {"rate_bytes_per_s", "quantitative"}, {"server_load", "quantitative"},
                                     {"split", "nominal"}, {"latency_s", "quantitative"}})}};
    enc.update(extra);
    return Json{{"width", kWidth}, {"height", 110}, {"mark", std::move(mark)}, {"encoding", std::move(enc)}};
  };
  Json rate = panel({{"type", "line"}, {"interpolate", "step-after"}},
                    {{"field", "rate_bytes_per_s"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", "data rate (bytes/s)"}});
  rate["params"] = {{{"name", "zoom"}, {"select", {{"type", "interval"}, {"encodings", {"x"}}}}, {"bind", "scales"}}};
  Json load = panel({{"type", "line"}, {"interpolate", "step-after"}, {"color", "#8c564b"}},
                    {{"field", "server_load"}, {"type", "quantitative"}, {"title", "server load"}});
  Json split = panel({{"type", "tick"}, {"thickness", 2}},
                     {{"field", "split"}, {"type", "nominal"}, {"sort", {{"field", "cut_index"}, {"op", "min"}}}, {"title", "chosen split"}},
                     {{"color", {{"field", "split"}, {"type", "nominal"}, {"legend", nullptr}}}});
  Json latency = panel({{"type", "line"}, {"color", "#2ca02c"}, {"point", {{"size", 10}}}},
                       {{"field", "latency_s"}, {"type", "quantitative"}, {"title", "latency (s)"}});
  return {{"data", {{"values", s.rows}}}, {"vconcat", {rate, load, split, latency}}, {"resolve", {{"scale", {{"x", "shared"}}}}}};
}

}  // namespace

Json ChartSpecs(const ReportData& data) {
  Json specs = Json::object();
  if (!data.cuts.empty()) specs["cuts"] = CutsSpec(data.cuts);
  if (!data.planners.empty()) specs["planners"] = PlannersSpec(data.planners);
  if (!data.round_trip.empty()) specs["round-trip"] = RoundTripSpec(data.round_trip);
  if (!data.trace.empty()) specs["trace"] = TraceSpec(data.trace);
  return specs;
}

}  // namespace edgesplit::report
