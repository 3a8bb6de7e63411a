// Costing a plan from first principles (direct sums), the tables the solvers
// share, and feasibility diagnostics.
#include <algorithm>
#include <cmath>

#include "plan_internal.h"

namespace edgesplit {
namespace plan_internal {

Tables::Tables(const Hosts& hosts) : h(hosts), L(static_cast<int>(hosts.p.layers.size())), K(hosts.K()) {
  const Problem& p = h.p;
  prefix.assign(K, std::vector<double>(L + 1, 0.0));
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < L; ++j) prefix[k][j + 1] = prefix[k][j] + p.layers[j].compute_s[k];
  weight_prefix.assign(L + 1, 0);
  for (int j = 0; j < L; ++j) weight_prefix[j + 1] = weight_prefix[j] + p.layers[j].weight_bytes;
  next_over_ram.assign(K, std::vector<int>(L + 1, L));
  for (int k = 0; k < K; ++k)
    for (int j = L - 1; j >= 0; --j)
      next_over_ram[k][j] = p.layers[j].arena_bytes > p.devices[k].ram_bytes ? j : next_over_ram[k][j + 1];
  for (const LinkProfile& link : h.links) {
    hop_s.emplace_back(L, 0.0);
    for (int i = 1; i < L; ++i) hop_s.back()[i] = TransferSeconds(link, p.layers[i - 1].out_bytes);
    input_s.push_back(TransferSeconds(link, p.input_bytes));
    result_s.push_back(L > 0 ? TransferSeconds(link, p.layers[L - 1].out_bytes) : 0);
  }
}

bool RunFits(const Problem& p, const Tables& t, int k, int first, int last) {
  if (t.weight_prefix[last + 1] - t.weight_prefix[first] > p.devices[k].weight_capacity_bytes) return false;
  return t.next_over_ram[k][first] > last;
}

Weights AdditiveWeights(const Problem& p, Objective objective) {
  Weights w;
  w.compute.assign(p.devices.size(), 1.0);
  if (objective != Objective::kEnergy) return w;
  const PlanDevice& s = p.devices[0];
  for (size_t k = 0; k < p.devices.size(); ++k) w.compute[k] = k == 0 ? s.active_w : s.idle_w;
  w.tx = s.tx_w;
  w.rx = s.rx_w;
  w.other = s.idle_w;
  return w;
}

std::vector<std::vector<char>> Reachability(const Problem& p, const Tables& t, bool use_all) {
  const int L = t.L, K = t.K;
  std::vector<std::vector<char>> reach(K + 1, std::vector<char>(L + 1, 0));
  reach[K][L] = 1;
  for (int d = K - 1; d >= 0; --d) {
    reach[d][L] = use_all ? 0 : 1;
    for (int i = L - 1; i >= 0; --i) {
      bool ok = !use_all && reach[d + 1][i];  // skip device d
      for (int j = i; j < L && !ok; ++j) {
        if (!RunFits(p, t, d, i, j)) break;  // longer runs only get heavier
        ok = reach[d + 1][j + 1] || (j + 1 == L && (!use_all || d + 1 == K));
      }
      reach[d][i] = ok;
    }
  }
  return reach;
}

std::string InfeasibleReason(const Hosts& h, const Tables& t, bool use_all, Order order) {
  const Problem& p = h.p;
  if (use_all && t.L < t.K)
    return "--use-all needs at least one layer group per device: " + std::to_string(t.L) + " groups for " +
           std::to_string(t.K) + " devices";
  for (int g = 0; g < t.L; ++g) {
    bool fits_somewhere = false;
    for (int k = 0; k < t.K && !fits_somewhere; ++k) fits_somewhere = RunFits(p, t, k, g, g);
    if (!fits_somewhere) {
      const PlanLayer& l = p.layers[g];
      return "layer group " + std::to_string(g) + " ('" + l.name + "': " + std::to_string(l.weight_bytes) +
             " weight bytes, " + std::to_string(l.arena_bytes) + " arena bytes) fits no device on its own";
    }
  }
  int64_t total = t.weight_prefix[t.L], capacity = 0;
  for (const PlanDevice& d : p.devices) capacity += d.weight_capacity_bytes;
  if (total > capacity)
    return "the model's " + std::to_string(total) + " weight bytes exceed the devices' combined capacity of " +
           std::to_string(capacity) + " bytes";
  if (order == Order::kFree || !h.single_link) {
    std::string links;
    if (!h.single_link)
      for (int a = 0; a < t.K; ++a)
        for (int b = 0; b < t.K; ++b)
          if (a != b && h.Link(a, b) < 0 && links.size() < 200)
            links += (links.empty() ? "" : ", ") + p.devices[a].name + "->" + p.devices[b].name;
    return "no assignment of the " + std::to_string(t.L) + " layer groups to the " + std::to_string(t.K) + " devices" +
           (order == Order::kFree ? " in any order" : " in order") + " keeps every device within its weight capacity and RAM" +
           (use_all ? " while using every device" : "") + (links.empty() ? "" : " over the pairs with a link (none: " + links + ")");
  }
  // Packing each device in order as full as it goes reaches at least as far as
  // any plan (a sub-run of a run that fits also fits), so when it stops short,
  // that is the reason, and it names where each device's limit bit.
  std::string packed;
  int first = 0;
  for (int k = 0; k < t.K && first < t.L; ++k) {
    int last = first - 1;
    while (last + 1 < t.L && RunFits(p, t, k, first, last + 1)) ++last;
    const PlanDevice& d = p.devices[k];
    packed += (packed.empty() ? "" : ", ") + ("'" + d.name + "' (index " + std::to_string(k) + ") ");
    if (last < first) {
      packed += "none";
      continue;
    }
    packed += std::to_string(first) + ".." + std::to_string(last) + " (" +
              std::to_string(t.weight_prefix[last + 1] - t.weight_prefix[first]) + " of " +
              std::to_string(d.weight_capacity_bytes) + " weight bytes)";
    first = last + 1;
  }
  if (first < t.L) {
    const PlanLayer& l = p.layers[first];
    return "the devices in order, each packed as full as it goes, hold layer groups 0.." + std::to_string(first - 1) +
           " only: " + packed + "; group " + std::to_string(first) + " ('" + l.name + "': " + std::to_string(l.weight_bytes) +
           " weight bytes, " + std::to_string(l.arena_bytes) + " arena bytes) is left over";
  }
  if (use_all)  // every device needs one group among those it can reach
    for (int k = 0; k < t.K; ++k) {
      bool any = false;
      for (int g = k; g <= t.L - t.K + k && !any; ++g) any = RunFits(p, t, k, g, g);
      if (!any)
        return "--use-all: device '" + p.devices[k].name + "' (index " + std::to_string(k) + ") must take one of layer groups " +
               std::to_string(k) + ".." + std::to_string(t.L - t.K + k) + " and none of them fits its weight capacity and RAM";
    }
  return "no assignment of the " + std::to_string(t.L) + " layer groups to the " + std::to_string(t.K) +
         " devices in order keeps every device within its weight capacity and RAM" +
         (use_all ? " while using every device" : "");
}

namespace {

// Totals of a plan; the one costing routine behind EvaluatePlan and FastObjective.
struct Totals {
  bool feasible = true;
  double latency = 0, max_compute = 0, max_transfer = 0, shared_sum = 0;
  double sensor_compute = 0, sensor_tx = 0, sensor_rx = 0;
};

Totals Accumulate(const Hosts& h, const std::vector<Run>& runs, Plan* detail) {
  const Problem& p = h.p;
  Totals tot;
  const int L = static_cast<int>(p.layers.size());
  // hop_after: for a hop, the group whose tensor it carries + 1 (BestHop's i); 0 otherwise (raw).
  auto transfer = [&](const char* kind, int from, int to, int64_t bytes, int hop_after = 0) {
    const int link = h.Link(from, to);
    if (link < 0) {  // no link joins the pair: infeasible, totals stay finite
      if (tot.feasible && detail) detail->reason = "no link from '" + p.devices[from].name + "' to '" + p.devices[to].name + "'";
      tot.feasible = false;
      return;
    }
    const HopChoice choice = hop_after > 0 && h.any_codecs ? BestHop(h, link, from, to, hop_after)
                                                           : HopChoice{LinkTime(h, link, from, to, bytes), -1};
    const double s = choice.s;
    tot.latency += s;
    if (h.links[link].shared_medium) tot.shared_sum += s;
    else tot.max_transfer = std::max(tot.max_transfer, s);
    if (from == 0) tot.sensor_tx += s;
    if (to == 0) tot.sensor_rx += s;
    if (!detail) return;
    Transfer t{kind, from, to, bytes, s, link};
    if (choice.codec >= 0) {
      const PlanCodec& c = p.layers[static_cast<size_t>(hop_after - 1)].codecs[static_cast<size_t>(choice.codec)];
      t.codec = c.name;
      t.bytes = c.bytes;
      t.accuracy_drop = c.lossless ? 0 : c.accuracy_drop;
      detail->accuracy_drop += t.accuracy_drop;
    }
    detail->transfers.push_back(std::move(t));
  };
  if (runs.front().device != 0) transfer("input", 0, runs.front().device, p.input_bytes);
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    const PlanDevice& dev = p.devices[run.device];
    Segment seg{run.device, run.first, run.last, 0, 0, 0};
    for (int g = run.first; g <= run.last; ++g) {
      seg.compute_s += p.layers[g].compute_s[run.device];
      seg.weight_bytes += p.layers[g].weight_bytes;
      seg.arena_bytes = std::max(seg.arena_bytes, p.layers[g].arena_bytes);
    }
    tot.latency += seg.compute_s;
    tot.max_compute = std::max(tot.max_compute, seg.compute_s);
    if (run.device == 0) tot.sensor_compute += seg.compute_s;
    const bool heavy = seg.weight_bytes > dev.weight_capacity_bytes, big = seg.arena_bytes > dev.ram_bytes;
    if ((heavy || big) && tot.feasible) {
      tot.feasible = false;
      if (detail) {
        const std::string where = "device '" + dev.name + "' (index " + std::to_string(run.device) + ") gets groups " +
                                  std::to_string(run.first) + ".." + std::to_string(run.last) + ": ";
        detail->reason = where + (heavy ? std::to_string(seg.weight_bytes) + " weight bytes > weight_capacity_bytes " +
                                              std::to_string(dev.weight_capacity_bytes)
                                        : std::to_string(seg.arena_bytes) + " arena bytes > ram_bytes " +
                                              std::to_string(dev.ram_bytes));
      }
    }
    if (detail) detail->segments.push_back(seg);
    if (r + 1 < runs.size()) transfer("hop", run.device, runs[r + 1].device, p.layers[run.last].out_bytes, run.last + 1);
  }
  if (runs.back().device != 0) transfer("result", runs.back().device, 0, p.layers[L - 1].out_bytes);
  return tot;
}

// Every transfer over a non-shared link is its own stage; those over shared-medium links are one together.
double Throughput(const Totals& t) { return std::max({t.max_compute, t.max_transfer, t.shared_sum}); }

double Energy(const Problem& p, const Totals& t) {  // the sensor's
  const PlanDevice& s = p.devices[0];
  const double busy = t.sensor_compute + t.sensor_tx + t.sensor_rx;
  return s.active_w * t.sensor_compute + s.tx_w * t.sensor_tx + s.rx_w * t.sensor_rx +
         s.idle_w * std::max(0.0, t.latency - busy);
}

}  // namespace

