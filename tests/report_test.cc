// edgesplit report (include/edgesplit/report.h): the data from predictions and
// from other commands' JSON, the chart specs, the page, the command.
#include "edgesplit/report.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "test_util.h"

namespace edgesplit::report {
namespace {

using ::edgesplit::testing::MakeTempDir;
using ::edgesplit::testing::RunCli;
using ::edgesplit::testing::WriteFile;

// One prediction for the whole file: the planner comparison takes a few seconds.
const ReportData& Predicted() {
  static const ReportData* data = [] {
    Result<ReportData> r = PredictReport(ReportOptions{});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return new ReportData(r.ok() ? std::move(*r) : ReportData{});
  }();
  return *data;
}

double Total(const Section& s, const std::string& protocol, const std::string& source) {
  double total = 0;
  for (const Json& r : s.rows)
    if (r["protocol"] == protocol && r["source"] == source) total += r["seconds"].get<double>();
  return total;
}

TEST(Report, PredictedCutsAreTheModelsCutPointsWithItsBottlenecks) {
  const ReportData& d = Predicted();
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=224");
  ASSERT_TRUE(g.ok());
  Result<std::vector<CutPoint>> cuts = FindCutPoints(*g);
  ASSERT_TRUE(cuts.ok());
  ASSERT_EQ(d.cuts.rows.size(), cuts->size());
  int strict = 0;
  for (size_t i = 0; i < cuts->size(); ++i) {
    const Json& r = d.cuts.rows[i];
    EXPECT_EQ(r["after"], (*cuts)[i].after);
    EXPECT_EQ(r["bytes_int8"], (*cuts)[i].bytes_int8);
    EXPECT_EQ(r["head_macs"], (*cuts)[i].head_macs);
    EXPECT_EQ(r["bottleneck"] == "strict", (*cuts)[i].bottleneck_strict);
    strict += r["bottleneck"] == "strict";
  }
  EXPECT_GT(strict, 1);
  // The paper's cut sends 5,488 int8 bytes.
  bool found = false;
  for (const Json& r : d.cuts.rows) found |= r["after"] == "block_16_project" && r["bytes_int8"] == 5488;
  EXPECT_TRUE(found);
}

TEST(Report, PredictedPlannersHaveEveryAlgorithmAndDpIsTheOptimum) {
  const ReportData& d = Predicted();
  std::set<std::string> algorithms;
  for (const Json& r : d.planners.rows) {
    algorithms.insert(r["algorithm"].get<std::string>());
    if (r["algorithm"] == "dp" && r["feasible"] == true) {
      EXPECT_EQ(r["gap_pct"].get<double>(), 0.0);
    }
    if (r["feasible"] == true) {
      EXPECT_GE(r["gap_pct"].get<double>(), -1e-9);
    }
  }
  EXPECT_EQ(algorithms.size(), AllAlgorithms().size());
  EXPECT_EQ(d.planners.meta["link"], "espnow");
}

TEST(Report, PredictedRoundTripHasEveryPhaseAndThePapersFigures) {
  const ReportData& d = Predicted();
  for (const char* p : {"udp", "tcp", "espnow", "ble"}) {
    std::set<std::string> phases;
    for (const Json& r : d.round_trip.rows)
      if (r["protocol"] == p && r["source"] == "predicted") phases.insert(r["phase"].get<std::string>());
    EXPECT_EQ(phases, (std::set<std::string>{"set-up", "compute node 1", "transfer", "compute node 2", "reply"})) << p;
  }
  // docs/calibration.md: ESP-NOW is fitted to 3.65 s; UDP and BLE are held out.
  EXPECT_NEAR(Total(d.round_trip, "espnow", "predicted"), 3.65, 0.05);
  EXPECT_NEAR(Total(d.round_trip, "udp", "predicted"), 5.8, 0.58);
  EXPECT_GT(Total(d.round_trip, "ble", "predicted"), 10.0);
  EXPECT_EQ(Total(d.round_trip, "udp", "paper"), 5.8);
  EXPECT_EQ(Total(d.round_trip, "espnow", "paper"), 3.65);
  EXPECT_EQ(Total(d.round_trip, "tcp", "paper"), 0.0);  // the paper gives no TCP figure
  ASSERT_EQ(d.round_trip.meta["paper"].size(), 3u);
  EXPECT_TRUE(PaperFiguresFor("ble").rtt_lower_bound);
  EXPECT_EQ(PaperFiguresFor("udp").transfer_s, 3.2e-3);
}

TEST(Report, PredictedTraceHasOneRowPerRequestAndSwitchesSplit) {
  const ReportData& d = Predicted();
  ASSERT_EQ(d.trace.rows.size(), 200u);
  std::set<std::string> splits;
  std::set<double> rates;
  for (const Json& r : d.trace.rows) {
    splits.insert(r["split"].get<std::string>());
    rates.insert(r["rate_bytes_per_s"].get<double>());
    EXPECT_GT(r["latency_s"].get<double>(), 0);
  }
  EXPECT_GT(rates.size(), 1u);   // a step trace changes rate
  EXPECT_GT(splits.size(), 1u);  // and the policy follows it
}

TEST(Report, ChartSpecsInlineEverySectionsRows) {
  const ReportData& d = Predicted();
  const Json specs = ChartSpecs(d);
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs["cuts"]["data"]["values"].size(), d.cuts.rows.size());
  EXPECT_EQ(specs["planners"]["data"]["values"].size(), d.planners.rows.size());
  EXPECT_EQ(specs["round-trip"]["data"]["values"].size(), d.round_trip.rows.size());
  EXPECT_EQ(specs["trace"]["data"]["values"].size(), d.trace.rows.size());
  // Nothing a browser would fetch.
  EXPECT_EQ(specs.dump().find("http"), std::string::npos);
  ReportData partial;
  partial.cuts = d.cuts;
  EXPECT_EQ(ChartSpecs(partial).size(), 1u);
}

ChartAssets FakeAssets() {
  ChartAssets a;
  a.vega = "var vega = {s: '</script><b>'};\n//# sourceMappingURL=vega.min.js.map\n";
  a.vega_lite = "var vegaLite = {};";
  a.vega_embed = "var vegaEmbed = function () {};";
  a.licenses = "BSD <3-Clause>";
  return a;
}

TEST(Report, PageInlinesTheLibraryAndMarksEveryChart) {
  ReportData d = Predicted();
  d.notes.push_back("a note with <markup> & \"quotes\"");
  const std::string html = RenderReportHtml(d, FakeAssets());
  for (const char* chart : {"cuts", "planners", "round-trip", "trace"})
    EXPECT_NE(html.find(std::string("data-chart=\"") + chart + "\""), std::string::npos) << chart;
  // The only "</script" are the page's own closing tags: one per <script>.
  size_t opens = 0, closes = 0;
  for (size_t at = 0; (at = html.find("<script", at)) != std::string::npos; ++at) ++opens;
  for (size_t at = 0; (at = html.find("</script", at)) != std::string::npos; ++at) ++closes;
  EXPECT_EQ(opens, closes);
  EXPECT_NE(html.find("<\\/script><b>"), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
  EXPECT_NE(html.find("a note with &lt;markup&gt; &amp; &quot;quotes&quot;"), std::string::npos);
  EXPECT_NE(html.find("BSD &lt;3-Clause&gt;"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_NE(html.find("emulated"), std::string::npos);
}

TEST(Report, MissingSectionsAreSaidNotDrawn) {
  ReportData d;
  d.title = "t";
  d.cuts.rows.push_back({{"index", 0}});
  const std::string html = RenderReportHtml(d, FakeAssets());
  EXPECT_NE(html.find("data-chart=\"cuts\""), std::string::npos);
  EXPECT_EQ(html.find("data-chart=\"trace\""), std::string::npos);
  EXPECT_NE(html.find("No data for this chart"), std::string::npos);
}

TEST(Report, MissingLibrarySaysWhereItLooked) {
  const std::string dir = MakeTempDir();
  Result<ChartAssets> a = LoadChartAssets(dir);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kNotFound);
  EXPECT_NE(a.status().message().find(dir), std::string::npos);
  EXPECT_NE(a.status().message().find("vega.min.js"), std::string::npos);
  EXPECT_NE(a.status().message().find("install-deps.sh"), std::string::npos);
  // The bundles without their licences are refused too.
  for (const char* f : {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}) WriteFile(dir + "/" + f, "x");
  a = LoadChartAssets(dir);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("licence"), std::string::npos);
}

// ---- Documents of the other commands ---------------------------------------------

Json InspectDoc() {
  return Json::parse(R"({"schema_version":1,"model":"m","layers":[],"cut_points":[
    {"index":0,"after":"input","bytes_int8":100,"bytes_f32":400,"head_macs":0,"bottleneck_loose":false,"bottleneck_strict":false},
    {"index":1,"after":"conv","bytes_int8":50,"bytes_f32":200,"head_macs":1000,"bottleneck_loose":true,"bottleneck_strict":true}]})");
}
Json CompareDoc() {
  return Json::parse(R"({"schema_version":1,"model":"m","link":"espnow","objective":"latency","free_order_algorithms":["dp"],"rows":[
    {"devices":1,"algorithm":"dp","order":"fixed","ran":true,"feasible":true,"value":2.0,"latency_s":2.0,"gap_pct":0,"segments":"0:0-1","solve_time_s":1e-5},
    {"devices":1,"algorithm":"brute-force","order":"fixed","ran":false,"feasible":false},
    {"devices":1,"algorithm":"greedy","order":"fixed","ran":true,"feasible":false,"reason":"too big","solve_time_s":1e-5}]})");
}
Json BenchDoc() {
  return Json::parse(R"({"schema_version":1,"emulated":true,"model":"mobilenet_v2:alpha=0.35,res=224","cut":"block_16_project_BN","protocols":[
    {"protocol":"udp","rtt_s":5.5,"cold_rtt_s":5.5,"steady_rtt_s":3.5,"transfer_s":0.004,
     "breakdown":{"setup_s":2.0,"compute_s":[3.0,0.4],"transfer_s":0.004,"reply_s":0.002}},
    {"protocol":"espnow","rtt_s":3.7,"cold_rtt_s":3.7,"steady_rtt_s":3.6,"transfer_s":0.1}]})");
}
Json RunDoc() {
  return Json::parse(R"({"schema_version":1,"model":"mobilenet_v2:alpha=0.35,res=224","link":"tcp","inferences":[
    {"request_id":1,"cold":true,"setup_s":2.0,"nodes":[{"compute_s":3.0},{"compute_s":0.5}],"hops":[{"transfer_s":0.01}],"reply_s":0.003},
    {"request_id":2,"cold":false,"setup_s":0,"nodes":[{"compute_s":3.0},{"compute_s":0.5}],"hops":[{"transfer_s":0.01}],"reply_s":0.003}]})");
}
Json DynamicDoc() {
  return Json::parse(R"({"schema_version":1,"dynamic":true,"model":"m","link":"udp","inferences":[
    {"request":1,"split":"block_6","cut_index":3,"rtt_s":0.2,"true_rate_bytes_per_s":1.6e6,"server_load":1,"done_at_s":0.2},
    {"request":2,"split":"device-only","cut_index":9,"rtt_s":0.5,"true_rate_bytes_per_s":1.25e5,"server_load":1,"done_at_s":0.7}]})");
}

