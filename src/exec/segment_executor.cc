// SegmentExecutor: prepare once (kernels, arena), invoke many times.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <new>
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"

namespace edgesplit {
namespace {

constexpr int64_t kAlignment = 64;

unsigned char* Align(unsigned char* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<unsigned char*>((v + kAlignment - 1) / kAlignment * kAlignment);
}

// [n, c, hw] <-> [n, hw, c]: a pure permutation of T values (f32 or int8).
// The row-major source is read through memcpy: a request's tensor sits in its
// wire frame at whatever offset the header left, not on a T boundary.
template <typename T>
void TransposeToChannelsLast(const void* source, T* dst, int64_t n, int64_t c, int64_t hw) {
  const auto* src = static_cast<const unsigned char*>(source);
  for (int64_t b = 0; b < n; ++b, src += c * hw * sizeof(T), dst += c * hw)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) std::memcpy(&dst[p * c + ch], src + (ch * hw + p) * sizeof(T), sizeof(T));
}
template <typename T>
void TransposeToRowMajor(const T* src, T* dst, int64_t n, int64_t c, int64_t hw) {
  for (int64_t b = 0; b < n; ++b, src += c * hw, dst += c * hw)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) dst[ch * hw + p] = src[p * c + ch];
}

// The layout every kernel of the segment sees for each tensor (row-major when
// no kernel says otherwise). Kernels that disagree are a backend bug.
Result<std::vector<TensorLayout>> ResolveLayouts(const Graph& graph, int begin, const std::vector<PreparedKernel>& kernels) {
  std::vector<TensorLayout> layout(graph.tensors.size(), TensorLayout::kRowMajor);
  std::vector<char> seen(graph.tensors.size(), 0);
  auto visit = [&](int t, const TensorDesc& d, const Node& node) -> Status {
    if (t == kNoTensor) return Status::Ok();
    if (seen[t] && layout[t] != d.layout)
      return Internal("node '" + node.name + "' sees tensor '" + graph.tensors[t].name + "' in another layout than its other users");
    if (d.layout == TensorLayout::kChannelsLast &&
        (graph.tensors[t].shape.size() != 4 || graph.tensors[t].is_constant ||
         (graph.tensors[t].dtype != DType::kFloat32 && graph.tensors[t].dtype != DType::kInt8)))
      return Internal("node '" + node.name + "' asks for a channels-last '" + graph.tensors[t].name +
                      "' that is not a 4-D f32 or int8 activation");
    seen[t] = 1;
    layout[t] = d.layout;
    return Status::Ok();
  };
  std::vector<int> ins, outs;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const Node& node = graph.nodes[begin + i];
    const PreparedKernel& k = kernels[i];
    if (k.fused_nodes == 0) continue;  // its group's kernel describes its outer tensors
    if (k.fused_nodes > 1) {
      FusedTensors(graph, begin + static_cast<int>(i), k.fused_nodes, &ins, &outs);
    } else {
      ins = node.inputs;
      outs = node.outputs;
    }
    if (k.inputs.size() == ins.size())
      for (size_t j = 0; j < ins.size(); ++j) ES_RETURN_IF_ERROR(visit(ins[j], k.inputs[j], node));
    if (k.outputs.size() == outs.size())
      for (size_t j = 0; j < outs.size(); ++j) ES_RETURN_IF_ERROR(visit(outs[j], k.outputs[j], node));
  }
  return layout;
}

// Whether nodes [first, first + count) may run as one fused kernel in this
// segment: every tensor passed between them is read only inside the group, so
// it is neither a graph nor a segment output (a fusion never hides a tensor a
// cut exposes). An earlier node's output that no node of the group reads is
// one of the group's outputs (FusedTensors), written like the last node's.
bool MayFuse(const Graph& graph, int first, int count, int end, const std::vector<std::vector<int>>& consumers,
             const std::vector<char>& is_graph_output) {
  if (first + count > end) return false;
  for (int n = first; n < first + count - 1; ++n)
    for (int t : graph.nodes[n].outputs) {
      bool inside = false, outside = false;
      for (int c : consumers[t]) (c > n && c < first + count ? inside : outside) = true;
      if (!inside && !outside && !is_graph_output[t]) return false;  // written for nobody
      if (inside && (outside || is_graph_output[t])) return false;
    }
  return true;
}

