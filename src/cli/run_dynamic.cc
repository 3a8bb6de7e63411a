// edgesplit run MODEL --dynamic --devices HEAD,SERVER --link L [--schedule FILE.csv]
//     [--repeat N] [--candidates strict|loose|all] [--probe-interval S] [--probe-bytes N]
//     [--hysteresis F] [--probe-timeout S] [--dtype f32|int8] [--time-scale S] [--loss P]
//     [--format table|json] [--profiles DIR] [--timeout S] [-o FILE]
//
// Starts a head and a server node, lets the head pick the split per request,
// applies the schedule's rate/load/outage rows, and checks every result against
// the whole model run here (docs/dynamic.md, "Live").
#include <fmt/format.h>
#include <cmath>
#include <unistd.h>

#include "commands.h"
#include "edgesplit/dynamic_runtime.h"
#include "progress.h"
#include "render.h"
#include "run_dynamic.h"

namespace edgesplit::cli {
namespace {


std::string Mbit(double bytes_per_s) { return fmt::format("{:.2f}", bytes_per_s * 8 / 1e6); }

std::string Table(const RunCommonArgs& c, const runtime::DynamicChain& chain, const std::vector<runtime::DynamicRecord>& recs,
                  const runtime::RunSummary& s, bool identical) {
  std::string t = fmt::format("model      {}\nlink       {} (shaped; rate from the schedule)\nhead       {}\nserver     {}\n"
                              "dtype      {}\nemulated   yes (time scale {}; seconds below are emulated)\nidentical  {}\n\n",
                              c.model, c.link, c.devices[0], c.devices[1], c.dtype.empty() ? "f32" : c.dtype, chain.time_scale(),
                              identical ? "yes (every result equals the whole model run locally)" : "NO");
  t += fmt::format("{:>4} {:<24} {:>9} {:>11} {:>11} {:>6} {:>6}  {}\n", "#", "split", "rtt s", "est Mbit/s", "true Mbit/s",
                   "load", "server", "fallback");
  for (const auto& r : recs)
    t += fmt::format("{:>4} {:<24} {:>9.4f} {:>11} {:>11} {:>6.2f} {:>6}  {}\n", r.request, r.split, r.rtt_s,
                     Mbit(r.rate_estimate_bytes_per_s), Mbit(r.true_rate_bytes_per_s), r.server_load, r.server_up ? "up" : "down",
                     r.fallback ? "yes: " + r.fallback_reason : "no");
  t += fmt::format("\ncold rtt   {:.4f} s\nsteady rtt {:.4f} s median, {:.4f} s p95\nthroughput {:.3f} inferences/s\n", s.cold_rtt_s,
                   s.steady_median_s, s.steady_p95_s, s.throughput_per_s);
  return t;
}

}  // namespace

void AddDynamicRunOptions(CLI::App& app, DynamicRunArgs* d) {
  app.add_flag("--dynamic", d->dynamic, "Pick the split per request on the head (needs --devices HEAD,SERVER; docs/dynamic.md)");
  app.add_option("--schedule", d->schedule, "--dynamic: CSV request,rate_bytes_per_s,server_load[,server] applied before each request");
  app.add_option("--candidates", d->candidates, "--dynamic: strict or loose natural bottlenecks, or all cuts")->capture_default_str();
  app.add_option("--probe-interval", d->probe_interval, "--dynamic: probe the link this often while nothing is sent (emulated s)")
      ->capture_default_str();
  app.add_option("--probe-bytes", d->probe_bytes, "--dynamic: size of a probe")->capture_default_str();
  app.add_option("--hysteresis", d->hysteresis, "--dynamic: keep the split unless the best is this much faster")->capture_default_str();
  app.add_option("--codec-table", d->codec_table, "--dynamic: choose cut x codec per request from this accuracy table");
  app.add_option("--codec-costs", d->codec_costs, "--dynamic: codec costs per device (default PROFILES/codecs/codec_costs.json)");
  app.add_option("--max-accuracy-drop", d->max_accuracy_drop, "--dynamic: with --codec-table, the codecs' accuracy budget, points");
  app.add_option("--probe-timeout", d->probe_timeout, "--dynamic: a probe unanswered this long (emulated s) means fallback")
      ->capture_default_str();
}

Status RunDynamic(const DynamicRunArgs& d, const RunCommonArgs& c) {
  if (c.format != "table" && c.format != "json") return InvalidArgument("--format must be table or json");
  if (c.repeat < 1) return InvalidArgument("--repeat must be >= 1");
  if (!c.split.empty() || !c.plan.empty()) return InvalidArgument("--dynamic chooses the split itself: drop --split/--plan");
  if (c.inflight != 1) return InvalidArgument("--dynamic runs one request at a time (--inflight 1)");
  if (c.shape == "off") return InvalidArgument("--dynamic shapes the link (its rate is what changes): drop --shape off");
  if (c.devices.size() != 2 || c.devices[0] == "host" || c.devices[1] == "host")
    return InvalidArgument("--dynamic needs --devices HEAD,SERVER naming two device profiles (e.g. esp32s3-espnn,edge-x86)");
  if (c.link.empty()) return InvalidArgument("--link is required (udp, tcp, espnow, espnow-v2, ble, ble-2m)");
  runtime::DynamicChainOptions o;
  o.policy.model = c.model;
  o.policy.dtype = c.dtype.empty() ? "f32" : c.dtype;
  o.policy.head_device = c.devices[0];
  o.policy.server_device = c.devices[1];
  o.policy.rule = d.candidates;
  o.link.link = c.link;
  o.link.profiles_dir = c.profiles;
  o.link.time_scale = c.time_scale;
  o.link.loss = c.loss;
  o.controller.probe_interval_s = d.probe_interval;
  o.controller.probe_bytes = d.probe_bytes;
  o.controller.hysteresis = d.hysteresis;
  o.controller.timeout_s = d.probe_timeout;
  o.request_timeout_s = c.timeout;
  if (d.codec_table.empty() != std::isnan(d.max_accuracy_drop))
    return InvalidArgument("--codec-table FILE and --max-accuracy-drop P go together (the cut x codec choice)");
  o.codec_table = d.codec_table;
  o.codec_costs = d.codec_costs;
  if (!d.codec_table.empty()) o.max_accuracy_drop = d.max_accuracy_drop;
  if (!d.schedule.empty()) {
    ES_ASSIGN_OR_RETURN(o.schedule, runtime::LoadScheduleCsv(d.schedule));
  }
  if (c.attach.size() > 1) return InvalidArgument("--dynamic --attach takes one server address (a running `edgesplit serve`)");
  if (!c.attach.empty()) o.attach = c.attach.front();
  ES_ASSIGN_OR_RETURN(o.node_binary, runtime::SelfExecutablePath());
  ES_ASSIGN_OR_RETURN(std::unique_ptr<runtime::DynamicChain> chain, runtime::DynamicChain::Start(o));
  std::vector<runtime::DynamicRecord> recs;
  {
    Progress bar("requests", c.repeat);  // seconds each over an emulated radio: progress on a terminal
    ES_ASSIGN_OR_RETURN(recs, chain->Run(c.repeat, [&bar](int done, int) { bar.Update(done); }));
  }
  const runtime::RunSummary summary = runtime::Summarize(runtime::AsInferenceRecords(recs));
  bool identical = true;
  for (const auto& r : recs) identical &= r.identical;

  Json j;
  j["schema_version"] = kSchemaVersion;
  j["emulated"] = true;
  j["dynamic"] = true;
  j["time_scale"] = chain->time_scale();
  j["model"] = c.model;
  j["link"] = c.link;
  j["transport"] = net::TransportKindName(chain->link().kind);
  j["shaped"] = true;
  j["dtype"] = o.policy.dtype;
  j["devices"] = c.devices;
  j["candidates"] = Json::array();
  for (const SplitCandidate& k : chain->policy().candidates())
    j["candidates"].push_back({{"name", k.name}, {"cut_index", k.cut_index}, {"bytes", k.bytes}, {"head_s", k.head_s}, {"tail_s", k.tail_s}});
  j["results_identical"] = identical;
  j["inferences"] = Json::array();
  for (const auto& r : recs) j["inferences"].push_back(runtime::DynamicRecordJson(r));
  j["summary"] = runtime::SummaryJson(summary);
  j["summary"]["dynamic"] = runtime::DynamicSummaryJson(recs);
  const std::string text = c.format == "json" ? j.dump(2) + "\n" : Table(c, *chain, recs, summary, identical);
  ES_RETURN_IF_ERROR(WriteOutput(c.output, text));
  if (!identical) return Internal("a result differs from the whole model run locally");
  return Status::Ok();
}

}  // namespace edgesplit::cli