TEST(ReportDocuments, EachCommandsJsonIsRecognised) {
  EXPECT_EQ(ClassifyDocument(InspectDoc()), DocumentKind::kInspect);
  EXPECT_EQ(ClassifyDocument(CompareDoc()), DocumentKind::kCompare);
  EXPECT_EQ(ClassifyDocument(BenchDoc()), DocumentKind::kBenchProtocols);
  EXPECT_EQ(ClassifyDocument(RunDoc()), DocumentKind::kRun);
  EXPECT_EQ(ClassifyDocument(DynamicDoc()), DocumentKind::kDynamicRun);
  EXPECT_EQ(ClassifyDocument(Json::parse(R"({"policies":[],"trace":"x"})")), DocumentKind::kSimulate);
  EXPECT_EQ(ClassifyDocument(Json::parse(R"({"plan":1})")), DocumentKind::kUnknown);
  EXPECT_EQ(ClassifyDocument(Json::parse("[1,2]")), DocumentKind::kUnknown);
}

TEST(ReportDocuments, AFolderOfOutputsFillsEveryChart) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/1-inspect.json", InspectDoc().dump());
  WriteFile(dir + "/2-compare.json", CompareDoc().dump());
  WriteFile(dir + "/3-bench.json", BenchDoc().dump());
  WriteFile(dir + "/4-run.json", RunDoc().dump());
  WriteFile(dir + "/5-dynamic.json", DynamicDoc().dump());
  WriteFile(dir + "/6-other.json", R"({"hello":1})");
  WriteFile(dir + "/7-broken.json", "{not json");
  WriteFile(dir + "/notes.txt", "ignored");
  Result<ReportData> r = ReportFromDir(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->title, "m");
  EXPECT_EQ(r->cuts.rows.size(), 2u);
  EXPECT_EQ(r->cuts.rows[1]["bottleneck"], "strict");
  EXPECT_EQ(r->planners.rows.size(), 2u);  // brute force did not run
  EXPECT_NEAR(Total(r->round_trip, "udp", "measured"), 2.0 + 3.0 + 0.4 + 0.004 + 0.002, 1e-12);
  // Without a breakdown: set-up = cold - steady, and the rest is one phase.
  EXPECT_NEAR(Total(r->round_trip, "espnow", "measured"), 3.7, 1e-12);
  EXPECT_NEAR(Total(r->round_trip, "tcp", "measured"), 2.0 + 3.5 + 0.01 + 0.003, 1e-12);  // the cold inference
  EXPECT_EQ(Total(r->round_trip, "udp", "paper"), 5.8);
  ASSERT_EQ(r->trace.rows.size(), 2u);
  EXPECT_EQ(r->trace.rows[1]["split"], "device-only");
  EXPECT_EQ(ChartSpecs(*r).size(), 4u);
  ASSERT_EQ(r->notes.size(), 2u);  // the unknown and the broken file
  EXPECT_NE(r->notes[0].find("6-other.json"), std::string::npos);
  EXPECT_NE(r->notes[1].find("7-broken.json"), std::string::npos);
}