// A plan that keeps fused groups' outputs apart from their inputs may take up
// to 1/kHeldArenaGrowth more arena than the planner's.
constexpr int64_t kHeldArenaGrowth = 4;

// Splits the fused group at kernels[k] back into plain nodes (kernels reset:
// node_index -1 and fused_nodes 1 mark them to be prepared node by node).
void Unfuse(std::vector<PreparedKernel>& kernels, size_t k) {
  const int count = kernels[k].fused_nodes;
  for (int j = 0; j < count; ++j) kernels[k + j] = PreparedKernel();
}

// Splits every fused group whose output shares bytes in `mem` with an input
// other than the one it writes in place (the planner may give the last node's
// output the slot of a tensor the first node reads last).
// Returns whether it split any.
bool UnfuseOverlapping(const Graph& graph, int begin, std::vector<PreparedKernel>& kernels, const SegmentMemory& mem) {
  std::vector<int64_t> slot(graph.tensors.size(), -1);
  for (size_t i = 0; i < mem.tensor_ids.size(); ++i) slot[mem.tensor_ids[i]] = mem.offsets[i];
  const auto bytes = [&](int t) {
    return graph.tensors[t].num_elements() * static_cast<int64_t>(DTypeSize(graph.tensors[t].dtype));
  };
  std::vector<int> ins, outs;
  bool split = false;
  for (size_t k = 0; k < kernels.size(); ++k) {
    const PreparedKernel& kernel = kernels[k];
    if (kernel.fused_nodes < 2) continue;
    FusedTensors(graph, begin + static_cast<int>(k), kernel.fused_nodes, &ins, &outs);
    bool overlap = false;
    for (size_t o = 0; o < outs.size(); ++o)
      for (size_t i = 0; i < ins.size(); ++i) {
        const int a = outs[o], b = ins[i];
        if (b == kNoTensor || graph.tensors[b].is_constant) continue;
        if (o == 0 && static_cast<int>(i) == kernel.in_place_input) {
          overlap |= slot[a] != slot[b];  // it must be exactly in place
          continue;
        }
        overlap |= slot[a] < 0 || slot[b] < 0 || (slot[a] < slot[b] + bytes(b) && slot[b] < slot[a] + bytes(a));
      }
    if (overlap) Unfuse(kernels, k);
    split |= overlap;
  }
  return split;
}

}  // namespace

int64_t SegmentExecutor::TensorBytes(int id) const {
  const Tensor& t = graph_->tensors[id];
  return t.num_elements() * static_cast<int64_t>(DTypeSize(t.dtype));
}

