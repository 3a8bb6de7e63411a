// How a server transport's I/O thread asks to be scheduled (private to src/net).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <cstring>

namespace edgesplit::net::detail {

// A server's I/O thread shares its core with the worker that computes.
// Datagrams: as an ordinary thread it preempts the worker at every wake-up: a
// 602 KB request over UDP is ~400 datagrams, which took ~70 preemptions of
// the worker per request. As SCHED_BATCH it does not preempt on wake-up: it
// runs when the core is free or at the next scheduler tick and drains what
// queued in the meantime in one burst.
// Streams: a TCP request wakes its reader ~3 times, and a deferred reader
// leaves a request that arrives during another's compute in the socket until
// that compute ends, a wait the server cannot see (nor the devices spread
// away from): at 50% load that doubled MobileNetV2's p99. So a stream server's
// reader stays an ordinary thread (docs/benchmarks.md, the edge server's
// seventh pass). EDGESPLIT_IO_SCHED=normal|batch overrides both (A/B runs).
enum class IoWakeups { kDefer, kPreempt };
inline void ScheduleIoThread(IoWakeups wakeups) {
  const char* e = std::getenv("EDGESPLIT_IO_SCHED");
  if (e && std::strcmp(e, "normal") == 0) return;
  if (!(e && std::strcmp(e, "batch") == 0) && wakeups == IoWakeups::kPreempt) return;
  sched_param param{};
  param.sched_priority = 0;
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // best effort
}

}  // namespace edgesplit::net::detail
