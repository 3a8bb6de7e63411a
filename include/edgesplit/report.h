// edgesplit report (docs/report.md): one self-contained HTML page of charts
// about a model: per-cut bytes and head compute with the natural bottlenecks,
// the planner comparison, the round trip per protocol beside the seed paper's
// figures, and a dynamic-split trace.
//
// Two sources of data, one shape (ReportData):
//   PredictReport   the cost models only (profiles, no runs): seconds for a
//                   MobileNetV2, dominated by the planner comparison.
//   ReportFromDir   the JSON documents other commands wrote (inspect, compare,
//                   bench-protocols, run, simulate, run --dynamic), recognised
//                   by their keys; files of other kinds are listed as skipped.
// RenderReportHtml inlines the charting library (Vega, Vega-Lite, vega-embed,
// installed by scripts/install-deps.sh; see ReportAssetsDir) and the data, so
// the page makes no network request.
//
// Errors: Status naming the file and key (ReportFromDir), the missing library
// file and the folder searched (LoadChartAssets). Thread-safety: stateless
// functions. Nothing here runs a model or opens a socket.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgesplit/dynamic.h"
#include "edgesplit/status.h"

namespace edgesplit::report {

using Json = nlohmann::ordered_json;

// One chart's data: records ("rows") the chart plots, where they came from
// ("predicted: ..." or file names) and chart-specific settings ("meta").
// An empty section is left out of the page with a note saying why.
struct Section {
  std::vector<std::string> sources;
  Json rows = Json::array();
  Json meta = Json::object();
  bool empty() const { return rows.empty(); }
};

// Rows, per section:
//   cuts        {index, after, bytes_int8, bytes_f32, head_macs, bottleneck: "strict"|"loose"|"none"}
//   planners    {devices, algorithm, feasible, value, latency_s, gap_pct, solve_time_s, segments}
//               meta: {model, link, objective}
//   round_trip  {protocol, source: "predicted"|"measured"|"paper", phase, seconds, order}; phases:
//               "set-up", "compute node 1..n", "transfer", "reply", "paper RTT" (source "paper").
//               meta: {paper: [{protocol, rtt_s, lower_bound, transfer_s}], cut, devices}
//   trace       {request, time_s, rate_bytes_per_s, server_load, split, cut_index, latency_s}
//               meta: {policy, model, device, server, link}
struct ReportData {
  std::string title;
  std::string origin;  // "predicted from the cost models" or "from DIR"
  bool emulated = true;  // device and link timings come from profiles, not hardware
  Section cuts, planners, round_trip, trace;
  std::vector<std::string> notes;  // skipped files, missing sections
};

// What PredictReport models. The defaults are the seed paper's set-ups.
struct ReportOptions {
  std::string model = "mobilenet_v2:alpha=0.35,res=224";
  std::string profiles_dir;  // "" = ProfilesDir()
  std::string dtype = "int8";
  // The round trip: two `node_device`s split at `cut`, over each protocol.
  std::string cut = "block_16_project_BN";
  std::string node_device = "esp32s3";
  std::vector<std::string> protocols = {"udp", "tcp", "espnow", "ble"};
  // The planner comparison (demo step 9).
  std::vector<std::string> compare_devices = {"esp32s3", "esp32s3", "esp32s3", "esp32s3", "esp32s3"};
  std::string compare_link = "espnow";
  // The dynamic trace: the policy of (head, server, link) over a generated trace.
  std::string head = "esp32s3-espnn", server = "edge-x86", dynamic_link = "udp";
  std::string generator = "step";
  int steps = 200;
  uint64_t seed = 1;
};

Result<ReportData> PredictReport(const ReportOptions& options);
// Reads every *.json file directly in `dir` (sorted by name). Fails when `dir`
// is not a folder or holds no document of a known kind.
Result<ReportData> ReportFromDir(const std::string& dir);

// ---- Documents of the other commands -------------------------------------------

enum class DocumentKind : uint8_t { kUnknown, kInspect, kCompare, kBenchProtocols, kRun, kDynamicRun, kSimulate };
const char* DocumentKindName(DocumentKind kind);  // "inspect", "compare", ... "unknown"
DocumentKind ClassifyDocument(const Json& document);
// Adds what `document` (of `kind`, read from `origin`) holds to `data`. Errors
// name the origin and the key with the wrong type.
Status AddDocument(const Json& document, DocumentKind kind, const std::string& origin, ReportData* data);

// The seed paper's figures for a protocol (arXiv 2507.16594; docs/calibration.md):
// the round trip (BLE's is a lower bound, "beyond 10 s"; TCP has none) and the
// UDP transfer of the 5,488-byte cut tensor. Zeros when the paper gives none.
struct PaperFigures {
  double rtt_s = 0;
  bool rtt_lower_bound = false;
  double transfer_s = 0;
};
PaperFigures PaperFiguresFor(const std::string& protocol);

// One simulated policy's requests as trace rows (`simulate --format json`'s "timeline").
Json TimelineJson(const SplitPolicy& policy, const std::vector<TraceRow>& trace, const PolicyResult& result);

// ---- The page -----------------------------------------------------------------

// The folder holding vega.min.js, vega-lite.min.js and vega-embed.min.js:
// `override_dir` when non-empty, else env EDGESPLIT_REPORT_ASSETS, else
// PREFIX/share/edgesplit/report beside the running binary (an installed tree),
// else the install prefix's, else the build tree's (copied there by CMake from
// third_party/vega/node_modules).
std::string ReportAssetsDir(const std::string& override_dir = "");

struct ChartAssets {
  std::string dir;
  std::string vega, vega_lite, vega_embed;  // the minified bundles
  std::string licenses;                     // the three packages' licence texts
};
// NotFound naming the folder and the missing file, and how to install them.
Result<ChartAssets> LoadChartAssets(const std::string& dir);

// The Vega-Lite spec of every non-empty section, keyed by chart name
// ("cuts", "planners", "round-trip", "trace"), data inlined.
Json ChartSpecs(const ReportData& data);
// The page: every chart in an element with data-chart="NAME", which the page
// marks data-rendered="true" once vega-embed has drawn it (or "error").
std::string RenderReportHtml(const ReportData& data, const ChartAssets& assets);
// The data as one JSON document (`report --format json`).
Json ReportJson(const ReportData& data);

}  // namespace edgesplit::report
