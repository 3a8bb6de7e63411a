// Progress of a long command on stderr: "label  3/12  0.25/s  ETA 36s", redrawn
// in place at most 5 times a second, and only when stderr is a terminal, so
// piped or captured output (JSON on stdout, logs on stderr) stays clean.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace edgesplit::cli {

class Progress {
 public:
  Progress(std::string label, int64_t total)
      : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) == 1), start_(Clock::now()) {
    Draw(0, true);
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() {
    if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K"), std::fflush(stderr);
  }

  void Update(int64_t done) { Draw(done, done >= total_); }

 private:
  using Clock = std::chrono::steady_clock;

  void Draw(int64_t done, bool force) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::string line = "\r\033[K" + label_ + "  " + std::to_string(done) + "/" + std::to_string(total_);
    if (done > 0 && elapsed > 0) {
      const double rate = static_cast<double>(done) / elapsed;
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %.2f/s  ETA %.0fs", rate, static_cast<double>(total_ - done) / rate);
      line += buf;
    }
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    drawn_ = true;
  }

  std::string label_;
  int64_t total_;
  bool enabled_, drawn_ = false;
  Clock::time_point start_, last_{};
};

}  // namespace edgesplit::cli
