// edgesplit plan (MODEL --devices LIST --link NAME | --problem FILE)
//   [--algorithm NAME] [--objective latency|throughput|energy] [--order fixed|free] [--use-all] [--links FILE]
//   [--beam-width N] [--seed N] [--format table|json] [--dtype int8|f32]
//   [--profiles DIR] [--dump-problem FILE] [--split LIST] [-o FILE]
//   [--codec-table FILE --max-accuracy-drop P [--codec-costs FILE]] [--insecure]
//
// Chooses where to split MODEL across the devices (docs/planner.md). The JSON
// is what `run --plan` executes. --split evaluates a given split instead of
// solving: the first len(LIST)+1 devices take the segments in order.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "commands.h"
#include "conventions.h"
#include "progress.h"
#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "plan_args.h"
#include "render.h"

namespace edgesplit::cli {

Result<PlanInput> LoadPlanInputWithNotes(const PlanSource& s) {
  ES_ASSIGN_OR_RETURN(PlanInput in, runtime::LoadPlanInput(s));
  for (const std::string& note : in.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  return in;
}

void AddPlanSourceOptions(CLI::App& app, PlanSource& s) {
  app.add_option("model", s.model, "Zoo spec or .onnx path");
  app.add_option("--problem", s.problem_file, "Instance file (docs/planner.md) instead of MODEL");
  app.add_option("--devices", s.devices, "Ordered device profiles; the first is the sensor")->delimiter(',');
  app.add_option("--link", s.link, "Link profile: udp, tcp, espnow, espnow-v2, ble, ble-2m, ethernet");
  app.add_option("--links", s.links_file, "A link per pair of devices: {\"links\": [{\"from\", \"to\", \"profile\"}]} (docs/planner.md)");
  app.add_option("--dtype", s.dtype, "int8 or f32 for the whole plan")->capture_default_str();
  app.add_option("--profiles", s.profiles_dir, "Profiles folder (default: env EDGESPLIT_PROFILES, else the source tree's)");
  app.add_option("--dump-problem", s.dump_problem, "Write the instance built from MODEL to this file");
  app.add_option("--codec-table", s.codec_table, "Choose cut x codec jointly from this accuracy table (eval --sweep --format json; docs/codecs.md)");
  app.add_option("--codec-costs", s.codec_costs, "Codec encode/decode costs per device (default PROFILES/codecs/codec_costs.json)");
  app.add_option("--max-accuracy-drop", s.max_accuracy_drop, "With --codec-table: the codecs' top-1 accuracy budget, percentage points against f32");
  app.add_flag("--insecure", s.insecure, "Cost plain links (default: sealed, as serve/device run them; docs/security.md)");
}

namespace {

struct PlanArgs {
  PlanSource source;
  std::string algorithm = "dp";
  std::string objective = "latency";
  std::string order = "fixed";
  bool use_all = false;
  int beam_width = 8;
  uint64_t seed = 1;
  int64_t max_plans = kDefaultMaxPlans;
  std::string format = "table";
  std::string output;
  std::vector<std::string> cuts;
};

std::string PlanTable(const Problem& p, const std::string& algorithm, const std::string& order, const Plan& plan) {
  const std::vector<std::string> hosts = HostNames(p);
  const std::vector<LinkProfile> links = PlanLinks(p);
  const std::string link_name = PlanLinkName(p, plan);
  const bool shared = p.links.empty() && p.link.shared_medium;
  std::string s = fmt::format("model       {}\nlink        {}{}\ndtype       {}\nalgorithm   {}{}\n", p.model.empty() ? "(problem file)" : p.model,
                              link_name, shared ? " (shared medium)" : "", p.dtype, algorithm,
                              plan.solver.empty() || plan.solver == algorithm ? "" : " (solved by " + plan.solver + ": beyond dp's reach)");
  if (order == "free") s += "order       free (any order, any subset)\n";
  if (!plan.feasible) return s + "feasible    no: " + plan.reason + "\n";
  s += fmt::format("latency     {:.6f} s (steady state; +{:.3f} s link setup on a cold start)\n", plan.latency_s,
                   p.links.empty() ? p.link.setup_s : 0.0);
  s += p.sealed ? fmt::format("security    sealed links: {:.6f} s of the latency; +{:.3f} s of handshakes on a cold start\n",
                              plan.security_overhead_s, plan.handshake_s)
                : "security    none (--insecure: plain links)\n";
  s += fmt::format("throughput  {:.6f} s per inference (longest stage)\nenergy      {:.6f} J on {}\nsolve time  {:.6f} s\n\n",
                   plan.throughput_stage_s, plan.energy_j, hosts[0], plan.solve_time_s);
  s += fmt::format("{:>3}  {:<16} {:>7}  {:<30} {:>11} {:>10} {:>10}\n", "#", "device", "groups", "cut after", "compute s", "weights", "arena");
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    const Segment& g = plan.segments[i];
    s += fmt::format("{:>3}  {:<16} {:>3}..{:<3} {:<30} {:>11.6f} {:>10} {:>10}\n", i, hosts[g.device], g.first_layer,
                     g.last_layer, p.layers[g.last_layer].name, g.compute_s, HumanBytes(g.weight_bytes), HumanBytes(g.arena_bytes));
  }
  s += "\ntransfers\n";
  for (const Transfer& t : plan.transfers)
    s += fmt::format("  {:<7} {:<16} -> {:<16} {:>10}  {:.6f} s{}{}\n", t.kind, hosts[t.from], hosts[t.to], HumanBytes(t.bytes), t.time_s,
                     p.links.empty() ? "" : "  " + links[t.link].name,
                     t.codec == "raw" ? "" : fmt::format("  codec {} ({:+.2f} points)", t.codec, t.accuracy_drop));
  return s;
}

Status RunPlan(const PlanArgs& a) {
  ES_ASSIGN_OR_RETURN(PlanInput in, LoadPlanInputWithNotes(a.source));
  ES_ASSIGN_OR_RETURN(Objective objective, ParseObjective(a.objective));
  ES_ASSIGN_OR_RETURN(Order order, ParseOrder(a.order));
  if (a.format != "table" && a.format != "json" && a.format != "csv") return InvalidArgument("--format must be table, json or csv");
  if (a.beam_width < 1) return InvalidArgument("--beam-width must be >= 1");
  Plan plan;
  std::string algorithm = a.algorithm;
  if (!a.cuts.empty()) {
    ES_ASSIGN_OR_RETURN(std::vector<Run> runs, RunsFromCutNames(in.problem, in.graph ? &*in.graph : nullptr, in.cuts, a.cuts));
    ES_ASSIGN_OR_RETURN(plan, EvaluatePlan(in.problem, runs));
    algorithm = "fixed";
    plan.solver = algorithm;
  } else {
    ES_ASSIGN_OR_RETURN(Algorithm alg, ParseAlgorithm(a.algorithm));
    PlanOptions o = SolverOptions(objective, order, a.use_all, a.beam_width, a.seed, a.max_plans);
    // Per mille of the plans enumerated, on a terminal only.
    std::optional<Progress> bar;
    if (alg == Algorithm::kBruteForce) {
      bar.emplace("brute force (per mille of plans)", 1000);
      o.progress = [&bar](double f) { bar->Update(static_cast<int64_t>(1000 * f)); };
    }
    ES_ASSIGN_OR_RETURN(plan, SolvePlan(in.problem, alg, o));
  }
  const std::string order_name = a.cuts.empty() ? OrderName(order) : "fixed";
  const std::string text = a.format == "table" ? PlanTable(in.problem, algorithm, order_name, plan)
                                               : PlanToJson(in.problem, algorithm, order_name, plan);
  if (a.format == "csv") return WriteOutput(a.output, RowsCsv(Json::parse(text)["segments"]));
  return WriteOutput(a.output, text);
}

}  // namespace

Runner RegisterPlan(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  AddPlanSourceOptions(app, a->source);
  app.add_option("--algorithm", a->algorithm, "dp, beam, greedy, first-fit, random-fit or brute-force")->capture_default_str();
  app.add_option("--objective", a->objective, "latency, throughput or energy")->capture_default_str();
  app.add_option("--order", a->order, "fixed (devices in the given order) or free (any order and subset; dp, beam, brute-force)")
      ->capture_default_str();
  app.add_flag("--use-all", a->use_all, "Give every device a segment");
  app.add_option("--beam-width", a->beam_width, "Beam search width")->capture_default_str();
  app.add_option("--seed", a->seed, "random-fit seed")->capture_default_str();
  app.add_option("--max-plans", a->max_plans, "brute-force: refuse instances with more plans than this (0: no limit)")
      ->capture_default_str();
  app.add_option("--format", a->format, "table, json or csv (csv: one row per segment)")->capture_default_str();
  app.add_option("--split", a->cuts, "Evaluate this split instead of solving (cut names, in order)")->delimiter(',');
  AddHiddenAlias(app, "--cuts", a->cuts, "--split")->delimiter(',');
  app.add_option("-o,--output", a->output, "Write to FILE instead of stdout");
  return [a] { return RunPlan(*a); };
}

}  // namespace edgesplit::cli
