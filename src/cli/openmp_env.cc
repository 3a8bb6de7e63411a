// How idle threads of the CLI's OpenMP pool (oneDNN's threads) wait.
//
// libgomp reads its environment once, in a constructor that runs when the
// library is loaded, before main(). What was measured (docs/benchmarks.md,
// "Threads"):
//   * OMP_WAIT_POLICY=passive: idle threads sleep on a futex at once, so every
//     parallel op of an inference pays a wake-up of the other core (on a quiet
//     VM a halted vCPU: MobileNetV2 ran no faster on two threads than on one);
//   * a spin (libgomp's default is ~300000 iterations): the pool stays awake
//     between the ops of an inference and two threads scale, but a spinning
//     thread competes for the core that the thread it waits for needs, and
//     on a machine loaded by other processes (or a hypervisor that deschedules
//     pause loops) an inference can then take 10-100x longer.
// Two threads only pay on a quiet machine with a spinning pool. So the
// engine-only commands that time or run one inference in one process
// (bench-engine, infer) spin a bounded time (GOMP_SPINCOUNT=kSpinCount, then
// sleep) when the machine is quiet at start-up (QuietMachine), and sleep at
// once otherwise; every other command, in particular the runtime's node
// processes that share the cores with a link emulator, a server and a client,
// and profile --measure, which reads process CPU time, sleeps at once
// (passive). When neither variable is set the CLI sets one and re-executes
// itself once (the child sees it set and carries on); an explicit
// OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user is kept.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "commands.h"

namespace edgesplit::cli {
namespace {

// Spin iterations before an idle pool thread sleeps (libgomp counts roughly
// 100000 a millisecond): enough to bridge the serial ops between two parallel
// ones, short enough that the pool sleeps soon after an inference ends.
constexpr const char* kSpinCount = "100000";

// The subcommand: the first argument that is not an option.
const char* Subcommand(char** argv) {
  for (char** a = argv + 1; *a != nullptr; ++a)
    if ((*a)[0] != '-') return *a;
  return "";
}

bool SpinsOpenMpThreads(const char* subcommand) {
  return std::strcmp(subcommand, "bench-engine") == 0 || std::strcmp(subcommand, "infer") == 0;
}

// Quiet: over the last minute less than half the cores were busy on average,
// and right now no other task is runnable (/proc/loadavg's "running/total"
// counts this process). Unreadable: not quiet (sleeping is the safe choice).
bool QuietMachine() {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr || cpus < 1) {
    if (f != nullptr) std::fclose(f);
    return false;
  }
  double load1 = 0, load5 = 0, load15 = 0;
  int running = 0, total = 0;
  const int fields = std::fscanf(f, "%lf %lf %lf %d/%d", &load1, &load5, &load15, &running, &total);
  std::fclose(f);
  return fields == 5 && load1 < 0.5 * static_cast<double>(cpus) && running - 1 < std::max(1L, cpus / 2);
}

}  // namespace

void EnsureOpenMpWaitPolicy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  const int rc = SpinsOpenMpThreads(Subcommand(argv)) && QuietMachine() ? setenv("GOMP_SPINCOUNT", kSpinCount, 1)
                                                      : setenv("OMP_WAIT_POLICY", "passive", 1);
  if (rc != 0) return;
  execv("/proc/self/exe", argv);
  // Only reached when exec failed: run on with libgomp's default spin.
}

}  // namespace edgesplit::cli