Result<std::unique_ptr<SegmentExecutor>> SegmentExecutor::Create(const Graph& graph, int begin, int end,
                                                                 const Backend& backend, DType compute_dtype) {
  const int num_nodes = static_cast<int>(graph.nodes.size());
  if (begin < 0 || end > num_nodes || begin >= end)
    return InvalidArgument("segment [" + std::to_string(begin) + ", " + std::to_string(end) +
                           ") is empty or outside the model's " + std::to_string(num_nodes) + " nodes");
  if (compute_dtype != DType::kFloat32)
    return Unsupported(std::string("compute dtype ") + DTypeName(compute_dtype) + " is not supported yet (f32 is)");
  std::unique_ptr<SegmentExecutor> ex(new SegmentExecutor());
  ex->graph_ = &graph;
  ex->backend_ = &backend;
  ex->begin_ = begin;
  ex->end_ = end;

  const std::vector<int> producers = graph.Producers();
  const std::vector<std::vector<int>> consumers = graph.Consumers();
  std::vector<char> is_graph_output(graph.tensors.size(), 0);
  for (int t : graph.outputs) is_graph_output[t] = 1;

  // Kernels: a group of nodes the backend fuses (kernels.h; the longest first,
  // e.g. a conv and the Sigmoid and Mul of its SiLU before a conv and its Sigmoid)
  // becomes one kernel at the first node, the others are skipped.
  ex->kernels_.resize(end - begin);
  const std::string context = std::string(backend.name()) + " backend";
  bool any_fused = false;
  for (int n = begin; n < end; ++n) {
    PreparedKernel& k = ex->kernels_[n - begin];
    bool fused = false;
    for (int count = kMaxFusedNodes; count >= 2 && !fused && backend.can_fuse(); --count)
      if (MayFuse(graph, n, count, end, consumers, is_graph_output))
        ES_RETURN_IF_ERROR(backend.PrepareFused(graph, n, count, &k, &fused).WithContext(context));
    if (!fused) {
      ES_RETURN_IF_ERROR(backend.Prepare(graph, n, &k).WithContext(context));
      continue;
    }
    any_fused = true;
    for (int skipped = k.fused_nodes - 1; skipped > 0; --skipped) ex->kernels_[++n - begin].fused_nodes = 0;
  }

  // Arena: the plan `inspect` reports. A fused kernel that writes in place
  // needs its output planned over that input (which nothing reads after the
  // group), any other its output held from the group's first node on (apart
  // from what the group reads): that plan is used when its arena is at most
  // kHeldArenaGrowth larger (a group saves passes over memory; ShuffleNetV2
  // x2.0's channel shuffles need 10% more arena, and ran node by node when no
  // growth was allowed), else those groups run node by node, as does any
  // group whose output the plan puts over bytes the group reads.
  ES_ASSIGN_OR_RETURN(SegmentMemory mem, PlanSegmentMemory(graph, begin, end, compute_dtype));
  const int64_t planned_arena = mem.arena_bytes;
  if (any_fused) {
    std::vector<std::pair<int, int>> in_place, held_from;
    std::vector<int> ins, outs;
    for (int i = 0; i < end - begin; ++i) {
      PreparedKernel& k = ex->kernels_[i];
      if (k.fused_nodes < 2) continue;
      FusedTensors(graph, begin + i, k.fused_nodes, &ins, &outs);
      if (k.in_place_input < 0) {  // its outputs must not share bytes with what the group reads
        for (int t : outs) held_from.push_back({t, begin + i});
        continue;
      }
      const int over = ins[k.in_place_input], t = outs[0];
      bool ok = over != kNoTensor && !graph.tensors[over].is_constant && producers[over] >= begin &&
                !is_graph_output[over] && ex->TensorBytes(over) == ex->TensorBytes(t);
      // Overwritten at the group's first node: read before it, or later inside the group only.
      for (int c : consumers[over]) ok &= c < begin + i || (c > begin + i && c < begin + i + k.fused_nodes);
      if (ok) in_place.push_back({t, over});
      else Unfuse(ex->kernels_, i);
    }
    // The fused plan when it fits in the planner's arena, else the in-place
    // pairs alone (and UnfuseOverlapping below splits what then overlaps).
    // The fused plan places no tensor a group passes between its own nodes
    // (no kernel stores one: a concat's inputs written into its output...).
    // An earlier node's output that the group hands on (FusedTensors' outputs,
    // e.g. a channel shuffle's first Slice) is not inner: it keeps its bytes.
    std::vector<int> inner;
    for (int i = 0; i < end - begin; ++i) {
      if (ex->kernels_[i].fused_nodes < 2) continue;
      FusedTensors(graph, begin + i, ex->kernels_[i].fused_nodes, &ins, &outs);
      for (int n = begin + i; n < begin + i + ex->kernels_[i].fused_nodes - 1; ++n)
        for (int t : graph.nodes[n].outputs)
          if (std::find(outs.begin(), outs.end(), t) == outs.end()) inner.push_back(t);
    }
    bool without_inner = false;
    if (!held_from.empty()) {
      ES_ASSIGN_OR_RETURN(SegmentMemory held,
                          PlanSegmentMemory(graph, begin, end, compute_dtype, in_place, held_from, inner));
      if (held.arena_bytes <= mem.arena_bytes + mem.arena_bytes / kHeldArenaGrowth) {
        mem = std::move(held);
        in_place.clear();
        without_inner = true;
      }
    }
    if (!in_place.empty()) {
      ES_ASSIGN_OR_RETURN(SegmentMemory shared, PlanSegmentMemory(graph, begin, end, compute_dtype, in_place));
      if (shared.arena_bytes <= mem.arena_bytes) mem = std::move(shared);
    }
    if (UnfuseOverlapping(graph, begin, ex->kernels_, mem) && without_inner) {
      // A group split up needs bytes for its inner tensors: the plain plan.
      ES_ASSIGN_OR_RETURN(mem, PlanSegmentMemory(graph, begin, end, compute_dtype));
      UnfuseOverlapping(graph, begin, ex->kernels_, mem);
    }
    for (int i = 0; i < end - begin; ++i)  // the groups split up above, node by node
      if (ex->kernels_[i].node_index < 0 && ex->kernels_[i].fused_nodes == 1)
        ES_RETURN_IF_ERROR(backend.Prepare(graph, begin + i, &ex->kernels_[i]).WithContext(context));
  }
  mem.arena_bytes = std::max(mem.arena_bytes, planned_arena);  // an in-place plan fits in the planner's
  int64_t scratch = 0;
  for (const PreparedKernel& k : ex->kernels_) scratch = std::max(scratch, k.scratch_bytes);

  // Segment inputs: the graph inputs for the first segment, else every
  // activation live at `begin` (the planner holds them from step 0; one at a
  // cut, more when a tensor passes through the segment).
  if (begin == 0) {
    ex->input_ids_ = graph.inputs;
  } else {
    for (int t : mem.tensor_ids)
      if (producers[t] < begin) ex->input_ids_.push_back(t);
  }
  // Segment outputs: the graph outputs for the last segment, else every placed
  // activation still needed at `end`.
  if (end == num_nodes) {
    ex->output_ids_ = graph.outputs;
  } else {
    for (int t : mem.tensor_ids) {
      bool needed_later = is_graph_output[t] != 0;
      for (int c : consumers[t]) needed_later |= c >= end;
      if (needed_later) ex->output_ids_.push_back(t);
    }
  }

  // Channels-last boundary tensors are transposed in place through scratch.
  ES_ASSIGN_OR_RETURN(std::vector<TensorLayout> layouts, ResolveLayouts(graph, begin, ex->kernels_));
  for (const std::vector<int>* ids : {&ex->input_ids_, &ex->output_ids_})
    for (int t : *ids)
      if (layouts[t] == TensorLayout::kChannelsLast) scratch = std::max(scratch, ex->TensorBytes(t));

  ex->arena_bytes_ = mem.arena_bytes;
  ex->scratch_bytes_ = scratch;
  // Allocation failure is an error, not an abort (the core has no exceptions).
  ex->arena_storage_.reset(new (std::nothrow) unsigned char[static_cast<size_t>(mem.arena_bytes + kAlignment)]());
  if (!ex->arena_storage_)
    return OutOfRange("cannot allocate the activation arena of " + std::to_string(mem.arena_bytes) + " bytes");
  ex->arena_ = Align(ex->arena_storage_.get());
  ex->scratch_storage_.reset(new (std::nothrow) unsigned char[static_cast<size_t>(scratch + kAlignment)]());
  if (!ex->scratch_storage_)
    return OutOfRange("cannot allocate " + std::to_string(scratch) + " bytes of kernel scratch memory");
  ex->scratch_ = Align(ex->scratch_storage_.get());
  ex->tensor_ptr_.assign(graph.tensors.size(), nullptr);
  for (size_t i = 0; i < mem.tensor_ids.size(); ++i) {
    const int t = mem.tensor_ids[i];
    const int64_t bytes = ex->TensorBytes(t);
    if (mem.offsets[i] + bytes > mem.arena_bytes)
      return Internal("tensor '" + graph.tensors[t].name + "' does not fit its arena slot");
    ex->tensor_ptr_[t] = ex->arena_ + mem.offsets[i];
  }
  for (size_t t = 0; t < graph.tensors.size(); ++t)
    if (graph.tensors[t].is_constant)
      ex->tensor_ptr_[t] = const_cast<unsigned char*>(graph.tensors[t].bytes());

  // Per-node pointer lists, resolved once (a fused group's are FusedTensors()'s).
  std::vector<int> ins, outs;
  for (int n = begin; n < end; ++n) {
    const Node& node = graph.nodes[n];
    const int fused_nodes = ex->kernels_[n - begin].fused_nodes;
    ex->input_offset_.push_back(ex->node_inputs_.size());
    ex->output_offset_.push_back(ex->node_outputs_.size());
    if (fused_nodes == 0) continue;
    if (fused_nodes > 1) {
      FusedTensors(graph, n, fused_nodes, &ins, &outs);
    } else {
      ins = node.inputs;
      outs = node.outputs;
    }
    for (int t : ins) {
      if (t == kNoTensor) {
        ex->node_inputs_.push_back(nullptr);
        continue;
      }
      if (!ex->tensor_ptr_[t])
        return Internal("node '" + node.name + "': input '" + graph.tensors[t].name + "' has no memory");
      ex->node_inputs_.push_back(ex->tensor_ptr_[t]);
    }
    for (int t : outs) {
      if (!ex->tensor_ptr_[t])
        return Internal("node '" + node.name + "': output '" + graph.tensors[t].name + "' has no memory");
      ex->node_outputs_.push_back(ex->tensor_ptr_[t]);
    }
  }
  for (int t : ex->input_ids_)
    if (!ex->tensor_ptr_[t]) return Unsupported("segment input '" + graph.tensors[t].name + "' is never read");
  for (int t : ex->output_ids_)
    if (!ex->tensor_ptr_[t]) return Internal("segment output '" + graph.tensors[t].name + "' has no memory");
  auto boundary = [&](int t) {
    const Shape& s = graph.tensors[t].shape;
    return BoundaryTranspose{static_cast<unsigned char*>(ex->tensor_ptr_[t]), s[0], s[1], s[2] * s[3],
                             static_cast<int64_t>(DTypeSize(graph.tensors[t].dtype))};
  };
  for (int t : ex->input_ids_)
    if (layouts[t] == TensorLayout::kChannelsLast) ex->inputs_to_channels_last_.push_back(boundary(t));
  for (int t : ex->output_ids_)
    if (layouts[t] == TensorLayout::kChannelsLast) ex->outputs_to_row_major_.push_back(boundary(t));
  return ex;
}