TEST(ReportDocuments, ThePapersFiguresOnlyBesideThePapersSetUp) {
  ReportData d;
  Json doc = BenchDoc();
  doc["cut"] = "block_13_project_BN";
  ASSERT_TRUE(AddDocument(doc, DocumentKind::kBenchProtocols, "b.json", &d).ok());
  EXPECT_EQ(Total(d.round_trip, "udp", "measured"), 2.0 + 3.0 + 0.4 + 0.004 + 0.002);
  EXPECT_EQ(Total(d.round_trip, "udp", "paper"), 0.0);
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_NE(d.notes[0].find("block_13_project_BN"), std::string::npos) << d.notes[0];
  ReportOptions o;
  o.model = "mobilenet_v2:alpha=0.35,res=96";
  o.compare_devices = {"esp32s3", "esp32s3"};
  Result<ReportData> p = PredictReport(o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(Total(p->round_trip, "espnow", "paper"), 0.0);
  EXPECT_GT(Total(p->round_trip, "espnow", "predicted"), 0.0);
  EXPECT_FALSE(p->notes.empty());
}

TEST(ReportDocuments, AWrongTypeNamesTheFileAndKey) {
  const std::string dir = MakeTempDir();
  Json doc = CompareDoc();
  doc["rows"][0]["value"] = "fast";
  WriteFile(dir + "/c.json", doc.dump());
  Result<ReportData> r = ReportFromDir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("c.json"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("rows[0].value"), std::string::npos) << r.status().message();

  doc = BenchDoc();
  doc["protocols"][0]["breakdown"]["compute_s"][1] = nullptr;
  ReportData d;
  Status s = AddDocument(doc, DocumentKind::kBenchProtocols, "b.json", &d);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("protocols[0].breakdown.compute_s[1]"), std::string::npos) << s.message();

  doc = RunDoc();
  doc["inferences"][0]["nodes"] = 5;
  s = AddDocument(doc, DocumentKind::kRun, "r.json", &d);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("inferences[0].nodes"), std::string::npos) << s.message();
}

