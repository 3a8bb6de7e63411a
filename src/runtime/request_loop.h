// The runtime's one request loop (private to src/runtime): what `serve`
// (EdgeServer) and the static chain's `node` both run on.
//
// Admission runs on the transport's I/O thread: the owner checks a message
// and calls Enqueue, which queues it on its lane (a served cut; a node has
// one) or says why not (BUSY: shutting down, the queue holds `queue_limit`
// requests, or the work queued ahead cannot finish before the request's
// deadline). A worker thread (`workers` of them, each with its own Handler
// state) takes the lane whose oldest request has waited longest, waits up to `max_wait_s` for companions when they are
// likely (arrivals that overlap), and pops up to `max_batch` requests; those
// whose deadline passed while they queued go to Handler::Expired, the rest
// to Handler::Compute (run, and hold to an emulated time) and then to
// Handler::Finish (where a finished request goes: EdgeServer replies to each
// sender, a node forwards to the next hop). A notice (EnqueueNotice) is a
// small message queued beyond the limit (a node's refusal that must still
// travel down its chain): the worker hands it to Handler::Notice in order.
// Stop() is the graceful shutdown: refuse new requests, finish the queued
// ones, and stop within the grace period.
//
// Workers (several: a server's cores run requests side by side where one
// request does not use them all, e.g. a small tail): every worker runs the
// same loop; the handler keeps what one batch needs per worker. Notices need
// one worker (a chain's order).
// A worker allocates nothing per request once its batch vectors have grown
// (requests are moved, not copied). Memory: at most queue_limit requests and
// notice_limit notices are queued at once; the owner states their bytes.
// Thread-safety: Enqueue*, the counters and Stop from any thread; the
// Handler's methods run on the worker threads, `worker` saying which.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "edgesplit/net.h"
#include "edgesplit/net_server.h"
#include "edgesplit/serve.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// One queued request: the whole wire message and where it came from.
struct LoopRequest {
  net::PeerId peer = 0;
  uint32_t request_id = 0;
  net::Clock::time_point received{}, deadline = net::Clock::time_point::max();
  std::vector<uint8_t> message;
  size_t payload_offset = 0;
  std::vector<uint8_t> decoded;  // an encoded request's tensor (codec != raw), decoded at admission
  bool behind = false;           // work was queued or running when it arrived (its wait is load)
  bool notice = false;           // queued by EnqueueNotice
  uint8_t tag = 0;               // the owner's (the loop never looks at it)
};

struct LoopOptions {
  int lanes = 1;
  int max_batch = 1;
  double max_wait_s = 0;   // how long the first request of a batch may wait for more
  int queue_limit = 1024;  // requests queued (all lanes together) before BUSY
  int notice_limit = 0;    // notices queued at once (beyond queue_limit)
  double idle_s = 0;       // > 0: Handler::Idle about this often while nothing is queued
  int workers = 1;         // worker threads (1..64; notice_limit > 0 needs 1)
  // Batches only where they are cheaper per image than single runs, as each
  // lane measures them (AdaptiveBatchLimit); false: always up to max_batch.
  bool adaptive_batching = false;
  // > 0: an idle worker polls the queue (yielding the core to the I/O
  // thread between looks) for up to this long before it sleeps. A sleeping
  // virtual core cools down (caches, the host gives it away), which doubles a
  // short inference's tail; polling trades an idle core for that tail.
  double busy_poll_s = 0;
};

// What a finished batch saw: when it started running and the queue then.
struct BatchDone {
  net::Clock::time_point started{};
  int64_t queue_length = 0;
};

class RequestLoop {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // Runs `batch` (1..max_batch requests of `lane`, no notices) and holds
    // the result to its emulated time; the results stay with the handler.
    virtual Status Compute(int worker, int lane, std::span<LoopRequest> batch) = 0;
    // Hands the batch on (replies, or forwards): `run` is Compute's status.
    virtual void Finish(int worker, int lane, std::span<LoopRequest> batch, const Status& run, const BatchDone& done) = 0;
    // A request whose deadline passed while it queued (counted BUSY).
    virtual void Expired(LoopRequest& request) = 0;
    virtual void Notice(LoopRequest& /*notice*/) {}
    virtual void Idle() {}
  };

  // Checks the options (Status: InvalidArgument naming the flag) and starts nothing yet.
  static Status CheckOptions(const LoopOptions& options);
  RequestLoop(const LoopOptions& options, Handler* handler);
  ~RequestLoop();  // Stop(0) if started and not stopped
  RequestLoop(const RequestLoop&) = delete;
  RequestLoop& operator=(const RequestLoop&) = delete;

  void Start();  // the worker threads; requests queued before them wait

  // Admission (any thread): moves `request` into `lane`'s queue, or leaves it
  // as it is and returns the BUSY status saying why it was refused.
  Status Enqueue(int lane, LoopRequest& request, uint32_t deadline_budget_us);
  // Queues a notice (request.notice is set) unless notice_limit are queued or
  // the loop has stopped; false then (the owner answers another way).
  bool EnqueueNotice(int lane, LoopRequest& notice);

  // Counting what the owner decides at admission.
  void NoteReceived();
  void NoteRefused(const Status& status);  // kBusy: busy, else errors
  struct Load {
    int64_t queued = 0;
    double per_request_s = 0;  // moving average of the compute time per request in a batch
  };
  Load NotePing();  // counts a ping and returns the load to answer it with
  ServerCounters counters() const;
  bool stopping() const;
  // The end of the grace period once Stop began (time_point::max() before):
  // a handler's waits (a forward) should not outlast it.
  net::Clock::time_point stop_deadline() const { return stop_deadline_.load(); }

  // Refuses new requests (BUSY), finishes the queued ones and notices, and
  // waits until `drained()` (the owner's replies have left) too, then stops
  // the worker, within `grace_s` (what is still queued then is dropped).
  // Idempotent.
  void Stop(double grace_s, const std::function<bool()>& drained);

 private:
  void Work(int worker);
  void NoteArrival(size_t lane, net::Clock::time_point now, bool server_busy);
  bool ShouldWaitForMore(size_t lane) const;
  int AdaptiveBatchLimit(size_t lane);
  bool BatchesMayPay(size_t lane) const;
  void NoteCompute(size_t lane, int batch, double seconds_per_request);
  int OldestLane() const;
  void PollForWork(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready);

  const LoopOptions options_;
  Handler* const handler_;
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::vector<std::deque<LoopRequest>> queues_;  // per lane
  // Per lane, what ShouldWaitForMore judges from: when its last request
  // arrived, and moving averages of the gap between arrivals (0: not known
  // yet) and of the share of arrivals that found the loop computing (-1: not
  // known yet).
  struct Arrivals {
    net::Clock::time_point last{};
    double mean_gap_s = 0, busy_share = -1;
    // The worker's CPU time per request of its single runs and of its batches
    // (moving averages; -1: not measured yet), and the choices AdaptiveBatchLimit made.
    double single_s = -1, batched_s = -1;
    int64_t choices = 0;
  };
  std::vector<Arrivals> arrivals_;
  int64_t queued_ = 0, notices_ = 0;
  bool started_ = false, stopping_ = false, stopped_ = false;
  int running_ = 0;    // workers holding a batch or notice (from taking it to its hand-over)
  int computing_ = 0;  // workers computing a batch
  double per_request_s_ = 0;
  ServerCounters counters_;
  std::atomic<net::Clock::time_point> stop_deadline_{net::Clock::time_point::max()};
  std::vector<std::thread> workers_;
};

}  // namespace edgesplit::runtime
