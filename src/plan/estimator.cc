// The head node's controller: rate and load estimates from what it observes
// (transfer acknowledgements, probe replies, the server's report in every
// reply), hysteresis over the policy's choice, probing while nothing is sent,
// and the fallback to local inference (docs/dynamic.md, "Estimation").
#include <algorithm>
#include <cmath>
#include <limits>

#include "edgesplit/dynamic.h"

namespace edgesplit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// A transfer no slower than the link's fixed costs says "at least this fast".
constexpr double kMaxRateBytesPerS = 1e10;

}  // namespace

const char* DecisionReasonName(DecisionReason r) {
  switch (r) {
    case DecisionReason::kBest: return "best";
    case DecisionReason::kHysteresis: return "hysteresis";
    case DecisionReason::kFallback: return "fallback";
    case DecisionReason::kNoLinkEstimate: return "no-estimate";
  }
  return "?";
}

SplitController::SplitController(const SplitPolicy* policy, const ControllerOptions& options) : policy_(policy), options_(options) {
  const double initial = options.initial_rate_bytes_per_s > 0 ? options.initial_rate_bytes_per_s : policy->candidate_set().link.bytes_per_s;
  rate_ = initial > 0 ? initial : 1;
}

Decision SplitController::Decide(double now_s) {
  Decision d;
  const int device_only = policy_->candidate_set().device_only;
  if (fallback_ && device_only >= 0) {
    d.candidate = device_only;
    d.fallback = true;
    d.reason = DecisionReason::kFallback;
  } else {
    const int best = policy_->Decide(rate_, load_);
    d.candidate = best;
    if (current_ >= 0 && current_ != best &&
        policy_->Latency(current_, rate_, load_) <= (1 + options_.hysteresis) * policy_->Latency(best, rate_, load_)) {
      d.candidate = current_;
      d.reason = DecisionReason::kHysteresis;
    }
  }
  // Nothing crosses the link: probe it now and then so a recovery is noticed.
  if (d.candidate == device_only && now_s - last_probe_s_ >= options_.probe_interval_s) {
    d.probe = true;
    last_probe_s_ = now_s;
  }
  current_ = d.candidate;
  return d;
}

// Inverts T(b) = per_message + (frames * per_frame + wire / r) / (1 - loss) + aead for r
// (wire: the bytes on the air, envelopes included when sealed).
double SplitController::RateSample(int64_t bytes, double seconds) const {
  const CandidateSet& set = policy_->candidate_set();
  const LinkProfile& link = set.link;
  const double fixed = LinkSeconds(link, bytes, kInf, set.sealing);  // the rate-independent part
  const double payload_s = (seconds - fixed) * (1 - link.loss);
  const double b = static_cast<double>(TransferLoad(link, bytes, set.sealing).wire_bytes);
  return payload_s > b / kMaxRateBytesPerS ? b / payload_s : kMaxRateBytesPerS;
}

void SplitController::AddRateSample(double rate) {
  if (!(rate > 0) || !std::isfinite(rate)) return;
  const double ratio = rate / rate_;
  if (ratio > options_.reset_factor || ratio < 1 / options_.reset_factor) {
    rate_ = rate;  // a step in the channel: follow it at once
    return;
  }
  // Smooth in seconds per byte, the quantity latency is linear in.
  const double spb = options_.ewma_alpha / rate + (1 - options_.ewma_alpha) / rate_;
  rate_ = 1 / spb;
}

void SplitController::OnTransfer(int64_t bytes, double seconds) {
  if (bytes <= 0 || !(seconds > 0)) return;
  AddRateSample(RateSample(bytes, seconds));
  fallback_ = false;
}

void SplitController::OnServerReport(const ServerReport& report) {
  if (report.load > 0 && std::isfinite(report.load)) load_ = report.load;
}

void SplitController::OnProbe(int64_t bytes, double seconds, const ServerReport& report, double now_s) {
  OnTransfer(bytes, seconds);
  OnServerReport(report);
  fallback_ = false;
  last_probe_s_ = std::max(last_probe_s_, now_s - seconds);
}

void SplitController::OnFailure(double now_s) {
  fallback_ = true;
  const int device_only = policy_->candidate_set().device_only;
  if (device_only >= 0) current_ = device_only;
  last_probe_s_ = now_s;
}

bool SplitController::ShouldAbandon(int c, int64_t acked_bytes, double seconds) {
  const SplitCandidate& cand = policy_->candidates()[c];
  if (cand.kind == CandidateKind::kDeviceOnly || acked_bytes <= 0 || acked_bytes >= cand.bytes) return false;
  AddRateSample(RateSample(acked_bytes, seconds));
  const CandidateSet& set = policy_->candidate_set();
  const double unacked = static_cast<double>(TransferLoad(set.link, cand.bytes, set.sealing).wire_bytes -
                                             TransferLoad(set.link, acked_bytes, set.sealing).wire_bytes);
  const double remaining = unacked / rate_ / (1 - set.link.loss);
  const double wait = remaining + cand.tail_s * load_ + LinkSeconds(set.link, cand.result_bytes, rate_, set.sealing);
  return (1 + options_.hysteresis) * cand.device_rest_s < wait;
}

int64_t SplitController::CheckBytes(int64_t bytes) const {
  const CandidateSet& set = policy_->candidate_set();
  const int64_t check = options_.check_bytes > 0 ? options_.check_bytes : FramePayloadBytes(set.link, set.sealing.sealed);
  return std::min(check, bytes);
}

double SplitController::AckDeadline(int64_t check_bytes) const {
  return options_.ack_deadline_factor * LinkSeconds(policy_->candidate_set().link, check_bytes, rate_, policy_->candidate_set().sealing);
}

int SplitController::Reconsider(double elapsed_s) {
  const auto& cs = policy_->candidates();
  int best = current_;
  double best_t = kInf, current_t = kInf;
  for (int k = 0; k < static_cast<int>(cs.size()); ++k) {
    const SplitCandidate& c = cs[k];
    const bool reachable = c.kind != CandidateKind::kSplit || c.head_s >= elapsed_s;
    if (!reachable) continue;
    // Sending starts when the cut is reached, or now for the kept input.
    const double start = c.kind == CandidateKind::kServerOnly ? elapsed_s : c.head_s;
    const double t = start + policy_->Latency(k, rate_, load_) - c.head_s;
    if (k == current_) current_t = t;
    if (t < best_t) best = k, best_t = t;
  }
  if (best != current_ && current_t <= (1 + options_.hysteresis) * best_t) best = current_;
  current_ = best;
  return best;
}

}  // namespace edgesplit
