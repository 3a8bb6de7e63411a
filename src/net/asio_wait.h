// Runs one asynchronous Asio operation to completion or a deadline: the way
// every blocking call of the net module gets its timeout.
#pragma once

#include <fcntl.h>

// A C++ library header before <asio.hpp>: asio decides from libstdc++'s
// config (_GLIBCXX_HAVE_ALIGNED_ALLOC) whether its inline handler allocator
// uses aligned_alloc/free or new/delete. A file that reached <asio.hpp> with
// only C headers before it chose new/delete while the others chose
// aligned_alloc/free, and the linker mixed the two (ASan: alloc-dealloc-mismatch).
#include <cstdlib>

#include <asio.hpp>
#include <optional>

#include "edgesplit/net.h"

namespace edgesplit::net::detail {

// Runs `io` until `done` is set or `deadline` passes; on timeout calls
// `cancel` and drains the aborted handler so that no handler outlives the
// caller's stack. Returns whether the operation completed.
template <typename Cancel>
bool RunUntil(asio::io_context& io, const bool& done, Deadline deadline, Cancel cancel) {
  io.restart();
  while (!done && Clock::now() < deadline) {
    if (io.run_one_until(deadline) == 0 && io.stopped()) io.restart();
  }
  if (done) return true;
  cancel();
  io.restart();
  while (!done) io.run_one();  // the cancelled handler runs with operation_aborted
  return false;
}

inline std::string ErrorText(const asio::error_code& ec) { return ec.message(); }

// Asio opens and accepts sockets without close-on-exec: every socket of a
// process that spawns nodes would leak into them (and keep ports bound).
inline void SetCloseOnExec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

}  // namespace edgesplit::net::detail