Status SegmentExecutor::WriteInputImage(int i, int64_t image, const void* row_major) {
  if (i < 0 || i >= num_inputs()) return InvalidArgument("segment input " + std::to_string(i) + " does not exist");
  const Tensor& t = input_tensor(i);
  const int64_t images = t.shape.empty() ? 1 : t.shape[0];
  if (image < 0 || image >= images)
    return InvalidArgument("image " + std::to_string(image) + " of input '" + t.name + "' (batch " + std::to_string(images) + ")");
  const size_t image_bytes = static_cast<size_t>(input_bytes(i) / images);
  unsigned char* dst = static_cast<unsigned char*>(input(i)) + static_cast<size_t>(image) * image_bytes;
  for (BoundaryTranspose& b : inputs_to_channels_last_)
    if (b.data == input(i)) {
      if (b.element_bytes == 1) TransposeToChannelsLast(row_major, dst, 1, b.c, b.hw);
      else TransposeToChannelsLast(row_major, reinterpret_cast<float*>(dst), 1, b.c, b.hw);
      b.converted = true;
      return Status::Ok();
    }
  std::memcpy(dst, row_major, image_bytes);  // the backend reads it row-major
  return Status::Ok();
}

Status SegmentExecutor::InvokeNodes(int first, int last) {
  if (first == 0)
    for (BoundaryTranspose& b : inputs_to_channels_last_) {
      if (b.converted) {  // WriteInputImage wrote it in place
        b.converted = false;
        continue;
      }
      std::memcpy(scratch_, b.data, static_cast<size_t>(b.n * b.c * b.hw * b.element_bytes));
      if (b.element_bytes == 1) TransposeToChannelsLast(scratch_, b.data, b.n, b.c, b.hw);
      else TransposeToChannelsLast(scratch_, reinterpret_cast<float*>(b.data), b.n, b.c, b.hw);
    }
  for (int i = first; i < last; ++i) {
    if (kernels_[i].fused_nodes == 0) continue;  // computed with the node before it
    Status s = backend_->Eval(kernels_[i], node_inputs_.data() + input_offset_[i], node_outputs_.data() + output_offset_[i],
                              scratch_);
    if (!s.ok()) return s;
  }
  if (last == end_ - begin_)
    for (const BoundaryTranspose& b : outputs_to_row_major_) {
      std::memcpy(scratch_, b.data, static_cast<size_t>(b.n * b.c * b.hw * b.element_bytes));
      if (b.element_bytes == 1) TransposeToRowMajor(scratch_, b.data, b.n, b.c, b.hw);
      else TransposeToRowMajor(reinterpret_cast<const float*>(scratch_), reinterpret_cast<float*>(b.data), b.n, b.c, b.hw);
    }
  return Status::Ok();
}

Status SegmentExecutor::Invoke() { return InvokeNodes(0, end_ - begin_); }

}  // namespace edgesplit
