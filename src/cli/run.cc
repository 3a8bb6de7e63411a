// edgesplit run MODEL (--split CUT[,CUT...] | --plan PLAN.json) --link L [--devices LIST]
//     [--dtype f32|int8] [--repeat N] [--inflight N] [--loss P] [--format table|json]
//     [--time-scale S] [--shape auto|on|off] [--profiles DIR] [--timeout S] [-o FILE]
//
// Starts a chain of local node processes, sends N inputs, checks every result
// against the same segments run here, and breaks each round trip down
// (docs/runtime.md). With --plan, the planner's predictions stand beside the
// measurements with the error in percent.
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "edgesplit/io.h"
#include "edgesplit/runtime.h"
#include "render.h"
#include "run_dynamic.h"

namespace edgesplit::cli {
namespace {

struct RunArgs {
  std::string model, plan, link, dtype, format = "table", shape = "auto", profiles, output;
  std::vector<std::string> split, devices;
  int repeat = 3, inflight = 1;
  double loss = -1, time_scale = 1, timeout = 120;
  bool deliver = false;  // nodes start empty; their flat segments go over the link first (docs/mcu.md)
  std::string sign_key;
};

struct PlanPrediction {
  double latency_s = 0;
  std::vector<double> compute_s;   // per segment
  std::vector<double> transfer_s;  // per hop (kind "hop")
  double result_s = 0;
  bool has_result = false;
  double input_s = 0;  // kind "input": the sensor d1 is not in the plan and sends the raw input
  int64_t input_bytes = 0;
  bool has_input = false;
};

Result<std::string> SelfBinary() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return IoError("cannot find the edgesplit binary (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

// The chain a plan JSON (`edgesplit plan --format json`) describes.
Status ReadPlan(const std::string& path, RunArgs* a, std::vector<runtime::ChainNodeSpec>* nodes, PlanPrediction* pred) {
  ES_ASSIGN_OR_RETURN(const std::string text, ReadRegularFile(path, 64 << 20, "plan file"));
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("segments") || !j["segments"].is_array() || j["segments"].empty())
    return InvalidArgument(path + ": not a plan (no 'segments'; write one with edgesplit plan --format json)");
  if (j.contains("feasible") && j["feasible"].is_boolean() && !j["feasible"].get<bool>())
    return InvalidArgument(path + ": the plan is infeasible: " +
                           (j.contains("reason") && j["reason"].is_string() ? j["reason"].get<std::string>() : "no reason given"));
  if (a->link.empty() && j.contains("link") && j["link"].is_string()) a->link = j["link"].get<std::string>();
  if (a->dtype.empty() && j.contains("dtype") && j["dtype"].is_string()) a->dtype = j["dtype"].get<std::string>();
  // Optional fields of the wrong type are errors naming the field, not exceptions.
  Status bad;
  auto field = [&](const Json& o, const char* key, const std::string& where, bool want_number) -> const Json* {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    if (want_number ? !it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 : !it->is_string()) {
      if (bad.ok())
        bad = InvalidArgument(path + ": field '" + where + key + "' is " + it->dump() + ", must be " +
                              (want_number ? "a number >= 0" : "a string"));
      return nullptr;
    }
    return &*it;
  };
  auto number = [&](const Json& o, const char* key, const std::string& where) {
    const Json* v = field(o, key, where, true);
    return v ? v->get<double>() : 0.0;
  };
  pred->latency_s = number(j, "latency_s", "");
  for (size_t i = 0; i < j["segments"].size(); ++i) {
    const Json& s = j["segments"][i];
    const std::string where = "segments[" + std::to_string(i) + "].";
    if (!s.is_object() || !s.contains("cut_before") || !s.contains("cut_after") || !s["cut_before"].is_string() ||
        !s["cut_after"].is_string())
      return InvalidArgument(path + ": every segment needs 'cut_before' and 'cut_after' strings (" + where + ")");
    const Json* device = field(s, "device", where, false);
    runtime::ChainNodeSpec n{s["cut_before"].get<std::string>(), s["cut_after"].get<std::string>(),
                             device ? device->get<std::string>() : std::string()};
    nodes->push_back(n);
    pred->compute_s.push_back(number(s, "compute_s", where));
  }
  if (j.contains("transfers") && j["transfers"].is_array())
    for (size_t i = 0; i < j["transfers"].size(); ++i) {
      const Json& t = j["transfers"][i];
      if (!t.is_object()) continue;
      const std::string where = "transfers[" + std::to_string(i) + "].";
      const Json* kind_field = field(t, "kind", where, false);
      const std::string kind = kind_field ? kind_field->get<std::string>() : std::string();
      const double time_s = number(t, "time_s", where);
      if (kind == "hop") pred->transfer_s.push_back(time_s);
      if (kind == "result") pred->result_s = time_s, pred->has_result = true;
      if (kind == "input") pred->input_s = time_s, pred->input_bytes = static_cast<int64_t>(number(t, "bytes", where)), pred->has_input = true;
    }
  ES_RETURN_IF_ERROR(bad);
  nodes->front().first_cut = "input";
  nodes->back().last_cut = "output";  // the plan names the last layer; int8 graphs end in a DequantizeLinear after it
  return Status::Ok();
}

double ErrorPct(double measured, double predicted) { return predicted > 0 ? 100.0 * (measured - predicted) / predicted : 0.0; }

std::string Table(const runtime::Chain& chain, const RunArgs& a, const std::vector<runtime::InferenceRecord>& recs,
                  const runtime::RunSummary& s, bool identical) {
  std::string t = fmt::format("model      {}\nlink       {} ({}{})\nnodes      {}\ndtype      {}\nemulated   {}{}\nidentical  {}\n\n",
                              a.model, a.link, net::TransportKindName(chain.link().kind),
                              chain.link().channel.shaper.enabled ? ", shaped" : "", chain.num_nodes(), a.dtype,
                              chain.emulated() ? "yes" : "no",
                              chain.emulated() ? fmt::format(" (time scale {}; seconds below are emulated)", chain.time_scale()) : "",
                              identical ? "yes (every result equals the local run)" : "NO");
  t += fmt::format("{:>4} {:>5} {:>10} {:>9}  {:<40} {:<44} {:>9}\n", "#", "cold", "rtt s", "setup s", "compute s (predicted)",
                   "hops: bytes frags retx transfer s (predicted)", "reply s");
  int row = 0;  // the inference's place in the run (= its request_id; delivery chunks use wire ids apart)
  for (const auto& r : recs) {
    ++row;
    std::string nodes, hops;
    for (const auto& n : r.nodes) nodes += fmt::format("{:.4f} ({:.4f}) ", n.compute_s, n.predicted_compute_s);
    if (r.has_input)
      hops += fmt::format("in: {} {} {} {:.4f} ({:.4f}) ", r.input.bytes, r.input.fragments, r.input.retransmissions,
                          r.input.transfer_s, r.input.predicted_transfer_s);
    for (const auto& h : r.hops)
      hops += fmt::format("{} {} {} {:.4f} ({:.4f}) ", h.bytes, h.fragments, h.retransmissions, h.transfer_s, h.predicted_transfer_s);
    t += fmt::format("{:>4} {:>5} {:>10.4f} {:>9.3f}  {:<40} {:<44} {:>9.4f}\n", row, r.cold ? "yes" : "no", r.rtt_s,
                     r.setup_s, nodes, hops, r.reply_s);
  }
  t += fmt::format("\ncold rtt   {:.4f} s\nsteady rtt {:.4f} s median, {:.4f} s p95\nthroughput {:.3f} inferences/s\n", s.cold_rtt_s,
                   s.steady_median_s, s.steady_p95_s, s.throughput_per_s);
  return t;
}

Status RunRun(RunArgs a) {
  if (a.format != "table" && a.format != "json") return InvalidArgument("--format must be table or json");
  if (a.repeat < 1) return InvalidArgument("--repeat must be >= 1");
  if (a.split.empty() == a.plan.empty()) return InvalidArgument("give exactly one of --split CUT[,CUT...] or --plan PLAN.json");
  runtime::ChainOptions o;
  PlanPrediction pred;
  if (!a.plan.empty()) {
    ES_RETURN_IF_ERROR(ReadPlan(a.plan, &a, &o.nodes, &pred));
    if (!a.devices.empty()) return InvalidArgument("--devices comes from the plan; do not give both");
  } else {
    std::vector<std::string> bounds = {"input"};
    bounds.insert(bounds.end(), a.split.begin(), a.split.end());
    bounds.push_back("output");
    if (!a.devices.empty() && a.devices.size() != bounds.size() - 1)
      return InvalidArgument(fmt::format("--devices lists {} devices for {} nodes", a.devices.size(), bounds.size() - 1));
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      std::string device = a.devices.empty() ? "" : a.devices[i];
      if (device == "host") device.clear();
      o.nodes.push_back({bounds[i], bounds[i + 1], device});
    }
  }
  if (a.link.empty()) return InvalidArgument("--link is required (udp, tcp, espnow, espnow-v2, ble, ble-2m)");
  if (a.dtype.empty()) a.dtype = "f32";
  bool emulating = false;
  for (const auto& n : o.nodes) emulating |= !n.device.empty();
  o.model = a.model;
  o.dtype = a.dtype;
  o.inflight = a.inflight;
  o.request_timeout_s = a.timeout;
  if (!a.sign_key.empty() && !a.deliver) return InvalidArgument("--sign-key signs deliveries: give --deliver too");
  o.deliver = a.deliver;
  o.sign_key = a.sign_key;
  o.input_hop = pred.has_input;  // this client is the sensor d1 and sends the input over the link
  o.link.link = a.link;
  o.link.profiles_dir = a.profiles;
  o.link.time_scale = a.time_scale;
  o.link.loss = a.loss;
  ES_ASSIGN_OR_RETURN(o.link.shaped, runtime::DecideShaping(a.shape, a.link, a.profiles, emulating));
  ES_ASSIGN_OR_RETURN(o.node_binary, SelfBinary());
  ES_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Chain> chain, runtime::Chain::Start(o));
  ES_ASSIGN_OR_RETURN(std::vector<runtime::InferenceRecord> recs, chain->Run(a.repeat));
  const runtime::RunSummary summary = runtime::Summarize(recs);
  bool identical = true;
  for (const auto& r : recs) identical &= r.identical;

