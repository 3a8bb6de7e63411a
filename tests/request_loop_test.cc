// The runtime's request loop (src/runtime/request_loop.h) on its own: workers
// that compute side by side, the options it refuses, and every request
// computed and handed on exactly once.
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "../src/runtime/request_loop.h"

namespace edgesplit::runtime {
namespace {

using namespace std::chrono_literals;

// Records which worker computed which request, and how many computed at once.
class RecordingHandler final : public RequestLoop::Handler {
 public:
  RecordingHandler(int rendezvous, std::chrono::milliseconds wait) : rendezvous_(rendezvous), wait_(wait) {}

  Status Compute(int worker, int, std::span<LoopRequest> batch) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    // The first `rendezvous_` batches wait (bounded) until that many are
    // inside Compute at once: only workers computing side by side get there.
    if (rendezvous_ > 1 && computed_batches_ < rendezvous_) {
      changed_.notify_all();
      changed_.wait_for(lock, wait_, [&] { return inside_ >= rendezvous_ || met_; });
      if (inside_ >= rendezvous_) met_ = true;
    }
    ++computed_batches_;
    for (const LoopRequest& r : batch) computed_by_[r.request_id].push_back(worker);
    --inside_;
    return Status::Ok();
  }
  void Finish(int worker, int, std::span<LoopRequest> batch, const Status& run, const BatchDone&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    EXPECT_TRUE(run.ok());
    for (const LoopRequest& r : batch) {
      finished_.push_back(r.request_id);
      workers_seen_.insert(worker);
    }
    changed_.notify_all();
  }
  void Expired(LoopRequest&) override {}

