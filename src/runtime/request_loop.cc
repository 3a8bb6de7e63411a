// The runtime's one request loop (request_loop.h).
#include "request_loop.h"

#include <time.h>

#include <algorithm>
#include <string>

namespace edgesplit::runtime {

using net::Clock;

namespace {
// The calling thread's CPU time: what a batch cost the worker, without the
// time the I/O thread (sharing its core) or anything else took it away.
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
}  // namespace

Status RequestLoop::CheckOptions(const LoopOptions& o) {
  if (o.lanes < 1) return InvalidArgument("a request loop needs at least one lane");
  if (o.max_batch < 1 || o.max_batch > 1024) return InvalidArgument("--max-batch must be in 1..1024");
  if (!(o.max_wait_s >= 0) || o.max_wait_s > 10) return InvalidArgument("--max-wait-ms must be in 0..10000");
  if (!(o.busy_poll_s >= 0) || o.busy_poll_s > 1) return InvalidArgument("--busy-poll-ms must be in 0..1000");
  if (o.queue_limit < 1) return InvalidArgument("--queue-limit must be at least 1");
  if (o.notice_limit < 0) return InvalidArgument("a request loop's notice limit must be >= 0");
  if (o.workers < 1 || o.workers > 64) return InvalidArgument("--workers must be in 1..64");
  if (o.workers > 1 && o.notice_limit > 0) return InvalidArgument("a request loop with notices has one worker");
  return Status::Ok();
}

RequestLoop::RequestLoop(const LoopOptions& options, Handler* handler)
    : options_(options), handler_(handler), queues_(static_cast<size_t>(options.lanes)),
      arrivals_(static_cast<size_t>(options.lanes)) {}

RequestLoop::~RequestLoop() { Stop(0, [] { return true; }); }

void RequestLoop::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_ || stopped_) return;
  started_ = true;
  for (int w = 0; w < options_.workers; ++w) workers_.emplace_back([this, w] { Work(w); });
}

Status RequestLoop::Enqueue(int lane, LoopRequest& p, uint32_t deadline_budget_us) {
  Status busy = Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || stopped_) {
      busy = Busy("shutting down");
    } else if (queued_ >= options_.queue_limit) {
      busy = Busy("queue full (" + std::to_string(queued_) + " requests, --queue-limit " +
                  std::to_string(options_.queue_limit) + ")");
    } else if (deadline_budget_us > 0) {
      // Expected wait: the work queued ahead (and batches running when no
      // worker is free), at the measured cost per request, shared by the workers.
      const int64_t ahead = queued_ + (running_ >= options_.workers ? options_.max_batch : 0);
      const double wait_s = static_cast<double>(ahead) * per_request_s_ / options_.workers;
      if (wait_s * 1e6 > deadline_budget_us)
        busy = Busy("cannot start within the deadline of " + std::to_string(deadline_budget_us) + " us (about " +
                    std::to_string(static_cast<int64_t>(wait_s * 1e6)) + " us of work queued)");
    }
    if (busy.ok()) {
      p.behind = queued_ > 0 || computing_ >= options_.workers;
      p.notice = false;
      NoteArrival(static_cast<size_t>(lane), p.received, p.behind);
      queues_[static_cast<size_t>(lane)].push_back(std::move(p));
      ++queued_;
    }
  }
  // One waiter may be a worker waiting for its batch to fill: with several
  // workers, wake them all so that an idle one takes the request.
  if (busy.ok()) options_.workers > 1 ? work_.notify_all() : work_.notify_one();
  return busy;
}

bool RequestLoop::EnqueueNotice(int lane, LoopRequest& p) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || notices_ >= options_.notice_limit) return false;
    p.notice = true;
    queues_[static_cast<size_t>(lane)].push_back(std::move(p));
    ++notices_;
  }
  work_.notify_one();
  return true;
}

void RequestLoop::NoteReceived() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_.received;
}

void RequestLoop::NoteRefused(const Status& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (s.code() == StatusCode::kBusy) ++counters_.busy;
  else ++counters_.errors;
}

RequestLoop::Load RequestLoop::NotePing() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_.pings;
  return {queued_, per_request_s_};
}