namespace {

// The set-up of a sealed plan: one handshake per pair of hosts that exchange
// anything, initiated by the sender of the pair's first transfer.
double Handshakes(const Hosts& h, const Plan& plan) {
  std::vector<std::pair<int, int>> pairs;
  double s = 0;
  for (const Transfer& t : plan.transfers) {
    const std::pair<int, int> pair{std::min(t.from, t.to), std::max(t.from, t.to)};
    if (std::find(pairs.begin(), pairs.end(), pair) != pairs.end()) continue;
    pairs.push_back(pair);
    s += HandshakeSeconds(h.links[static_cast<size_t>(t.link)], h.p.devices[static_cast<size_t>(t.from)].seal,
                          h.p.devices[static_cast<size_t>(t.to)].seal);
  }
  return s;
}

}  // namespace

Plan EvaluateHosts(const Hosts& h, const std::vector<Run>& runs) {
  Plan plan;
  const Totals t = Accumulate(h, runs, &plan);
  plan.feasible = t.feasible;
  plan.latency_s = t.latency;
  plan.throughput_stage_s = Throughput(t);
  plan.energy_j = Energy(h.p, t);
  if (h.sealed) {
    Hosts plain = h;
    plain.sealed = plain.p.sealed = false;
    plan.sealed = true;
    plan.security_overhead_s = t.latency - Accumulate(plain, runs, nullptr).latency;
    plan.handshake_s = Handshakes(h, plan);
  }
  return plan;
}

