// Shared by the planner's algorithms: per-problem tables and the additive
// stage weights of each objective. Not part of the public contract.
#pragma once

#include <limits>
#include <vector>

#include "edgesplit/plan.h"

namespace edgesplit::plan_internal {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// Prefix sums and transfer times of one problem.
struct Tables {
  int L = 0, K = 0;
  std::vector<std::vector<double>> prefix;  // [k][j]: compute of groups 0..j-1 on device k
  std::vector<int64_t> weight_prefix;       // [j]
  // [k][j]: the first group >= j whose arena exceeds device k's RAM (L if none),
  // so that RunFits is O(1): solvers call it O(K*L^2) times on long chains.
  std::vector<std::vector<int>> next_over_ram;
  std::vector<double> hop_s;                // [i], 1 <= i < L: the hop after group i-1
  double input_s = 0, result_s = 0;
  explicit Tables(const Problem& p);
  double Compute(int k, int first, int last) const { return prefix[k][last + 1] - prefix[k][first]; }
};

// Does groups first..last fit device k (weights and peak arena)?
bool RunFits(const Problem& p, const Tables& t, int k, int first, int last);

// Latency and energy are sums of stage times, each times a weight:
// compute on device k x compute[k]; the input x input; a hop x hop_from_sensor
// or hop; the result x result. Latency: all 1. Energy (of d1): see plan.h.
struct Weights {
  std::vector<double> compute;
  double input = 1, hop_from_sensor = 1, hop = 1, result = 1;
};
Weights AdditiveWeights(const Problem& p, Objective objective);

// reach[d][i]: groups i..L-1 can be covered by devices d..K-1 (each used when
// use_all). reach[d][L] is true iff no device is left unused under use_all.
std::vector<std::vector<char>> Reachability(const Problem& p, const Tables& t, bool use_all);

// Why nothing is feasible, in words.
std::string InfeasibleReason(const Problem& p, const Tables& t, bool use_all);

// Objective value of `runs` without building a Plan (direct sums, as EvaluatePlan).
// kInf when a run breaks a limit.
double FastObjective(const Problem& p, const std::vector<Run>& runs, Objective objective);

// The exact solver (dp.cc): kInf value and empty runs when nothing is feasible.
struct DpResult {
  double value = kInf;
  std::vector<Run> runs;
};
DpResult SolveDp(const Problem& p, const Tables& t, const PlanOptions& options);

}  // namespace edgesplit::plan_internal
