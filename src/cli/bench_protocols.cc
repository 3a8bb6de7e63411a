// edgesplit bench-protocols [--format table|json] [--time-scale S] [--repeat N]
//     [--protocols LIST] [--dtype int8|f32] [--model SPEC] [--cut NAME]
//
// The seed paper's experiment (docs/calibration.md): MobileNetV2-0.35 int8 cut
// after block_16_project_BN, two emulated esp32s3 nodes, over udp, tcp, espnow
// and ble. rtt_s is the RTT as the paper measured it: timed from the top of
// setup(), so the cold round trip with the link's set-up. Each protocol runs
// plain (`protocols[]`) and sealed (`protocols_sealed[]`, docs/security.md).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "commands.h"
#include "conventions.h"
#include "progress.h"
#include "edgesplit/report.h"
#include "edgesplit/runtime.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct BenchArgs {
  std::string format = "table", dtype = "int8", model = "mobilenet_v2:alpha=0.35,res=224", cut = "block_16_project_BN";
  std::string profiles;
  std::vector<std::string> protocols = {"udp", "tcp", "espnow", "ble"};
  double time_scale = 1;
  int repeat = 3;
};

// The paper's figures (RTT per protocol, UDP's transfer): report::PaperFiguresFor.
double PaperRtt(const std::string& p) { return report::PaperFiguresFor(p).rtt_s; }
// Its firmware sent the raw tensor with no header and no acknowledgement (docs/calibration.md).
double PaperTransfer(const std::string& p) { return report::PaperFiguresFor(p).transfer_s; }

