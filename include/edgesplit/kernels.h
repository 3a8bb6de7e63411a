// Kernel backends: how one graph node is computed.
//
// A backend works in two phases, as TensorFlow Lite Micro's kernels do:
//   * Prepare (once, at load): checks the node (dtypes, shapes, attributes),
//     resolves its attributes into a PreparedKernel and says how much scratch
//     memory Eval needs. Prepare may allocate; it reports every problem as a
//     Status naming the node.
//   * Eval (every invocation): computes the node's outputs from its inputs'
//     bytes. Eval never allocates, never throws, makes no OS call, and fails only
//     on bad run-time data (e.g. a Gather index out of range).
//
// The `reference` backend is plain portable C++ loops: it defines the numerics
// of every op (optimised backends must agree with it) and is the code a
// microcontroller would run. Its accumulation order is fixed, so a segment gives
// the same bits wherever it is cut.
//
// This module is part of the portable device-side core (no exceptions, no RTTI).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

inline constexpr int kMaxKernelRank = 8;

// How a tensor's bytes are ordered in the arena. Users always see row-major
// (NCHW for images: ONNX's order); a backend may keep a 4-D activation
// channels-last (NHWC, same size) between its own kernels. The executor
// transposes segment inputs/outputs at the boundary, so heads and tails of
// different backends interoperate.
enum class TensorLayout : uint8_t { kRowMajor, kChannelsLast };

// Shape and dtype of one node input or output, without heap storage.
struct TensorDesc {
  DType dtype = DType::kFloat32;
  int rank = 0;
  int64_t dims[kMaxKernelRank] = {};
  int64_t elements = 1;
  bool present = false;  // false for an omitted optional input
  TensorLayout layout = TensorLayout::kRowMajor;  // dims stay in ONNX order either way
};

// Backend-private state of one prepared kernel (e.g. oneDNN primitives and
// packed weights), destroyed with the kernel by the function the backend set.
struct KernelStateDeleter {
  void (*destroy)(void*) = nullptr;
  void operator()(void* state) const {
    if (destroy) destroy(state);
  }
};
using KernelState = std::unique_ptr<void, KernelStateDeleter>;

// A node after Prepare: everything Eval needs besides the tensors' bytes.
// `ints`/`floats` hold op-specific resolved attributes (layout private to the backend).
struct PreparedKernel {
  OpType op = OpType::kIdentity;
  int node_index = -1;
  std::vector<TensorDesc> inputs;
  std::vector<TensorDesc> outputs;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  FusedActivation activation;
  int64_t scratch_bytes = 0;  // Eval's `scratch` must hold this many bytes (16-byte aligned)
  KernelState state;          // empty for the reference backend; move-only
  // An int8 op of the quantized graph (TFLite integer arithmetic; see quant.h).
  bool quantized = false;
  // How many nodes this kernel computes, from node_index on: 1 for a plain
  // node; more for a fused group (Backend::PrepareFused), whose inputs and
  // outputs are then FusedTensors()'s; 0 for a node a fused group before it
  // computes (the executor skips it).
  int fused_nodes = 1;
  // A fused kernel that writes output 0 over this input's bytes (e.g. a conv
  // whose residual Add is oneDNN's sum post-op): the executor gives the two
  // the same memory, or does not fuse. -1: outputs never alias inputs.
  int in_place_input = -1;
};

// The tensors of a fused group over nodes [first, first + count): inputs are
// the nodes' inputs in order (kNoTensor kept) minus those the group itself
// produces; outputs, in node order, the outputs of earlier nodes that no later
// node of the group reads (e.g. the two halves of ShuffleNetV2's channel
// split), then the last node's outputs. The tensors passed between the
// nodes are never written: a fused kernel skips them.
void FusedTensors(const Graph& graph, int first, int count, std::vector<int>* inputs, std::vector<int>* outputs);
// The most nodes the executor asks a backend to fuse into one kernel
// (ShuffleNetV2's Concat, Reshape, Transpose, Reshape and two Slices).
inline constexpr int kMaxFusedNodes = 6;

