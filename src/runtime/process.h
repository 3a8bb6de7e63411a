// Child node processes: spawned with a stdout pipe, killed with their parent
// (PR_SET_PDEATHSIG), reaped on destruction; their JSON event lines are read
// by a background thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "edgesplit/net.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime::detail {

class NodeProcess {
 public:
  // Starts `binary` with `args` (argv[1...]).
  static Result<std::unique_ptr<NodeProcess>> Spawn(const std::string& binary, const std::vector<std::string>& args);
  ~NodeProcess();  // SIGKILL if still running, reap, join the reader
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Non-blocking: "" while running, else how it ended ("exited with status 1", "killed by signal 9").
  std::string ExitReason();
  void Kill();
  // The "listening" event's address by `deadline`; fails when the process ends first.
  Result<std::string> WaitListening(net::Deadline deadline);
  // The event line (request or error) for `request_id` by `deadline`; nullopt on timeout.
  std::optional<nlohmann::json> WaitEvent(uint32_t request_id, net::Deadline deadline);

 private:
  NodeProcess() = default;
  void ReadLoop();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  std::string exit_reason_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::string> listening_;
  bool eof_ = false;
  std::map<uint32_t, nlohmann::json> events_;
};

}  // namespace edgesplit::runtime::detail
