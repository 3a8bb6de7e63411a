// Shared by the planner's algorithms: the hosts of a problem (counts expanded,
// a link per pair, identical hosts grouped into types), per-problem tables and
// the additive stage weights of each objective. Not part of the public contract.
#pragma once

#include <limits>
#include <vector>

#include "edgesplit/plan.h"

namespace edgesplit::plan_internal {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// The problem over hosts: every entry's count expanded (p.devices are hosts,
// count 1, compute_s one per host, names "name#k" when count > 1), the link of
// every ordered pair, and the hosts grouped into types (the sensor alone;
// others together when compute, limits and links are the same, so swapping
// two of a type changes no plan's cost).
struct Hosts {
  Problem p;                        // links cleared; p.link is links[0] when `links` was empty
  std::vector<LinkProfile> links;   // PlanLinks(original)
  std::vector<int> link_of;         // [a * K + b]: index into links, -1 when unreachable
  std::vector<int> type;            // [host]
  std::vector<std::vector<int>> type_hosts;  // [type]: its hosts, ascending
  bool single_link = true;          // one link joins every pair
  bool any_shared = false;          // some link is a shared medium
  bool any_codecs = false;          // some layer lists codecs: a hop's time depends on its ends (BestHop)
  bool sealed = false;              // p.sealed: a transfer's time depends on its ends (their AEAD costs)
  int K() const { return static_cast<int>(p.devices.size()); }
  int Link(int a, int b) const { return link_of[static_cast<size_t>(a) * p.devices.size() + b]; }
};
Hosts ExpandHosts(const Problem& problem);  // problem must be valid

// The one transfer time of the planner: `bytes` from host a to host b over
// link `link` (>= 0), sealed between a and b when the problem is
// (TransferSeconds with their SealCosts).
double LinkTime(const Hosts& h, int link, int a, int b, int64_t bytes);

// The fastest way to send the tensor after group i-1 from host a to host b
// over link `link` (>= 0): raw, or a codec of layer i-1 admissible for the pair
// (plan.h, PlanCodec). codec = -1 for raw.
struct HopChoice {
  double s = 0;
  int codec = -1;
};
HopChoice BestHop(const Hosts& h, int link, int a, int b, int i);

// Prefix sums and transfer times of one problem.
struct Tables {
  const Hosts& h;
  int L = 0, K = 0;
  std::vector<std::vector<double>> prefix;  // [k][j]: compute of groups 0..j-1 on host k
  std::vector<int64_t> weight_prefix;       // [j]
  // [k][j]: the first group >= j whose arena exceeds host k's RAM (L if none),
  // so that RunFits is O(1): solvers call it O(K*L^2) times on long chains.
  std::vector<std::vector<int>> next_over_ram;
  // Plain problems only (sealed ones cost each transfer by its ends, LinkTime):
  std::vector<std::vector<double>> hop_s;   // [link][i], 1 <= i < L: the hop after group i-1
  std::vector<double> input_s, result_s;    // [link]
  explicit Tables(const Hosts& hosts);
  double Compute(int k, int first, int last) const { return prefix[k][last + 1] - prefix[k][first]; }
  // Transfer times; kInf when the pair has no link.
  double Hop(int a, int b, int i) const {
    const int l = h.Link(a, b);
    return l < 0 ? kInf : h.any_codecs || h.sealed ? BestHop(h, l, a, b, i).s : hop_s[l][i];
  }
  double Input(int k) const {
    if (k == 0) return 0;
    const int l = h.Link(0, k);
    return l < 0 ? kInf : h.sealed ? LinkTime(h, l, 0, k, h.p.input_bytes) : input_s[l];
  }
  double Result(int k) const {
    if (k == 0) return 0;
    const int l = h.Link(k, 0);
    return l < 0 ? kInf : h.sealed ? LinkTime(h, l, k, 0, h.p.layers.back().out_bytes) : result_s[l];
  }
  bool Shared(int a, int b) const { int l = h.Link(a, b); return l >= 0 && h.links[l].shared_medium; }
};

// Does groups first..last fit host k (weights and peak arena)?
bool RunFits(const Problem& p, const Tables& t, int k, int first, int last);

// Latency and energy are sums of stage times, each times a weight: compute on
// host k x compute[k]; a transfer from the sensor x tx, to it x rx, else x other.
// Latency: all 1. Energy (of the sensor): see plan.h.
struct Weights {
  std::vector<double> compute;
  double tx = 1, rx = 1, other = 1;
  double Transfer(int from, int to) const { return from == 0 ? tx : to == 0 ? rx : other; }
};
Weights AdditiveWeights(const Problem& p, Objective objective);

// reach[d][i]: groups i..L-1 can be covered by hosts d..K-1 in order (each
// used when use_all), ignoring which pairs have links. reach[d][L] is true iff
// no host is left unused under use_all.
std::vector<std::vector<char>> Reachability(const Problem& p, const Tables& t, bool use_all);

// Why nothing is feasible, in words.
std::string InfeasibleReason(const Hosts& h, const Tables& t, bool use_all, Order order);

// Objective value of `runs` without building a Plan (direct sums, as EvaluatePlan).
// kInf when a run breaks a limit or a transfer has no link.
double FastObjective(const Hosts& h, const std::vector<Run>& runs, Objective objective);

// The Plan of structurally valid runs (EvaluatePlan without its checks).
Plan EvaluateHosts(const Hosts& h, const std::vector<Run>& runs);

// The exact solver (dp.cc): kInf value and empty runs when nothing is feasible.
// In free order, `reached` is false (and nothing solved) when the table would
// exceed kMaxFreeDpCells.
struct DpResult {
  double value = kInf;
  std::vector<Run> runs;
  bool reached = true;
};
DpResult SolveDp(const Hosts& h, const Tables& t, const PlanOptions& options);
double FreeDpCells(const Hosts& h);  // the free-order table's size

}  // namespace edgesplit::plan_internal