  bool WaitFinished(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, 30s, [&] { return finished_.size() >= n; });
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  const int rendezvous_;
  const std::chrono::milliseconds wait_;
  int inside_ = 0, max_inside_ = 0, computed_batches_ = 0;
  bool met_ = false;
  std::map<uint32_t, std::vector<int>> computed_by_;
  std::vector<uint32_t> finished_;
  std::set<int> workers_seen_;
};

LoopRequest Request(uint32_t id) {
  LoopRequest r;
  r.request_id = id;
  r.received = net::Clock::now();
  r.message.assign(16, static_cast<uint8_t>(id));
  return r;
}

TEST(RequestLoop, TwoWorkersComputeSideBySideAndEveryRequestOnce) {
  LoopOptions o;
  o.lanes = 2;
  o.workers = 2;
  ASSERT_TRUE(RequestLoop::CheckOptions(o).ok());
  RecordingHandler h(2, 10s);
  RequestLoop loop(o, &h);
  loop.Start();
  constexpr uint32_t kRequests = 40;
  for (uint32_t id = 1; id <= kRequests; ++id) {
    LoopRequest r = Request(id);
    ASSERT_TRUE(loop.Enqueue(static_cast<int>(id % 2), r, 0).ok());
  }
  ASSERT_TRUE(h.WaitFinished(kRequests));
  loop.Stop(5, [] { return true; });
  std::lock_guard<std::mutex> lock(h.mutex_);
  EXPECT_TRUE(h.met_) << "two batches were never computed at the same time";
  EXPECT_EQ(h.max_inside_, 2);
  EXPECT_EQ(h.workers_seen_, (std::set<int>{0, 1}));
  ASSERT_EQ(h.computed_by_.size(), kRequests);
  for (const auto& [id, by] : h.computed_by_) EXPECT_EQ(by.size(), 1u) << "request " << id;
  EXPECT_EQ(h.finished_.size(), kRequests);
  EXPECT_EQ(loop.counters().served, static_cast<int64_t>(kRequests));
}

TEST(RequestLoop, OneWorkerNeverComputesTwoBatchesAtOnce) {
  LoopOptions o;
  o.workers = 1;
  RecordingHandler h(2, 200ms);  // waits for a second batch that cannot come, then goes on
  RequestLoop loop(o, &h);
  loop.Start();
  for (uint32_t id = 1; id <= 3; ++id) {
    LoopRequest r = Request(id);
    ASSERT_TRUE(loop.Enqueue(0, r, 0).ok());
  }
  ASSERT_TRUE(h.WaitFinished(3));
  loop.Stop(5, [] { return true; });
  std::lock_guard<std::mutex> lock(h.mutex_);
  EXPECT_FALSE(h.met_);
  EXPECT_EQ(h.max_inside_, 1);
  EXPECT_EQ(h.workers_seen_, (std::set<int>{0}));
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// A handler whose batches cost `batch_cost` x a single run's CPU time per
// request (it spins: the loop weighs the worker's CPU time, not the wall's).
class CostModelHandler final : public RequestLoop::Handler {
 public:
  explicit CostModelHandler(double batch_cost) : batch_cost_(batch_cost) {}
  Status Compute(int, int, std::span<LoopRequest> batch) override {
    const double per_request_s = batch.size() == 1 ? 1e-3 : 1e-3 * batch_cost_;
    const double until = ThreadCpuSeconds() + per_request_s * static_cast<double>(batch.size());
    while (ThreadCpuSeconds() < until) {
    }
    return Status::Ok();
  }
  void Finish(int, int, std::span<LoopRequest> batch, const Status&, const BatchDone&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    (batch.size() == 1 ? singles_ : batched_) += static_cast<int64_t>(batch.size());
    done_.notify_all();
  }
  void Expired(LoopRequest&) override {}
  void Wait(int64_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait_for(lock, 60s, [&] { return singles_ + batched_ >= n; });
  }
  std::mutex mutex_;
  std::condition_variable done_;
  int64_t singles_ = 0, batched_ = 0;
  const double batch_cost_;
};

// Adaptive batching takes batches where they are cheaper per request and
// single runs where they are dearer, from its own measurements; "always"
// batches whatever is queued.
TEST(RequestLoop, AdaptiveBatchingBatchesOnlyWhereBatchesPay) {
  struct Case {
    double batch_cost;
    bool adaptive;
  };
  for (const Case c : {Case{0.2, true}, Case{3.0, true}, Case{3.0, false}}) {
    SCOPED_TRACE(testing::Message() << "batch cost " << c.batch_cost << (c.adaptive ? " adaptive" : " always"));
    LoopOptions o;
    o.max_batch = 8;
    o.adaptive_batching = c.adaptive;
    CostModelHandler h(c.batch_cost);
    RequestLoop loop(o, &h);
    constexpr int kRequests = 64;
    for (uint32_t id = 1; id <= kRequests; ++id) {  // all queued before the worker starts
      LoopRequest r = Request(id);
      ASSERT_TRUE(loop.Enqueue(0, r, 0).ok());
    }
    loop.Start();
    h.Wait(kRequests);
    loop.Stop(5, [] { return true; });
    std::lock_guard<std::mutex> lock(h.mutex_);
    ASSERT_EQ(h.singles_ + h.batched_, kRequests);
    if (!c.adaptive) {
      EXPECT_EQ(h.batched_, kRequests);
      EXPECT_EQ(loop.counters().batches_declined, 0);
    } else if (c.batch_cost < 1) {
      EXPECT_GE(h.batched_, kRequests * 3 / 4);
    } else {
      EXPECT_GE(h.singles_, kRequests / 2);
      EXPECT_GT(loop.counters().batches_declined, 0);
    }
  }
}

// An idle worker with busy_poll_s polls instead of sleeping: a request that
// arrives a little after the last one is found by the poll; without it, never.
TEST(RequestLoop, AnIdleWorkerPollsForWorkOnlyWhenAsked) {
  for (const double poll_s : {0.0, 1.0}) {
    LoopOptions o;
    o.busy_poll_s = poll_s;
    ASSERT_TRUE(RequestLoop::CheckOptions(o).ok());
    RecordingHandler h(1, 0ms);
    RequestLoop loop(o, &h);
    loop.Start();
    uint32_t id = 0;
    // Each request after a short gap, in which the worker finished the last
    // one and went idle; a few tries, so a stalled machine cannot miss them all.
    for (int attempt = 0; attempt < 5; ++attempt) {
      LoopRequest r = Request(++id);
      ASSERT_TRUE(loop.Enqueue(0, r, 0).ok());
      ASSERT_TRUE(h.WaitFinished(id));
      std::this_thread::sleep_for(20ms);
      if (loop.counters().batches_polled > 0) break;
    }
    LoopRequest last = Request(++id);
    ASSERT_TRUE(loop.Enqueue(0, last, 0).ok());
    ASSERT_TRUE(h.WaitFinished(id));
    // Stop ends a poll in progress rather than waiting it out.
    loop.Stop(5, [] { return true; });
    EXPECT_EQ(loop.counters().served, static_cast<int64_t>(id));
    if (poll_s > 0) EXPECT_GT(loop.counters().batches_polled, 0);
    else EXPECT_EQ(loop.counters().batches_polled, 0);
  }
  LoopOptions bad;
  for (const double poll_s : {-0.001, 1.5}) {
    bad.busy_poll_s = poll_s;
    const Status s = RequestLoop::CheckOptions(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("--busy-poll-ms"), std::string::npos) << s.message();
  }
}

TEST(RequestLoop, RefusesWorkerCountsOutOfRangeAndNoticesWithSeveralWorkers) {
  LoopOptions o;
  for (int bad : {0, -1, 65}) {
    o.workers = bad;
    const Status s = RequestLoop::CheckOptions(o);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("--workers"), std::string::npos) << s.message();
  }
  o.workers = 2;
  o.notice_limit = 4;
  EXPECT_EQ(RequestLoop::CheckOptions(o).code(), StatusCode::kInvalidArgument);
  o.workers = 64;
  o.notice_limit = 0;
  EXPECT_TRUE(RequestLoop::CheckOptions(o).ok());
}

}  // namespace
}  // namespace edgesplit::runtime
