// Dynamic split computing (docs/dynamic.md): choose, per request, where a model
// is split between a head device and an edge server, from the measured data
// rate and the server's load, among the model's natural bottlenecks.
//
// Three layers, each usable alone:
//   SplitPolicy      immutable tables: the candidates and, per load level, the
//                    lower envelope of their latencies over 1/rate. Decide() is
//                    two binary searches: O(log levels + log candidates).
//   SplitController  the head node's per-request state machine: rate and load
//                    estimates, hysteresis, probing while nothing is sent, and
//                    the fallback to local inference when the link or the
//                    server fails. Decide() is O(log n); every call is
//                    allocation-free (Reconsider is O(candidates)).
//   Traces/Simulate  CSV traces (time_s,rate_bytes_per_s,server_load), trace
//                    generators, and a simulator comparing policies on them.
//
// Latency of candidate k at rate r (bytes/s) and load l (>= 1, 1 = idle):
//   T_k = head_k + tail_k * l + T_link(bytes_k, r) + T_link(result_bytes, r)
// where T_link is the link profile's model (cost.h, TransferSeconds) with
// bytes_per_s replaced by r, sealed between the head and the server when the
// set is (CandidateSet::sealing; the trace's rate is then of the bytes on the
// air, envelopes included, and the AEAD time is rate-independent). Device-only
// has no transfers and no tail. With x = 1/r, T_k is affine in x:
// T_k = fixed_k + tail_k * l + slope_k * x.
//
// Errors: builders and parsers return Status naming the field, line or
// candidate. Thread-safety: a built SplitPolicy is immutable and can be shared
// by threads; a SplitController is single-threaded (one per head node).
// Ownership: a SplitController keeps a pointer to its policy, which must
// outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/graph.h"
#include "edgesplit/plan.h"  // CodecTable, CodecCosts
#include "edgesplit/status.h"