Status RunBench(const BenchArgs& a) {
  if (a.format != "table" && a.format != "json" && a.format != "csv") return InvalidArgument("--format must be table, json or csv");
  if (a.repeat < 2) return InvalidArgument("--repeat must be >= 2 (one cold, then steady ones)");
  ES_ASSIGN_OR_RETURN(const std::string self, runtime::SelfExecutablePath());
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["emulated"] = true;
  j["time_scale"] = a.time_scale;
  j["model"] = a.model;
  j["cut"] = a.cut;
  j["dtype"] = a.dtype;
  j["devices"] = {"esp32s3", "esp32s3"};
  j["protocols"] = Json::array();
  std::string table = fmt::format("{} {} split after {}, 2 x esp32s3 (emulated, time scale {})\n\n{:<8} {:>9} {:>10} {:>11} {:>12} {:>9} {:>9}  {}\n",
                                  a.model, a.dtype, a.cut, a.time_scale, "protocol", "rtt s", "cold s", "steady s", "transfer ms",
                                  "fragments", "paper s", "error");
  j["protocols_sealed"] = Json::array();
  // One protocol's row: plain (`protocols[]`, as the seed paper's firmware
  // sent) or with every hop sealed (`protocols_sealed[]`; the handshakes run
  // before the first request or in the cold one's set-up, never in the steady RTT).
  auto run_protocol = [&](const std::string& protocol, bool sealed) -> Result<Json> {
    runtime::ChainOptions o;
    o.model = a.model;
    o.dtype = a.dtype;
    o.nodes = {{"input", a.cut, "esp32s3"}, {a.cut, "output", "esp32s3"}};
    o.link.link = protocol;
    o.link.profiles_dir = a.profiles;
    o.link.time_scale = a.time_scale;
    o.link.shaped = true;
    o.node_binary = self;
    o.insecure = !sealed;
    auto chain = runtime::Chain::Start(o);
    if (!chain.ok()) return chain.status().WithContext(protocol);
    auto recs = (*chain)->Run(a.repeat);
    if (!recs.ok()) return recs.status().WithContext(protocol);
    const runtime::RunSummary s = runtime::Summarize(*recs);
    bool identical = true;
    for (const auto& r : *recs) identical &= r.identical;
    if (!identical) return Internal(protocol + ": a result differs from the local run");
    // The hop of median transfer time: one inference's figure on a loaded host
    // can be off by a millisecond of scheduling (set-up is paid before the hop's clock starts).
    std::vector<runtime::HopRecord> by_time;
    for (const auto& r : *recs) by_time.push_back(r.hops.front());
    std::sort(by_time.begin(), by_time.end(), [](const auto& x, const auto& y) { return x.transfer_s < y.transfer_s; });
    const runtime::HopRecord& hop = by_time[by_time.size() / 2];
    double overrun = 0;  // > 0: this host computed slower than the emulated device, so the RTT is too long
    for (const auto& r : *recs)
      for (const auto& node : r.nodes) overrun = std::max(overrun, node.overrun_s);
    const double paper = PaperRtt(protocol);
    Json p{{"protocol", protocol},
           {"rtt_s", s.cold_rtt_s},
           {"cold_rtt_s", s.cold_rtt_s},
           {"steady_rtt_s", s.steady_median_s},
           {"transfer_s", hop.transfer_s},
           {"predicted_transfer_s", hop.predicted_transfer_s},
           {"fragments", hop.fragments},
           {"message_bytes", hop.bytes},
           {"results_identical", identical},
           {"overrun_s", overrun}};
    if (paper > 0) p["paper_rtt_s"] = paper, p["error_pct"] = 100.0 * (s.cold_rtt_s - paper) / paper;
    if (const double t = PaperTransfer(protocol); t > 0) {
      // Like for like: predicted_transfer_s is T(b) of the bare tensor, as the paper sent it;
      // transfer_s is the framed message up to its final SACK.
      p["paper_transfer_s"] = t;
      p["transfer_error_pct"] = 100.0 * (hop.transfer_s - t) / t;
      p["predicted_transfer_error_pct"] = 100.0 * (hop.predicted_transfer_s - t) / t;
    }
    // The cold round trip's phases, as the paper timed it (edgesplit report's stacked bars).
    const runtime::InferenceRecord& cold = recs->front();
    Json breakdown{{"setup_s", cold.setup_s}, {"compute_s", Json::array()}, {"transfer_s", 0.0}, {"reply_s", cold.reply_s}};
    for (const auto& node : cold.nodes) breakdown["compute_s"].push_back(node.compute_s);
    double transfer = 0;
    for (const auto& h : cold.hops) transfer += h.transfer_s;
    breakdown["transfer_s"] = transfer;
    p["breakdown"] = breakdown;
    return p;
  };
  auto row = [](const Json& p) {
    const double paper = p.value("paper_rtt_s", 0.0);
    return fmt::format("{:<8} {:>9.3f} {:>10.3f} {:>11.3f} {:>12.2f} {:>9} {:>9} {}\n", p["protocol"].get<std::string>(),
                       p["cold_rtt_s"].get<double>(), p["cold_rtt_s"].get<double>(), p["steady_rtt_s"].get<double>(),
                       p["transfer_s"].get<double>() * 1e3, p["fragments"].get<int64_t>(), paper > 0 ? fmt::format("{:.2f}", paper) : "-",
                       paper > 0 ? fmt::format("{:+.1f}%", p["error_pct"].get<double>()) : "-");
  };
  Progress bar("protocols", static_cast<int64_t>(2 * a.protocols.size()));  // minutes in all: progress on a terminal
  int64_t done = 0;
  std::string sealed_table = "\nsealed (every hop a sealed session; steady vs plain)\n";
  for (const std::string& protocol : a.protocols) {
    bar.Update(done++);
    ES_ASSIGN_OR_RETURN(Json plain, run_protocol(protocol, false));
    bar.Update(done++);
    ES_ASSIGN_OR_RETURN(Json sealed, run_protocol(protocol, true));
    table += row(plain);
    const double ratio = sealed["steady_rtt_s"].get<double>() / plain["steady_rtt_s"].get<double>();
    sealed_table += row(sealed).substr(0, row(sealed).size() - 1) + fmt::format("  steady x{:.3f}\n", ratio);
    j["protocols"].push_back(std::move(plain));
    j["protocols_sealed"].push_back(std::move(sealed));
  }
  table += sealed_table;
  return WriteOutput("", a.format == "json" ? j.dump(2) + "\n" : a.format == "csv" ? RowsCsv(j["protocols"]) : table);
}

}  // namespace

Runner RegisterBenchProtocols(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  app.add_option("--format", a->format, "table, json or csv (csv: one row per protocol)")->capture_default_str();
  app.add_option("--time-scale", a->time_scale, "Run emulated time this much faster (<1) or slower; reports stay in emulated seconds")
      ->capture_default_str();
  app.add_option("--repeat", a->repeat, "Inferences per protocol (the first is cold)")->capture_default_str();
  app.add_option("--protocols", a->protocols, "Link profiles to run")->delimiter(',');
  app.add_option("--dtype", a->dtype, "int8 (the paper's) or f32")->capture_default_str();
  app.add_option("--model", a->model, "Model (default: the paper's)")->capture_default_str();
  app.add_option("--split", a->cut, "Cut (default: the paper's)")->capture_default_str();
  AddHiddenAlias(app, "--cut", a->cut, "--split");
  app.add_option("--profiles", a->profiles, "Profiles folder");
  return [a] { return RunBench(*a); };
}

}  // namespace edgesplit::cli