double FastObjective(const Hosts& h, const std::vector<Run>& runs, Objective objective) {
  const Totals t = Accumulate(h, runs, nullptr);
  if (!t.feasible) return kInf;
  switch (objective) {
    case Objective::kLatency: return t.latency;
    case Objective::kThroughput: return Throughput(t);
    case Objective::kEnergy: return Energy(h.p, t);
  }
  return kInf;
}

}  // namespace plan_internal

using plan_internal::Accumulate;

Result<Plan> EvaluatePlan(const Problem& problem, const std::vector<Run>& runs, Order order) {
  ES_RETURN_IF_ERROR(ValidateProblem(problem));
  const plan_internal::Hosts h = plan_internal::ExpandHosts(problem);
  const int L = static_cast<int>(problem.layers.size()), K = h.K();
  if (runs.empty()) return InvalidArgument("a plan needs at least one run");
  std::vector<char> used(K, 0);
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& run = runs[r];
    const std::string at = "run " + std::to_string(r) + ": ";
    if (run.device < 0 || run.device >= K) return InvalidArgument(at + "device index " + std::to_string(run.device) + " out of range");
    if (run.first > run.last || run.first < 0 || run.last >= L) return InvalidArgument(at + "bad group range");
    if (run.first != (r == 0 ? 0 : runs[r - 1].last + 1)) return InvalidArgument(at + "runs must cover the groups in order without gaps");
    if (order == Order::kFixed && r > 0 && run.device <= runs[r - 1].device)
      return InvalidArgument(at + "devices must keep their order and appear once");
    if (used[run.device]++) return InvalidArgument(at + "a device appears more than once");
  }
  if (runs.back().last != L - 1) return InvalidArgument("the runs stop before the last group");
  return plan_internal::EvaluateHosts(h, runs);
}

