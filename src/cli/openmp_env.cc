// OMP_WAIT_POLICY=passive for the CLI's OpenMP pool (oneDNN's threads).
//
// libgomp reads its environment once, in a constructor that runs when the
// library is loaded, before main(). Unset, idle pool threads spin before they
// sleep, and with 2 cores shared by a link emulator, a server and a client that
// steals CPU from whoever has work. So when the variable is unset the CLI sets
// it and re-executes itself once (the child sees it set and carries on); an
// explicit OMP_WAIT_POLICY from the user is kept.
#include <unistd.h>

#include <cstdlib>

#include "commands.h"

namespace edgesplit::cli {

void EnsurePassiveOpenMpWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Only reached when exec failed: run on, spinning is a cost, not an error.
}

}  // namespace edgesplit::cli