namespace edgesplit {

// ---- Candidates --------------------------------------------------------------

enum class CandidateRule : uint8_t {
  kStrict,  // strict natural bottlenecks (the paper's rule) + both ends
  kLoose,   // every loose natural bottleneck + both ends
  kAll,     // every interior cut + both ends
};
Result<CandidateRule> ParseCandidateRule(const std::string& name);  // "strict", "loose", "all"
const char* CandidateRuleName(CandidateRule rule);

enum class CandidateKind : uint8_t { kDeviceOnly, kServerOnly, kSplit };

struct SplitCandidate {
  std::string name;  // "device-only", "server-only", or the cut's node name
  CandidateKind kind = CandidateKind::kSplit;
  int cut_index = 0;              // cut point index (0 for server-only, the last cut for device-only)
  int64_t bytes = 0;              // the tensor sent to the server (0 for device-only)
  int64_t result_bytes = 0;       // the output returned to the head (0 for device-only)
  double head_s = 0;              // compute on the head device up to the cut
  double tail_s = 0;              // compute on the idle server after the cut
  double device_rest_s = 0;       // compute of the tail on the head device (finishing locally)
  int64_t head_weight_bytes = 0;  // what the head must hold for this candidate
  int64_t head_arena_bytes = 0;
  // Affine model in x = 1/rate: T = fixed_s + tail_s * load + slope_bytes * x.
  double fixed_s = 0;      // head_s + the link's per-message/per-frame constants (+ the AEAD when sealed)
  double slope_bytes = 0;  // (bytes + result_bytes on the air, envelopes included when sealed) / (1 - loss)
  // The cut tensor's codec (docs/codecs.md; AddCodecCandidates): "raw", or a
  // codec whose encode time is in head_s, decode time in tail_s, and encoded
  // size in bytes.
  std::string codec = "raw";
  double accuracy_drop = 0;  // the codec's, percentage points against f32 (the accuracy table's)
};

struct PolicyOptions {
  CandidateRule rule = CandidateRule::kStrict;
  DType dtype = DType::kInt8;  // what crosses the link and what the weights take
  // Load levels of the envelope grid, ascending, each >= 1 (empty: 1 to 64,
  // four per octave). Decide() evaluates the two levels bracketing the load.
  std::vector<double> load_levels;
};

// The per-candidate latency model of one (model, head device, server, link).
struct CandidateSet {
  std::string model;
  std::string device, server, link_name;
  LinkProfile link;  // bytes_per_s is ignored: the rate comes from the trace or estimator
  std::vector<SplitCandidate> candidates;  // feasible ones, device-only first, then in cut order
  std::vector<std::string> dropped;        // infeasible candidates with the reason
  int device_only = -1;                    // index into candidates, -1 when the model does not fit the head
  int server_only = -1;
  // Sealed links (docs/security.md): the head's and the server's AEAD costs
  // (sealing.sealed false: plain), and one handshake's set-up time, which no
  // request's latency includes.
  Sealing sealing;
  double handshake_s = 0;
};

// Builds the candidates of `graph` under `rule`, minus those whose head does not
// fit `device` (weights above weight_capacity_bytes or arena above ram_bytes)
// or whose tail does not fit `server`. Fails when no candidate is left, or
// when `sealed` and the link cannot carry sealed frames. `sealed`: every
// transfer is sealed between `device` and `server` (their DeviceSealCost).
Result<CandidateSet> BuildCandidates(const Graph& graph, const std::string& model_name, const DeviceProfile& device,
                                     const DeviceProfile& server, const LinkProfile& link, CandidateRule rule, DType dtype,
                                     bool sealed = false);

// The joint cut x codec choice: after each split candidate, one more per codec
// of `table` at its cut (other than raw) with accuracy_drop <= max_drop that
// the head device can encode and the server decode (costs by the set's device
// and server names and `dtype`, "int8"/"f32"): bytes = the table's mean
// encoded bytes, head_s += encode time, tail_s += decode time. Named
// "CUT@CODEC". Server-only keeps sending the raw input. Errors: a table of
// another dtype, or one that names none of the candidates' cuts.
Status AddCodecCandidates(const CodecTable& table, const CodecCosts& costs, const std::string& dtype, double max_drop,
                          CandidateSet* set);

// T_link(bytes, rate): TransferSeconds of `link` with `rate` bytes/s; 0 for bytes <= 0.
double LinkSeconds(const LinkProfile& link, int64_t bytes, double rate_bytes_per_s, const Sealing& sealing = {});
// The candidate's latency (the formula above); +inf at rate <= 0 for anything that sends.
double CandidateLatency(const SplitCandidate& c, const LinkProfile& link, double rate_bytes_per_s, double load);

// ---- The policy -----------------------------------------------------------------

// One piece of a load level's lower envelope: `candidate` wins for rates in
// [from_rate, to_rate) bytes/s (to_rate = +inf for the last piece).
struct EnvelopePiece {
  int candidate = 0;
  double from_rate = 0;
  double to_rate = 0;
};

class SplitPolicy {
 public:
  static Result<SplitPolicy> Build(CandidateSet candidates, const PolicyOptions& options);

  const CandidateSet& candidate_set() const { return set_; }
  const std::vector<SplitCandidate>& candidates() const { return set_.candidates; }
  const std::vector<double>& load_levels() const { return levels_; }
  // The envelope of level `level` in ascending rate.
  std::vector<EnvelopePiece> Envelope(int level) const;

  // The candidate with the lowest modelled latency at (rate, load): the
  // envelope winners of the two levels bracketing `load` (clamped to the grid),
  // compared at the actual load. Exact at the grid levels. rate <= 0 means the
  // link is down: device-only (or -1 when the model does not fit the head).
  // O(log levels + log candidates), no allocation.
  int Decide(double rate_bytes_per_s, double load) const;
  // The exact argmin over every candidate at (rate, load): O(candidates). The oracle.
  int BestExact(double rate_bytes_per_s, double load) const;
  double Latency(int candidate, double rate_bytes_per_s, double load) const;