  Json j;
  j["schema_version"] = kSchemaVersion;
  j["emulated"] = chain->emulated();
  j["time_scale"] = chain->time_scale();
  j["model"] = a.model;
  j["link"] = a.link;
  j["transport"] = net::TransportKindName(chain->link().kind);
  j["shaped"] = chain->link().channel.shaper.enabled;
  j["dtype"] = a.dtype;
  j["results_identical"] = identical;
  if (a.deliver) {
    j["deliveries"] = Json::array();
    for (const auto& d : chain->deliveries()) j["deliveries"].push_back(runtime::DeliveryJson(d));
  }
  j["inferences"] = Json::array();
  for (const auto& r : recs) j["inferences"].push_back(runtime::InferenceJson(r));
  j["summary"] = runtime::SummaryJson(summary);
  std::string plan_text;
  if (!a.plan.empty()) {
    // Steady-state measurements beside the planner's numbers (the plan excludes set-up).
    const runtime::InferenceRecord& last = recs.back();
    Json p{{"predicted_latency_s", pred.latency_s},
           {"measured_steady_rtt_s", summary.steady_median_s},
           {"error_pct", ErrorPct(summary.steady_median_s, pred.latency_s)}};
    p["segments"] = Json::array();
    for (size_t i = 0; i < last.nodes.size() && i < pred.compute_s.size(); ++i)
      p["segments"].push_back({{"device", last.nodes[i].device},
                               {"predicted_compute_s", pred.compute_s[i]},
                               {"measured_compute_s", last.nodes[i].compute_s},
                               {"error_pct", ErrorPct(last.nodes[i].compute_s, pred.compute_s[i])}});
    p["hops"] = Json::array();
    for (size_t i = 0; i < last.hops.size() && i < pred.transfer_s.size(); ++i)
      p["hops"].push_back({{"predicted_transfer_s", pred.transfer_s[i]},
                           {"measured_transfer_s", last.hops[i].transfer_s},
                           {"error_pct", ErrorPct(last.hops[i].transfer_s, pred.transfer_s[i])}});
    if (pred.has_input && last.has_input)
      // The planner counts the input in the plan's dtype, and so does the sensor: an int8 chain's sensor
      // quantizes it first (the int8 graph's leading QuantizeLinear), so measured = predicted + the wire's header.
      p["input"] = {{"predicted_bytes", pred.input_bytes},
                    {"measured_bytes", last.input.bytes},
                    {"predicted_transfer_s", pred.input_s},
                    {"measured_transfer_s", last.input.transfer_s},
                    {"error_pct", ErrorPct(last.input.transfer_s, pred.input_s)}};
    if (pred.has_result)
      p["result"] = {{"predicted_transfer_s", pred.result_s},
                     {"measured_transfer_s", last.reply_s},
                     {"error_pct", ErrorPct(last.reply_s, pred.result_s)}};
    j["plan"] = p;
    plan_text = fmt::format("\nplan       predicted {:.4f} s, measured steady {:.4f} s ({:+.1f}%)\n", pred.latency_s,
                            summary.steady_median_s, ErrorPct(summary.steady_median_s, pred.latency_s));
    for (const Json& s : p["segments"])
      plan_text += fmt::format("  segment on {:<12} compute predicted {:.4f} s, measured {:.4f} s ({:+.1f}%)\n",
                               s["device"].get<std::string>(), s["predicted_compute_s"].get<double>(),
                               s["measured_compute_s"].get<double>(), s["error_pct"].get<double>());
    if (p.contains("input"))
      plan_text += fmt::format("  input transfer (sensor to first node) predicted {:.4f} s, measured {:.4f} s ({:+.1f}%)\n",
                               p["input"]["predicted_transfer_s"].get<double>(), p["input"]["measured_transfer_s"].get<double>(),
                               p["input"]["error_pct"].get<double>());
    for (const Json& h : p["hops"])
      plan_text += fmt::format("  hop transfer predicted {:.4f} s, measured {:.4f} s ({:+.1f}%)\n", h["predicted_transfer_s"].get<double>(),
                               h["measured_transfer_s"].get<double>(), h["error_pct"].get<double>());
  }
  std::string delivery_text;
  for (const auto& d : chain->deliveries())
    delivery_text += fmt::format("delivered  node {}: {} bytes in {} chunks, {:.4f} s, sha256 {}\n", d.node, d.bytes, d.chunks,
                                 d.delivery_s, d.sha256.substr(0, 16));
  const std::string text =
      a.format == "json" ? j.dump(2) + "\n" : delivery_text + Table(*chain, a, recs, summary, identical) + plan_text;
  ES_RETURN_IF_ERROR(WriteOutput(a.output, text));
  if (!identical) return Internal("a result differs from the local run of the same segments");
  return Status::Ok();
}

}  // namespace

