// The report page: the charting library, the specs and the data inlined into
// one HTML file that makes no network request.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "edgesplit/report.h"
#include "internal/self_exe.h"

#ifndef EDGESPLIT_REPORT_ASSETS_BUILD_DIR
#define EDGESPLIT_REPORT_ASSETS_BUILD_DIR ""
#endif
#ifndef EDGESPLIT_INSTALLED_REPORT_ASSETS
#define EDGESPLIT_INSTALLED_REPORT_ASSETS "share/edgesplit/report"
#endif
#ifndef EDGESPLIT_INSTALL_PREFIX
#define EDGESPLIT_INSTALL_PREFIX "/usr/local"
#endif

namespace edgesplit::report {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBundles[] = {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"};
constexpr const char* kLicensed[] = {"vega", "vega-lite", "vega-embed"};

bool HasBundles(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / kBundles[0], ec);
}

Result<std::string> ReadAsset(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound("missing " + path.string());
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return IoError("cannot read " + path.string());
  return text.str();
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A script's text may not contain "</script"; a source map comment would make
// developer tools fetch a file that is not there.
std::string InlineScript(std::string js) {
  // Only "</script" ends the element; "<\/" means "</" in strings, regular expressions and templates.
  std::string lower = js;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t at = lower.rfind("</script"); at != std::string::npos; at = at ? lower.rfind("</script", at - 1) : std::string::npos)
    js.replace(at, 2, "<\\/");
  for (size_t at; (at = js.find("//# sourceMappingURL=")) != std::string::npos;) {
    const size_t end = js.find('\n', at);
    js.erase(at, end == std::string::npos ? std::string::npos : end - at);
  }
  return js;
}

// JSON inside <script type="application/json">: '<' only occurs in strings,
// where \u003c is the same character.
std::string InlineJson(const Json& j) {
  std::string text = j.dump();
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

struct ChartText {
  const char* name;
  const char* heading;
  const char* about;
  const Section* section;
};

std::string SectionHtml(const ChartText& c) {
  std::string s = std::string("<section>\n<h2>") + c.heading + "</h2>\n<p>" + c.about + "</p>\n";
  if (c.section->empty()) return s + "<p class=\"missing\">No data for this chart in this report.</p>\n</section>\n";
  s += "<p class=\"source\">Data: ";
  for (size_t i = 0; i < c.section->sources.size(); ++i) s += (i ? "; " : "") + Escape(c.section->sources[i]);
  s += "</p>\n<div class=\"chart\" data-chart=\"" + std::string(c.name) + "\"></div>\n</section>\n";
  return s;
}

constexpr const char* kErrorCapture = R"(<script>
// Console errors and uncaught exceptions are counted on <html data-console-errors>.
(function () {
  var count = 0;
  function note() { count += 1; document.documentElement.setAttribute('data-console-errors', String(count)); }
  var original = console.error;
  console.error = function () { note(); return original.apply(console, arguments); };
  window.addEventListener('error', note);
  window.addEventListener('unhandledrejection', note);
})();
</script>
)";

constexpr const char* kDraw = R"(<script>
(function () {
  var specs = JSON.parse(document.getElementById('edgesplit-charts').textContent);
  document.querySelectorAll('[data-chart]').forEach(function (element) {
    var name = element.getAttribute('data-chart');
    if (!specs[name]) { element.setAttribute('data-rendered', 'error'); console.error('report: no spec for chart ' + name); return; }
    vegaEmbed(element, specs[name], { mode: 'vega-lite', renderer: 'svg', actions: false })
      .then(function () { element.setAttribute('data-rendered', element.querySelector('svg') ? 'true' : 'error'); })
      .catch(function (error) { element.setAttribute('data-rendered', 'error'); console.error('report: chart ' + name + ': ' + error); });
  });
})();
</script>
)";

constexpr const char* kStyle = R"(<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.origin, .source, .missing { color: #555; font-size: 0.9em; } .emulated { background: #fff4ce; padding: 0.5em; }
.chart { margin: 1em 0; min-height: 40px; } pre { white-space: pre-wrap; font-size: 0.8em; }
</style>
)";

}  // namespace

std::string ReportAssetsDir(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (const char* env = std::getenv("EDGESPLIT_REPORT_ASSETS"); env && *env) return env;
  std::error_code ec;
  if (const Result<std::string> exe = internal::SelfExecutablePath(); exe.ok()) {
    const fs::path beside = fs::path(*exe).parent_path().parent_path() / EDGESPLIT_INSTALLED_REPORT_ASSETS;
    if (HasBundles(beside)) return beside.string();
  }
  const fs::path installed = fs::path(EDGESPLIT_INSTALL_PREFIX) / EDGESPLIT_INSTALLED_REPORT_ASSETS;
  if (HasBundles(installed)) return installed.string();
  return EDGESPLIT_REPORT_ASSETS_BUILD_DIR;
}