 private:
  CandidateSet set_;
  std::vector<double> levels_;
  // Level j's envelope: pieces piece_begin_[j] .. piece_begin_[j+1]-1 in order of
  // increasing x = 1/rate; piece p wins for x in [break_x_[p], break_x_[p+1]).
  std::vector<int> piece_begin_;
  std::vector<double> break_x_;
  std::vector<int> winner_;
  int EnvelopeWinner(int level, double x) const;
};

// ---- Estimation and control (the head node) --------------------------------------

// What the server puts in every reply (and every probe reply).
struct ServerReport {
  double load = 1;           // recent mean service time / unloaded service time (>= 1 when busy)
  uint32_t queue_length = 0; // requests waiting when the reply was sent
};

struct ControllerOptions {
  // Keep the current candidate unless the new best is faster by this fraction
  // (at the current estimates): against flapping.
  double hysteresis = 0.02;
  // Rate estimate: EWMA of seconds per byte with this weight on the newest
  // sample; a sample off by more than `reset_factor` from the estimate replaces
  // it (a channel step is followed at once, jitter is smoothed).
  double ewma_alpha = 0.5;
  double reset_factor = 2.0;
  double initial_rate_bytes_per_s = 0;  // 0: the link profile's bytes_per_s
  // Probing while nothing is sent (device-only or fallback).
  double probe_interval_s = 1.0;
  int64_t probe_bytes = 4096;
  // A transfer's first `check_bytes` (0: one link frame, payload_bytes) are
  // timed on their own (acks); if the fresh rate says finishing locally is
  // faster, the head abandons the transfer. An ack not back after
  // `ack_deadline_factor` x its expected time bounds the rate from above and is
  // checked the same way, so a collapsed link costs little more than that wait.
  int64_t check_bytes = 0;
  double ack_deadline_factor = 2.0;
  // A failed transfer or probe (timeout, server gone) puts the head in fallback
  // until a probe succeeds.
  double timeout_s = 2.0;
};

// Why a decision was made (for logs).
enum class DecisionReason : uint8_t { kBest, kHysteresis, kFallback, kNoLinkEstimate };
const char* DecisionReasonName(DecisionReason r);  // "best", "hysteresis", "fallback", "no-estimate"

struct Decision {
  int candidate = -1;  // -1: nothing fits the head and the link is down
  bool probe = false;  // send a probe of probe_bytes now (in parallel with local compute)
  bool fallback = false;
  DecisionReason reason = DecisionReason::kBest;
};

class SplitController {
 public:
  SplitController(const SplitPolicy* policy, const ControllerOptions& options);

  // Call once per request before running the head.
  Decision Decide(double now_s);
  // A transfer of `bytes` took `seconds` from the first send to the last ack.
  void OnTransfer(int64_t bytes, double seconds);
  // Every server reply (results and probes) carries this.
  void OnServerReport(const ServerReport& report);
  // A probe of `bytes` was acknowledged after `seconds`.
  void OnProbe(int64_t bytes, double seconds, const ServerReport& report, double now_s);
  // A transfer or probe failed (timeout, connection refused): fall back to local.
  void OnFailure(double now_s);
  // Mid-transfer: `acked_bytes` of candidate `c`'s tensor were acknowledged
  // `seconds` after the first send. True when finishing locally now is faster
  // than waiting (updates the rate estimate from this partial sample).
  bool ShouldAbandon(int c, int64_t acked_bytes, double seconds);
  // The first frames' size to time (check_bytes or one frame, at most `bytes`)
  // and how long to wait for their ack before calling ShouldAbandon with the
  // deadline as the elapsed time.
  int64_t CheckBytes(int64_t bytes) const;
  double AckDeadline(int64_t check_bytes) const;
  // While running device-only after a probe answered: the best candidate whose
  // cut is not yet passed at `elapsed_s` into local compute, or the current one
  // when staying is within hysteresis; becomes the current one. Server-only
  // counts as reachable (the input is kept until the request ends).
  int Reconsider(double elapsed_s);