double ObjectiveValue(const Plan& plan, Objective objective) {
  if (!plan.feasible) return plan_internal::kInf;
  switch (objective) {
    case Objective::kLatency: return plan.latency_s;
    case Objective::kThroughput: return plan.throughput_stage_s;
    case Objective::kEnergy: return plan.energy_j;
  }
  return plan_internal::kInf;
}

Status CheckBruteForceSize(int layers, int devices, bool use_all, int64_t max_plans, Order order) {
  if (max_plans <= 0) return Status::Ok();
  const int64_t plans = CountPlans(layers, devices, use_all, order);
  const bool too_many = plans > max_plans;
  if (!too_many && plans <= kMaxBruteForceWork / std::max(1, layers)) return Status::Ok();
  const std::string size = std::to_string(plans) + " plans of " + std::to_string(layers) + " layer groups on " +
                           std::to_string(devices) + " devices";
  return OutOfRange("brute force would enumerate " + size +
                    (too_many ? ", more than --max-plans " + std::to_string(max_plans)
                              : ", more than " + std::to_string(kMaxBruteForceWork) + " plans x groups of work") +
                    " (plans grow as L^(K-1)); dp finds the same optimum: use --algorithm dp, or --max-plans 0 to run it anyway");
}

int64_t CountPlans(int layers, int devices, bool use_all, Order order) {
  // sum over m used devices of C(L-1, m-1) * C(K, m) (use_all: m = K only); free order: x m! (every order).
  auto choose = [](int n, int r) -> double {
    if (r < 0 || r > n) return 0;
    double c = 1;
    for (int i = 1; i <= r; ++i) c = c * (n - r + i) / i;
    return c;
  };
  double total = 0;
  for (int m = use_all ? devices : 1; m <= devices; ++m) {
    double orders = 1;
    if (order == Order::kFree)
      for (int i = 2; i <= m; ++i) orders *= i;
    total += choose(layers - 1, m - 1) * choose(devices, m) * orders;
  }
  return total >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(std::llround(total));
}

Result<std::vector<Run>> RunsFromCutNames(const Problem& p, const Graph* graph, const std::vector<CutPoint>& cuts,
                                          const std::vector<std::string>& names) {
  const int L = static_cast<int>(p.layers.size());
  std::vector<int> bounds;  // number of groups before each cut
  if (graph) {
    ES_ASSIGN_OR_RETURN(bounds, ResolveInteriorCuts(*graph, cuts, names));
  } else {
    for (const std::string& name : names) {
      int b = -1;
      for (int g = 0; g < L && b < 0; ++g)
        if (p.layers[g].name == name || std::to_string(g + 1) == name) b = g + 1;
      if (b < 0) return NotFound("no layer group named '" + name + "' in the problem");
      if (b >= L) return InvalidArgument("cut '" + name + "' is not strictly inside the model");
      if (!bounds.empty() && b <= bounds.back()) return InvalidArgument("--split must be in model order, each once");
      bounds.push_back(b);
    }
  }
  if (bounds.size() + 1 > HostNames(p).size())
    return InvalidArgument(std::to_string(bounds.size()) + " cuts need " + std::to_string(bounds.size() + 1) + " devices");
  std::vector<Run> runs;
  int first = 0;
  for (size_t r = 0; r <= bounds.size(); ++r) {
    const int end = r < bounds.size() ? bounds[r] : L;
    runs.push_back({static_cast<int>(r), first, end - 1});
    first = end;
  }
  return runs;
}

}  // namespace edgesplit
