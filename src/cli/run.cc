// edgesplit run MODEL (--split CUT[,CUT...] | --plan PLAN.json) --link L [--devices LIST]
//     [--dtype f32|int8] [--repeat N] [--inflight N] [--loss P] [--format table|json]
//     [--time-scale S] [--shape auto|on|off] [--profiles DIR] [--timeout S] [-o FILE] [--insecure]
//
// Starts a chain of local node processes, sends N inputs, checks every result
// against the same segments run here, and breaks each round trip down
// (docs/runtime.md). With --plan, each hop runs on the plan's own link for it
// (its links[]; --link puts every hop on one), and the planner's predictions
// stand beside the measurements with the error in percent (run_plan.h).
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "commands.h"
#include "edgesplit/io.h"
#include "edgesplit/runtime.h"
#include "progress.h"
#include "render.h"
#include "run_dynamic.h"
#include "run_plan.h"

namespace edgesplit::cli {
namespace {

struct RunArgs {
  std::string model, plan, link, dtype, format = "table", shape = "auto", profiles, output;
  std::vector<std::string> split, devices;
  int repeat = 3, inflight = 1;
  double loss = -1, time_scale = 1, timeout = 120;
  bool deliver = false;  // nodes start empty; their flat segments go over the link first (docs/mcu.md)
  std::string sign_key;
  std::vector<std::string> attach;   // nodes (or, with --dynamic, a server) already running
  std::string listen = "127.0.0.1:0";  // where results come back (attached nodes forward here)
  bool insecure = false;               // plain frames (default: temporary keys, sealed hops)
  std::string key, server_key, allow;  // --attach to sealed nodes
};


std::string Table(const runtime::Chain& chain, const RunArgs& a, const std::string& hop_links, const std::vector<runtime::InferenceRecord>& recs,
                  const runtime::RunSummary& s, bool identical) {
  const std::string link = hop_links.empty() ? fmt::format("{} ({}{})", a.link, net::TransportKindName(chain.link().kind),
                                                           chain.link().channel.shaper.enabled ? ", shaped" : "")
                                             : a.link + ": " + hop_links;  // a plan's link per hop, in order
  std::string t = fmt::format("model      {}\nlink       {}\nnodes      {}\ndtype      {}\nemulated   {}{}\nidentical  {}\n\n",
                              a.model, link, chain.num_nodes(), a.dtype,
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
  PlanFile pred;
  const bool link_given = !a.link.empty();
  if (!a.plan.empty()) {
    ES_RETURN_IF_ERROR(ReadPlan(a.plan, &a.link, &a.dtype, &o.nodes, &pred));
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
  o.attach = a.attach;
  o.listen = a.listen;
  o.insecure = a.insecure;
  o.key = a.key;
  o.server_key = a.server_key;
  o.allow = a.allow;
  if (a.attach.empty() && !(a.key.empty() && a.server_key.empty() && a.allow.empty()))
    return InvalidArgument("--key/--server-key/--allow are for --attach (a spawned chain makes temporary keys)");
  if (!a.attach.empty() && a.listen.ends_with(":0"))
    return InvalidArgument("--attach: give --listen HOST:PORT, the address the last attached node forwards results to");
  o.input_hop = pred.input.has_value();  // this client is the sensor d1 and sends the input over the link
  o.link.link = a.link;
  o.link.profiles_dir = a.profiles;
  o.link.time_scale = a.time_scale;
  o.link.loss = a.loss;
  // A plan with links[] runs each hop on its own link, unless --link puts every hop on one.
  const bool per_hop = !a.plan.empty() && !link_given && !pred.links.empty();
  std::optional<runtime::ScratchDir> scratch;  // the plan's inline links, as profile files for the nodes
  if (per_hop) {
    ES_RETURN_IF_ERROR(runtime::ApplyPlanLinks(pred, a.plan, a.shape, emulating, scratch.emplace().path, &o));
    for (const runtime::LinkSettings& l : o.hop_links) o.link.shaped |= l.shaped;
    if (o.input_link) o.link.shaped |= o.input_link->shaped;
  } else {
    ES_ASSIGN_OR_RETURN(o.link.shaped, runtime::DecideShaping(a.shape, a.link, a.profiles, emulating));
  }
  ES_ASSIGN_OR_RETURN(o.node_binary, runtime::SelfExecutablePath());
  ES_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Chain> chain, runtime::Chain::Start(o));
  std::vector<runtime::InferenceRecord> recs;
  {
    Progress bar("inferences", a.repeat);  // seconds each over an emulated radio: progress on a terminal
    ES_ASSIGN_OR_RETURN(recs, chain->Run(a.repeat, [&bar](int done, int) { bar.Update(done); }));
  }
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
  j["sealed"] = chain->sealed();
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
    j["plan"] = runtime::PlanVsMeasured(pred, o, recs, summary);
    plan_text = PlanVsMeasuredText(j["plan"]);
  }
  std::string delivery_text;
  for (const auto& d : chain->deliveries())
    delivery_text += fmt::format("delivered  node {}: {} bytes in {} chunks, {:.4f} s, sha256 {}\n", d.node, d.bytes, d.chunks,
                                 d.delivery_s, d.sha256.substr(0, 16));
  const std::string text =
      a.format == "json" ? j.dump(2) + "\n" : delivery_text + Table(*chain, a, per_hop ? runtime::DescribeHopLinks(o) : "", recs, summary, identical) + plan_text;
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
  app.add_option("--attach", a->attach,
                 "ADDR,... of nodes already running (`edgesplit node`), one per segment, instead of starting them; "
                 "with --dynamic: the ADDR of a running `serve`")
      ->delimiter(',');
  app.add_option("--listen", a->listen, "With --attach: HOST:PORT this run receives results on (the last node's --next)")
      ->capture_default_str();
  app.add_flag("--insecure", a->insecure, "Plain frames between the processes (default: temporary keys, every hop sealed)");
  app.add_option("--key", a->key, "With --attach: this client's secret key file (the first node enrols it)");
  app.add_option("--server-key", a->server_key, "With --attach: the first node's public key file");
  app.add_option("--allow", a->allow, "With --attach: allow file enrolling the last node (it sends the results here)");
  auto d = std::make_shared<DynamicRunArgs>();  // --dynamic and its flags (run_dynamic.cc)
  AddDynamicRunOptions(app, d.get());
  return [a, d] {
    if (d->dynamic && a->deliver) return InvalidArgument("--deliver works with a static chain, not --dynamic");
    if (d->dynamic && (a->insecure || !a->key.empty() || !a->server_key.empty() || !a->allow.empty()))
      return InvalidArgument("--insecure, --key, --server-key and --allow are a static chain's (run --dynamic seals with temporary keys)");
    if (d->dynamic)
      return RunDynamic(*d, {a->model, a->link, a->dtype, a->format, a->profiles, a->output, a->shape, a->plan, a->devices, a->split,
                             a->repeat, a->inflight, a->loss, a->time_scale, a->timeout, a->attach});
    return RunRun(*a);
  };
}

}  // namespace edgesplit::cli
