// edgesplit simulate MODEL --device D --server S --link L
//   (--trace FILE.csv | --generate constant|step|random-walk|gilbert-elliott [--seed N] [--steps N])
//   [--policy dynamic|static:CUT|device-only|server-only|oracle|all] [--format table|json]
//   [--hysteresis F] [--probe-interval S] [--probe-timeout S] [--write-trace FILE] [--log FILE.csv] [-o FILE] [--insecure]
//
// Runs split policies over a channel/load trace, one request per row
// (docs/dynamic.md). The dynamic policy learns only what the head node would.
#include <fmt/format.h>

#include <map>

#include "commands.h"
#include "conventions.h"
#include "dynamic_args.h"
#include "edgesplit/cost.h"
#include "edgesplit/report.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct SimulateArgs {
  DynamicSource source;
  std::string trace_file, generator, policy = "all", format = "table", output, write_trace, log;
  TraceOptions trace;
  ControllerOptions controller;
};

Json ResultsJson(const SplitPolicy& p, const std::string& trace_name, const std::vector<TraceRow>& trace,
                 const std::vector<PolicyResult>& results) {
  Json j = DynamicSetupJson(p);
  j["trace"] = trace_name;
  j["requests"] = trace.size();
  j["policies"] = Json::array();
  for (const PolicyResult& r : results) {
    int abandoned = 0, fallbacks = 0;
    std::map<std::string, int> codecs;  // requests sent per codec (local runs send nothing)
    for (const RequestRecord& q : r.requests) {
      abandoned += q.abandoned, fallbacks += q.fallback;
      if (q.candidate >= 0 && p.candidates()[q.candidate].kind != CandidateKind::kDeviceOnly) ++codecs[p.candidates()[q.candidate].codec];
    }
    j["policies"].push_back({{"policy", r.policy}, {"mean_s", r.mean_s}, {"p50_s", r.p50_s}, {"p95_s", r.p95_s},
                             {"switches", r.switches}, {"gain_of_dynamic", r.gain_of_dynamic}, {"abandoned", abandoned},
                             {"fallbacks", fallbacks}, {"codec", codecs}});
  }
  // One policy's requests (dynamic's when it ran): the timeline `edgesplit report` draws.
  size_t shown = 0;
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i].policy == "dynamic") shown = i;
  if (!results.empty()) j["timeline"] = {{"policy", results[shown].policy}, {"requests", report::TimelineJson(p, trace, results[shown])}};
  return j;
}

std::string ResultsTable(const SplitPolicy& p, const std::string& trace_name, size_t rows, const std::vector<PolicyResult>& results) {
  const CandidateSet& set = p.candidate_set();
  std::string s = fmt::format("model {}  head {}  server {}  link {} ({})\ntrace {} ({} requests)\n\n", set.model, set.device, set.server,
                              set.link_name, set.sealing.sealed ? "sealed" : "plain, --insecure", trace_name, rows);
  s += fmt::format("{:<40} {:>10} {:>10} {:>10} {:>9} {:>16}\n", "policy", "mean s", "p50 s", "p95 s", "switches", "gain of dynamic");
  for (const PolicyResult& r : results)
    s += fmt::format("{:<40} {:>10.4f} {:>10.4f} {:>10.4f} {:>9} {:>15.1f}%\n", r.policy, r.mean_s, r.p50_s, r.p95_s, r.switches,
                     100 * r.gain_of_dynamic);
  return s;
}

// One line per request: the trace row and each policy's candidate and latency (plot data).
std::string RequestLog(const SplitPolicy& p, const std::vector<TraceRow>& trace, const std::vector<PolicyResult>& results) {
  std::string s = "request,time_s,rate_bytes_per_s,server_load";
  for (const PolicyResult& r : results) s += "," + r.policy + ".split," + r.policy + ".latency_s";
  s += "\n";
  for (size_t i = 0; i < trace.size(); ++i) {
    s += fmt::format("{},{:.6f},{:.1f},{:.4f}", i, trace[i].time_s, trace[i].rate_bytes_per_s, trace[i].server_load);
    for (const PolicyResult& r : results) {
      const RequestRecord& q = r.requests[i];
      s += fmt::format(",{},{:.6f}", q.candidate >= 0 ? p.candidates()[q.candidate].name : "none", q.latency_s);
    }
    s += "\n";
  }
  return s;
}

