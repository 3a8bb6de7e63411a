// Static analysis of a model graph: per-layer cost, cut points, activation
// memory and natural bottlenecks. Everything the planner and the CLI's
// `inspect` report comes from here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

struct LayerStats {
  int64_t macs = 0;    // multiply-accumulates (conv, gemm, matmul, pooling sums)
  int64_t params = 0;  // elements of the node's learned constants
  int64_t weight_bytes_f32 = 0;
  int64_t weight_bytes_int8 = 0;  // int8 weights, int32 biases
  int64_t output_elements = 0;    // summed over the node's outputs
  int64_t output_bytes_f32 = 0;
  int64_t output_bytes_int8 = 0;
};

LayerStats ComputeLayerStats(const Graph& graph, int node_index);

// ---- Memory planning -------------------------------------------------------
// One buffer to place: `size` bytes live from step `first_use` to `last_use`
// (inclusive). Buffers whose lifetimes overlap never share bytes.
struct BufferRequest {
  int64_t size = 0;
  int first_use = 0;
  int last_use = 0;
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // one per request
  int64_t arena_bytes = 0;       // the high-water mark: the arena to allocate
};

// Greedy placement by decreasing size into the lowest gap that fits, as TFLite
// Micro's greedy planner does. Offsets are multiples of `alignment`.
MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests, int64_t alignment = 16);

// Byte size of one activation element when a graph runs in `compute_dtype`:
// float tensors take the compute dtype's size, 8-bit tensors (a quantized
// graph's) 1 byte, int32/int64 their own.
int64_t ActivationElementBytes(DType tensor_dtype, DType compute_dtype);

// The arena for running nodes [begin, end) in `compute_dtype`, holding the
// segment input from the first step and the segment output to the last.
struct SegmentMemory {
  std::vector<int> tensor_ids;    // the activation tensors placed
  std::vector<int64_t> offsets;   // matching tensor_ids
  int64_t arena_bytes = 0;
};
Result<SegmentMemory> PlanSegmentMemory(const Graph& graph, int begin, int end, DType compute_dtype);
// The same where some tensors are computed in place: each {tensor, over} of
// `in_place` gets the bytes of `over` (same size, produced inside the
// segment, last read by tensor's producer), which then stay reserved until
// tensor's last use. For kernels that write their output over an input (a
// conv fused with its residual Add, exec.h).
Result<SegmentMemory> PlanSegmentMemory(const Graph& graph, int begin, int end, DType compute_dtype,
                                        const std::vector<std::pair<int, int>>& in_place,
                                        const std::vector<std::pair<int, int>>& held_from = {},
                                        const std::vector<int>& unplaced = {});
// `held_from`: each {tensor, node} holds tensor's bytes from node `node` on
// (before its producer runs), so that they never share bytes with what
// nodes [node, producer] read: for a fused group that writes its last node's
// output while reading the first node's inputs (exec.h).
// `unplaced`: tensors that get no bytes (absent from tensor_ids): those a
// fused group passes between its own nodes, which its kernel never stores.

// ---- Cut points -------------------------------------------------------------
// Positions p in [0, nodes.size()] of the topological order where exactly one
// activation tensor is live: nodes [0, p) form the head, [p, end) the tail.
// Cut 0 is the model input, the last cut the model output.
struct CutPoint {
  int index = 0;     // cut number, 0-based
  int position = 0;  // number of nodes in the head
  int tensor = kNoTensor;
  std::string after;  // name of node position-1, or "input"
  std::vector<std::string> aliases;
  Shape shape;
  int64_t elements = 0;
  int64_t bytes_f32 = 0;
  int64_t bytes_int8 = 0;
  int64_t head_macs = 0;
  int64_t head_weight_bytes_f32 = 0;
  int64_t head_weight_bytes_int8 = 0;
  int64_t head_arena_bytes_f32 = 0;
  int64_t head_arena_bytes_int8 = 0;
  int64_t tail_arena_bytes_f32 = 0;
  int64_t tail_arena_bytes_int8 = 0;
  bool bottleneck_loose = false;   // fewer elements than the input
  bool bottleneck_strict = false;  // ... and than every earlier strict bottleneck
};

// Fails unless the graph has exactly one input and one output.
Result<std::vector<CutPoint>> FindCutPoints(const Graph& graph);

// A cut named by its index ("3"), "input", "output", or the name or alias of the
// node just before it. The error lists what would have been accepted.
Result<int> ResolveCut(const std::vector<CutPoint>& cuts, const std::string& spec);
// The same, and when `spec` names a layer that is not at a cut (inside a
// residual block), the error names the nearest cuts before and after it.
Result<int> ResolveCut(const Graph& graph, const std::vector<CutPoint>& cuts, const std::string& spec);
// The one cut-list parser (split, plan --split, eval --split): the cuts
// `specs` name (each as ResolveCut reads it), sorted into model order. Each
// must be strictly inside the model (not the input or the output cut) and
// named once; errors name the spec.
Result<std::vector<int>> ResolveInteriorCuts(const Graph& graph, const std::vector<CutPoint>& cuts,
                                             const std::vector<std::string>& specs);

struct ModelSummary {
  Shape input_shape;
  int64_t total_macs = 0;
  int64_t total_params = 0;
  int64_t total_weight_bytes_f32 = 0;
  int64_t total_weight_bytes_int8 = 0;
  std::vector<LayerStats> layers;  // one per node
};
ModelSummary Summarize(const Graph& graph);

}  // namespace edgesplit
