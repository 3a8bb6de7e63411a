// The planner's algorithms over one problem, and SolvePlan.
#include <algorithm>
#include <chrono>
#include <random>

#include "plan_internal.h"

namespace edgesplit {
namespace {

using plan_internal::kInf;
using plan_internal::Tables;

// ---- brute force: every plan ------------------------------------------------
struct BruteForce {
  const Problem& p;
  const PlanOptions& o;
  int L, K;
  std::vector<Run> runs, best;
  double best_value = kInf;
  int64_t done = 0, total = 1, next_report = 0;

  void Leaf() {
    const double v = plan_internal::FastObjective(p, runs, o.objective);
    if (v < best_value) best_value = v, best = runs;
    if (o.progress && ++done >= next_report) {
      o.progress(static_cast<double>(done) / static_cast<double>(total));
      next_report = done + std::max<int64_t>(1, total / 100);
    }
  }
  // Groups `first`.. remain; devices after `prev` are free.
  void Extend(int first, int prev) {
    for (int k = prev + 1; k < K; ++k) {
      if (o.use_all && k != prev + 1) break;
      for (int last = first; last < L; ++last) {
        if (o.use_all && L - 1 - last < K - 1 - k) break;  // leave a group per remaining device
        runs.push_back({k, first, last});
        if (last == L - 1) {
          if (!o.use_all || k == K - 1) Leaf();
        } else if (k + 1 < K) {
          Extend(last + 1, k);
        }
        runs.pop_back();
      }
    }
  }
};

// ---- greedy: each device takes the run minimising its compute + the next transfer
std::vector<Run> Greedy(const Problem& p, const Tables& t, const PlanOptions& o) {
  const auto reach = plan_internal::Reachability(p, t, o.use_all);
  const auto w = plan_internal::AdditiveWeights(p, o.objective);
  std::vector<Run> runs;
  int first = 0;
  for (int k = 0; k < t.K && first < t.L; ++k) {
    double best = kInf;
    int best_last = -1;
    for (int last = first; last < t.L; ++last) {
      if (!plan_internal::RunFits(p, t, k, first, last)) break;
      const bool ends = last == t.L - 1;
      // Only runs after which the rest can still be placed.
      if (!(ends ? (!o.use_all || k == t.K - 1) : (k + 1 < t.K && reach[k + 1][last + 1]))) continue;
      double c = w.compute[k] * t.Compute(k, first, last);
      if (!ends) c += (k == 0 ? w.hop_from_sensor : w.hop) * t.hop_s[last + 1];
      else if (k != 0) c += w.result * t.result_s;
      if (c < best) best = c, best_last = last;
    }
    if (best_last < 0) {
      if (o.use_all) return {};
      continue;  // device k cannot usefully take the next group: skip it
    }
    runs.push_back({k, first, best_last});
    first = best_last + 1;
  }
  if (first < t.L) return {};
  return runs;
}

// ---- first-fit: each device takes groups while they fit
std::vector<Run> FirstFit(const Problem& p, const Tables& t, const PlanOptions& o) {
  std::vector<Run> runs;
  int first = 0;
  for (int k = 0; k < t.K && first < t.L; ++k) {
    int last = first - 1;
    const int limit = o.use_all ? t.L - 1 - (t.K - 1 - k) : t.L - 1;
    while (last + 1 <= limit && plan_internal::RunFits(p, t, k, first, last + 1)) ++last;
    if (last < first) {
      if (o.use_all) return {};
      continue;
    }
    runs.push_back({k, first, last});
    first = last + 1;
  }
  if (first < t.L || (o.use_all && static_cast<int>(runs.size()) != t.K)) return {};
  return runs;
}

// ---- random-fit: a random feasible plan, each group staying or moving on
std::vector<Run> RandomFit(const Problem& p, const Tables& t, const PlanOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::bernoulli_distribution coin(0.5);
  const auto reach = plan_internal::Reachability(p, t, o.use_all);
  // Can device k's run from `first` include group g and still lead to a complete plan?
  auto viable = [&](int k, int first, int g) {
    for (int last = g; last < t.L; ++last) {
      if (!plan_internal::RunFits(p, t, k, first, last)) return false;
      if (last == t.L - 1 ? (!o.use_all || k == t.K - 1) : (k + 1 < t.K && reach[k + 1][last + 1])) return true;
    }
    return false;
  };
  auto pick = [&](const std::vector<int>& v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)]; };
  std::vector<int> moves;
  for (int d = 0; d < (o.use_all ? 1 : t.K); ++d)
    if (viable(d, 0, 0)) moves.push_back(d);
  if (moves.empty()) return {};
  std::vector<Run> runs = {{pick(moves), 0, 0}};
  for (int g = 1; g < t.L; ++g) {
    Run& cur = runs.back();
    const bool can_stay = viable(cur.device, cur.first, g);
    moves.clear();
    for (int d = cur.device + 1; d < t.K && (!o.use_all || d == cur.device + 1); ++d)
      if (viable(d, g, g)) moves.push_back(d);
    if (moves.empty() && !can_stay) return {};  // cannot happen: the previous step was viable
    if (!moves.empty() && (!can_stay || coin(rng))) runs.push_back({pick(moves), g, g});
    else cur.last = g;
  }
  return runs;
}

