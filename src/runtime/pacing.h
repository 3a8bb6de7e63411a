// When a periodic sender (a `device` or one of `loadgen`'s emulated devices
// with --request-rate) sends each request.
//
// Request r goes at start + (r + phase) / rate + shift. Periodic devices that
// happen to share a slot collide every period: the second one waits a whole
// service time behind the first each time, and that wait, not the server, sets
// the fleet's p99 at moderate load. With spreading on, a reply that says the
// request queued behind other work (its queue wait, wire.h) for more than a
// quarter of its own compute time moves this sender's later sends by that wait
// plus a quarter of the compute time, into the gap after the work it queued
// behind. The sender that came first keeps its slot, so colliding devices
// drift apart within a few periods. Below full load there is a free slot for
// everyone and the shifts stop; a wait of half a period or more is a standing
// queue (overload), not a clash of slots, and moves nothing: there the queue,
// BUSY and deadlines act as before. The shift wraps within one period, so the
// long-run rate is the one asked for.
// Not thread-safe: one schedule per sender.
#pragma once

#include "edgesplit/net.h"

namespace edgesplit::runtime {

class PacedSchedule {
 public:
  // rate_per_s > 0; phase in [0, 1) of a period.
  PacedSchedule(net::Clock::time_point start, double rate_per_s, double phase, bool spread);

  // When request r (from 0) is due.
  net::Clock::time_point SendTime(int r) const;

  // A result's queue wait and service time (seconds, from its header:
  // queue_wait_us, service_time_us).
  void NoteReply(double queue_wait_s, double service_s);

  double shift_s() const { return shift_s_; }
  int shifts() const { return shifts_; }

 private:
  net::Clock::time_point start_;
  double period_s_, phase_;
  bool spread_;
  double shift_s_ = 0;
  int shifts_ = 0;
};

}  // namespace edgesplit::runtime
