// The exact solver.
//
// Latency and energy are sums of weighted stage times (plan_internal::Weights).
// f[k][j] = the cheapest cost of covering groups 0..j-1 with device k's run
// last (hop out of k not yet paid). With P_k the compute prefix sums,
//   f[k][j] = w_k P_k[j] + min over i in window_k(j) of (G_k[i] - w_k P_k[i]),
// where G_k[i] is the cost of entering device k before group i (the input
// transfer when i = 0, else the best f[k'][i] over earlier devices k' plus the
// hop). The valid starts i of a run ending at j-1 (weights, arena, and for the
// throughput search a compute cap) form a window [lo_k(j), j-1] whose ends only
// move right, so a monotone deque gives each minimum in O(1): O(K*L) in all.
//
// Throughput (a bottleneck) is solved by searching the stage-time threshold
// tau: with compute stages capped at tau, the same DP minimises the transfer
// sum (shared medium) or checks feasibility with each transfer capped at tau.
#include <algorithm>
#include <deque>

#include "plan_internal.h"

namespace edgesplit::plan_internal {
namespace {

struct Spec {
  Weights w;
  double compute_cap = kInf;   // every run's compute <= this
  double transfer_cap = kInf;  // every single transfer <= this
  bool use_all = false;
};

DpResult Run(const Problem& p, const Tables& t, const Spec& s) {
  const int L = t.L, K = t.K;
  std::vector<std::vector<double>> f(K, std::vector<double>(L + 1, kInf));
  std::vector<std::vector<int>> from_i(K, std::vector<int>(L + 1, -1)), from_k(K, std::vector<int>(L + 1, -1));
  // best_prev[i] / best_prev_k[i]: min over devices 1..k-1 of f[k'][i] (devices after d1).
  std::vector<double> best_prev(L + 1, kInf);
  std::vector<int> best_prev_k(L + 1, -1);
  std::vector<double> G(L);
  std::vector<int> G_from(L);
  std::deque<int> window;
  for (int k = 0; k < K; ++k) {
    const double wk = s.w.compute[k];
    const auto& P = t.prefix[k];
    // Entering device k before group i.
    for (int i = 0; i < L; ++i) {
      G[i] = kInf;
      G_from[i] = -1;
      if (i == 0) {
        if (k == 0) G[0] = 0;
        else if (!s.use_all && t.input_s <= s.transfer_cap) G[0] = s.w.input * t.input_s;
        continue;
      }
      if (t.hop_s[i] > s.transfer_cap || k == 0) continue;
      auto consider = [&](double base, int kp, double weight) {
        const double c = base + weight * t.hop_s[i];
        if (c < G[i]) G[i] = c, G_from[i] = kp;
      };
      if (s.use_all) {
        consider(f[k - 1][i], k - 1, k - 1 == 0 ? s.w.hop_from_sensor : s.w.hop);
      } else {
        consider(f[0][i], 0, s.w.hop_from_sensor);
        if (best_prev_k[i] >= 0) consider(best_prev[i], best_prev_k[i], s.w.hop);
      }
    }
    // Runs i..j-1 on device k, sliding window over i.
    window.clear();
    int lo = 0;
    const PlanDevice& dev = p.devices[k];
    for (int j = 1; j <= L; ++j) {
      const int i_new = j - 1;
      if (G[i_new] < kInf) {
        const double v = G[i_new] - wk * P[i_new];
        while (!window.empty() && G[window.back()] - wk * P[window.back()] >= v) window.pop_back();
        window.push_back(i_new);
      }
      if (p.layers[j - 1].arena_bytes > dev.ram_bytes) lo = j;
      while (lo < j && (t.weight_prefix[j] - t.weight_prefix[lo] > dev.weight_capacity_bytes || P[j] - P[lo] > s.compute_cap)) ++lo;
      while (!window.empty() && window.front() < lo) window.pop_front();
      if (window.empty()) continue;
      const int i = window.front();
      f[k][j] = wk * P[j] + G[i] - wk * P[i];
      from_i[k][j] = i;
      from_k[k][j] = i == 0 ? -1 : G_from[i];
    }
    if (k >= 1 && !s.use_all)
      for (int i = 1; i <= L; ++i)
        if (f[k][i] < best_prev[i]) best_prev[i] = f[k][i], best_prev_k[i] = k;
  }
  DpResult r;
  int best_k = -1;
  for (int k = s.use_all ? K - 1 : 0; k < K; ++k) {
    double c = f[k][L];
    if (k != 0) {
      if (t.result_s > s.transfer_cap) continue;
      c += s.w.result * t.result_s;
    }
    if (c < r.value) r.value = c, best_k = k;
  }
  if (best_k < 0) return r;
  for (int k = best_k, j = L; k >= 0 && j > 0;) {
    const int i = from_i[k][j];
    r.runs.push_back({k, i, j - 1});
    const int kp = from_k[k][j];
    j = i;
    k = kp;
  }
  std::reverse(r.runs.begin(), r.runs.end());
  return r;
}

DpResult SolveThroughput(const Problem& p, const Tables& t, bool use_all) {
  const bool shared = p.link.shared_medium;
  Spec s;
  s.use_all = use_all;
  s.w.compute.assign(t.K, 0.0);
  const double tw = shared ? 1.0 : 0.0;
  s.w.input = s.w.hop = s.w.hop_from_sensor = s.w.result = tw;
  // Candidate thresholds: every run's compute and every transfer time.
  std::vector<double> cand;
  const double run_count = static_cast<double>(t.K) * t.L * (t.L + 1) / 2;
  if (run_count <= 4e6) {
    for (int k = 0; k < t.K; ++k)
      for (int i = 0; i < t.L; ++i)
        for (int j = i + 1; j <= t.L; ++j) cand.push_back(t.prefix[k][j] - t.prefix[k][i]);
    if (!shared) {
      cand.insert(cand.end(), t.hop_s.begin() + (t.L > 0 ? 1 : 0), t.hop_s.end());
      cand.push_back(t.input_s);
      cand.push_back(t.result_s);
    }
    std::sort(cand.begin(), cand.end());
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
  }
  auto solve_at = [&](double tau) {
    Spec c = s;
    c.compute_cap = tau;
    if (!shared) c.transfer_cap = tau;
    return Run(p, t, c);
  };
  auto ok = [&](const DpResult& r, double tau) { return r.value < kInf && r.value <= tau; };
  DpResult best;
  auto keep = [&](DpResult r) {
    if (r.runs.empty()) return;
    r.value = FastObjective(p, r.runs, Objective::kThroughput);
    if (r.value < best.value) best = std::move(r);
  };
  if (!cand.empty()) {
    // First candidate where the capped solve fits under its own threshold; the
    // optimum is there or at the candidate before it (see the header comment).
    size_t lo = 0, hi = cand.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (ok(solve_at(cand[mid]), cand[mid])) hi = mid;
      else lo = mid + 1;
    }
    if (lo < cand.size()) keep(solve_at(cand[lo]));
    if (lo > 0) keep(solve_at(cand[lo - 1]));
  } else {
    // Too many runs to list: bisect tau over real numbers (exact to ~1e-12 relative).
    double a = 0, b = 0;
    for (int k = 0; k < t.K; ++k) b = std::max(b, t.prefix[k][t.L]);
    b += t.input_s + t.result_s;
    for (double h : t.hop_s) b += h;
    // Every plan a solve returns is feasible, so the best one's bottleneck is an
    // upper bound too (the capped solve at it fits), which shrinks b faster than halving.
    for (int it = 0; it < 100 && b - a > 1e-12 * b; ++it) {
      const double mid = (a + b) / 2;
      DpResult r = solve_at(mid);
      if (ok(r, mid)) b = mid;
      else a = mid;
      keep(std::move(r));
      b = std::max(a, std::min(b, best.value));
    }
    keep(solve_at(b));
  }
  return best;
}

}  // namespace

DpResult SolveDp(const Problem& p, const Tables& t, const PlanOptions& options) {
  if (options.objective == Objective::kThroughput) return SolveThroughput(p, t, options.use_all);
  Spec s;
  s.w = AdditiveWeights(p, options.objective);
  s.use_all = options.use_all;
  return Run(p, t, s);
}

}  // namespace edgesplit::plan_internal