// ---- beam: partial plans ending at a cut, extended one device at a time
struct Partial {
  std::vector<Run> runs;
  double sum = 0, max_compute = 0, max_transfer = 0, transfer_sum = 0;
  double score = 0;
};

std::vector<Run> Beam(const Problem& p, const Tables& t, const PlanOptions& o) {
  const auto w = plan_internal::AdditiveWeights(p, o.objective);
  const auto reach = plan_internal::Reachability(p, t, o.use_all);
  const bool shared = p.link.shared_medium;
  // Lower bound of the remaining compute from group j on (cheapest device per group).
  std::vector<double> rest(t.L + 1, 0.0);
  for (int g = t.L - 1; g >= 0; --g) {
    double m = kInf;
    for (int k = 0; k < t.K; ++k) m = std::min(m, w.compute[k] * p.layers[g].compute_s[k]);
    rest[g] = rest[g + 1] + m;
  }
  auto score = [&](const Partial& s, int next) {
    if (o.objective == Objective::kThroughput)
      return std::max(s.max_compute, shared ? s.transfer_sum : s.max_transfer);
    return s.sum + rest[next];
  };
  auto add_transfer = [&](Partial& s, double time, double weight) {
    s.sum += weight * time;
    s.transfer_sum += time;
    s.max_transfer = std::max(s.max_transfer, time);
  };
  std::vector<Partial> beam(1), next;
  std::vector<Run> best;
  double best_value = kInf;
  const int width = std::max(1, o.beam_width);
  for (int level = 0; level < t.K && !beam.empty(); ++level) {
    next.clear();
    for (const Partial& s : beam) {
      const int first = s.runs.empty() ? 0 : s.runs.back().last + 1;
      const int prev = s.runs.empty() ? -1 : s.runs.back().device;
      for (int k = prev + 1; k < t.K; ++k) {
        if (o.use_all && k != prev + 1) break;
        if (!reach[k][first]) continue;
        Partial base = s;
        if (first == 0 && k != 0) add_transfer(base, t.input_s, w.input);
        if (first > 0) add_transfer(base, t.hop_s[first], prev == 0 ? w.hop_from_sensor : w.hop);
        for (int last = first; last < t.L; ++last) {
          if (!plan_internal::RunFits(p, t, k, first, last)) break;
          const bool ends = last == t.L - 1;
          if (ends ? (o.use_all && k != t.K - 1) : !(k + 1 < t.K && reach[k + 1][last + 1])) continue;
          Partial e = base;
          const double c = t.Compute(k, first, last);
          e.sum += w.compute[k] * c;
          e.max_compute = std::max(e.max_compute, c);
          e.runs.push_back({k, first, last});
          if (ends) {
            if (k != 0) add_transfer(e, t.result_s, w.result);
            const double v = score(e, t.L);
            if (v < best_value) best_value = v, best = e.runs;
          } else {
            e.score = score(e, last + 1);
            next.push_back(std::move(e));
          }
        }
      }
    }
    const size_t keep = std::min<size_t>(next.size(), static_cast<size_t>(width));
    std::partial_sort(next.begin(), next.begin() + keep, next.end(),
                      [](const Partial& a, const Partial& b) { return a.score < b.score; });
    next.resize(keep);
    beam.swap(next);
  }
  return best;
}

}  // namespace