Status RunSimulate(const SimulateArgs& a) {
  if (a.format != "table" && a.format != "json" && a.format != "csv") return InvalidArgument("--format must be table, json or csv");
  if (a.trace_file.empty() == a.generator.empty()) return InvalidArgument("give exactly one of --trace FILE.csv and --generate NAME");
  if (!(a.controller.hysteresis >= 0) || !(a.controller.probe_interval_s >= 0) || !(a.controller.timeout_s >= 0))
    return InvalidArgument("--hysteresis, --probe-interval and --probe-timeout must be >= 0");
  ES_ASSIGN_OR_RETURN(SplitPolicy policy, LoadSplitPolicyWithNotes(a.source));
  std::vector<TraceRow> trace;
  std::string trace_name;
  if (!a.trace_file.empty()) {
    ES_ASSIGN_OR_RETURN(trace, LoadTraceCsv(a.trace_file));
    trace_name = a.trace_file;
  } else {
    ES_ASSIGN_OR_RETURN(TraceGenerator g, ParseTraceGenerator(a.generator));
    ES_ASSIGN_OR_RETURN(trace, GenerateTrace(g, a.trace));
    trace_name = fmt::format("{} seed {}", a.generator, a.trace.seed);
  }
  if (!a.write_trace.empty()) ES_RETURN_IF_ERROR(WriteOutput(a.write_trace, TraceToCsv(trace)));
  ES_ASSIGN_OR_RETURN(std::vector<PolicySpec> specs, ParsePolicySpecs(policy, a.policy));
  ES_ASSIGN_OR_RETURN(std::vector<PolicyResult> results, Simulate(policy, trace, specs, a.controller));
  if (!a.log.empty()) ES_RETURN_IF_ERROR(WriteOutput(a.log, RequestLog(policy, trace, results)));
  const std::string text = a.format == "json"  ? ResultsJson(policy, trace_name, trace, results).dump(2) + "\n"
                           : a.format == "csv" ? RowsCsv(ResultsJson(policy, trace_name, trace, results)["policies"])
                                               : ResultsTable(policy, trace_name, trace.size(), results);
  return WriteOutput(a.output, text);
}

}  // namespace

Runner RegisterSimulate(CLI::App& app) {
  auto a = std::make_shared<SimulateArgs>();
  AddDynamicSourceOptions(app, a->source);
  app.add_option("--trace", a->trace_file, "CSV trace: time_s,rate_bytes_per_s,server_load (rate 0 = link down)");
  app.add_option("--generate", a->generator, "constant, step, random-walk or gilbert-elliott");
  app.add_option("--seed", a->trace.seed, "Generator seed")->capture_default_str();
  app.add_option("--steps", a->trace.steps, "Generated requests")->capture_default_str();
  // Data rates (bytes/s) are --*-data-rate; request rates (requests/s) --request-rate (docs/cli.md).
  app.add_option("--min-data-rate", a->trace.min_rate_bytes_per_s, "Generated rates from (bytes/s; 12500 = 0.1 Mbit/s)")->capture_default_str();
  AddHiddenAlias(app, "--min-rate", a->trace.min_rate_bytes_per_s, "--min-data-rate");
  app.add_option("--max-data-rate", a->trace.max_rate_bytes_per_s, "Generated rates up to (bytes/s; 2500000 = 20 Mbit/s)")->capture_default_str();
  AddHiddenAlias(app, "--max-rate", a->trace.max_rate_bytes_per_s, "--max-data-rate");
  app.add_option("--max-load", a->trace.max_load, "Generated server loads in [1, this]")->capture_default_str();
  app.add_option("--min-dwell", a->trace.min_dwell, "Requests per generated channel state, at least")->capture_default_str();
  app.add_option("--interval", a->trace.interval_s, "Seconds between generated requests")->capture_default_str();
  app.add_option("--policy", a->policy, "dynamic, oracle, device-only, server-only, static:CUT or all (comma list allowed)")
      ->capture_default_str();
  app.add_option("--hysteresis", a->controller.hysteresis, "Switch only when the new split is this fraction faster")->capture_default_str();
  app.add_option("--probe-interval", a->controller.probe_interval_s, "Seconds between link probes while nothing is sent")
      ->capture_default_str();
  // The controller's give-up time is --probe-timeout, as in `run --dynamic` (docs/cli.md); --timeout is its old spelling.
  app.add_option("--probe-timeout", a->controller.timeout_s, "Seconds before a transfer to a dead link is given up")
      ->capture_default_str();
  AddHiddenAlias(app, "--timeout", a->controller.timeout_s, "--probe-timeout");
  app.add_option("--format", a->format, "table, json or csv (csv: one row per policy)")->capture_default_str();
  app.add_option("--write-trace", a->write_trace, "Write the trace used (CSV)");
  app.add_option("--log", a->log, "Write each request's split and latency per policy (CSV)");
  app.add_option("-o,--output", a->output, "Write to FILE instead of stdout");
  return [a] { return RunSimulate(*a); };
}

}  // namespace edgesplit::cli