TEST(ReportDocuments, AFolderWithNothingKnownIsAnError) {
  const std::string dir = MakeTempDir();
  Result<ReportData> r = ReportFromDir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no *.json"), std::string::npos);
  WriteFile(dir + "/x.json", "{}");
  r = ReportFromDir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir), std::string::npos);
  EXPECT_FALSE(ReportFromDir(dir + "/missing").ok());
}

// ---- The command -----------------------------------------------------------------

TEST(ReportCli, WithoutTheLibraryItSaysWhereItLookedAndFails) {
  const std::string dir = MakeTempDir();
  std::string out, err;
  EXPECT_EQ(RunCli("report --assets " + dir + " -o " + dir + "/r.html", &out, &err), 1);
  EXPECT_NE(err.find("charting library is missing"), std::string::npos) << err;
  EXPECT_NE(err.find(dir), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/r.html"));
}

TEST(ReportCli, FromAFolderOfCommandOutputs) {
  const std::string dir = MakeTempDir();
  std::string out, err;
  ASSERT_EQ(RunCli("inspect mobilenet_v2:alpha=0.35,res=96 --format json -o " + dir + "/inspect.json", &out, &err), 0) << err;
  ASSERT_EQ(RunCli("simulate mobilenet_v2:alpha=0.35,res=96 --device esp32s3-espnn --server edge-x86 --link udp --generate step "
                   "--steps 50 --format json -o " + dir + "/simulate.json", &out, &err), 0) << err;
  ASSERT_EQ(RunCli("report --from " + dir + " --format json", &out, &err), 0) << err;
  const Json j = Json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["title"], "mobilenet_v2:alpha=0.35,res=96");
  EXPECT_GT(j["cuts"]["rows"].size(), 10u);
  EXPECT_EQ(j["trace"]["rows"].size(), 50u);
  EXPECT_EQ(j["trace"]["meta"]["policy"], "dynamic");
  EXPECT_TRUE(j["planners"]["rows"].empty());
  EXPECT_EQ(RunCli("report mobilenet_v2 --from " + dir, &out, &err), 1);
  EXPECT_NE(err.find("not both"), std::string::npos) << err;
  EXPECT_EQ(RunCli("report --format pdf", &out, &err), 2);  // a usage error
}

}  // namespace
}  // namespace edgesplit::report

