// How a server transport's I/O thread asks to be scheduled (private to src/net).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <cstring>

namespace edgesplit::net::detail {

// A server's I/O thread shares its core with the worker that computes. As an
// ordinary thread it preempts the worker at every wake-up: a 602 KB request
// over UDP is ~400 datagrams, which took ~70 preemptions of the worker per
// request. As SCHED_BATCH it does not preempt on wake-up: it runs when the
// core is free or at the next scheduler tick and drains what queued in the
// meantime in one burst. EDGESPLIT_IO_SCHED=normal keeps the default (A/B runs).
inline void DeferToComputeOnWakeup() {
  if (const char* e = std::getenv("EDGESPLIT_IO_SCHED"); e && std::strcmp(e, "normal") == 0) return;
  sched_param param{};
  param.sched_priority = 0;
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // best effort
}

}  // namespace edgesplit::net::detail