// A backend is a name and two functions (as TFLite Micro's op registrations
// are): no virtual dispatch, so it crosses the no-RTTI boundary of the portable
// core cleanly. `context` is handed to both functions (backend-wide state).
class Backend {
 public:
  using PrepareFn = Status (*)(const void* context, const Graph& graph, int node_index, PreparedKernel* kernel);
  using EvalFn = Status (*)(const void* context, const PreparedKernel& kernel, const void* const* inputs,
                            void* const* outputs, void* scratch);
  using FuseFn = Status (*)(const void* context, const Graph& graph, int first, int count, PreparedKernel* kernel,
                            bool* fused);
  constexpr Backend(const char* name, PrepareFn prepare, EvalFn eval, const void* context = nullptr,
                    FuseFn fuse = nullptr)
      : name_(name), prepare_(prepare), eval_(eval), context_(context), fuse_(fuse) {}

  // "reference", "onednn".
  const char* name() const { return name_; }
  // Checks node `node_index` of `graph` (shapes inferred) and resolves it. On
  // failure the Status names the node, its op and the reason (e.g. an
  // unsupported dtype).
  Status Prepare(const Graph& graph, int node_index, PreparedKernel* kernel) const {
    return prepare_(context_, graph, node_index, kernel);
  }
  // Computes the outputs. `inputs[i]` points to input i's bytes (nullptr when
  // omitted), `outputs[i]` to output i's buffer; outputs never alias inputs
  // (but for a fused kernel's in_place_input).
  // `scratch` holds at least kernel.scratch_bytes.
  Status Eval(const PreparedKernel& kernel, const void* const* inputs, void* const* outputs, void* scratch) const {
    return eval_(context_, kernel, inputs, outputs, scratch);
  }
  // Optional cross-node fusion (e.g. a conv with the residual Add that reads
  // its output, as one oneDNN primitive). The caller (SegmentExecutor) asks
  // only for groups whose inner tensors are read inside the group alone and
  // are neither graph nor segment outputs, so a fusion never crosses a cut it
  // was asked to expose. On success `*fused` says whether the backend prepared
  // nodes [first, first + count) as one kernel (kernel->fused_nodes == count,
  // Eval then takes FusedTensors()'s pointers); false leaves `kernel` for the
  // per-node Prepare. A backend fuses only where the group's bytes equal the
  // nodes' run one by one, so split runs stay bit-identical to whole runs.
  Status PrepareFused(const Graph& graph, int first, int count, PreparedKernel* kernel, bool* fused) const {
    *fused = false;
    return fuse_ ? fuse_(context_, graph, first, count, kernel, fused) : Status::Ok();
  }
  bool can_fuse() const { return fuse_ != nullptr; }
  // The same backend with no fusion: every node its own kernel (tests compare
  // the two bit for bit; before/after benchmarks).
  constexpr Backend WithoutFusion() const { return Backend(name_, prepare_, eval_, context_); }

 private:
  const char* name_;
  PrepareFn prepare_;
  EvalFn eval_;
  const void* context_;
  FuseFn fuse_;
};

// The portable reference backend (a process-wide constant).
const Backend& ReferenceBackend();

// A backend by name ("reference", or a registered one such as "onednn");
// nullptr when unknown or not built.
const Backend* FindBackend(std::string_view name);

// Makes `backend` (which must live for the whole process) findable by name.
// For backends built outside the portable core; they register from a static
// initializer, so call it before main() or before any concurrent FindBackend.
// Returns false when the (small, fixed) registry is full or the name is taken.
bool RegisterBackend(const Backend* backend);
// A registered backend by name, or nullptr (FindBackend also knows "reference").
const Backend* FindRegisteredBackend(std::string_view name);

}  // namespace edgesplit