const char* ObjectiveName(Objective o) {
  switch (o) {
    case Objective::kLatency: return "latency";
    case Objective::kThroughput: return "throughput";
    case Objective::kEnergy: return "energy";
  }
  return "?";
}

const char* AlgorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kBruteForce: return "brute-force";
    case Algorithm::kGreedy: return "greedy";
    case Algorithm::kFirstFit: return "first-fit";
    case Algorithm::kRandomFit: return "random-fit";
    case Algorithm::kBeam: return "beam";
    case Algorithm::kDp: return "dp";
  }
  return "?";
}

std::vector<Algorithm> AllAlgorithms() {
  return {Algorithm::kBruteForce, Algorithm::kGreedy, Algorithm::kFirstFit, Algorithm::kRandomFit, Algorithm::kBeam, Algorithm::kDp};
}

Result<Objective> ParseObjective(const std::string& name) {
  for (Objective o : {Objective::kLatency, Objective::kThroughput, Objective::kEnergy})
    if (name == ObjectiveName(o)) return o;
  return InvalidArgument("unknown objective '" + name + "'; use latency, throughput or energy");
}

Result<Algorithm> ParseAlgorithm(const std::string& name) {
  for (Algorithm a : AllAlgorithms())
    if (name == AlgorithmName(a)) return a;
  return InvalidArgument("unknown algorithm '" + name + "'; use brute-force, greedy, first-fit, random-fit, beam or dp");
}

Result<Plan> SolvePlan(const Problem& problem, Algorithm algorithm, const PlanOptions& options) {
  ES_RETURN_IF_ERROR(ValidateProblem(problem));
  const auto start = std::chrono::steady_clock::now();
  const Tables t(problem);
  std::vector<Run> runs;
  switch (algorithm) {
    case Algorithm::kBruteForce: {
      ES_RETURN_IF_ERROR(CheckBruteForceSize(t.L, t.K, options.use_all, options.max_plans));
      BruteForce bf{problem, options, t.L, t.K, {}, {}};
      bf.total = CountPlans(t.L, t.K, options.use_all);
      bf.Extend(0, -1);
      runs = std::move(bf.best);
      break;
    }
    case Algorithm::kGreedy: runs = Greedy(problem, t, options); break;
    case Algorithm::kFirstFit: runs = FirstFit(problem, t, options); break;
    case Algorithm::kRandomFit: runs = RandomFit(problem, t, options); break;
    case Algorithm::kBeam: runs = Beam(problem, t, options); break;
    case Algorithm::kDp: runs = plan_internal::SolveDp(problem, t, options).runs; break;
  }
  const double solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Plan plan;
  if (!runs.empty()) {
    ES_ASSIGN_OR_RETURN(plan, EvaluatePlan(problem, runs));
  }
  if (runs.empty() || !plan.feasible) {
    const bool exact = algorithm == Algorithm::kBruteForce || algorithm == Algorithm::kDp;
    Plan none;
    none.reason = exact || !plan_internal::Reachability(problem, t, options.use_all)[0][0]
                      ? plan_internal::InfeasibleReason(problem, t, options.use_all)
                      : std::string(AlgorithmName(algorithm)) + " found no feasible plan (one exists: try dp)";
    plan = std::move(none);
  }
  plan.solve_time_s = solve_s;
  return plan;
}

}  // namespace edgesplit