Runner RegisterRun(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  app.add_option("model", a->model, "Zoo spec or .onnx path")->required();
  app.add_option("--split", a->split, "Cut names/indices, in order: one node per segment")->delimiter(',');
  app.add_option("--plan", a->plan, "Plan JSON from `edgesplit plan --format json`");
  app.add_option("--link", a->link, "Link profile (default with --plan: the plan's)");
  app.add_option("--devices", a->devices, "Device profile to emulate per node ('host': none)")->delimiter(',');
  app.add_option("--dtype", a->dtype, "f32 or int8 (default f32; with --plan the plan's)");
  app.add_option("--repeat", a->repeat, "Inputs to send")->capture_default_str();
  app.add_option("--inflight", a->inflight, "Requests in flight at once (> 1 pipelines the chain)")->capture_default_str();
  app.add_option("--loss", a->loss, "Frame loss of the emulated medium on datagram links (default: the profile's)");
  app.add_option("--format", a->format, "table or json")->capture_default_str();
  app.add_option("--time-scale", a->time_scale, "Multiply every emulated duration while running (reports stay in emulated seconds)")
      ->capture_default_str();
  app.add_option("--shape", a->shape, "auto, on or off: pace/lose frames as the link profile says")->capture_default_str();
  app.add_option("--profiles", a->profiles, "Profiles folder");
  app.add_option("--timeout", a->timeout, "Seconds each request may take")->capture_default_str();
  app.add_option("-o,--output", a->output, "Write to FILE instead of stdout");
  app.add_flag("--deliver", a->deliver, "Start the nodes empty and deliver their flat segments over the link first");
  app.add_option("--sign-key", a->sign_key, "Sign deliveries with this key (edgesplit keygen); nodes verify with KEY.pub");
  auto d = std::make_shared<DynamicRunArgs>();  // --dynamic and its flags (run_dynamic.cc)
  AddDynamicRunOptions(app, d.get());
  return [a, d] {
    if (d->dynamic && a->deliver) return InvalidArgument("--deliver works with a static chain, not --dynamic");
    if (d->dynamic)
      return RunDynamic(*d, {a->model, a->link, a->dtype, a->format, a->profiles, a->output, a->shape, a->plan, a->devices, a->split,
                             a->repeat, a->inflight, a->loss, a->time_scale, a->timeout});
    return RunRun(*a);
  };
}

}  // namespace edgesplit::cli
