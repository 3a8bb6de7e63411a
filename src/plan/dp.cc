// The exact solver, for both orders and all three objectives.
//
// Latency and energy are sums of weighted stage times (plan_internal::Weights);
// throughput without a shared medium is the largest stage, and max composes
// along a chain just as + does. Both are one dynamic programme over "groups
// 0..j-1 covered, the last run on host (fixed order) or type (free order) k":
//   sum: f[k][j] = min over i in window_k(j) of G_k[i] + w_k (P_k[j] - P_k[i])
//   max: f[k][j] = min over i in window_k(j) of max(G_k[i], P_k[j] - P_k[i])
// where G_k[i] is the cost of entering k before group i (the input transfer at
// i = 0, else the best f[k'][i] of a possible predecessor joined with the hop)
// and P_k the compute prefix sums. The valid starts of a run ending at j-1
// (weights, arena, and a compute cap in the shared-medium search) form a window
// whose ends only move right as j grows, so a monotone deque gives each
// minimum in amortised O(1) (see Runs for the max case).
//
// Fixed order: k is a host, predecessors are earlier hosts: O(K*L) with one
// link (a running minimum over predecessors), O(K^2*L) with a link per pair.
// Free order: the state also holds how many hosts of each type are used
// (identical hosts are one type with a count), so the table has
// prod(count_t + 1) x types x (L + 1) cells: polynomial in hosts per type,
// exponential only in the number of types.
//
// Throughput over a shared medium (the shared transfers' sum is one stage) is
// not a chain composition: bisect the threshold tau, each step solving the sum
// DP with every compute stage and non-shared transfer capped at tau and the
// shared transfers' sum minimised; from a lower bound (the max DP ignoring the
// shared medium) to 1e-13 relative, every solve's plan an upper bound.
#include <algorithm>

#include "plan_internal.h"

