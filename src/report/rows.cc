// Row builders and the seed paper's figures (report_internal.h).
#include <algorithm>

#include "report_internal.h"

namespace edgesplit::report {

Json CutRow(int64_t index, const std::string& after, int64_t bytes_int8, int64_t bytes_f32, int64_t head_macs, bool strict, bool loose) {
  return {{"index", index},         {"after", after},         {"bytes_int8", bytes_int8},
          {"bytes_f32", bytes_f32}, {"head_macs", head_macs}, {"bottleneck", strict ? "strict" : loose ? "loose" : "none"}};
}

Json PlannerRow(int devices, const std::string& algorithm, bool feasible, double value, double latency_s, double gap_pct,
                double solve_time_s, const std::string& segments) {
  return {{"devices", devices}, {"algorithm", algorithm},       {"feasible", feasible},
          {"value", value},     {"latency_s", latency_s},       {"gap_pct", gap_pct},
          {"solve_time_s", solve_time_s}, {"segments", segments}};
}

void AddRoundTripRows(const std::string& protocol, const std::string& source, double setup_s, const std::vector<double>& compute_s,
                      double transfer_s, double reply_s, ReportData* data) {
  int order = 0;
  auto add = [&](const std::string& phase, double seconds) {
    data->round_trip.rows.push_back({{"protocol", protocol}, {"source", source}, {"phase", phase}, {"seconds", seconds}, {"order", order++}});
  };
  add("set-up", setup_s);
  for (size_t i = 0; i < compute_s.size(); ++i) {
    add("compute node " + std::to_string(i + 1), compute_s[i]);
    if (i == 0) add("transfer", transfer_s);
  }
  add("reply", reply_s);
}

PaperFigures PaperFiguresFor(const std::string& p) {
  // arXiv 2507.16594 v1/v2 abstracts: UDP 5.8 s, ESP-NOW 3.7 s (v1) / 3.6 s (v2),
  // BLE "beyond 10 s"; the 5,488-byte cut tensor "traverses the link in 3.2 ms" over UDP.
  PaperFigures f;
  if (p == "udp") f.rtt_s = 5.8, f.transfer_s = 3.2e-3;
  if (p == "espnow") f.rtt_s = 3.65;
  if (p == "ble") f.rtt_s = 10.0, f.rtt_lower_bound = true;
  return f;
}

void AddPaperFigures(const std::vector<std::string>& protocols, const std::string& model, const std::string& cut, ReportData* data) {
  if (model != "mobilenet_v2:alpha=0.35,res=224" || (cut != "block_16_project_BN" && cut != "block_16_project")) {
    const std::string note = "the seed paper's round trips are for mobilenet_v2:alpha=0.35,res=224 split after block_16_project_BN; "
                             "not shown beside " + (model.empty() ? std::string("an unnamed model") : model) +
                             (cut.empty() ? std::string() : " split after " + cut);
    if (std::find(data->notes.begin(), data->notes.end(), note) == data->notes.end()) data->notes.push_back(note);
    return;
  }
  Json& paper = data->round_trip.meta["paper"];
  if (!paper.is_array()) paper = Json::array();
  for (const std::string& p : protocols) {
    const PaperFigures f = PaperFiguresFor(p);
    if (f.rtt_s <= 0) continue;
    if (std::any_of(paper.begin(), paper.end(), [&](const Json& x) { return x["protocol"] == p; })) continue;
    paper.push_back({{"protocol", p}, {"rtt_s", f.rtt_s}, {"lower_bound", f.rtt_lower_bound}, {"transfer_s", f.transfer_s}});
    data->round_trip.rows.push_back({{"protocol", p},
                                     {"source", "paper"},
                                     {"phase", f.rtt_lower_bound ? "paper RTT (lower bound)" : "paper RTT"},
                                     {"seconds", f.rtt_s},
                                     {"order", 0}});
  }
}

Json TimelineJson(const SplitPolicy& policy, const std::vector<TraceRow>& trace, const PolicyResult& result) {
  Json rows = Json::array();
  for (size_t i = 0; i < trace.size() && i < result.requests.size(); ++i) {
    const RequestRecord& q = result.requests[i];
    rows.push_back({{"request", i},
                    {"time_s", trace[i].time_s},
                    {"rate_bytes_per_s", trace[i].rate_bytes_per_s},
                    {"server_load", trace[i].server_load},
                    {"split", q.candidate >= 0 ? policy.candidates()[static_cast<size_t>(q.candidate)].name : "none"},
                    {"cut_index", q.candidate >= 0 ? policy.candidates()[static_cast<size_t>(q.candidate)].cut_index : -1},
                    {"latency_s", q.latency_s}});
  }
  return rows;
}

}  // namespace edgesplit::report