ServerCounters RequestLoop::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

bool RequestLoop::stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_ || stopped_;
}

// Under the mutex.
void RequestLoop::NoteArrival(size_t lane, Clock::time_point now, bool server_busy) {
  Arrivals& a = arrivals_[lane];
  a.busy_share = a.busy_share < 0 ? (server_busy ? 1.0 : 0.0) : 0.8 * a.busy_share + (server_busy ? 0.2 : 0.0);
  if (a.last != Clock::time_point{}) {
    const double gap = std::chrono::duration<double>(now - a.last).count();
    a.mean_gap_s = a.mean_gap_s == 0 ? gap : 0.8 * a.mean_gap_s + 0.2 * gap;
  }
  a.last = now;
}

// Waiting only pays when a companion is likely within max_wait_s: the lane's
// requests overlap (a good share of them arrive while the loop is busy: a
// lone device that waits for each reply never does, and would only be
// delayed) and arrive closer together than the wait. Under load batches
// still form without waiting, from what queued while the previous batch ran.
bool RequestLoop::ShouldWaitForMore(size_t lane) const {
  constexpr double kOverlapToWait = 0.25;
  if (!(options_.max_wait_s > 0) || arrivals_[lane].busy_share < kOverlapToWait) return false;
  return !(arrivals_[lane].mean_gap_s > options_.max_wait_s);  // unknown gap (0): wait
}

// Batching pays on some tails and costs on others: a small tail's kernels
// use the vector units better over several images (MobileNetV2-0.35 at 96 px,
// f32: 4,770 images/s alone, 6,560 in batches of 8 here), a large tail's
// activations spill out of the cache (MobileNetV2-1.0 at 224: 335 alone, 253
// in batches of 8). So each lane takes a batch only while its batches have
// cost less per request than its single runs (by kMustSave; the worker's CPU
// time, which the I/O thread's share of the core does not inflate); a lane that
// has not measured both tries each once, and every kExploreEvery-th choice
// goes the other way so that the figures follow the load. Only called with
// more than one request queued; under the mutex.
constexpr double kMustSave = 0.95;

int RequestLoop::AdaptiveBatchLimit(size_t lane) {
  constexpr int64_t kExploreEvery = 64;
  Arrivals& a = arrivals_[lane];
  if (!options_.adaptive_batching || options_.max_batch == 1) return options_.max_batch;
  if (a.single_s < 0) return 1;
  if (a.batched_s < 0) return options_.max_batch;
  const bool pays = BatchesMayPay(lane);
  const bool explore = ++a.choices % kExploreEvery == 0;
  if (pays == explore) ++counters_.batches_declined;
  return pays != explore ? options_.max_batch : 1;
}

// Whether batches may be cheaper per request than single runs on `lane`
// (always, unless adaptive and measured otherwise). Under the mutex.
bool RequestLoop::BatchesMayPay(size_t lane) const {
  const Arrivals& a = arrivals_[lane];
  return !options_.adaptive_batching || a.single_s < 0 || a.batched_s < 0 || a.batched_s < kMustSave * a.single_s;
}

// Under the mutex.
void RequestLoop::NoteCompute(size_t lane, int batch, double seconds_per_request) {
  double& average = batch == 1 ? arrivals_[lane].single_s : arrivals_[lane].batched_s;
  average = average < 0 ? seconds_per_request : 0.8 * average + 0.2 * seconds_per_request;
}

// The lane whose oldest request has waited longest, or -1.
int RequestLoop::OldestLane() const {
  int best = -1;
  for (size_t t = 0; t < queues_.size(); ++t)
    if (!queues_[t].empty() && (best < 0 || queues_[t].front().received < queues_[static_cast<size_t>(best)].front().received))
      best = static_cast<int>(t);
  return best;
}

// Looks at the queue until `ready` or busy_poll_s passed, the lock released
// between looks and the core yielded (the I/O thread that enqueues may share it).
void RequestLoop::PollForWork(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready) {
  const Clock::time_point until =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.busy_poll_s));
  do {
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  } while (!ready() && Clock::now() < until);
  if (queued_ + notices_ > 0) ++counters_.batches_polled;
}