Result<ChartAssets> LoadChartAssets(const std::string& dir) {
  ChartAssets a;
  a.dir = dir;
  std::string* bundles[] = {&a.vega, &a.vega_lite, &a.vega_embed};
  for (int i = 0; i < 3; ++i) {
    Result<std::string> text = ReadAsset(fs::path(dir) / kBundles[i]);
    if (!text.ok())
      return NotFound("the report's charting library is missing: no " + std::string(kBundles[i]) + " in '" + dir +
                      "' (Vega, Vega-Lite and vega-embed from npm: run scripts/install-deps.sh, then re-run cmake and the "
                      "build; or point EDGESPLIT_REPORT_ASSETS at a folder holding them)");
    *bundles[i] = std::move(*text);
  }
  for (const char* package : kLicensed) {
    Result<std::string> text = ReadAsset(fs::path(dir) / "licenses" / (std::string(package) + ".txt"));
    if (!text.ok()) return NotFound("the report's charting library has no licence beside it: " + text.status().message());
    a.licenses += std::string(package) + "\n\n" + *text + "\n\n";
  }
  return a;
}

Json ReportJson(const ReportData& d) {
  auto section = [](const Section& s) { return Json{{"sources", s.sources}, {"meta", s.meta}, {"rows", s.rows}}; };
  return {{"schema_version", 1},
          {"title", d.title},
          {"origin", d.origin},
          {"emulated", d.emulated},
          {"cuts", section(d.cuts)},
          {"planners", section(d.planners)},
          {"round_trip", section(d.round_trip)},
          {"trace", section(d.trace)},
          {"notes", d.notes}};
}

std::string RenderReportHtml(const ReportData& d, const ChartAssets& assets) {
  std::string h = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>edgesplit report: " + Escape(d.title) +
                  "</title>\n";
  h += kErrorCapture;
  h += kStyle;
  h += "<script>\n" + InlineScript(assets.vega) + "\n</script>\n";
  h += "<script>\n" + InlineScript(assets.vega_lite) + "\n</script>\n";
  h += "<script>\n" + InlineScript(assets.vega_embed) + "\n</script>\n";
  h += "</head>\n<body>\n<h1>edgesplit report: " + Escape(d.title) + "</h1>\n<p class=\"origin\">" + Escape(d.origin) + "</p>\n";
  if (d.emulated)
    h += "<p class=\"emulated\">Device and link timings are <b>emulated</b> from calibrated profiles, not measured on hardware "
         "(docs/calibration.md gives each number's source).</p>\n";
  const ChartText charts[] = {
      {"cuts", "Cut points: the tensor each cut sends, and the compute before it",
       "Bars: bytes of the cut tensor at every cut point, coloured by natural bottleneck (strict: smaller than the input and "
       "every earlier strict bottleneck; loose: smaller than the input). Line: multiply-accumulates the head runs up to the cut. "
       "Click a legend entry to highlight it.",
       &d.cuts},
      {"planners", "The planner comparison", "Every planning algorithm on the first N devices: the objective's value, and its gap "
       "to the exact optimum (dp). Hover for the segments each chose.", &d.planners},
      {"round-trip", "The round trip per protocol",
       "Stacked: link set-up (paid once, cold), each node's compute, the cut tensor's transfer, the reply. Beside each protocol, the "
       "seed paper's measured round trip (arXiv 2507.16594; BLE's is a lower bound, TCP has none).",
       &d.round_trip},
      {"trace", "Dynamic split over a trace",
       "Per request: the link's data rate, the server's load, the split the policy chose, and the latency. Drag or scroll on the top "
       "panel to zoom.",
       &d.trace},
  };
  for (const ChartText& c : charts) h += SectionHtml(c);
  if (!d.notes.empty()) {
    h += "<section>\n<h2>Notes</h2>\n<ul>\n";
    for (const std::string& n : d.notes) h += "<li>" + Escape(n) + "</li>\n";
    h += "</ul>\n</section>\n";
  }
  h += "<details>\n<summary>Licences of the inlined charting library (Vega, Vega-Lite, vega-embed)</summary>\n<pre>" +
       Escape(assets.licenses) + "</pre>\n</details>\n";
  h += "<script type=\"application/json\" id=\"edgesplit-charts\">" + InlineJson(ChartSpecs(d)) + "</script>\n";
  h += kDraw;
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace edgesplit::report
