// The running executable's path: the one place that reads /proc/self/exe.
// Host modules only (an OS call). runtime::SelfExecutablePath (runtime.h) is
// the public name; cost's ProfilesDir and report's ReportAssetsDir use it to
// find the files an installed binary keeps beside its prefix.
#pragma once

#include <unistd.h>

#include <string>

#include "edgesplit/status.h"

namespace edgesplit::internal {

inline Result<std::string> SelfExecutablePath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return IoError("cannot find the edgesplit binary (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace edgesplit::internal
