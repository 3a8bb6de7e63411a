// Internal to the oneDNN backend: which nodes run natively, the layout rule,
// and the per-kernel state Prepare builds and Eval executes.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/kernels.h"

namespace edgesplit::onednn {

// How a node runs on oneDNN; kNone means the reference kernel runs it.
enum class NativeKind : uint8_t { kNone, kConv, kInnerProduct, kPool, kGlobalPool, kBinary, kConcat, kEltwise };

// A pure function of the graph: Prepare and the layout rule must agree on it.
NativeKind Classify(const Graph& graph, int node_index);

// The layout rule: a non-constant 4-D f32 activation (H*W > 1), not a graph
// output, whose producer (if any: a graph input has none) and every consumer
// are native nodes that accept channels-last, is kept channels-last (the
// executor transposes a channels-last graph input at the boundary: oneDNN's
// fast convs want NHWC on both sides, even for the 3-channel stem). Depends
// on the graph only, so every segment of a model sees the same layouts.
bool KeepChannelsLast(const Graph& graph, int tensor);

// Where an execution argument's data is at Eval.
enum class ArgSource : uint8_t { kInput, kOutput, kScratch };
struct EvalArg {
  int slot;  // index into PrimitiveState::args
  ArgSource source;
  int index;  // input/output number
  void* bound = nullptr;  // handle set last time (skip the call when unchanged)
};

// One prepared oneDNN primitive with its memory objects.
struct PrimitiveState {
  dnnl::primitive primitive;
  std::vector<dnnl::memory> memories;  // owns every memory object (packed weights included)
  std::vector<dnnl_exec_arg_t> args;   // C handles of `memories`, as dnnl_primitive_execute takes them
  std::vector<EvalArg> eval_args;      // the arguments pointed at the arena/scratch per Eval
  std::string implementation;
  int64_t scratchpad_bytes = 0;

  // A memory object for `arg` whose data is given at Eval.
  void BindAtEval(int arg, const dnnl::memory::desc& md, ArgSource source, int index, const dnnl::engine& engine);
  // A memory object for `arg` that owns its data (e.g. reordered weights).
  void BindOwned(int arg, dnnl::memory memory);
  // Sets the primitive and binds the user-managed scratchpad it asks for.
  void Finish(const dnnl::primitive_desc_base& pd, const dnnl::engine& engine);
};

// The process-wide CPU engine (created on first use; throws dnnl::error).
const dnnl::engine& Engine();

// Builds the primitive for a node Classify() accepted. `k` has its tensor
// descriptors (with layouts) filled. Throws dnnl::error when oneDNN refuses.
void BuildPrimitive(NativeKind kind, const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state);

}  // namespace edgesplit::onednn
