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
// sleep) when the machine is quiet at start-up (QuietMachine) or the process
// is real-time scheduled (e.g. under `chrt`), and sleep at once otherwise; every other command, in particular the runtime's node
// processes that share the cores with a link emulator, a server and a client,
// and profile --measure, which reads process CPU time, sleeps at once
// (passive). When neither variable is set the CLI sets one and re-executes
// itself once (the child sees it set and carries on); an explicit
// OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user is kept.
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "commands.h"
#include "edgesplit/runtime.h"

namespace edgesplit::cli {
namespace {

// Spin iterations before an idle pool thread sleeps (libgomp counts roughly
// 100000 a millisecond): enough to bridge the serial ops between two parallel
// ones, short enough that the pool sleeps soon after an inference ends.
constexpr const char* kSpinCount = "100000";
// How long the quiet test watches the CPUs (bench-engine and infer only).
constexpr long kSampleMs = 150;
constexpr int kSamples = 4;

// The subcommand: the first argument that is not an option.
const char* Subcommand(char** argv) {
  for (char** a = argv + 1; *a != nullptr; ++a)
    if ((*a)[0] != '-') return *a;
  return "";
}

bool SpinsOpenMpThreads(const char* subcommand) {
  return std::strcmp(subcommand, "bench-engine") == 0 || std::strcmp(subcommand, "infer") == 0;
}

// Busy and total jiffies of all CPUs, from /proc/stat's "cpu" line (busy:
// everything but idle and iowait; guest time is already inside user/nice).
bool CpuJiffies(long long* busy, long long* total) {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return false;
  long long v[8] = {};  // user nice system idle iowait irq softirq steal
  const int fields = std::fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                                 &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (fields < 4) return false;
  *total = 0;
  for (long long x : v) *total += x;
  *busy = *total - v[3] - v[4];
  return true;
}

// Whether this process is scheduled SCHED_FIFO / SCHED_RR: ordinary tasks
// cannot preempt it, so its spinning threads never wait for a descheduled
// partner (the failure mode under load) and spinning is safe at any load.
bool RealTimeScheduled() {
  const int policy = sched_getscheduler(0);
  return policy == SCHED_FIFO || policy == SCHED_RR;
}

// Quiet: short samples taken now (this process sleeps through them) in which
// other tasks kept less than a quarter of the cores busy: two of up to
// kSamples, or one while the 1-minute load average is below the core count.
// One sample alone called a quiet machine busy whenever it overlapped the exit
// of the process before (a benchmark script's previous engine), and the load
// average alone lags a minute behind (a build that just ended): both made two
// threads run slower than one. A loaded machine shows busy samples, and a
// lull of one sample is not enough. Unreadable: not quiet (sleeping is the
// safe choice). Not /proc/loadavg's running count: that includes whatever
// starts beside this process (e.g. the other end of the pipe a benchmark
// script reads it through).
bool QuietMachine() {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  double load1 = 0;
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  const bool have_load = f != nullptr && std::fscanf(f, "%lf", &load1) == 1;
  if (f != nullptr) std::fclose(f);
  if (cpus < 1) return false;
  const int needed = have_load && load1 < static_cast<double>(cpus) ? 1 : 2;
  int quiet = 0;
  for (int i = 0; i < kSamples && quiet < needed; ++i) {
    long long busy0 = 0, total0 = 0, busy1 = 0, total1 = 0;
    if (!CpuJiffies(&busy0, &total0)) return false;
    const timespec sample{0, kSampleMs * 1000000L};
    nanosleep(&sample, nullptr);
    if (!CpuJiffies(&busy1, &total1) || total1 <= total0) return false;
    // Fraction of all cores' time that was busy during the sample.
    if (static_cast<double>(busy1 - busy0) / static_cast<double>(total1 - total0) < 0.25) ++quiet;
    else quiet = 0;  // two quiet samples must follow each other
  }
  return quiet >= needed;
}

}  // namespace

void EnsureOpenMpWaitPolicy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  const int rc = SpinsOpenMpThreads(Subcommand(argv)) && (RealTimeScheduled() || QuietMachine()) ? setenv("GOMP_SPINCOUNT", kSpinCount, 1)
                                                      : setenv("OMP_WAIT_POLICY", "passive", 1);
  if (rc != 0) return;
  const Result<std::string> self = runtime::SelfExecutablePath();
  if (self.ok()) execv(self->c_str(), argv);
  // Only reached when exec failed: run on with libgomp's default spin.
}

}  // namespace edgesplit::cli
