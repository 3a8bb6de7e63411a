#include "pacing.h"

#include <algorithm>
#include <cmath>

namespace edgesplit::runtime {
namespace {

// A wait shorter than this share of the request's own compute time (or than
// 200 us) is the host's jitter or a brush with a neighbour, not a clash.
constexpr double kQueuedShare = 0.25;
constexpr double kQueuedFloorS = 200e-6;
// The shift goes this share of a compute time past the wait, so that the next
// send does not land exactly on the end of the work it queued behind.
constexpr double kMarginShare = 0.25;

}  // namespace

PacedSchedule::PacedSchedule(net::Clock::time_point start, double rate_per_s, double phase, bool spread)
    : start_(start), period_s_(1.0 / rate_per_s), phase_(phase), spread_(spread) {}

net::Clock::time_point PacedSchedule::SendTime(int r) const {
  const double at = (r + phase_) * period_s_ + shift_s_;
  return start_ + std::chrono::duration_cast<net::Clock::duration>(std::chrono::duration<double>(at));
}

void PacedSchedule::NoteReply(double queue_wait_s, double service_s) {
  if (!spread_ || !(queue_wait_s > 0) || !std::isfinite(queue_wait_s) || !std::isfinite(service_s)) return;
  const double compute_s = std::max(0.0, service_s - queue_wait_s);
  if (queue_wait_s <= std::max(kQueuedShare * compute_s, kQueuedFloorS) || queue_wait_s >= period_s_ / 2) return;
  // Modulo the period: a shift of a whole period is the same slot, and the
  // long-run rate stays the one asked for (a wrap sends one request right
  // after the previous reply instead of drifting later for ever).
  shift_s_ = std::fmod(shift_s_ + queue_wait_s + kMarginShare * compute_s, period_s_);
  ++shifts_;
}

}  // namespace edgesplit::runtime
