// The server's tails: the model's tail at every served cut, each prepared
// once for batches of 1..max_batch (BatchedSegment: executors for the powers of
// two below max_batch and max_batch itself), with output slots for a batch.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edgesplit/batched_segment.h"
#include "edgesplit/cost.h"
#include "edgesplit/exec.h"
#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"
#include "edgesplit/status.h"
#include "edgesplit/wire.h"
#include "messages.h"

namespace edgesplit::runtime {

class TailSet {
 public:
  // Loads `model` in `dtype`, selects the cuts (SelectServedCuts) and prepares
  // a tail per cut on `backend` for batches of up to `max_batch`.
  static Result<std::unique_ptr<TailSet>> Load(const std::string& model, const std::string& dtype,
                                               const std::string& cuts, const std::string& backend, int max_batch);

  // Another set of the same tails on the same graph (shared, read-only) with
  // executors of its own: what a second worker runs while the first does.
  Result<std::unique_ptr<TailSet>> Replica() const;

  size_t size() const { return tails_.size(); }
  const std::vector<int>& cuts() const { return cuts_; }
  uint32_t model_hash() const { return model_hash_; }
  const Graph& graph() const { return *graph_; }
  // The tail that starts at cut `cut_id`, or NotFound naming the served cuts.
  Result<int> Find(uint32_t cut_id) const;
  // Whether a request header and payload size fit tail `t`'s input (an
  // encoded payload, codec != raw, is sized by DecodeInput instead).
  Status CheckInput(int t, const wire::MessageHeader& h, size_t payload_bytes) const;
  // The admission checks of a decoded message: a tensor request for this
  // model (hash 0 or equal), a served cut, the tail's dtype, shape, size and
  // quantization. The tail to run, or an error naming what is wrong.
  Result<int> CheckRequest(const wire::MessageHeader& h, size_t payload_bytes) const;
  // Decodes request payload `payload` of codec h.codec (not raw) for tail `t`
  // into *out (the tail's input bytes) with the reference decoder
  // (DecodeCutTensor): the codec header must name h.codec and the tail's dtype,
  // element count and channel count (CodecChannels of the cut's shape). A
  // malformed payload is an InvalidArgument naming the problem.
  Status DecodeInput(int t, const wire::MessageHeader& h, std::span<const uint8_t> payload, std::vector<uint8_t>* out) const;
  size_t input_bytes(int t) const { return tails_[static_cast<size_t>(t)].input_bytes; }
  // Runs tail `t` on `inputs` (1..max_batch payloads of CheckInput'ed size).
  // Allocation-free; Output(t, i) then holds request i's result.
  Status Run(int t, std::span<const std::span<const uint8_t>> inputs);
  std::span<const uint8_t> Output(int t, int i) const;
  // dtype, shape and quantization of tail `t`'s output, for the reply header.
  wire::MessageHeader OutputHeader(int t) const;
  // The largest request message any tail accepts (header and CRC included).
  size_t max_request_bytes() const { return max_request_bytes_; }
  // The largest decoded input (what a queued encoded request holds besides its message).
  size_t max_input_bytes() const { return max_input_bytes_; }
  int64_t arena_bytes() const;
  // What tail `t` takes on `device` for one request (RangeSeconds): the
  // service time an emulated server holds a result to.
  double PredictedSeconds(int t, const DeviceProfile& device) const;

 private:
  struct Tail {
    int cut = 0;
    int begin = 0;  // the first node (the cut's position)
    const Tensor* input = nullptr;   // the cut tensor (in the graph)
    const Tensor* output = nullptr;  // the model output
    std::unique_ptr<BatchedSegment> segment;
    std::vector<uint8_t> outputs;  // max_batch slots of the output's bytes
    std::vector<const void*> in_ptrs;
    std::vector<void*> out_ptrs;
    size_t input_bytes = 0, output_bytes = 0;
  };
  Status PrepareTails();  // tails_ for cuts_ on graph_

  std::shared_ptr<const Graph> graph_;
  const Backend* backend_ = nullptr;
  std::vector<Tail> tails_;
  std::vector<int> cuts_;
  uint32_t model_hash_ = 0;
  size_t max_request_bytes_ = 0, max_input_bytes_ = 0;
  int max_batch_ = 1;
  int output_cut_ = 0;
};


// Whether a served result equals local inference: bit for bit, or for f32
// within 1e-5 of the reference's largest magnitude (a batched oneDNN primitive
// may block its sums differently: docs/serve.md). What loadgen and device check.
bool SameResult(std::span<const uint8_t> result, std::span<const uint8_t> reference, DType dtype);

// The nearest-rank percentile q in (0, 1] of `sorted` (ascending); 0 when empty.
double SortedPercentile(const std::vector<double>& sorted, double q);

}  // namespace edgesplit::runtime
