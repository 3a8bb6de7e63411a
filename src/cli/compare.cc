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

using Row = ComparisonRow;

Status RunCompare(const CompareArgs& a) {
  ES_ASSIGN_OR_RETURN(PlanInput in, LoadPlanInputWithNotes(a.source));
  ES_ASSIGN_OR_RETURN(Objective objective, ParseObjective(a.objective));
  ES_ASSIGN_OR_RETURN(Order order, ParseOrder(a.order));
  if (a.format != "table" && a.format != "csv" && a.format != "json") return InvalidArgument("--format must be table, csv or json");
  const PlanOptions o = SolverOptions(objective, order, a.use_all, a.beam_width, a.seed, a.max_plans);
  ES_ASSIGN_OR_RETURN(std::vector<Row> rows, ComparePlanners(in.problem, o, a.max_devices));
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
      if (r.ran && r.feasible) x.update({{"value", r.value}, {"latency_s", r.latency_s}, {"gap_pct", r.gap_pct}, {"segments", r.segments}});
      if (r.ran && !r.feasible) x["reason"] = r.reason;
      if (r.ran) x["solve_time_s"] = r.solve_time_s;
      j["rows"].push_back(x);
    }
    text = j.dump(2) + "\n";
  } else if (a.format == "csv") {
    // latency_s beside the objective's value, so a throughput or energy comparison still shows the latency.
    text = "devices,algorithm,feasible,value,gap_pct,solve_time_s,latency_s,segments\n";
    for (const Row& r : rows)
      text += r.ran ? fmt::format("{},{},{},{:.9g},{:.6f},{:.9g},{:.9g},{}\n", r.devices, r.algorithm, r.feasible ? 1 : 0,
                                  r.feasible ? r.value : 0, r.feasible ? r.gap_pct : 0, r.solve_time_s, r.feasible ? r.latency_s : 0,
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
                                                r.solve_time_s * 1e3, latency_column && show ? fmt::format(" {:>12}", "") : "", why);
      else text += fmt::format("{:>7}  {:<12} {:>14.6f} {:>8.2f}% {:>10.3f}ms{}  {}\n", r.devices, r.algorithm, r.value, r.gap_pct,
                               r.solve_time_s * 1e3, latency_column ? fmt::format(" {:>12.6f}", r.latency_s) : "", r.segments);
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