namespace edgesplit::plan_internal {
namespace {

enum class Mode : uint8_t { kSum, kMax };

struct Spec {
  Mode mode = Mode::kSum;
  Weights w;
  double cap = kInf;         // kSum: every compute stage and non-shared transfer <= cap,
  bool shared_only = false;  // ... and only shared transfers are summed (weights 0 elsewhere)
  bool ignore_shared = false;  // kMax: shared transfers cost nothing (the search's lower bound)
  bool use_all = false;
};

// The cost a transfer from host a to b taking `time` adds.
double TransferCost(const Spec& s, const Tables& t, int a, int b, double time) {
  if (!(time < kInf)) return kInf;
  if (s.mode == Mode::kMax) return s.ignore_shared && t.Shared(a, b) ? 0 : time;
  if (s.shared_only) return t.Shared(a, b) ? time : time <= s.cap ? 0 : kInf;
  return s.w.Transfer(a, b) * time;
}
double Join(const Spec& s, double before, double transfer) { return s.mode == Mode::kMax ? std::max(before, transfer) : before + transfer; }

// out[j] (1 <= j <= L): the best cost of ending a run of host k at group j-1,
// entered at a start i with cost g[i] (kInf: cannot start there); arg[j] = i.
// max case: the deque keeps starts with g increasing front to back (a start
// with an earlier index and no smaller g is dominated: its run is no shorter);
// the front is dropped once its run's compute reaches the next start's g (it
// stays dominated as j grows); then the front is the best start.
void Runs(const Problem& p, const Tables& t, const Spec& s, int k, const double* g, double* out, int* arg, std::vector<int>& dq) {
  const int L = t.L;
  const auto& P = t.prefix[k];
  const PlanDevice& dev = p.devices[k];
  const double w = s.mode == Mode::kSum ? s.w.compute[k] : 0;
  const bool capped = s.cap < kInf;
  auto value = [&](int i) { return g[i] - w * P[i]; };
  size_t head = 0, tail = 0;
  int lo = 0;
  for (int j = 1; j <= L; ++j) {
    out[j] = kInf;
    arg[j] = -1;
    const int i_new = j - 1;
    if (g[i_new] < kInf) {
      if (s.mode == Mode::kSum)
        while (tail > head && value(dq[tail - 1]) >= value(i_new)) --tail;
      else
        while (tail > head && g[dq[tail - 1]] >= g[i_new]) --tail;
      dq[tail++] = i_new;
    }
    if (p.layers[j - 1].arena_bytes > dev.ram_bytes) lo = j;
    while (lo < j && (t.weight_prefix[j] - t.weight_prefix[lo] > dev.weight_capacity_bytes || (capped && P[j] - P[lo] > s.cap))) ++lo;
    while (tail > head && dq[head] < lo) ++head;
    if (tail == head) continue;
    if (s.mode == Mode::kSum) {
      out[j] = w * P[j] + value(dq[head]);
    } else {
      while (tail - head >= 2 && P[j] - P[dq[head]] >= g[dq[head + 1]]) ++head;
      out[j] = std::max(g[dq[head]], P[j] - P[dq[head]]);
    }
    arg[j] = dq[head];
  }
}

// ---- fixed order: k is a host, predecessors are earlier hosts ---------------
DpResult SolveFixed(const Hosts& h, const Tables& t, const Spec& s) {
  const Problem& p = h.p;
  const int L = t.L, K = t.K;
  std::vector<std::vector<double>> f(K, std::vector<double>(L + 1, kInf));
  std::vector<std::vector<int>> arg(K, std::vector<int>(L + 1, -1));
  std::vector<double> best_prev(L + 1, kInf), G(L);  // best_prev: min over hosts 1..k-1 (one link only)
  std::vector<int> dq(L);
  // The cost of entering k at group i >= 1 from k' (before: f[k'][i]).
  auto enter = [&](int kp, int k, int i, double before) { return Join(s, before, TransferCost(s, t, kp, k, t.Hop(kp, k, i))); };
  auto predecessors = [&](int k, auto&& visit) {
    if (s.use_all) return visit(k - 1);
    for (int kp = 0; kp < k; ++kp) visit(kp);
  };
  for (int k = 0; k < K; ++k) {
    G[0] = k == 0 ? 0 : s.use_all ? kInf : TransferCost(s, t, 0, k, t.Input(k));
    for (int i = 1; i < L; ++i) {
      G[i] = kInf;
      if (k == 0) continue;
      if (h.single_link && !h.any_codecs && !s.use_all) {  // hops cost the same from every earlier host but the sensor
        G[i] = std::min(enter(0, k, i, f[0][i]), k > 1 ? enter(1, k, i, best_prev[i]) : kInf);
      } else {
        predecessors(k, [&](int kp) { G[i] = std::min(G[i], enter(kp, k, i, f[kp][i])); });
      }
    }
    Runs(p, t, s, k, G.data(), f[k].data(), arg[k].data(), dq);
    if (k >= 1)
      for (int i = 1; i <= L; ++i) best_prev[i] = std::min(best_prev[i], f[k][i]);
  }
  DpResult r;
  int best_k = -1;
  for (int k = s.use_all ? K - 1 : 0; k < K; ++k) {
    const double c = k == 0 ? f[0][L] : Join(s, f[k][L], TransferCost(s, t, k, 0, t.Result(k)));
    if (c < r.value) r.value = c, best_k = k;
  }
  if (best_k < 0) return r;
  for (int k = best_k, j = L;;) {
    const int i = arg[k][j];
    r.runs.push_back({k, i, j - 1});
    if (i == 0) break;
    int from = -1;
    double best = kInf;
    predecessors(k, [&](int kp) {
      const double c = enter(kp, k, i, f[kp][i]);
      if (c < best) best = c, from = kp;
    });
    k = from;
    j = i;
  }
  std::reverse(r.runs.begin(), r.runs.end());
  return r;
}

// ---- free order: types with counts ------------------------------------------
struct FreeShape {
  int T = 0;
  std::vector<int> count, stride;
  int64_t states = 1;
  explicit FreeShape(const Hosts& h) : T(static_cast<int>(h.type_hosts.size())) {
    for (const auto& hosts : h.type_hosts) {
      count.push_back(static_cast<int>(hosts.size()));
      stride.push_back(static_cast<int>(std::min<int64_t>(states, INT32_MAX)));
      states = std::min<int64_t>(states * (count.back() + 1), int64_t{1} << 40);
    }
  }
};

DpResult SolveFree(const Hosts& h, const Tables& t, const Spec& s) {
  const Problem& p = h.p;
  const FreeShape shape(h);
  const int L = t.L, T = shape.T;
  const int64_t S = shape.states;
  const size_t row = static_cast<size_t>(L) + 1;
  auto at = [&](int64_t state, int type) { return (static_cast<size_t>(state) * T + type) * row; };
  std::vector<double> f(static_cast<size_t>(S) * T * row, kInf);
  std::vector<int> arg(f.size(), -1);
  std::vector<char> alive(S, 0);  // some cell of the state is finite
  // Representative hosts of a transfer from type a to type b (two hosts of b when a == b).
  auto from_host = [&](int a) { return h.type_hosts[a][0]; };
  auto to_host = [&](int a, int b) { return a == b ? (shape.count[b] > 1 ? h.type_hosts[b][1] : -1) : h.type_hosts[b][0]; };
  // tc[(a * T + b) * L + i]: the cost of the hop from type a to type b before group i.
  std::vector<double> tc(static_cast<size_t>(T) * T * L, kInf);
  for (int a = 0; a < T; ++a)
    for (int b = 0; b < T; ++b) {
      const int x = from_host(a), y = to_host(a, b);
      if (y < 0) continue;
      for (int i = 1; i < L; ++i) tc[(static_cast<size_t>(a) * T + b) * L + i] = TransferCost(s, t, x, y, t.Hop(x, y, i));
    }
  // tc_other[b * L + i]: the same from any non-sensor host (one link only).
  std::vector<double> tc_other(static_cast<size_t>(T) * L, kInf);
  if (h.single_link && !h.any_codecs && t.K > 1)
    for (int b = 0; b < T; ++b)
      for (int i = 1; i < L; ++i) tc_other[static_cast<size_t>(b) * L + i] = TransferCost(s, t, 1, from_host(b), t.Hop(1, from_host(b), i));
  std::vector<double> G(L), others(L);
  std::vector<int> dq(L), digit(T, 0);
  // The best entry into type b at group i from state m (one type fewer of b used).
  auto entry_from = [&](int64_t m, int b, int i, int* from) {
    double best = kInf;
    for (int a = 0; a < T; ++a) {
      const double c = Join(s, f[at(m, a) + i], tc[(static_cast<size_t>(a) * T + b) * L + i]);
      if (c < best) best = c, *from = a;
    }
    return best;
  };
  int used = 0;
  for (int64_t st = 1; st < S; ++st) {
    for (int d = 0; d < T; ++d) {  // odometer: digit = the hosts of each type used in state st
      if (++digit[d] <= shape.count[d]) { ++used; break; }
      used -= digit[d] - 1;
      digit[d] = 0;
    }
    if (used > L) continue;
    for (int b = 0; b < T; ++b) {
      if (digit[b] == 0) continue;
      const int64_t m = st - shape.stride[b];
      if (m == 0) {
        G[0] = b == 0 ? 0 : TransferCost(s, t, 0, from_host(b), t.Input(from_host(b)));
        std::fill(G.begin() + 1, G.end(), kInf);
      } else {
        if (!alive[m]) continue;
        G[0] = kInf;
        // One link: the hop costs the same from every non-sensor type, so take their best once.
        // (With codecs a hop's time depends on the sender's encode time: no shortcut.)
        const bool fast = h.single_link && !h.any_codecs && T > 2;
        if (fast)
          for (int i = 1; i < L; ++i) {
            double o = kInf;
            for (int a = 1; a < T; ++a) o = std::min(o, f[at(m, a) + i]);
            others[i] = o;
          }
        for (int i = 1; i < L; ++i) {
          int from = -1;
          G[i] = fast ? std::min(Join(s, f[at(m, 0) + i], tc[static_cast<size_t>(b) * L + i]),
                                 Join(s, others[i], tc_other[static_cast<size_t>(b) * L + i]))
                      : entry_from(m, b, i, &from);
        }
      }
      Runs(p, t, s, from_host(b), G.data(), &f[at(st, b)], &arg[at(st, b)], dq);
      for (int j = 1; j <= L && !alive[st]; ++j) alive[st] = f[at(st, b) + j] < kInf;
    }
  }
  DpResult r;
  int64_t best_s = -1;
  int best_b = -1;
  for (int64_t st = s.use_all ? S - 1 : 1; st < S; ++st) {
    if (!alive[st]) continue;
    for (int b = 0; b < T; ++b) {
      const double v = f[at(st, b) + L];
      if (!(v < kInf)) continue;
      const double c = b == 0 ? v : Join(s, v, TransferCost(s, t, from_host(b), 0, t.Result(from_host(b))));
      if (c < r.value) r.value = c, best_s = st, best_b = b;
    }
  }
  if (best_s < 0) return r;
  std::vector<std::pair<int, Run>> stages;  // (type, run), last first
  for (int64_t st = best_s, b = best_b, j = L;;) {
    const int i = arg[at(st, static_cast<int>(b)) + j];
    stages.push_back({static_cast<int>(b), {0, i, static_cast<int>(j) - 1}});
    if (i == 0) break;
    const int64_t m = st - shape.stride[b];
    int from = -1;
    entry_from(m, static_cast<int>(b), i, &from);
    st = m, b = from, j = i;
  }
  std::vector<int> next(T, 0);
  for (auto it = stages.rbegin(); it != stages.rend(); ++it) {
    Run run = it->second;
    run.device = h.type_hosts[it->first][next[it->first]++];
    r.runs.push_back(run);
  }
  return r;
}

DpResult Solve(const Hosts& h, const Tables& t, const Spec& s, Order order) {
  return order == Order::kFree ? SolveFree(h, t, s) : SolveFixed(h, t, s);
}

DpResult SolveThroughput(const Hosts& h, const Tables& t, bool use_all, Order order) {
  Spec mx;
  mx.mode = Mode::kMax;
  mx.use_all = use_all;
  if (!h.any_shared) return Solve(h, t, mx, order);
  mx.ignore_shared = true;
  const DpResult lower = Solve(h, t, mx, order);
  if (lower.runs.empty()) return lower;  // nothing feasible
  Spec sum;
  sum.use_all = use_all;
  sum.shared_only = true;
  sum.w.compute.assign(t.K, 0.0);
  DpResult best;
  auto solve_at = [&](double tau) {
    sum.cap = tau;
    DpResult r = Solve(h, t, sum, order);
    const double shared = r.value;
    if (!r.runs.empty()) {
      r.value = FastObjective(h, r.runs, Objective::kThroughput);
      if (r.value < best.value) best = r;
    }
    return shared;  // the least shared sum with every other stage <= tau
  };
  double lo = lower.value;  // no plan has a smaller bottleneck
  solve_at(lo);             // feasible: the lower bound's plan has every other stage <= lo
  for (int it = 0; it < 200 && best.value - lo > 1e-13 * best.value; ++it) {
    const double mid = lo + (best.value - lo) / 2;
    if (solve_at(mid) > mid) lo = mid;  // no plan has every stage <= mid
  }
  return best;
}

}  // namespace

double FreeDpCells(const Hosts& h) {
  const FreeShape shape(h);
  return static_cast<double>(shape.states) * shape.T * (static_cast<double>(h.p.layers.size()) + 1);
}

DpResult SolveDp(const Hosts& h, const Tables& t, const PlanOptions& options) {
  if (options.order == Order::kFree && FreeDpCells(h) > kMaxFreeDpCells) {
    DpResult r;
    r.reached = false;
    return r;
  }
  if (options.objective == Objective::kThroughput) return SolveThroughput(h, t, options.use_all, options.order);
  Spec s;
  s.w = AdditiveWeights(h.p, options.objective);
  s.use_all = options.use_all;
  return Solve(h, t, s, options.order);
}

}  // namespace edgesplit::plan_internal
