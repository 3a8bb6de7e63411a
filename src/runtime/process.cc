#include "process.h"

#include "edgesplit/runtime.h"
#include "internal/self_exe.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace edgesplit::runtime::detail {

Result<std::unique_ptr<NodeProcess>> NodeProcess::Spawn(const std::string& binary, const std::vector<std::string>& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The node must never outlive the client, even if the client is killed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::unique_ptr<NodeProcess> p(new NodeProcess());
  p->pid_ = pid;
  p->stdout_fd_ = fds[0];
  p->reader_ = std::thread([raw = p.get()] { raw->ReadLoop(); });
  return p;
}

NodeProcess::~NodeProcess() {
  Kill();
  if (!reaped_) {
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();  // the pipe reaches EOF once the child is gone
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void NodeProcess::Kill() {
  if (!reaped_ && ExitReason().empty()) kill(pid_, SIGKILL);
}

std::string NodeProcess::ExitReason() {
  if (reaped_) return exit_reason_;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return "";
  reaped_ = true;
  if (WIFSIGNALED(status)) exit_reason_ = "killed by signal " + std::to_string(WTERMSIG(status));
  else exit_reason_ = "exited with status " + std::to_string(WEXITSTATUS(status));
  return exit_reason_;
}

void NodeProcess::ReadLoop() {
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      if (j.contains("listening") && j["listening"].is_string()) {  // `edgesplit serve`'s ready line
        std::lock_guard<std::mutex> lock(mutex_);
        listening_ = j["listening"].get<std::string>();
        changed_.notify_all();
        continue;
      }
      // A line of another shape (a child's stray output) is skipped, never a type_error.
      if (!j.contains("event") || !j["event"].is_string()) continue;
      if (j.contains("request_id") && !j["request_id"].is_number_unsigned()) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      const std::string event = j["event"].get<std::string>();
      if (event == "listening") listening_ = j.contains("address") && j["address"].is_string() ? j["address"].get<std::string>() : "";
      else if (j.contains("request_id") && j["request_id"].is_number_unsigned()) events_[j["request_id"].get<uint32_t>()] = j;
      changed_.notify_all();
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  eof_ = true;
  changed_.notify_all();
}

Result<std::string> NodeProcess::WaitListening(net::Deadline deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return listening_.has_value() || eof_; });
  if (listening_) return *listening_;
  lock.unlock();
  const std::string why = ExitReason();
  return IoError(why.empty() ? "did not report its address in time" : "ended before listening (" + why + ")");
}

std::optional<nlohmann::json> NodeProcess::WaitEvent(uint32_t request_id, net::Deadline deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return events_.count(request_id) > 0 || eof_; });
  auto it = events_.find(request_id);
  if (it == events_.end()) return std::nullopt;
  nlohmann::json j = std::move(it->second);
  events_.erase(it);
  return j;
}

}  // namespace edgesplit::runtime::detail

namespace edgesplit::runtime {

Result<std::string> SelfExecutablePath() { return internal::SelfExecutablePath(); }

}  // namespace edgesplit::runtime
