// A bounded queue of complete messages between a receiver's background thread
// and its owner, with a deadline on every wait.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "edgesplit/net.h"
#include "sockets.h"  // the channels and servers that queue messages read them off these sockets

namespace edgesplit::net::detail {

class MessageQueue {
 public:
  // Drops the oldest message when full: a stuck owner must not grow memory without bound.
  void Push(std::vector<uint8_t> message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.size() >= kCapacity) queue_.pop_front();
      queue_.push_back(std::move(message));
    }
    ready_.notify_one();
  }
  std::optional<std::vector<uint8_t>> Pop(Deadline deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) return std::nullopt;
    std::vector<uint8_t> m = std::move(queue_.front());
    queue_.pop_front();
    return m;
  }
  void Reject(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++rejected_;
    last_rejection_ = reason;
  }
  int64_t rejected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return rejected_;
  }
  std::string last_rejection() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_rejection_;
  }

 private:
  static constexpr size_t kCapacity = 256;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::vector<uint8_t>> queue_;
  int64_t rejected_ = 0;
  std::string last_rejection_;
};

// Microseconds on the steady clock: the `now_us` wire's state machines take.
inline uint64_t NowUs(Clock::time_point t = Clock::now()) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}
inline Clock::time_point FromUs(uint64_t us) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

}  // namespace edgesplit::net::detail
