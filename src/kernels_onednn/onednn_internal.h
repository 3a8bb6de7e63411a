// Internal to the oneDNN backend: which nodes run natively, the layout rule,
// and the per-kernel state Prepare builds and Eval executes.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"
#include "int8.h"

namespace edgesplit::onednn {

// How a node runs on oneDNN; kNone means the reference kernel runs it. kPool
// and kConcat also take int8 (bytes move); the k*Int8 kinds run the quantized
// graph's integer ops (see int8.h).
enum class NativeKind : uint8_t {
  kNone, kConv, kInnerProduct, kPool, kGlobalPool, kBinary, kConcat, kEltwise, kBatchNorm,
  kConvInt8, kInnerProductInt8, kAddInt8, kGlobalPoolInt8, kQuantizeInt8,
  kCopy,  // a Pad that pads nothing (fused_groups.cc)
  kReorder,  // a channel-group Reshape or a channel Slice (shuffle.cc)
};

// A pure function of the graph: Prepare and the layout rule must agree on it.
NativeKind Classify(const Graph& graph, int node_index);

// A node's work for the threading rule: multiply-accumulates of a conv or
// inner product, elements read and written for anything else.
int64_t NodeWork(const Graph& graph, const Node& node);

// The threading rule: a node whose work is below this runs on the calling
// thread alone (its primitive is made for one thread, and Eval drops the
// OpenMP cap to 1 around it): waking the pool and joining it costs more than
// a second core saves on it. A pure function of the graph, like the layouts.
inline constexpr int64_t kSerialWork = int64_t{1} << 17;

// The layout rule: a non-constant 4-D f32 or int8 activation (H*W > 1), not a graph
// output, whose producer (if any: a graph input has none) and every consumer
// are native nodes that accept channels-last, is kept channels-last (the
// executor transposes a channels-last graph input at the boundary: oneDNN's
// fast convs want NHWC on both sides, even for the 3-channel stem). Depends
// on the graph only, so every segment of a model sees the same layouts. A
// QuantizeLinear reads its f32 input row-major (it writes int8 channels-last).
bool KeepChannelsLast(const Graph& graph, int tensor);

// Where an execution argument's data is at Eval.
enum class ArgSource : uint8_t { kInput, kOutput, kScratch };
struct EvalArg {
  int slot;  // index into PrimitiveState::args
  ArgSource source;
  int index;  // input/output number
  int64_t offset = 0;  // bytes into the scratch buffer (kScratch)
  void* bound = nullptr;  // handle set last time (skip the call when unchanged)
};

// A pointwise int8 conv run in bands of rows (int8_band.cc): its primitive
// is made for `band` rows and executed `count` times, each thread with its own
// memory objects and its own slice of scratch (oneDNN's scratchpad and one
// band's int32 sums), requantizing each band while it is in cache.
struct BandPlan {
  int64_t band = 0, count = 0;  // rows per execution, executions (0: not banded)
  int64_t x_row_bytes = 0, y_row_bytes = 0, slice_bytes = 0;
  struct Slot {
    dnnl::stream stream;  // its own (a worker thread has no stream of its own to keep)
    std::vector<dnnl_exec_arg_t> args;
    std::vector<EvalArg> eval_args;
  };
  std::vector<Slot> slots;  // one per thread
};

struct PrimitiveState;

// An int8 conv run as one part per thread (RowParts, int8_band.cc): a
// pointwise conv too small for bands (its int32 sums fit in L2 whole), which
// oneDNN left at its one-thread speed (7x7 to 28x28 images), or a dense conv
// on one image (the stem, 3x3s), which oneDNN split otherwise than the
// requantization pass after it. Each part is the same conv made for one
// thread and its own run of rows (a dense conv's padded only at the image's
// edges), its sums in its own slice of scratch, requantized by the thread
// that computed them; nested OpenMP regions inside run on that thread. The
// sums are exact integers whatever the split, so the bytes are the whole
// conv's.
struct RowPart {
  int64_t x_offset = 0, y_offset = 0, scratch_offset = 0;  // bytes into x, y and the kernel's scratch
  std::unique_ptr<PrimitiveState> state;
  dnnl::stream stream;  // its own: the thread that runs it has no stream of its own to keep
};

// A one-input one-output primitive run before or after the main one: a
// reorder (a conv on copies of its input and output in scratch in the layout
// oneDNN picked) or an in-place eltwise (HardSigmoid's clip); primitives.cc.
struct SideStep {
  dnnl::primitive primitive;
  dnnl::memory from, to;
  EvalArg from_at, to_at;  // where their data is at Eval (`slot` unused)
  int from_arg = DNNL_ARG_FROM, to_arg = DNNL_ARG_TO;
};

// One prepared oneDNN primitive with its memory objects.
struct PrimitiveState {
  dnnl::primitive primitive;
  std::vector<dnnl::memory> memories;  // owns every memory object (packed weights included)
  std::vector<dnnl_exec_arg_t> args;   // C handles of `memories`, as dnnl_primitive_execute takes them
  std::vector<EvalArg> eval_args;      // the arguments pointed at the arena/scratch per Eval
  std::string implementation;
  int64_t scratchpad_bytes = 0;
  // Integer work after (or instead of) the primitive: requantization of its
  // int32 accumulators, or a whole int8 op run by edgesplit's own loops.
  Int8Stage int8;
  BandPlan bands;
  std::vector<SideStep> before, after;  // run around `primitive`, in order
  bool serial = false;  // NodeWork < kSerialWork: runs on the calling thread
  std::vector<RowPart> parts;  // non-empty: run these, one per thread, instead of `primitive`
  // Eltwise post-ops appended after the conv's own (a fused group: the
  // Sigmoid, HardSwish, HardSigmoid or SiLU after it; fused_groups.cc).
  dnnl::post_ops tail;
  // A group computed by edgesplit's own loop instead of `primitive` (set:
  // Eval calls it alone, with the node's scratch of `scratchpad_bytes`), with
  // its per-group constants.
  void (*custom)(const PrimitiveState& state, const void* const* inputs, void* const* outputs, void* scratch) = nullptr;
  // An edgesplit loop run after `primitive` (and its side steps), in place on
  // the output: MobileNetV3's HardSigmoid + Mul after a conv (fused_groups.cc).
  void (*then)(const PrimitiveState& state, const void* const* inputs, void* const* outputs) = nullptr;
  std::vector<float> custom_constants;
  std::vector<int64_t> custom_sizes;
  // Large constants a custom loop streams (gemv.cc's packed weights on 2 MiB
  // pages, winograd.cc's transformed ones), freed with std::free.
  std::unique_ptr<float, void (*)(void*)> custom_buffer{nullptr, std::free};

