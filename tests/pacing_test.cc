// Paced senders (src/runtime/pacing.h): the schedule itself, and a fleet of
// periodic senders against a simulated FIFO server with a fixed service time,
// where spreading must end the collisions that fixed phases keep for ever.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "edgesplit/graph.h"
#include "../src/runtime/pacing.h"

namespace edgesplit::runtime {
namespace {

using net::Clock;

double Seconds(Clock::time_point t, Clock::time_point start) { return std::chrono::duration<double>(t - start).count(); }

TEST(PacedSchedule, FixedPhasesKeepThePeriodAndPhase) {
  const Clock::time_point start = Clock::now();
  PacedSchedule s(start, 50.0, 0.25, /*spread=*/false);
  EXPECT_NEAR(Seconds(s.SendTime(0), start), 0.005, 1e-9);
  EXPECT_NEAR(Seconds(s.SendTime(3), start), 0.065, 1e-9);
  s.NoteReply(0.004, 0.008);  // queued: but phases are fixed
  EXPECT_EQ(s.shifts(), 0);
  EXPECT_NEAR(Seconds(s.SendTime(3), start), 0.065, 1e-9);
}

TEST(PacedSchedule, AQueuedReplyMovesLaterSendsPastTheWait) {
  const Clock::time_point start = Clock::now();
  PacedSchedule s(start, 10.0, 0.0, /*spread=*/true);  // 100 ms period
  s.NoteReply(0, 0.004);         // found the server idle
  s.NoteReply(0.0005, 0.0045);   // 0.5 ms behind 4 ms of compute: a brush, not a clash
  s.NoteReply(0.00015, 0.00025); // under the 200 us floor
  EXPECT_EQ(s.shifts(), 0);
  s.NoteReply(0.005, 0.009);  // queued 5 ms behind another request, then 4 ms of compute
  ASSERT_EQ(s.shifts(), 1);
  // The wait plus a quarter of the compute: 6 ms.
  EXPECT_NEAR(s.shift_s(), 0.006, 1e-9);
  EXPECT_NEAR(Seconds(s.SendTime(2), start), 0.2 + 0.006, 1e-9);
  s.NoteReply(0.060, 0.064);  // half a period or more: a standing queue, not a clash
  s.NoteReply(-1, 0.004);     // nonsense: ignored
  EXPECT_EQ(s.shifts(), 1);
}

TEST(PacedSchedule, TheShiftStaysWithinOnePeriodAndTheRateHolds) {
  const Clock::time_point start = Clock::now();
  PacedSchedule s(start, 100.0, 0.5, /*spread=*/true);  // 10 ms period
  for (int i = 0; i < 20; ++i) s.NoteReply(0.004, 0.008);
  EXPECT_EQ(s.shifts(), 20);
  EXPECT_GE(s.shift_s(), 0.0);
  EXPECT_LT(s.shift_s(), 0.010);
  EXPECT_NEAR(Seconds(s.SendTime(1000), start) - Seconds(s.SendTime(0), start), 10.0, 0.010);
}

// `clients` periodic senders at `load` of a FIFO server whose service time is
// 1 unit (with a little seeded jitter); returns each request's sojourn (wait
// + service) in units, in arrival order.
std::vector<double> SimulateFleet(int clients, double load, int periods, bool spread) {
  const Clock::time_point start = Clock::now();
  const double unit = 0.004;  // 4 ms of compute, in the schedule's seconds
  const double rate = load / (clients * unit);
  std::vector<PacedSchedule> senders;
  for (int k = 0; k < clients; ++k) {
    Rng rng(static_cast<uint64_t>(k) + 1);
    senders.emplace_back(start, rate, rng.Uniform(0.0f, 1.0f), spread);
  }
  std::vector<int> next(static_cast<size_t>(clients), 0);
  std::vector<double> sojourns;
  double free_at = 0;
  Rng jitter(99);
  for (int n = 0; n < clients * periods; ++n) {
    int k = 0;  // the sender due first
    for (int c = 1; c < clients; ++c)
      if (senders[static_cast<size_t>(c)].SendTime(next[static_cast<size_t>(c)]) <
          senders[static_cast<size_t>(k)].SendTime(next[static_cast<size_t>(k)]))
        k = c;
    PacedSchedule& s = senders[static_cast<size_t>(k)];
    const double arrival = Seconds(s.SendTime(next[static_cast<size_t>(k)]++), start);
    const double begin = std::max(arrival, free_at);
    free_at = begin + unit * (1 + 0.05 * jitter.Uniform(0.0f, 1.0f));
    s.NoteReply(begin - arrival, free_at - arrival);
    sojourns.push_back((free_at - arrival) / unit);
  }
  return sojourns;
}

double Worst(std::vector<double> v, size_t skip_first) {
  return *std::max_element(v.begin() + static_cast<std::ptrdiff_t>(skip_first), v.end());
}

TEST(PacedSchedule, SpreadingEndsCollisionsAtHalfLoad) {
  for (int clients : {4, 8, 16}) {
    const std::vector<double> fixed = SimulateFleet(clients, 0.5, 200, false);
    const std::vector<double> spread = SimulateFleet(clients, 0.5, 200, true);
    // Fixed seeded phases collide every period (the queueing this fixes).
    EXPECT_GT(Worst(fixed, fixed.size() / 2), 1.3) << clients << " clients";
    // Spread: after the first periods nobody waits more than a brush.
    EXPECT_LT(Worst(spread, spread.size() / 2), 1.3) << clients << " clients";
  }
}

}  // namespace
}  // namespace edgesplit::runtime
