// BatchedSegment: executors for a few batch sizes; a batch of k runs as a sum
// of them or padded to one (see batched_segment.h).
#include "edgesplit/batched_segment.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace edgesplit {

struct BatchedSegment::Entry {
  std::unique_ptr<Graph> graph;  // WithBatch(source, size): the executor reads it
  std::unique_ptr<SegmentExecutor> executor;
};

BatchedSegment::~BatchedSegment() = default;

Result<std::unique_ptr<BatchedSegment>> BatchedSegment::Create(const Graph& graph, int begin, int end,
                                                               const Backend& backend, int max_batch,
                                                               Strategy strategy) {
  if (max_batch < 1 || max_batch > 1024)
    return InvalidArgument("max_batch " + std::to_string(max_batch) + " is not in [1, 1024]");
  std::unique_ptr<BatchedSegment> b(new BatchedSegment());
  b->max_batch_ = max_batch;
  b->strategy_ = strategy;
  for (int s = 1; s < max_batch; s *= 2) b->sizes_.push_back(s);
  b->sizes_.push_back(max_batch);
  for (int size : b->sizes_) {
    Entry e;
    ES_ASSIGN_OR_RETURN(Graph g, WithBatch(graph, size));
    e.graph = std::make_unique<Graph>(std::move(g));
    ES_ASSIGN_OR_RETURN(e.executor, SegmentExecutor::Create(*e.graph, begin, end, backend));
    const SegmentExecutor& ex = *e.executor;
    if (ex.num_inputs() != 1 || ex.num_outputs() != 1)
      return Unsupported("segment [" + std::to_string(begin) + ", " + std::to_string(end) + ") has " +
                         std::to_string(ex.num_inputs()) + " inputs and " + std::to_string(ex.num_outputs()) +
                         " outputs; batching needs one of each (a cut)");
    if (ex.input_bytes() % size != 0 || ex.output_bytes() % size != 0)
      return Internal("batch-" + std::to_string(size) + " tensors do not divide into images");
    b->input_bytes_ = ex.input_bytes() / size;
    b->output_bytes_ = ex.output_bytes() / size;
    b->arena_bytes_ += ex.arena_bytes() + ex.scratch_bytes();
    b->entries_.push_back(std::move(e));
  }
  return b;
}

int BatchedSegment::Pick(int remaining) const {
  const int n = static_cast<int>(sizes_.size());
  if (strategy_ == Strategy::kPadded) {
    for (int i = 0; i < n; ++i)
      if (sizes_[i] >= remaining) return i;
    return n - 1;
  }
  for (int i = n - 1; i > 0; --i)
    if (sizes_[i] <= remaining) return i;
  return 0;
}

int BatchedSegment::InvocationsFor(int k) const {
  int count = 0;
  for (int remaining = k; remaining > 0; ++count) remaining -= sizes_[Pick(remaining)];
  return count;
}

Status BatchedSegment::Run(std::span<const void* const> inputs, std::span<void* const> outputs) {
  const size_t k = inputs.size();
  if (k == 0 || k > static_cast<size_t>(max_batch_) || outputs.size() != k)
    return InvalidArgument("a batch of " + std::to_string(k) + " inputs and " + std::to_string(outputs.size()) +
                           " outputs; expected the same count in [1, " + std::to_string(max_batch_) + "]");
  for (size_t i = 0; i < k; ++i)
    if (!inputs[i] || !outputs[i]) return InvalidArgument("image " + std::to_string(i) + " has a null buffer");
  const size_t in_bytes = static_cast<size_t>(input_bytes_), out_bytes = static_cast<size_t>(output_bytes_);
  for (size_t done = 0; done < k;) {
    const int remaining = static_cast<int>(k - done);
    SegmentExecutor& ex = *entries_[Pick(remaining)].executor;
    const size_t run = std::min(static_cast<size_t>(remaining), static_cast<size_t>(ex.input_tensor().shape[0]));
    auto* in = static_cast<unsigned char*>(ex.input());
    for (size_t i = 0; i < run; ++i) ES_RETURN_IF_ERROR(ex.WriteInputImage(0, static_cast<int64_t>(i), inputs[done + i]));
    // Padding slots: zeros, not whatever the arena last held there (images
    // never mix, but stale bytes may be NaNs or denormals that slow kernels).
    const size_t slots = static_cast<size_t>(ex.input_tensor().shape[0]);
    if (run < slots) std::memset(in + run * in_bytes, 0, (slots - run) * in_bytes);
    ES_RETURN_IF_ERROR(ex.Invoke());
    const auto* out = static_cast<const unsigned char*>(ex.output());
    for (size_t i = 0; i < run; ++i) std::memcpy(outputs[done + i], out + i * out_bytes, out_bytes);
    done += run;
  }
  return Status::Ok();
}

}  // namespace edgesplit
