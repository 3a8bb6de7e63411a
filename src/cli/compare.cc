// edgesplit compare (MODEL --devices ... --link ... | --problem FILE)
//   [--max-devices N] [--use-all] [--objective ...] [--order fixed|free] [--beam-width N] [--seed N]
//   [--max-plans N] [--format table|csv|json] [-o FILE]
//
// Every algorithm on the first 1..N devices: objective value (and latency),
// gap to the optimum (dp, exact) in percent, solve time, feasibility. With
// --order free, the algorithms that keep the devices in order (greedy,
// first-fit, random-fit) run in the given order and their rows say so.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "commands.h"
#include "plan_args.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct CompareArgs {
  PlanSource source;
  int max_devices = 0;  // 0: all
  bool use_all = false;
  std::string objective = "latency";
  std::string order = "fixed";
  int beam_width = 8;
  uint64_t seed = 1;
  int64_t max_plans = kDefaultMaxPlans;
  std::string format = "table";
  std::string output;
};

struct Row {
  int devices = 0;
  std::string algorithm;
  bool ran = true, feasible = false;
  std::string order;   // the order it ran in
  std::string solver;  // when not the algorithm itself (dp beyond its reach: beam)
  double value = 0, latency = 0, gap_pct = 0, solve_s = 0;
  std::string segments;  // "dev:first-last ..."
  std::string reason;    // why not, when infeasible
};

Problem FirstDevices(const Problem& p, int n) {
  Problem q = p;
  q.devices.resize(n);
  for (PlanLayer& l : q.layers) l.compute_s.resize(n);
  // Links naming a device left out go too.
  auto known = [&](const std::string& name) {
    for (const PlanDevice& d : q.devices)
      if (d.name == name) return true;
    return false;
  };
  q.links.erase(std::remove_if(q.links.begin(), q.links.end(), [&](const PlanLink& l) { return !known(l.from) || !known(l.to); }),
                q.links.end());
  if (!p.links.empty() && q.links.empty()) q.links.push_back({q.devices[0].name, q.devices[0].name, p.links[0].link});  // no pair linked
  return q;
}

