// The segment executor: compile a segment once, invoke it many times.
//
// A segment is nodes [begin, end) of a graph (the whole model is [0, nodes.size())).
// Create() checks every node with the backend, prepares its kernels, plans the
// activations into one arena with PlanSegmentMemory (the same figure `inspect`
// reports) and allocates that arena and the backends' scratch once. Invoke()
// allocates nothing: it runs each node's Eval over arena and weight pointers.
//
// Split equivalence: head [0, p) then tail [p, end) on the same graph give the
// same bits as [0, end), since each node runs the same kernel on the same bytes.
//
// Fusion: where the backend fuses a group of 2 to kMaxFusedNodes consecutive
// nodes (Backend::PrepareFused, e.g. a conv and the residual Add after it, a
// conv and the Sigmoid and Mul of its SiLU, or ShuffleNetV2's channel shuffle
// and split), the group runs as one kernel, unless a tensor between them is a
// segment output (a cut there runs them apart) or the arena plan gives one of
// the group's outputs the bytes of a tensor it reads.
// A backend fuses only where the bytes equal the unfused nodes'. The tensors
// a group passes between its own nodes get no arena bytes (no fused kernel
// stores them), which helps a fused group's plan fit in the arena.
//
// Layouts: a backend may keep activations channels-last (TensorDesc::layout);
// the layout of a tensor is a property of the graph, not of the segment. Users
// always see row-major (NCHW) bytes at input()/output(): Invoke() transposes
// channels-last segment inputs in place before the first node and outputs after
// the last one, through the scratch buffer (which is sized for it). Transposes
// move bytes, so splits stay exact and the arena stays PlanSegmentMemory's.
//
// Part of the portable device-side core (no exceptions, no RTTI).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"
#include "edgesplit/status.h"

namespace edgesplit {

class SegmentExecutor {
 public:
  // `graph` (shapes inferred) and `backend` must outlive the executor: weights
  // are read in place from the graph's constant tensors. Fails, naming the node,
  // when a node is not supported by the backend. `compute_dtype` is the arena
  // dtype PlanSegmentMemory uses (f32 now).
  static Result<std::unique_ptr<SegmentExecutor>> Create(const Graph& graph, int begin, int end,
                                                         const Backend& backend,
                                                         DType compute_dtype = DType::kFloat32);
  SegmentExecutor(const SegmentExecutor&) = delete;
  SegmentExecutor& operator=(const SegmentExecutor&) = delete;

  // Segment inputs: the graph inputs when begin is 0, else the activations live
  // at `begin`: one at a cut, more inside a residual block (match a head's
  // outputs to a tail's inputs by tensor name). Write their bytes before Invoke().
  int num_inputs() const { return static_cast<int>(input_ids_.size()); }
  void* input(int i = 0) { return tensor_ptr_[input_ids_[i]]; }
  const Tensor& input_tensor(int i = 0) const { return graph_->tensors[input_ids_[i]]; }
  int64_t input_bytes(int i = 0) const { return TensorBytes(input_ids_[i]); }

  // Segment outputs: the graph outputs when end is nodes.size(), else the
  // activations still needed at `end`. Valid after Invoke() until the next one.
  int num_outputs() const { return static_cast<int>(output_ids_.size()); }
  const void* output(int i = 0) const { return tensor_ptr_[output_ids_[i]]; }
  const Tensor& output_tensor(int i = 0) const { return graph_->tensors[output_ids_[i]]; }
  int64_t output_bytes(int i = 0) const { return TensorBytes(output_ids_[i]); }

  // Writes image `image` (0..N-1 of the input's batch) of segment input `i`
  // from row-major (NCHW) bytes, straight into the layout the backend keeps
  // the input in: a caller whose bytes are elsewhere (a request's buffer)
  // saves the copy into input() and Invoke()'s in-place conversion of it.
  // Once one image of input i is written this way, the next Invoke() takes
  // all of input i as converted: write its other images this way too, or
  // zeros. Allocation-free; InvalidArgument for an index out of range.
  Status WriteInputImage(int i, int64_t image, const void* row_major);

  // Runs every node of the segment. Allocates nothing; fails only on bad
  // run-time data (the Status names the node).
  Status Invoke();
  // Runs the segment's nodes [first, last) (relative to begin): for per-layer
  // timing. first == 0 converts the inputs (so call it once per fresh input) and
  // last == num_nodes() the outputs, as Invoke() does. A fused group runs
  // whole with its first node (its other nodes then take no time).
  Status InvokeNodes(int first, int last);

  int begin() const { return begin_; }
  int end() const { return end_; }
  int num_nodes() const { return end_ - begin_; }
  const Node& node(int i) const { return graph_->nodes[begin_ + i]; }
  const Backend& backend() const { return *backend_; }
  // Node i's prepared kernel (relative to begin): kernel(i).fused_nodes > 1
  // for the first node of a fused group, 0 for the nodes that group computes.
  const PreparedKernel& kernel(int i) const { return kernels_[i]; }
  // The activation arena: equals PlanSegmentMemory(...).arena_bytes.
  int64_t arena_bytes() const { return arena_bytes_; }
  // Backend scratch memory, allocated apart from the arena.
  int64_t scratch_bytes() const { return scratch_bytes_; }

 private:
  SegmentExecutor() = default;
  int64_t TensorBytes(int id) const;

  const Graph* graph_ = nullptr;
  const Backend* backend_ = nullptr;
  int begin_ = 0, end_ = 0;
  std::vector<int> input_ids_, output_ids_;
  std::vector<PreparedKernel> kernels_;
  std::vector<void*> tensor_ptr_;            // per tensor id: arena slot or constant data
  std::vector<const void*> node_inputs_;     // flattened per-node input pointers
  std::vector<void*> node_outputs_;          // flattened per-node output pointers
  std::vector<size_t> input_offset_, output_offset_;  // per node, into the flattened arrays
  // A channels-last segment input/output: transposed to/from NCHW at the boundary.
  struct BoundaryTranspose {
    unsigned char* data;
    int64_t n, c, hw;
    int64_t element_bytes;  // 4 (f32) or 1 (int8)
    bool converted = false;  // inputs: written channels-last by WriteInputImage since the last Invoke
  };
  std::vector<BoundaryTranspose> inputs_to_channels_last_, outputs_to_row_major_;
  std::unique_ptr<unsigned char[]> arena_storage_, scratch_storage_;
  unsigned char* arena_ = nullptr;
  unsigned char* scratch_ = nullptr;
  int64_t arena_bytes_ = 0, scratch_bytes_ = 0;
};

}  // namespace edgesplit