// ---- The page in a browser ---------------------------------------------------------

namespace edgesplit::report {
namespace {

std::string Chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

int Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// `edgesplit report -o` (predictions, the default model) opened in headless
// Chromium with no network: every chart drawn, nothing on the console. The page
// and a screenshot stay in the build tree (build/tests/report/).
TEST(ReportBrowser, EveryChartRendersOfflineWithNoConsoleMessages) {
  const std::string chromium = Chromium();
  const bool required = ::edgesplit::testing::FixturesRequired();
  if (chromium.empty()) {
    if (required) FAIL() << "chromium is not installed (scripts/install-deps.sh --test)";
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh --test)";
  }
  if (!LoadChartAssets(ReportAssetsDir()).ok()) {
    if (required) FAIL() << "the report's charting library is missing (scripts/install-deps.sh)";
    GTEST_SKIP() << "the report's charting library is missing (scripts/install-deps.sh)";
  }
  const std::filesystem::path out = std::filesystem::path(EDGESPLIT_CLI_PATH).parent_path() / "tests" / "report";
  std::filesystem::create_directories(out);
  const std::string page = (out / "report.html").string();
  std::string stdout_text, stderr_text;
  ASSERT_EQ(RunCli("report -o " + page, &stdout_text, &stderr_text), 0) << stderr_text;
  EXPECT_NE(stderr_text.find("4 charts"), std::string::npos) << stderr_text;

  const std::string profile = MakeTempDir();
  // No network: every host name fails to resolve; virtual time lets the page finish drawing.
  const std::string browser = "timeout 180 " + chromium + " --headless=new --no-sandbox --disable-gpu --no-first-run " +
                              "--disable-extensions --disable-background-networking --host-resolver-rules='MAP * ~NOTFOUND' " +
                              "--user-data-dir=" + profile + " --enable-logging=stderr --v=0 --virtual-time-budget=60000 ";
  const std::string dom = (out / "report.dom.html").string(), log = (out / "chromium.log").string();
  ASSERT_EQ(Shell(browser + "--dump-dom file://" + page + " >" + dom + " 2>" + log), 0) << ::edgesplit::testing::ReadFile(log);
  const std::string text = ::edgesplit::testing::ReadFile(dom);
  for (const char* chart : {"cuts", "planners", "round-trip", "trace"}) {
    const size_t at = text.find(std::string("data-chart=\"") + chart + "\"");
    ASSERT_NE(at, std::string::npos) << chart;
    const size_t tag_end = text.find('>', at);
    EXPECT_NE(text.substr(at, tag_end - at).find("data-rendered=\"true\""), std::string::npos) << chart << ": not drawn";
    EXPECT_NE(text.find("<svg", tag_end), std::string::npos) << chart;
  }
  // The page counts console errors on its <html> element (the first tag of the dump).
  const size_t html_tag = text.find("<html");
  ASSERT_NE(html_tag, std::string::npos);
  EXPECT_EQ(text.substr(html_tag, text.find('>', html_tag) - html_tag).find("data-console-errors"), std::string::npos)
      << "the page counted console errors";
  const std::string messages = ::edgesplit::testing::ReadFile(log);
  EXPECT_EQ(messages.find(":CONSOLE"), std::string::npos) << messages;

  const std::string png = (out / "report.png").string();
  std::filesystem::remove(png);
  ASSERT_EQ(Shell(browser + "--window-size=1100,3300 --screenshot=" + png + " file://" + page + " >/dev/null 2>&1"), 0);
  ASSERT_TRUE(std::filesystem::exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 20000u);
}

}  // namespace
}  // namespace edgesplit::report
