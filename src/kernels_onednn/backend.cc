// The oneDNN backend: Prepare builds a primitive for each native node (or
// defers to the reference kernel), Eval points the memory objects at the
// arena and executes through oneDNN's C API (its C++ execute() builds a map).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "edgesplit/onednn.h"
#include "onednn_internal.h"

namespace edgesplit {
namespace {

using onednn::PrimitiveState;
using onednn::NativeKind;

std::atomic<int> g_threads{0};  // 0: OpenMP's default (all cores)

// OpenMP's own default, read before edgesplit first changes the cap.
int DefaultThreads() {
  static const int threads = omp_get_max_threads();
  return threads;
}

// OpenMP's thread count is per calling thread: apply the cap wherever oneDNN
// runs; a serial node (the threading rule, onednn_internal.h) gets 1.
void ApplyThreads(bool serial = false) {
  const int cap = g_threads.load(std::memory_order_relaxed);
  const int want = serial ? 1 : cap > 0 ? cap : DefaultThreads();
  if (omp_get_max_threads() != want) omp_set_num_threads(want);
}

// One stream per thread (a stream is not meant to be shared across threads).
dnnl_stream_t ThreadStream() {
  thread_local dnnl_stream_t stream = nullptr;
  if (!stream && dnnl_stream_create(&stream, onednn::Engine().get(), dnnl_stream_default_flags) != dnnl_success)
    stream = nullptr;
  return stream;
}

Status NodeFail(const Node& node, const std::string& message) {
  return Unsupported("node '" + node.name + "' (" + OpTypeName(node.op) + "): " + message);
}

bool IsFloatNode(const Graph& graph, const Node& node) {
  for (const std::vector<int>* v : {&node.inputs, &node.outputs})
    for (int t : *v)
      if (t != kNoTensor && graph.tensors[t].dtype != DType::kFloat32) return false;
  return true;
}

void DestroyState(void* state) { delete static_cast<PrimitiveState*>(state); }

Status Describe(const Graph& graph, int tensor, TensorDesc* d) {
  if (tensor == kNoTensor) return Status::Ok();
  const Tensor& t = graph.tensors[tensor];
  if (t.shape.size() > kMaxKernelRank) return Unsupported("tensor '" + t.name + "' has too many dims");
  d->dtype = t.dtype;
  d->rank = static_cast<int>(t.shape.size());
  for (int i = 0; i < d->rank; ++i) d->dims[i] = t.shape[i];
  d->elements = t.num_elements();
  d->present = true;
  if (!t.is_constant && onednn::KeepChannelsLast(graph, tensor)) d->layout = TensorLayout::kChannelsLast;
  return Status::Ok();
}

bool AnyChannelsLast(const PreparedKernel& k) {
  for (const std::vector<TensorDesc>* v : {&k.inputs, &k.outputs})
    for (const TensorDesc& d : *v)
      if (d.layout == TensorLayout::kChannelsLast) return true;
  return false;
}

Status PrepareOneDnn(const void* /*context*/, const Graph& graph, int node_index, PreparedKernel* k) {
  const Node& node = graph.nodes[node_index];
  const NativeKind kind = onednn::Classify(graph, node_index);
  if (kind == NativeKind::kNone) return ReferenceBackend().Prepare(graph, node_index, k);
  // An int8 node is checked as the reference checks it (same errors, and the
  // constants derived below can trust the quantization parameters).
  const bool int8 = !IsFloatNode(graph, node);
  if (int8) ES_RETURN_IF_ERROR(ReferenceBackend().Prepare(graph, node_index, k));
  *k = PreparedKernel();
  k->quantized = int8 && kind != NativeKind::kPool && kind != NativeKind::kConcat && kind != NativeKind::kQuantizeInt8;
  k->op = node.op;
  k->node_index = node_index;
  k->activation = node.activation;
  k->inputs.resize(node.inputs.size());
  k->outputs.resize(node.outputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) ES_RETURN_IF_ERROR(Describe(graph, node.inputs[i], &k->inputs[i]));
  for (size_t i = 0; i < node.outputs.size(); ++i) ES_RETURN_IF_ERROR(Describe(graph, node.outputs[i], &k->outputs[i]));
  auto state = std::make_unique<PrimitiveState>();
  state->serial = onednn::NodeWork(graph, node) < onednn::kSerialWork;
  ApplyThreads(state->serial);  // primitives pick their blocking for the thread count
  try {
    if (!ThreadStream()) {
      ApplyThreads();
      return Internal("cannot create a oneDNN stream");
    }
    onednn::BuildPrimitive(kind, graph, node, *k, state.get());
    ApplyThreads();
  } catch (const dnnl::error& e) {
    ApplyThreads();
    // A configuration oneDNN refuses: the reference kernel can take it as long
    // as no neighbour expects channels-last bytes from this node.
    if (!AnyChannelsLast(*k)) return ReferenceBackend().Prepare(graph, node_index, k);
    return NodeFail(node, std::string("oneDNN cannot run it: ") + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::bad_alloc&) {
    ApplyThreads();
    return NodeFail(node, "out of memory while preparing its oneDNN primitive");
  }
  if (state->serial) state->implementation += " on the calling thread";
  k->scratch_bytes = state->scratchpad_bytes;
  k->state = KernelState(state.release(), KernelStateDeleter{DestroyState});
  return Status::Ok();
}

// Nodes [first, first + count) prepared as one kernel that `build` makes
// (FusedTensors()'s descriptors); a dnnl::error from it leaves them unfused.
template <typename Build>
Status PrepareGroup(const Graph& graph, int first, int count, int in_place_input, const Build& build, PreparedKernel* k,
                    bool* fused) {
  const Node& head = graph.nodes[first];
  PreparedKernel f;
  f.op = head.op;
  f.node_index = first;
  f.activation = head.activation;
  f.fused_nodes = count;
  f.in_place_input = in_place_input;
  std::vector<int> ins, outs;
  FusedTensors(graph, first, count, &ins, &outs);
  f.inputs.resize(ins.size());
  f.outputs.resize(outs.size());
  for (size_t i = 0; i < ins.size(); ++i) ES_RETURN_IF_ERROR(Describe(graph, ins[i], &f.inputs[i]));
  for (size_t i = 0; i < outs.size(); ++i) ES_RETURN_IF_ERROR(Describe(graph, outs[i], &f.outputs[i]));
  auto state = std::make_unique<PrimitiveState>();
  state->serial = onednn::NodeWork(graph, head) < onednn::kSerialWork;
  ApplyThreads(state->serial);
  try {
    build(f, state.get());
    ApplyThreads();
  } catch (const dnnl::error&) {
    ApplyThreads();
    return Status::Ok();  // not fused: the executor prepares the nodes one by one
  } catch (const std::bad_alloc&) {
    ApplyThreads();
    return NodeFail(head, "out of memory while preparing its oneDNN primitive");
  }
  if (state->serial) state->implementation += " on the calling thread";
  f.scratch_bytes = state->scratchpad_bytes;
  f.state = KernelState(state.release(), KernelStateDeleter{DestroyState});
  *k = std::move(f);
  *fused = true;
  return Status::Ok();
}

// A conv and the residual Add that reads its output (nodes first, first + 1),
// as one primitive with the Add as a sum post-op writing over the Add's other
// operand (in place): ResNet's Adds then cost no pass of their own over the
// tensors (0.8 of 32 ms on ResNet50, 1 thread).
// Not fused (and prepared node by node) unless the conv is f32 and native,
// the Add adds two same-shape tensors in one layout, and oneDNN runs the pair
// with the conv's own implementation (BuildConvAdd).
// The other groups (a conv and its eltwise tail, a Pad folded into a
// pooling, Concat + BatchNormalization) are fused_groups.cc's.
Status FuseOneDnn(const void* /*context*/, const Graph& graph, int first, int count, PreparedKernel* k, bool* fused) {
  *fused = false;
  if (const onednn::GroupKind group = onednn::MatchGroup(graph, first, count); group != onednn::GroupKind::kNone) {
    const auto build = [&](const PreparedKernel& f, PrimitiveState* st) { onednn::BuildGroup(group, graph, first, count, f, st); };
    return PrepareGroup(graph, first, count, -1, build, k, fused);
  }
  if (count != 2 || first + 1 >= static_cast<int>(graph.nodes.size())) return Status::Ok();
  const Node& conv = graph.nodes[first];
  const Node& add = graph.nodes[first + 1];
  if (add.op != OpType::kAdd || onednn::Classify(graph, first) != NativeKind::kConv || !IsFloatNode(graph, conv) ||
      onednn::Classify(graph, first + 1) != NativeKind::kBinary || add.inputs.size() != 2)
    return Status::Ok();
  const int t = conv.outputs[0];
  if ((add.inputs[0] == t) == (add.inputs[1] == t)) return Status::Ok();  // exactly one operand is the conv's
  const int u = add.inputs[0] == t ? add.inputs[1] : add.inputs[0], y = add.outputs[0];
  const Shape& shape = graph.tensors[t].shape;
  if (graph.tensors[u].shape != shape || graph.tensors[y].shape != shape) return Status::Ok();
  const bool last = onednn::KeepChannelsLast(graph, t);
  if (onednn::KeepChannelsLast(graph, u) != last || onednn::KeepChannelsLast(graph, y) != last) return Status::Ok();
  // In place over the Add's other operand (FusedTensors' order: the conv's inputs, then it).
  const auto build = [&](const PreparedKernel& f, PrimitiveState* st) { onednn::BuildConvAdd(graph, conv, add, f, st); };
  return PrepareGroup(graph, first, 2, static_cast<int>(conv.inputs.size()), build, k, fused);
}

// Points `memory` at the buffer `a` names (skipped when it already is).
bool Point(dnnl_memory_t memory, onednn::EvalArg& a, const void* const* inputs, void* const* outputs, void* scratch,
           dnnl_stream_t stream) {
  void* p = a.source == onednn::ArgSource::kInput    ? const_cast<void*>(inputs[a.index])
            : a.source == onednn::ArgSource::kOutput ? outputs[a.index]
                                                     : static_cast<unsigned char*>(scratch) + a.offset;
  if (p == a.bound) return true;
  if (dnnl_memory_set_data_handle_v2(memory, p, stream) != dnnl_success) return false;
  a.bound = p;
  return true;
}

bool RunSideStep(onednn::SideStep& r, const void* const* inputs, void* const* outputs, void* scratch,
                dnnl_stream_t stream) {
  if (!Point(r.from.get(), r.from_at, inputs, outputs, scratch, stream) ||
      !Point(r.to.get(), r.to_at, inputs, outputs, scratch, stream))
    return false;
  const dnnl_exec_arg_t args[2] = {{r.from_arg, r.from.get()}, {r.to_arg, r.to.get()}};
  if (dnnl_primitive_execute(r.primitive.get(), stream, 2, args) != dnnl_success) return false;
  return dnnl_stream_wait(stream) == dnnl_success;
}

Status Execute(const PreparedKernel& k, PrimitiveState& st, const void* const* inputs, void* const* outputs, void* scratch,
               dnnl_stream_t stream) {
  if (st.custom) {  // a fused group computed by edgesplit's own loop (fused_groups.cc)
    st.custom(st, inputs, outputs, scratch);
    if (st.then) st.then(st, inputs, outputs);
    return Status::Ok();
  }
  if (!st.primitive) {  // an int8 op computed by edgesplit's loops alone
    onednn::RunInt8Stage(st.int8, inputs, outputs, scratch);
    return Status::Ok();
  }
  if (st.bands.count > 0) {  // a pointwise int8 conv, band by band (requantized as it goes)
    if (!onednn::RunBands(st, inputs, outputs, scratch))
      return Internal("oneDNN failed on a band of node " + std::to_string(k.node_index));
    return Status::Ok();
  }
  if (!stream) return Internal("cannot create a oneDNN stream");
  for (onednn::EvalArg& a : st.eval_args)
    if (!Point(st.args[a.slot].memory, a, inputs, outputs, scratch, stream))
      return Internal("oneDNN rejected a buffer of node " + std::to_string(k.node_index));
  for (onednn::SideStep& r : st.before)
    if (!RunSideStep(r, inputs, outputs, scratch, stream)) return Internal("oneDNN failed on a step of node " + std::to_string(k.node_index));
  const dnnl_status_t s = dnnl_primitive_execute(st.primitive.get(), stream, static_cast<int>(st.args.size()), st.args.data());
  if (s != dnnl_success) return Internal("oneDNN failed on node " + std::to_string(k.node_index) + " (status " + std::to_string(s) + ")");
  dnnl_stream_wait(stream);
  for (onednn::SideStep& r : st.after)
    if (!RunSideStep(r, inputs, outputs, scratch, stream)) return Internal("oneDNN failed on a step of node " + std::to_string(k.node_index));
  if (st.then) st.then(st, inputs, outputs);
  onednn::RunInt8Stage(st.int8, inputs, outputs, scratch);  // requantizes an int8 conv's sums (no-op for f32)
  return Status::Ok();
}

// A conv split into runs of rows (onednn::RowPart): the parts share the
// threads in one OpenMP region, each on its own stream (oneDNN runs
// single-threaded inside a parallel region).
Status ExecuteParts(const PreparedKernel& k, PrimitiveState& st, const void* const* inputs, void* const* outputs,
                    void* scratch) {
  constexpr size_t kMaxInputs = 8;
  if (k.inputs.size() > kMaxInputs) return Internal("node " + std::to_string(k.node_index) + " has too many inputs");
  const int parts = static_cast<int>(st.parts.size());
  const int threads = std::min(parts, omp_get_max_threads());
  std::atomic<bool> ok{true};
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
  for (int p = 0; p < parts; ++p) {
    onednn::RowPart& part = st.parts[static_cast<size_t>(p)];
    const void* in[kMaxInputs];
    for (size_t i = 0; i < k.inputs.size(); ++i) in[i] = inputs[i];
    in[0] = static_cast<const unsigned char*>(inputs[0]) + part.x_offset;
    void* const out[1] = {static_cast<unsigned char*>(outputs[0]) + part.y_offset};
    if (!Execute(k, *part.state, in, out, static_cast<unsigned char*>(scratch) + part.scratch_offset, part.stream.get()).ok())
      ok = false;
  }
  return ok ? Status::Ok() : Internal("oneDNN failed on a run of rows of node " + std::to_string(k.node_index));
}

Status EvalOneDnn(const void* /*context*/, const PreparedKernel& k, const void* const* inputs, void* const* outputs,
                  void* scratch) {
  if (!k.state) return ReferenceBackend().Eval(k, inputs, outputs, scratch);
  PrimitiveState& st = *static_cast<PrimitiveState*>(k.state.get());
  ApplyThreads(st.serial);  // the int8 loops share oneDNN's OpenMP threads
  const Status s = st.parts.empty() ? Execute(k, st, inputs, outputs, scratch, ThreadStream())
                                    : ExecuteParts(k, st, inputs, outputs, scratch);
  if (st.serial) ApplyThreads();  // the caller's cap as it was
  return s;
}

constexpr Backend kOneDnnBackend("onednn", PrepareOneDnn, EvalOneDnn, nullptr, FuseOneDnn);

}  // namespace

const Backend& OneDnnBackend() { return kOneDnnBackend; }

Status SetOneDnnThreads(int threads) {
  if (threads < 0) return InvalidArgument("thread count " + std::to_string(threads) + " is negative");
  g_threads.store(threads == 0 ? omp_get_num_procs() : threads, std::memory_order_relaxed);
  ApplyThreads();
  return Status::Ok();
}

int OneDnnThreads() {
  const int t = g_threads.load(std::memory_order_relaxed);
  return t > 0 ? t : DefaultThreads();
}

const char* OneDnnImplementation(const PreparedKernel& kernel) {
  if (!kernel.state) return "reference";
  return static_cast<const PrimitiveState*>(kernel.state.get())->implementation.c_str();
}

}  // namespace edgesplit

// Registers "onednn" with FindBackend. The linker keeps this object file
// because es_onednn's users are linked with -u edgesplit_onednn_registered
// (see CMakeLists.txt).
extern "C" {
extern const bool edgesplit_onednn_registered;
const bool edgesplit_onednn_registered = edgesplit::RegisterBackend(&edgesplit::OneDnnBackend());
}
