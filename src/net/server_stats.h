// The counters every server transport keeps: written by its I/O thread,
// read by any thread (ServerTransport::stats()).
#pragma once

#include <mutex>
#include <string>

#include "edgesplit/net_server.h"

namespace edgesplit::net::detail {

class ServerStatsCounter {
 public:
  void Reject(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.rejected;
    stats_.last_rejection = why;
  }
  void FailedReply() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.replies_failed;
  }
  void DroppedFrame() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.frames_dropped;
  }
  void SecurityDrop(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.rejected;
    ++stats_.security_dropped;
    stats_.last_rejection = why;
  }
  void Handshakes(int64_t started, int64_t rate_limited, int64_t refused) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.handshakes = started;
    stats_.handshakes_rate_limited = rate_limited;
    stats_.refused = refused;
  }
  ServerStats Snapshot(int64_t peers) const {
    std::lock_guard<std::mutex> lock(mutex_);
    ServerStats s = stats_;
    s.peers = peers;
    return s;
  }

 private:
  mutable std::mutex mutex_;
  ServerStats stats_;
};

}  // namespace edgesplit::net::detail
