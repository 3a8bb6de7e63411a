// edgesplit report [MODEL] [--from DIR] [-o FILE] [--format html|json] [--profiles DIR] [--assets DIR]
//
// One self-contained HTML page of charts (docs/report.md). Without --from it
// is predicted from the cost models for MODEL (default: the seed paper's
// MobileNetV2-0.35); with --from, built from the JSON other commands wrote.
// The data and the page are the library's (include/edgesplit/report.h).
#include <fmt/format.h>

#include "commands.h"
#include "edgesplit/cost.h"
#include "edgesplit/report.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct ReportArgs {
  std::string model, from, output, format = "html", profiles, assets;
};

Status RunReport(const ReportArgs& a) {
  if (a.format != "html" && a.format != "json") return InvalidArgument("--format must be html or json, not '" + a.format + "'");
  if (!a.model.empty() && !a.from.empty()) return InvalidArgument("give MODEL or --from DIR, not both");
  // The library first: a missing one is said before any work.
  report::ChartAssets assets;
  if (a.format == "html") {
    ES_ASSIGN_OR_RETURN(assets, report::LoadChartAssets(report::ReportAssetsDir(a.assets)));
  }
  report::ReportData data;
  if (!a.from.empty()) {
    ES_ASSIGN_OR_RETURN(data, report::ReportFromDir(a.from));
  } else {
    report::ReportOptions o;
    if (!a.model.empty()) o.model = a.model;
    o.profiles_dir = a.profiles;
    ES_ASSIGN_OR_RETURN(data, report::PredictReport(o));
  }
  if (a.format == "json") return WriteOutput(a.output, report::ReportJson(data).dump(2) + "\n");
  const std::string path = a.output.empty() ? "edgesplit-report.html" : a.output;
  const std::string html = report::RenderReportHtml(data, assets);
  ES_RETURN_IF_ERROR(WriteOutput(path, html));
  const size_t charts = report::ChartSpecs(data).size();
  if (path != "-") std::fprintf(stderr, "edgesplit report: wrote %s (%zu charts, %.1f MB, self-contained)\n", path.c_str(), charts, html.size() / 1e6);
  return Status::Ok();
}

}  // namespace

Runner RegisterReport(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  app.add_option("model", a->model, "Model to predict for (default: mobilenet_v2:alpha=0.35,res=224)");
  app.add_option("--from", a->from, "Folder of JSON written by inspect, compare, bench-protocols, run, simulate (--format json)");
  app.add_option("-o,--output", a->output, "The HTML file (default: edgesplit-report.html; - for stdout)");
  app.add_option("--format", a->format, "html, or json: the report's data")
      ->check(CLI::IsMember({"html", "json"}))
      ->capture_default_str();
  app.add_option("--profiles", a->profiles, "Profiles folder");
  app.add_option("--assets", a->assets, "Folder holding vega.min.js, vega-lite.min.js, vega-embed.min.js (default: found beside the binary)");
  return [a] { return RunReport(*a); };
}

}  // namespace edgesplit::cli
