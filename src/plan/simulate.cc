// Trace simulator: every policy over the same trace, one request per row. The
// dynamic policy drives a SplitController exactly as the runtime's head node
// would (it only learns from timings and server reports); the oracle takes
// the exact best for the true row.
#include <algorithm>
#include <cmath>
#include <limits>

#include "edgesplit/dynamic.h"

namespace edgesplit {
namespace {

bool Sends(const SplitCandidate& c) { return c.kind != CandidateKind::kDeviceOnly; }

// A fixed candidate on one row; a dead link costs the timeout, then the head finishes locally.
RequestRecord RunFixed(const SplitPolicy& policy, int k, const TraceRow& row, double timeout_s) {
  const SplitCandidate& c = policy.candidates()[k];
  RequestRecord r;
  r.candidate = k;
  if (Sends(c) && !(row.rate_bytes_per_s > 0)) {
    r.latency_s = c.head_s + timeout_s + c.device_rest_s;
    r.fallback = true;
    return r;
  }
  r.latency_s = policy.Latency(k, row.rate_bytes_per_s, row.server_load);
  return r;
}

RequestRecord RunDynamic(const SplitPolicy& policy, SplitController& ctrl, const ControllerOptions& o, const TraceRow& row) {
  const Decision d = ctrl.Decide(row.time_s);
  RequestRecord r;
  r.candidate = d.candidate;
  r.fallback = d.fallback;
  if (d.candidate < 0) {  // nothing fits the head and the link is down
    r.latency_s = std::numeric_limits<double>::infinity();
    return r;
  }
  const SplitCandidate& c = policy.candidates()[d.candidate];
  const LinkProfile& link = policy.candidate_set().link;
  const Sealing& sealing = policy.candidate_set().sealing;
  const double rate = row.rate_bytes_per_s;
  const ServerReport report{row.server_load, 0};
  if (!Sends(c)) {
    r.latency_s = c.head_s;
    if (!d.probe) return r;
    // The probe goes out while the head computes; its reply may change the plan mid-request.
    if (!(rate > 0)) {
      ctrl.OnFailure(row.time_s + o.timeout_s);
      return r;
    }
    const double probe_s = LinkSeconds(link, o.probe_bytes, rate, sealing);
    ctrl.OnProbe(o.probe_bytes, probe_s, report, row.time_s + probe_s);
    const int k = ctrl.Reconsider(probe_s);
    if (k != d.candidate) {
      const SplitCandidate& n = policy.candidates()[k];
      const double start = n.kind == CandidateKind::kServerOnly ? probe_s : n.head_s;
      r.candidate = k;
      r.fallback = false;
      r.latency_s = start + policy.Latency(k, rate, row.server_load) - n.head_s;
    }
    return r;
  }
  if (!(rate > 0)) {
    r.latency_s = c.head_s + o.timeout_s + c.device_rest_s;
    r.fallback = true;
    ctrl.OnFailure(row.time_s + r.latency_s);
    return r;
  }
  const int64_t check = ctrl.CheckBytes(c.bytes);
  if (check > 0 && check < c.bytes) {
    // The first frames' ack: late past the deadline (a bound on the rate), or on time.
    const double ack_s = LinkSeconds(link, check, rate, sealing), deadline_s = ctrl.AckDeadline(check);
    double abandon_at = -1;
    if (ack_s <= deadline_s) {
      if (ctrl.ShouldAbandon(d.candidate, check, ack_s)) abandon_at = ack_s;
    } else if (ctrl.ShouldAbandon(d.candidate, check, deadline_s)) {
      abandon_at = deadline_s;
    } else if (ctrl.ShouldAbandon(d.candidate, check, ack_s)) {
      abandon_at = ack_s;
    }
    if (abandon_at >= 0) {
      r.latency_s = c.head_s + abandon_at + c.device_rest_s;
      r.abandoned = true;
      return r;
    }
  }
  r.latency_s = policy.Latency(d.candidate, rate, row.server_load);
  ctrl.OnTransfer(c.bytes, LinkSeconds(link, c.bytes, rate, sealing));
  ctrl.OnServerReport(report);
  return r;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

Result<std::vector<PolicySpec>> ParsePolicySpecs(const SplitPolicy& policy, const std::string& spec) {
  const auto& cs = policy.candidates();
  const CandidateSet& set = policy.candidate_set();
  std::vector<PolicySpec> out;
  auto add_static = [&](int k) {
    out.push_back({PolicyKind::kStatic, k, "static:" + cs[k].name});
  };
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    if (item == "dynamic") {
      out.push_back({PolicyKind::kDynamic, -1, "dynamic"});
    } else if (item == "oracle") {
      out.push_back({PolicyKind::kOracle, -1, "oracle"});
    } else if (item == "device-only" || item == "server-only") {
      const int k = item == "device-only" ? set.device_only : set.server_only;
      if (k < 0) return InvalidArgument("policy " + item + " is not feasible here: " + (set.dropped.empty() ? "" : set.dropped[0]));
      out.push_back({item == "device-only" ? PolicyKind::kDeviceOnly : PolicyKind::kServerOnly, k, item});
    } else if (item == "all") {
      out.push_back({PolicyKind::kDynamic, -1, "dynamic"});
      out.push_back({PolicyKind::kOracle, -1, "oracle"});
      if (set.device_only >= 0) out.push_back({PolicyKind::kDeviceOnly, set.device_only, "device-only"});
      if (set.server_only >= 0) out.push_back({PolicyKind::kServerOnly, set.server_only, "server-only"});
      for (int k = 0; k < static_cast<int>(cs.size()); ++k)
        if (cs[k].kind == CandidateKind::kSplit) add_static(k);
    } else if (item.rfind("static:", 0) == 0) {
      const std::string cut = item.substr(7);
      int found = -1;
      for (int k = 0; k < static_cast<int>(cs.size()) && found < 0; ++k)
        if (cs[k].name == cut || std::to_string(cs[k].cut_index) == cut) found = k;
      if (found < 0) {
        std::string names;
        for (const SplitCandidate& c : cs) names += (names.empty() ? "" : ", ") + c.name + " (cut " + std::to_string(c.cut_index) + ")";
        return NotFound("'" + cut + "' is not a split candidate; the candidates are " + names);
      }
      add_static(found);
    } else {
      return InvalidArgument("unknown policy '" + item + "' (expected dynamic, oracle, device-only, server-only, static:CUT or all)");
    }
  }
  return out;
}

Result<std::vector<PolicyResult>> Simulate(const SplitPolicy& policy, const std::vector<TraceRow>& trace,
                                           const std::vector<PolicySpec>& policies, const ControllerOptions& options) {
  if (trace.empty()) return InvalidArgument("the trace is empty");
  if (policies.empty()) return InvalidArgument("no policy to simulate");
  const int n = static_cast<int>(policy.candidates().size());
  std::vector<PolicyResult> results;
  int dynamic_index = -1;
  for (const PolicySpec& spec : policies) {
    if (spec.kind != PolicyKind::kDynamic && spec.kind != PolicyKind::kOracle && (spec.candidate < 0 || spec.candidate >= n))
      return InvalidArgument("policy '" + spec.name + "' names no candidate");
    PolicyResult res;
    res.policy = spec.name;
    res.requests.reserve(trace.size());
    SplitController ctrl(&policy, options);
    if (spec.kind == PolicyKind::kDynamic) {  // the connection handshake is timed like a probe
      const TraceRow& first = trace.front();
      const int64_t probe = options.probe_bytes;
      if (first.rate_bytes_per_s > 0)
        ctrl.OnProbe(probe, LinkSeconds(policy.candidate_set().link, probe, first.rate_bytes_per_s, policy.candidate_set().sealing), {first.server_load, 0}, first.time_s);
      else
        ctrl.OnFailure(first.time_s);
    }
    for (const TraceRow& row : trace) {
      RequestRecord r;
      switch (spec.kind) {
        case PolicyKind::kDynamic: r = RunDynamic(policy, ctrl, options, row); break;
        case PolicyKind::kOracle: {
          const int k = row.rate_bytes_per_s > 0 ? policy.BestExact(row.rate_bytes_per_s, row.server_load) : policy.candidate_set().device_only;
          r = k >= 0 ? RunFixed(policy, k, row, options.timeout_s) : RunFixed(policy, 0, row, options.timeout_s);
          break;
        }
        default: r = RunFixed(policy, spec.candidate, row, options.timeout_s); break;
      }
      if (!res.requests.empty() && r.candidate != res.requests.back().candidate) ++res.switches;
      res.requests.push_back(r);
    }
    std::vector<double> t;
    t.reserve(res.requests.size());
    double sum = 0;
    for (const RequestRecord& r : res.requests) t.push_back(r.latency_s), sum += r.latency_s;
    res.mean_s = sum / static_cast<double>(t.size());
    res.p50_s = Percentile(t, 0.5);
    res.p95_s = Percentile(t, 0.95);
    if (spec.kind == PolicyKind::kDynamic && dynamic_index < 0) dynamic_index = static_cast<int>(results.size());
    results.push_back(std::move(res));
  }
  if (dynamic_index >= 0) {
    const double dyn = results[dynamic_index].mean_s;
    for (PolicyResult& r : results) r.gain_of_dynamic = r.mean_s > 0 ? (r.mean_s - dyn) / r.mean_s : 0;
  }
  return results;
}

}  // namespace edgesplit
