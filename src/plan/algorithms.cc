// The planner's algorithms over one problem, and SolvePlan.
#include <algorithm>
#include <chrono>
#include <random>

#include "plan_internal.h"

namespace edgesplit {
namespace {

using plan_internal::kInf;
using plan_internal::Tables;

// ---- brute force: every plan (free order: hosts of a type taken lowest first,
// since swapping identical hosts changes no cost)
struct BruteForce {
  const plan_internal::Hosts& h;
  const PlanOptions& o;
  int L, K;
  std::vector<Run> runs, best;
  std::vector<int> next_of_type;  // free order: the lowest unused host of each type
  int used = 0;
  double best_value = kInf;
  int64_t done = 0, total = 1, next_report = 0;

  void Leaf() {
    const double v = plan_internal::FastObjective(h, runs, o.objective);
    if (v < best_value) best_value = v, best = runs;
    if (o.progress && ++done >= next_report) {
      o.progress(std::min(1.0, static_cast<double>(done) / static_cast<double>(total)));
      next_report = done + std::max<int64_t>(1, total / 100);
    }
  }
  void Take(int k, int first) {
    for (int last = first; last < L; ++last) {
      if (o.use_all && L - 1 - last < K - 1 - used) break;  // leave a group per remaining device
      runs.push_back({k, first, last});
      ++used;
      if (last == L - 1) {
        if (!o.use_all || used == K) Leaf();
      } else if (used < K) {
        Extend(last + 1, k);
      }
      --used;
      runs.pop_back();
    }
  }
  // Groups `first`.. remain; `prev` ran last.
  void Extend(int first, int prev) {
    if (o.order == Order::kFree) {
      for (size_t ty = 0; ty < h.type_hosts.size(); ++ty) {
        if (next_of_type[ty] == static_cast<int>(h.type_hosts[ty].size())) continue;
        const int k = h.type_hosts[ty][next_of_type[ty]++];
        Take(k, first);
        --next_of_type[ty];
      }
      return;
    }
    for (int k = prev + 1; k < K; ++k) {
      if (o.use_all && k != prev + 1) break;
      Take(k, first);
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
      if (!ends) c += w.Transfer(k, k + 1) * t.Hop(k, k + 1, last + 1);  // the next host's link, as a guess
      else if (k != 0) c += w.rx * t.Result(k);
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

// ---- beam: partial plans ending at a cut, extended one host at a time
struct Partial {
  std::vector<Run> runs;
  std::vector<char> used;  // free order
  double sum = 0, max_compute = 0, max_transfer = 0, shared_sum = 0;
  double score = 0;
};

std::vector<Run> Beam(const plan_internal::Hosts& h, const Tables& t, const PlanOptions& o) {
  const Problem& p = h.p;
  const bool free = o.order == Order::kFree;
  const auto w = plan_internal::AdditiveWeights(p, o.objective);
  const auto reach = plan_internal::Reachability(p, t, o.use_all);
  // Lower bound of the remaining compute from group j on (cheapest device per group).
  std::vector<double> rest(t.L + 1, 0.0);
  for (int g = t.L - 1; g >= 0; --g) {
    double m = kInf;
    for (int k = 0; k < t.K; ++k) m = std::min(m, w.compute[k] * p.layers[g].compute_s[k]);
    rest[g] = rest[g + 1] + m;
  }
  auto score = [&](const Partial& s, int next) {
    if (o.objective == Objective::kThroughput) return std::max({s.max_compute, s.max_transfer, s.shared_sum});
    return s.sum + rest[next];
  };
  // false when the pair has no link
  auto add_transfer = [&](Partial& s, int from, int to, double time) {
    if (!(time < kInf)) return false;
    s.sum += w.Transfer(from, to) * time;
    if (t.Shared(from, to)) s.shared_sum += time;
    else s.max_transfer = std::max(s.max_transfer, time);
    return true;
  };
  // The hosts that may run next: fixed, later ones; free, the lowest unused host of each type.
  std::vector<int> candidates;
  auto next_hosts = [&](const Partial& s, int prev) {
    candidates.clear();
    if (!free) {
      for (int k = prev + 1; k < t.K && (!o.use_all || k == prev + 1); ++k) candidates.push_back(k);
      return;
    }
    for (const auto& hosts : h.type_hosts)
      for (int k : hosts)
        if (!s.used[k]) {
          candidates.push_back(k);
          break;
        }
  };
  Partial start;
  start.used.assign(free ? t.K : 0, 0);
  std::vector<Partial> beam = {start}, next;
  std::vector<Run> best;
  double best_value = kInf;
  const int width = std::max(1, o.beam_width);
  for (int level = 0; level < t.K && !beam.empty(); ++level) {
    next.clear();
    const int left_after = t.K - level - 1;  // hosts unused after this level's run
    for (const Partial& s : beam) {
      const int first = s.runs.empty() ? 0 : s.runs.back().last + 1;
      const int prev = s.runs.empty() ? -1 : s.runs.back().device;
      next_hosts(s, prev);
      for (int k : candidates) {
        if (!free && !reach[k][first]) continue;
        Partial base = s;
        if (free) base.used[k] = 1;
        if (first == 0 && k != 0 && !add_transfer(base, 0, k, t.Input(k))) continue;
        if (first > 0 && !add_transfer(base, prev, k, t.Hop(prev, k, first))) continue;
        for (int last = first; last < t.L; ++last) {
          if (!plan_internal::RunFits(p, t, k, first, last)) break;
          const bool ends = last == t.L - 1;
          if (free ? (ends ? o.use_all && left_after > 0 : left_after == 0 || (o.use_all && t.L - 1 - last < left_after))
                   : (ends ? (o.use_all && k != t.K - 1) : !(k + 1 < t.K && reach[k + 1][last + 1])))
            continue;
          Partial e = base;
          const double c = t.Compute(k, first, last);
          e.sum += w.compute[k] * c;
          e.max_compute = std::max(e.max_compute, c);
          e.runs.push_back({k, first, last});
          if (ends) {
            if (k != 0 && !add_transfer(e, k, 0, t.Result(k))) continue;
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

const char* OrderName(Order o) { return o == Order::kFree ? "free" : "fixed"; }

Result<Order> ParseOrder(const std::string& name) {
  if (name == "fixed") return Order::kFixed;
  if (name == "free") return Order::kFree;
  return InvalidArgument("unknown order '" + name + "'; use fixed or free");
}

bool SupportsFreeOrder(Algorithm a) { return a == Algorithm::kBruteForce || a == Algorithm::kBeam || a == Algorithm::kDp; }

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
  if (options.order == Order::kFree && !SupportsFreeOrder(algorithm))
    return InvalidArgument(std::string(AlgorithmName(algorithm)) + " keeps the devices in order; free order: dp, beam or brute-force");
  const auto start = std::chrono::steady_clock::now();
  const plan_internal::Hosts h = plan_internal::ExpandHosts(problem);
  const Tables t(h);
  const Problem& hp = h.p;
  std::vector<Run> runs;
  std::string solver = AlgorithmName(algorithm);
  bool exact = algorithm == Algorithm::kBruteForce || algorithm == Algorithm::kDp;
  switch (algorithm) {
    case Algorithm::kBruteForce: {
      ES_RETURN_IF_ERROR(CheckBruteForceSize(t.L, t.K, options.use_all, options.max_plans, options.order));
      BruteForce bf{h, options, t.L, t.K, {}, {}, {}};
      bf.next_of_type.assign(h.type_hosts.size(), 0);
      bf.total = CountPlans(t.L, t.K, options.use_all, options.order);
      bf.Extend(0, -1);
      runs = std::move(bf.best);
      break;
    }
    case Algorithm::kGreedy: runs = Greedy(hp, t, options); break;
    case Algorithm::kFirstFit: runs = FirstFit(hp, t, options); break;
    case Algorithm::kRandomFit: runs = RandomFit(hp, t, options); break;
    case Algorithm::kBeam: runs = Beam(h, t, options); break;
    case Algorithm::kDp: {
      plan_internal::DpResult r = plan_internal::SolveDp(h, t, options);
      if (r.reached) {
        runs = std::move(r.runs);
      } else {  // free order beyond the exact table's reach
        runs = Beam(h, t, options);
        solver = AlgorithmName(Algorithm::kBeam);
        exact = false;
      }
      break;
    }
  }
  const double solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Plan plan;
  if (!runs.empty()) plan = plan_internal::EvaluateHosts(h, runs);
  if (runs.empty() || !plan.feasible) {
    Plan none;
    if (exact) {
      none.reason = plan_internal::InfeasibleReason(h, t, options.use_all, options.order);
    } else {
      const plan_internal::DpResult check = plan_internal::SolveDp(h, t, options);
      none.reason = check.reached && check.runs.empty()
                        ? plan_internal::InfeasibleReason(h, t, options.use_all, options.order)
                        : solver + " found no feasible plan (" + (check.reached ? "one exists: try dp" : "one may exist") + ")";
    }
    plan = std::move(none);
  }
  plan.solve_time_s = solve_s;
  plan.solver = solver;
  plan.exact = exact;  // the optimum, or proof that nothing is feasible
  return plan;
}

}  // namespace edgesplit