  double rate_estimate() const { return rate_; }  // bytes/s
  double load_estimate() const { return load_; }
  bool in_fallback() const { return fallback_; }
  int current() const { return current_; }

 private:
  double RateSample(int64_t bytes, double seconds) const;
  void AddRateSample(double rate);
  const SplitPolicy* policy_;
  ControllerOptions options_;
  double rate_ = 0, load_ = 1;
  int current_ = -1;
  bool fallback_ = false;
  double last_probe_s_ = -1e300;
};

// ---- Traces ------------------------------------------------------------------------

struct TraceRow {
  double time_s = 0;
  double rate_bytes_per_s = 0;  // 0: the link is down for this request
  double server_load = 1;       // > 0; 1 = idle
};

// CSV with the header `time_s,rate_bytes_per_s,server_load` (extra columns
// after these are ignored), one request per row; '#' lines and blank lines
// are skipped. Errors name the origin, line and column. Times must not decrease.
Result<std::vector<TraceRow>> ParseTraceCsv(const std::string& text, const std::string& origin);
Result<std::vector<TraceRow>> LoadTraceCsv(const std::string& path);  // IoError naming the path
std::string TraceToCsv(const std::vector<TraceRow>& rows);

enum class TraceGenerator : uint8_t { kConstant, kStep, kRandomWalk, kGilbertElliott };
Result<TraceGenerator> ParseTraceGenerator(const std::string& name);  // "constant", "step", "random-walk", "gilbert-elliott"
const char* TraceGeneratorName(TraceGenerator g);

struct TraceOptions {
  uint64_t seed = 1;
  int steps = 1000;
  double interval_s = 1.0;                // between requests
  double min_rate_bytes_per_s = 12500;    // 0.1 Mbit/s
  double max_rate_bytes_per_s = 2500000;  // 20 Mbit/s
  double max_load = 4;
  int min_dwell = 20;                     // requests per channel state, at least
};

// Deterministic for a seed (own integer-to-real mapping, not <random>'s
// distributions, so the same on every standard library). Every channel state
// (rate and load) lasts at least min_dwell requests.
Result<std::vector<TraceRow>> GenerateTrace(TraceGenerator generator, const TraceOptions& options);

// ---- Simulation ---------------------------------------------------------------------

enum class PolicyKind : uint8_t { kDynamic, kOracle, kDeviceOnly, kServerOnly, kStatic };
struct PolicySpec {
  PolicyKind kind = PolicyKind::kDynamic;
  int candidate = -1;  // for kStatic
  std::string name;    // "dynamic", "oracle", "device-only", "server-only", "static:<cut>"
};
// "dynamic|oracle|device-only|server-only|static:CUT|all" -> the policies; CUT
// is a candidate name or cut index; "all" gives every policy, one static per
// split candidate.
Result<std::vector<PolicySpec>> ParsePolicySpecs(const SplitPolicy& policy, const std::string& spec);

struct RequestRecord {
  int candidate = -1;    // what was executed (after any mid-request change)
  double latency_s = 0;
  bool fallback = false;
  bool abandoned = false;  // a transfer was given up mid-way
};

struct PolicyResult {
  std::string policy;
  double mean_s = 0, p50_s = 0, p95_s = 0;
  int switches = 0;  // requests whose executed candidate differs from the previous one's
  double gain_of_dynamic = 0;  // (T_policy - T_dynamic) / T_policy, mean latencies
  std::vector<RequestRecord> requests;
};

// Runs every policy over `trace`. The dynamic policy sees only what its
// controller learnt (transfer timings, probe replies, server reports, as the
// runtime would; the connection handshake before the first request counts as
// a probe of the first row's link); the oracle takes the exact best for the true row; static
// policies always run their candidate (falling back locally when the link is
// down). gain_of_dynamic is filled when "dynamic" is among the policies.
Result<std::vector<PolicyResult>> Simulate(const SplitPolicy& policy, const std::vector<TraceRow>& trace,
                                           const std::vector<PolicySpec>& policies, const ControllerOptions& options);

}  // namespace edgesplit
