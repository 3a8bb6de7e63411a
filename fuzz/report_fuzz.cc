// libFuzzer target: arbitrary bytes as a JSON document that `edgesplit report
// --from` reads (inspect, compare, bench-protocols, run, simulate, run
// --dynamic outputs). A document of a known kind is either added or refused
// with a Status; then the chart specs and the page are built from what was
// added. No input may crash, throw or trip the sanitizers.
#include <cstdint>
#include <string>

#include "edgesplit/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using edgesplit::report::Json;
  const Json doc = Json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  edgesplit::report::ReportData report;
  const edgesplit::report::DocumentKind kind = edgesplit::report::ClassifyDocument(doc);
  if (kind == edgesplit::report::DocumentKind::kUnknown) return 0;
  if (!edgesplit::report::AddDocument(doc, kind, "fuzz.json", &report).ok()) return 0;
  edgesplit::report::ChartAssets assets;
  assets.vega = "/* </script> */";
  (void)edgesplit::report::RenderReportHtml(report, assets);
  (void)edgesplit::report::ReportJson(report).dump();
  return 0;
}