void RequestLoop::Work(int worker) {
  std::vector<LoopRequest> batch, expired;
  const auto idle = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.idle_s));
  for (;;) {
    batch.clear();
    int lane = -1;
    bool notice = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto ready = [&] { return queued_ + notices_ > 0 || stopped_; };
      if (!ready() && options_.busy_poll_s > 0) PollForWork(lock, ready);
      if (options_.idle_s > 0) {
        if (!work_.wait_for(lock, idle, ready)) {
          lock.unlock();
          handler_->Idle();
          continue;
        }
      } else {
        work_.wait(lock, ready);
      }
      if (queued_ + notices_ == 0 && stopped_) return;
      lane = OldestLane();
      auto& q = queues_[static_cast<size_t>(lane)];
      notice = q.front().notice;
      if (notice) {
        batch.push_back(std::move(q.front()));
        q.pop_front();
        --notices_;
        ++running_;
      } else {
        const Clock::time_point until =
            q.front().received + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.max_wait_s));
        // A lone request waits for companions only where a batch may pay.
        const int limit = q.size() > 1 ? AdaptiveBatchLimit(static_cast<size_t>(lane))
                          : BatchesMayPay(static_cast<size_t>(lane)) ? options_.max_batch
                                                                     : 1;
        // Wait for the batch to fill, but never past the first request's wait.
        if (static_cast<int>(q.size()) < limit && ShouldWaitForMore(static_cast<size_t>(lane))) {
          ++counters_.batches_waited;
          work_.wait_until(lock, until, [&] { return static_cast<int>(q.size()) >= options_.max_batch || stopping_; });
        }
        const Clock::time_point now = Clock::now();
        while (!q.empty() && !q.front().notice && static_cast<int>(batch.size()) < limit) {
          batch.push_back(std::move(q.front()));
          q.pop_front();
          --queued_;
        }
        ++running_;
        ++computing_;
        // Requests whose deadline passed while they queued cannot start in time.
        for (LoopRequest& p : batch)
          if (p.deadline < now) expired.push_back(std::move(p));
        std::erase_if(batch, [](const LoopRequest& p) { return p.message.empty(); });
        counters_.busy += static_cast<int64_t>(expired.size());
      }
    }
    if (notice) {
      handler_->Notice(batch.front());
    } else {
      for (LoopRequest& p : expired) handler_->Expired(p);
      expired.clear();
      if (!batch.empty()) {
        const Clock::time_point t0 = Clock::now();
        const double cpu0 = ThreadCpuSeconds();
        const Status run = handler_->Compute(worker, lane, batch);
        const double compute_s = net::SecondsSince(t0), cpu_s = ThreadCpuSeconds() - cpu0;
        const int k = static_cast<int>(batch.size());
        BatchDone done;
        done.started = t0;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          const double sample = compute_s / k;
          per_request_s_ = per_request_s_ == 0 ? sample : 0.8 * per_request_s_ + 0.2 * sample;
          NoteCompute(static_cast<size_t>(lane), k, cpu_s / k);
          ++counters_.batch_sizes[k];
          done.queue_length = queued_;
          if (run.ok()) counters_.served += k;
          else counters_.errors += k;
          // Not computing from here: a device's next request, sent once it has
          // its reply, must not look as if it arrived while this batch ran.
          --computing_;
        }
        handler_->Finish(worker, lane, batch, run, done);
      } else {
        std::lock_guard<std::mutex> lock(mutex_);
        --computing_;
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
  }
}

void RequestLoop::Stop(double grace_s, const std::function<bool()>& drained) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopping_ = true;
    stop_deadline_ = net::DeadlineIn(grace_s);
  }
  work_.notify_all();
  const net::Deadline deadline = stop_deadline_.load();
  // Let the queue drain and the replies leave (bounded by the grace period).
  for (bool started = true;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      started = started_;
      if (!started || (queued_ + notices_ == 0 && running_ == 0 && drained())) break;
    }
    if (net::Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    for (auto& q : queues_) q.clear();
    queued_ = notices_ = 0;
  }
  work_.notify_all();
  for (std::thread& w : workers_)
    if (w.joinable()) w.join();
}

}  // namespace edgesplit::runtime