Status RunCompare(const CompareArgs& a) {
  ES_ASSIGN_OR_RETURN(PlanInput in, LoadPlanInput(a.source));
  ES_ASSIGN_OR_RETURN(Objective objective, ParseObjective(a.objective));
  ES_ASSIGN_OR_RETURN(Order order, ParseOrder(a.order));
  if (a.format != "table" && a.format != "csv" && a.format != "json") return InvalidArgument("--format must be table, csv or json");
  const int K = static_cast<int>(in.problem.devices.size());
  const int n_max = a.max_devices > 0 ? std::min(a.max_devices, K) : K;
  std::vector<Row> rows;
  for (int n = 1; n <= n_max; ++n) {
    const Problem q = FirstDevices(in.problem, n);
    PlanOptions o;
    o.objective = objective;
    o.order = order;
    o.use_all = a.use_all;
    o.beam_width = a.beam_width;
    o.seed = a.seed;
    o.max_plans = a.max_plans;
    ES_ASSIGN_OR_RETURN(Plan opt, SolvePlan(q, Algorithm::kDp, o));
    const double best = ObjectiveValue(opt, objective);
    const int hosts = static_cast<int>(HostNames(q).size());
    for (Algorithm alg : AllAlgorithms()) {
      Row r;
      r.devices = n;
      r.algorithm = AlgorithmName(alg);
      PlanOptions ao = o;
      if (!SupportsFreeOrder(alg)) ao.order = Order::kFixed;  // a plan in the given order is a free-order plan too
      r.order = OrderName(ao.order);
      if (alg == Algorithm::kBruteForce &&
          !CheckBruteForceSize(static_cast<int>(q.layers.size()), hosts, a.use_all, a.max_plans, ao.order).ok()) {
        r.ran = false;
        rows.push_back(r);
        continue;
      }
      ES_ASSIGN_OR_RETURN(Plan plan, SolvePlan(q, alg, ao));
      if (plan.solver != r.algorithm) r.solver = plan.solver;
      r.feasible = plan.feasible;
      r.solve_s = plan.solve_time_s;
      if (!plan.feasible) r.reason = plan.reason;
      if (plan.feasible) {
        r.value = ObjectiveValue(plan, objective);
        r.latency = plan.latency_s;
        r.gap_pct = best > 0 ? 100 * (r.value - best) / best : 0;
        if (std::abs(r.gap_pct) < 1e-9) r.gap_pct = 0;  // ties print as 0, not -0
        for (const Segment& s : plan.segments) r.segments += fmt::format("{}{}:{}-{}", r.segments.empty() ? "" : " ", s.device, s.first_layer, s.last_layer);
      }
      rows.push_back(r);
    }
  }
  std::string text;
  const std::string unit = objective == Objective::kEnergy ? "J" : "s";
  if (a.format == "json") {
    Json j;
    j["schema_version"] = kSchemaVersion;
    j["model"] = in.problem.model;
    j["link"] = in.problem.link.name;
    j["dtype"] = in.problem.dtype;
    j["objective"] = a.objective;
    j["order"] = a.order;
    j["use_all"] = a.use_all;
    j["free_order_algorithms"] = Json::array();
    for (Algorithm alg : AllAlgorithms())
      if (SupportsFreeOrder(alg)) j["free_order_algorithms"].push_back(AlgorithmName(alg));
    j["rows"] = Json::array();
    for (const Row& r : rows) {
      Json x = {{"devices", r.devices}, {"algorithm", r.algorithm}, {"order", r.order}, {"ran", r.ran}, {"feasible", r.feasible}};
      if (!r.solver.empty()) x["solver"] = r.solver;
      if (r.ran && r.feasible) x.update({{"value", r.value}, {"latency_s", r.latency}, {"gap_pct", r.gap_pct}, {"segments", r.segments}});
      if (r.ran && !r.feasible) x["reason"] = r.reason;
      if (r.ran) x["solve_time_s"] = r.solve_s;
      j["rows"].push_back(x);
    }
    text = j.dump(2) + "\n";
  } else if (a.format == "csv") {
    // latency_s beside the objective's value, so a throughput or energy comparison still shows the latency.
    text = "devices,algorithm,feasible,value,gap_pct,solve_time_s,latency_s,segments\n";
    for (const Row& r : rows)
      text += r.ran ? fmt::format("{},{},{},{:.9g},{:.6f},{:.9g},{:.9g},{}\n", r.devices, r.algorithm, r.feasible ? 1 : 0,
                                  r.feasible ? r.value : 0, r.feasible ? r.gap_pct : 0, r.solve_s, r.feasible ? r.latency : 0,
                                  r.segments)
                    : fmt::format("{},{},,,,,,skipped: too many plans (--max-plans)\n", r.devices, r.algorithm);
  } else {
    // Another objective than latency: the latency beside it.
    const bool latency_column = objective != Objective::kLatency;
    const bool free = order == Order::kFree;
    text = fmt::format("model {}  link {}  objective {}{}{}\n{}\n{:>7}  {:<12} {:>14} {:>9} {:>12}{}  {}\n",
                       in.problem.model.empty() ? "(problem file)" : in.problem.model,
                       in.problem.links.empty() ? in.problem.link.name : "per pair", a.objective, a.use_all ? "  (use-all)" : "",
                       free ? "  order free" : "",
                       free ? "free order: brute-force, beam, dp; greedy*, first-fit*, random-fit*: * keep the given order\n" : "",
                       "devices", "algorithm", a.objective + " " + unit, "gap", "solve time",
                       latency_column ? fmt::format(" {:>12}", "latency s") : "", "segments (device:groups)");
    // A reason is printed once per device count, on dp's row (the exact answer), and on a heuristic's row only when it differs.
    std::map<int, std::string> dp_reason;
    for (const Row& r : rows)
      if (r.algorithm == AlgorithmName(Algorithm::kDp)) dp_reason[r.devices] = r.reason;
    for (Row r : rows) {
      const bool show = !r.reason.empty() && (r.algorithm == AlgorithmName(Algorithm::kDp) || r.reason != dp_reason[r.devices]);
      if (free && r.order == "fixed") r.algorithm += "*";
      if (!r.solver.empty()) r.algorithm += ">" + r.solver;  // dp beyond its reach: beam
      const std::string why = show ? "  " + r.reason : "";
      if (!r.ran) text += fmt::format("{:>7}  {:<12} {:>14}\n", r.devices, r.algorithm, "skipped (too many plans)");
      else if (!r.feasible) text += fmt::format("{:>7}  {:<12} {:>14} {:>9} {:>10.3f}ms{}{}\n", r.devices, r.algorithm, "infeasible", "",
                                                r.solve_s * 1e3, latency_column && show ? fmt::format(" {:>12}", "") : "", why);
      else text += fmt::format("{:>7}  {:<12} {:>14.6f} {:>8.2f}% {:>10.3f}ms{}  {}\n", r.devices, r.algorithm, r.value, r.gap_pct,
                               r.solve_s * 1e3, latency_column ? fmt::format(" {:>12.6f}", r.latency) : "", r.segments);
    }
  }
  return WriteOutput(a.output, text);
}

}  // namespace

Runner RegisterCompare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  AddPlanSourceOptions(app, a->source);
  app.add_option("--max-devices", a->max_devices, "Compare on the first 1..N devices (default: all)");
  app.add_flag("--use-all", a->use_all, "Every device gets a segment");
  app.add_option("--order", a->order, "fixed or free (greedy, first-fit, random-fit keep the given order)")->capture_default_str();
  app.add_option("--objective", a->objective, "latency, throughput or energy")->capture_default_str();
  app.add_option("--beam-width", a->beam_width, "Beam search width")->capture_default_str();
  app.add_option("--seed", a->seed, "random-fit seed")->capture_default_str();
  app.add_option("--max-plans", a->max_plans, "Skip brute force above this many plans (0: no limit)")->capture_default_str();
  app.add_option("--format", a->format, "table, csv or json")->capture_default_str();
  app.add_option("-o,--output", a->output, "Write to FILE instead of stdout");
  return [a] { return RunCompare(*a); };
}

}  // namespace edgesplit::cli
