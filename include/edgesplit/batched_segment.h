// BatchedSegment: one segment (e.g. the tail at a cut) ready to run batches of
// any size k <= max_batch, for an edge server that batches requests.
//
// How a batch of k runs: Create() prepares one SegmentExecutor per batch size
// in sizes() = the powers of two below max_batch, plus max_batch itself
// (max 8: 1, 2, 4, 8; max 6: 1, 2, 4, 6), each over WithBatch(graph, size).
//   * kSumOfSizes (the default): k runs as a sum of those sizes, largest
//     first (7 = 4 + 2 + 1), so no image is computed twice or wasted.
//   * kPadded: k runs on the smallest size >= k, padded with stale images
//     (5 runs as 8); one invocation, but up to twice the work.
// docs/benchmarks.md ("Batching") measures both for MobileNetV2-1.0 and
// ResNet50 tails: the sum is never slower there, so it is the default.
//
// Numerics: images never interact, so int8 outputs are bit-identical to a
// batch-1 run whatever k and the strategy; f32 outputs are within 1e-5
// relative (oneDNN may pick another blocking or GEMM order for another batch;
// the reference backend gives the same bits).
//
// Memory: arena_bytes() is every executor's activation arena plus kernel
// scratch (what the batch sizes cost beyond the weights). Weights are not
// copied (WithBatch borrows them), but a backend may pack them per executor
// (oneDNN's blocked layouts): that is not counted.
//
// Threads: one Run() at a time per object. Part of the portable core: no
// exceptions; Run() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "edgesplit/exec.h"
#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"
#include "edgesplit/status.h"

namespace edgesplit {

class BatchedSegment {
 public:
  enum class Strategy : uint8_t { kSumOfSizes, kPadded };

  // Nodes [begin, end) of `graph` (batch 1 on axis 0, as every model here),
  // for batches of 1..max_batch. The segment must have one input and one
  // output (true at any cut). `graph` and `backend` must outlive the object.
  // Errors: max_batch outside [1, 1024], a segment WithBatch or the backend
  // refuses (the Status names the node), no memory.
  static Result<std::unique_ptr<BatchedSegment>> Create(const Graph& graph, int begin, int end, const Backend& backend,
                                                        int max_batch, Strategy strategy = Strategy::kSumOfSizes);
  BatchedSegment(const BatchedSegment&) = delete;
  BatchedSegment& operator=(const BatchedSegment&) = delete;
  ~BatchedSegment();

  // Runs inputs.size() == outputs.size() == k images (1 <= k <= max_batch).
  // inputs[i] holds image i's input_bytes() (row-major, as a batch-1
  // SegmentExecutor takes them); outputs[i] receives its output_bytes(). The
  // buffers may not overlap. Errors: a bad k or a null pointer (nothing runs),
  // or a kernel's run-time error.
  Status Run(std::span<const void* const> inputs, std::span<void* const> outputs);

  int max_batch() const { return max_batch_; }
  Strategy strategy() const { return strategy_; }
  const std::vector<int>& sizes() const { return sizes_; }
  // Per image.
  int64_t input_bytes() const { return input_bytes_; }
  int64_t output_bytes() const { return output_bytes_; }
  // Sum of arena_bytes() + scratch_bytes() over the executors.
  int64_t arena_bytes() const { return arena_bytes_; }
  // How many executor invocations a batch of k takes (1 when padded).
  int InvocationsFor(int k) const;

 private:
  BatchedSegment() = default;
  // The executor to run next for `remaining` images: index into sizes_.
  int Pick(int remaining) const;

  struct Entry;
  std::vector<Entry> entries_;  // one per size, ascending
  std::vector<int> sizes_;
  int max_batch_ = 0;
  Strategy strategy_ = Strategy::kSumOfSizes;
  int64_t input_bytes_ = 0, output_bytes_ = 0, arena_bytes_ = 0;
};

}  // namespace edgesplit