  // A memory object for `arg` whose data is given at Eval.
  void BindAtEval(int arg, const dnnl::memory::desc& md, ArgSource source, int index, const dnnl::engine& engine,
                  int64_t offset = 0);
  // A memory object for `arg` that owns its data (e.g. reordered weights).
  void BindOwned(int arg, dnnl::memory memory);
  // Sets the primitive and binds the user-managed scratchpad it asks for.
  void Finish(const dnnl::primitive_desc_base& pd, const dnnl::engine& engine);
};

// The arena view of a tensor (dims in ONNX order, row-major or NHWC strides)
// with element type `type`.
dnnl::memory::desc ActivationDesc(const TensorDesc& d, dnnl::memory::data_type type);
// The same with the tensor's own dtype (f32, int8 or int32).
dnnl::memory::desc ActivationDesc(const TensorDesc& d);

// The process-wide CPU engine (created on first use; throws dnnl::error).
const dnnl::engine& Engine();

// Builds the primitive for a node Classify() accepted. `k` has its tensor
// descriptors (with layouts) filled. Throws dnnl::error when oneDNN refuses.
void BuildPrimitive(NativeKind kind, const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state);

// A conv fused with the residual Add that reads its output (f32; `k` has
// FusedTensors()'s descriptors: the conv's inputs, the Add's other operand,
// the Add's output). Throws dnnl::error when the pair does not fuse with the
// bytes of the unfused pair (the executor then prepares them one by one).
void BuildConvAdd(const Graph& graph, const Node& conv, const Node& add, const PreparedKernel& k, PrimitiveState* state);

// The sweep's fused groups (fused_groups.cc). ClassifyPad: kCopy for a Pad
// that pads nothing (f32, 4-D), else kNone. MatchGroup: which group nodes
// [first, first + count) form (a pure function of the graph; kNone: none).
// BuildGroup: `k` has FusedTensors()'s descriptors; throws dnnl::error when
// the group would not give its nodes' bytes (the executor then prepares them
// one by one).
enum class GroupKind : uint8_t { kNone, kConvTail, kPadPool, kConcatNorm, kShuffle, kConvHardSwish, kHardSwish, kConvIntoConcat };
NativeKind ClassifyPad(const Graph& graph, const Node& node);
void BuildCopy(const PreparedKernel& k, PrimitiveState* state);
GroupKind MatchGroup(const Graph& graph, int first, int count);
void BuildGroup(GroupKind kind, const Graph& graph, int first, int count, const PreparedKernel& k, PrimitiveState* state);

// ShuffleNetV2's channel shuffle (shuffle.cc). ClassifyShape: kReorder for an
// f32 Reshape between [N,C,H,W] and [N,a,b,H,W] (a*b = C) or an f32 Slice of
// a 4-D tensor's channels alone, else kNone. BuildReorder: such a node as a
// oneDNN reorder between its layouts. MatchShuffle: nodes [first, first +
// count) are Concat (channels) -> Reshape -> Transpose(0,2,1,3,4) -> Reshape
// (count 4), then two channel Slices of its output (count 6), their outer
// tensors on one layout. BuildShuffle: that group as one permutation pass.
NativeKind ClassifyShape(const Graph& graph, const Node& node);
void BuildReorder(const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state);
// A reorder from input 0's bytes in `from` to output 0's in `to` (BuildCopy's too).
void BuildReorderBetween(const dnnl::memory::desc& from, const dnnl::memory::desc& to, PrimitiveState* state);
bool MatchShuffle(const Graph& graph, int first, int count);
void BuildShuffle(const Graph& graph, int first, int count, const PreparedKernel& k, PrimitiveState* state);
// A Concat on channels of channels-last f32 or int8 tensors as edgesplit's
// copy loop (concat.cc): true when `state` is built for it, false for any
// other Concat (oneDNN's concat primitive runs it then).
bool BuildChannelsConcat(const Node& node, const PreparedKernel& k, PrimitiveState* state);
// A conv whose output only the Concat on channels after it reads (f32,
// channels-last), where the conv runs on copies in scratch (Winograd:
// SqueezeNet's expand3x3): its output copy is reordered straight into its
// channels of the Concat's output and the loop copies the other inputs'.
// BuildConvIntoConcat throws dnnl_unimplemented unless the conv gets the
// implementation it gets alone (a direct conv on a strided destination gets
// oneDNN 2.6's reference kernel).
bool MatchConvIntoConcat(const Graph& graph, int first);
void BuildConvIntoConcat(const Graph& graph, int first, const PreparedKernel& k, PrimitiveState* state);
// An f32 conv (`k`: its own descriptors) on copies in scratch whose output
// copy is reordered into `dst_view` (primitives.cc; throws
// dnnl_unimplemented for a conv that would write it directly).
void BuildConvInto(const Graph& graph, const Node& conv, const PreparedKernel& k, const dnnl::memory::desc& dst_view,
                   PrimitiveState* state);

// An f32 Gemm / MatMul with at most kStreamingGemmMaxRows rows as edgesplit's
// weight-streaming loop (gemv.cc; AVX-512): true when `state` is built for it
// (weights packed into panels), false for any other (oneDNN's inner product
// runs it then). Each image's outputs do not depend on the row count (batch N
// gives batch 1's bytes). The limit is measured: above it oneDNN's inner
// product is faster (docs/benchmarks.md, "Weight-streaming Gemm pass").
inline constexpr int64_t kStreamingGemmMaxRows = 8;
bool BuildStreamingGemm(const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state);

// An f32 3x3 stride-1 conv on channels-last tensors whose groups have
// multiples of 16 input and output channels, as edgesplit's Winograd
// F(4x4, 3x3) loop (winograd.cc; AVX-512) where it beats oneDNN's kernels
// (measured; a pure function of the node, so split and whole runs take the
// same kernel): true when `state` is built for it, false for any other conv.
// With `y_pixel_floats` > 0 the output is written at channel `y_channel` of
// a wider channels-last tensor (its Concat's) of that many channels a pixel.
bool BuildWinograd(const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state,
                   int64_t y_channel = 0, int64_t y_pixel_floats = 0);
// Whether BuildWinograd takes the conv alone (`k`: its input 0 and output 0
// are the conv's): a conv fused with a neighbour must then stay apart, or
// the pair would give other bytes than the split run of the two.
bool WinogradRuns(const Graph& graph, const Node& node, const PreparedKernel& k);

// The int8 parts (int8_build.cc): the requantization of a conv / inner
// product (bias folded with the input zero point when `fold_zero_point`),
// and the int8 ops run by edgesplit's loops. Throw dnnl::error(dnnl_unimplemented)
// for a configuration they do not take (the node then falls back).
void PrepareRequant(const Graph& graph, const Node& node, const PreparedKernel& k, int weight_axis, bool fold_zero_point,
                    Int8Stage* stage);
void BuildInt8Loop(NativeKind kind, const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state);
// An int8 depthwise conv with channels-last x and y runs edgesplit's own
// kernel (int8_depthwise.cc): true when `state` is built for it, false when
// the conv is not one it takes (BuildConv's oneDNN primitive runs it then).
bool BuildDepthwiseInt8(const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state);

// Banded pointwise int8 convs (int8_band.cc). BandRows: rows per band for
// this conv (0: run it whole), for `threads` threads. SplitIntoBands: after
// the primitive for `band` rows is finished (accumulators bound), gives each
// thread its memory objects, stream and scratch slice. RunBands: false when
// oneDNN failed.
int64_t BandRows(const Graph& graph, const Node& node, const PreparedKernel& k, int threads);
void SplitIntoBands(const PreparedKernel& k, int64_t band, int threads, PrimitiveState* state);
bool RunBands(PrimitiveState& state, const void* const* inputs, void* const* outputs, void* scratch);
// RowParts: how many runs of rows to split an int8 conv into for `threads`
// threads (0: do not split; `band` is BandRows's answer). The caller builds
// each part (primitives.cc) and the backend runs them in one OpenMP region.
int64_t RowParts(const Graph& graph, const Node& node, const PreparedKernel& k, int threads, int64_t band);
// The pixel rows of a channels-last 1x1 stride-1 unpadded conv (a GEMM over
// them), or 0 for any other conv.
int64_t PointwiseRows(const Graph& graph, const Node& node, const PreparedKernel& k);

}  // namespace edgesplit::onednn
