// ComparePlanners: every algorithm against dp's optimum on the first 1..N
// device entries (the seed paper's optimizer experiment; `edgesplit compare`
// and `edgesplit report` render it).
#include <algorithm>
#include <cmath>

#include "edgesplit/plan.h"

namespace edgesplit {

Problem FirstDevices(const Problem& p, int n) {
  Problem q = p;
  q.devices.resize(static_cast<size_t>(n));
  for (PlanLayer& l : q.layers) l.compute_s.resize(static_cast<size_t>(n));
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

Result<std::vector<ComparisonRow>> ComparePlanners(const Problem& problem, const PlanOptions& options, int max_devices) {
  ES_RETURN_IF_ERROR(ValidateProblem(problem));
  const int K = static_cast<int>(problem.devices.size());
  const int n_max = max_devices > 0 ? std::min(max_devices, K) : K;
  std::vector<ComparisonRow> rows;
  for (int n = 1; n <= n_max; ++n) {
    const Problem q = FirstDevices(problem, n);
    ES_ASSIGN_OR_RETURN(Plan opt, SolvePlan(q, Algorithm::kDp, options));
    const double best = ObjectiveValue(opt, options.objective);
    const int hosts = static_cast<int>(HostNames(q).size());
    for (Algorithm alg : AllAlgorithms()) {
      ComparisonRow r;
      r.devices = n;
      r.algorithm = AlgorithmName(alg);
      PlanOptions ao = options;
      if (!SupportsFreeOrder(alg)) ao.order = Order::kFixed;  // a plan in the given order is a free-order plan too
      r.order = OrderName(ao.order);
      if (alg == Algorithm::kBruteForce &&
          !CheckBruteForceSize(static_cast<int>(q.layers.size()), hosts, options.use_all, options.max_plans, ao.order).ok()) {
        r.ran = false;
        rows.push_back(r);
        continue;
      }
      ES_ASSIGN_OR_RETURN(Plan plan, SolvePlan(q, alg, ao));
      if (plan.solver != r.algorithm) r.solver = plan.solver;
      r.feasible = plan.feasible;
      r.solve_time_s = plan.solve_time_s;
      if (!plan.feasible) r.reason = plan.reason;
      if (plan.feasible) {
        r.value = ObjectiveValue(plan, options.objective);
        r.latency_s = plan.latency_s;
        r.gap_pct = best > 0 ? 100 * (r.value - best) / best : 0;
        if (std::abs(r.gap_pct) < 1e-9) r.gap_pct = 0;  // ties print as 0, not -0
        for (const Segment& s : plan.segments)
          r.segments += (r.segments.empty() ? "" : " ") + std::to_string(s.device) + ":" + std::to_string(s.first_layer) + "-" +
                        std::to_string(s.last_layer);
      }
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace edgesplit
