// Verifier and reader of flat segment files (include/edgesplit/flat_segment.h).
//
// Two passes over untrusted bytes: FlatBuffers' own Verifier proves every
// offset and length stays inside the buffer, then CheckFields proves the
// contents make sense to the graph (indices, sizes, dtypes) before anything is
// built. Only then is a Graph assembled, and shape inference and the memory
// planner must agree with what the file says.
#include <cstring>
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/flat_segment.h"
#include "segment_generated.h"

namespace edgesplit {
namespace {

// Bounds that keep a hostile file from asking for absurd work or memory.
constexpr int kMaxRank = 8;
constexpr int64_t kMaxElements = int64_t{1} << 31;
constexpr int kMaxDType = static_cast<int>(DType::kInt64);
constexpr int kMaxAttrKind = static_cast<int>(Attribute::Kind::kString);
constexpr int kMaxActivation = static_cast<int>(ActivationKind::kLeakyRelu);

Status Bad(const std::string& what) { return InvalidArgument("segment file: " + what); }

// FlatBuffers' verifier checks a vector's length word (4-byte aligned), not its
// elements: a [long] vector placed 4 mod 8 would be read with misaligned 8-byte
// loads (undefined in C++, a fault on a Cortex-M4's LDRD). Checked before any read.
template <typename T>
bool ElementsAligned(const flatbuffers::Vector<T>* v) {
  return !v || v->size() == 0 || reinterpret_cast<uintptr_t>(v->data()) % alignof(T) == 0;
}

std::string TensorLabel(int index, const fb::Tensor* t) {
  return "tensor " + std::to_string(index) + " '" + t->name()->str() + "'";
}

Status CheckTensor(int index, const fb::Tensor* t) {
  const std::string label = TensorLabel(index, t);
  if (!ElementsAligned(t->shape())) return Bad(label + " has a misaligned shape vector");
  if (static_cast<int>(t->dtype()) > kMaxDType)
    return Bad(label + " has unknown dtype " + std::to_string(static_cast<int>(t->dtype())));
  const auto* shape = t->shape();
  const int rank = shape ? static_cast<int>(shape->size()) : 0;
  if (rank > kMaxRank) return Bad(label + " has rank " + std::to_string(rank) + " (at most 8)");
  int64_t elements = 1;
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = shape->Get(d);
    if (dim < 0 || dim > kMaxElements) return Bad(label + " has dimension " + std::to_string(dim));
    elements *= dim;
    if (elements > kMaxElements) return Bad(label + " has more than 2^31 elements");
  }
  const size_t want = static_cast<size_t>(elements) * DTypeSize(static_cast<DType>(t->dtype()));
  const size_t have = t->data() ? t->data()->size() : 0;
  if (t->is_constant()) {
    if (have != want)
      return Bad(label + " holds " + std::to_string(have) + " bytes but its shape and dtype need " +
                 std::to_string(want));
    const size_t align = DTypeSize(static_cast<DType>(t->dtype()));
    if (have && reinterpret_cast<uintptr_t>(t->data()->data()) % align != 0)
      return Bad(label + " data is not " + std::to_string(align) + "-byte aligned (is the file 16-byte aligned in memory?)");
  } else if (have) {
    return Bad(label + " is not a constant but holds " + std::to_string(have) + " bytes");
  }
  if (const fb::Quant* q = t->quant()) {
    const size_t scales = q->scales() ? q->scales()->size() : 0;
    const size_t zps = q->zero_points() ? q->zero_points()->size() : 0;
    if (scales != zps)
      return Bad(label + " has " + std::to_string(scales) + " scales but " + std::to_string(zps) + " zero points");
    if (scales > 1) {
      if (q->axis() < 0 || q->axis() >= rank)
        return Bad(label + " has quantization axis " + std::to_string(q->axis()) + " outside its rank");
      if (static_cast<int64_t>(scales) != shape->Get(q->axis()))
        return Bad(label + " has " + std::to_string(scales) + " scales for dimension " +
                   std::to_string(shape->Get(q->axis())));
    }
  }
  return Status::Ok();
}

Status CheckIndices(const flatbuffers::Vector<int32_t>* ids, int num_tensors, bool allow_missing,
                    const std::string& what) {
  if (!ids) return Status::Ok();
  for (flatbuffers::uoffset_t i = 0; i < ids->size(); ++i) {
    const int id = ids->Get(i);
    if (allow_missing && id == kNoTensor) continue;
    if (id < 0 || id >= num_tensors)
      return Bad(what + " refers to tensor " + std::to_string(id) + " of " + std::to_string(num_tensors));
  }
  return Status::Ok();
}

Status CheckNode(int index, const fb::Node* n, int num_tensors) {
  const std::string label = "node " + std::to_string(index) + " '" + n->name()->str() + "'";
  OpType op;
  if (!OpTypeFromName(n->op()->string_view(), &op))
    return Unsupported("segment file: " + label + " has op '" + n->op()->str() + "' this build does not know");
  if (static_cast<int>(n->activation()) > kMaxActivation)
    return Bad(label + " has unknown activation " + std::to_string(static_cast<int>(n->activation())));
  if (n->attrs())
    for (const fb::Attr* a : *n->attrs()) {
      if (static_cast<int>(a->kind()) > kMaxAttrKind)
        return Bad(label + " attribute '" + a->name()->str() + "' has unknown kind");
      if (!ElementsAligned(a->ints())) return Bad(label + " attribute '" + a->name()->str() + "' has a misaligned ints vector");
    }
  ES_RETURN_IF_ERROR(CheckIndices(n->inputs(), num_tensors, true, label + " input"));
  if (!n->outputs() || n->outputs()->size() == 0) return Bad(label + " has no outputs");
  return CheckIndices(n->outputs(), num_tensors, false, label + " output");
}

// Everything the Graph builder relies on, on a structurally verified buffer.
Status CheckFields(const fb::Segment* s) {
  if (s->format_version() != kSegmentFormatVersion)
    return Unsupported("segment file: format version " + std::to_string(s->format_version()) +
                       ", this build reads version " + std::to_string(kSegmentFormatVersion));
  if (!s->tensors() || !s->nodes() || s->nodes()->size() == 0) return Bad("no tensors or no nodes");
  if (static_cast<int>(s->compute_dtype()) > kMaxDType) return Bad("unknown compute dtype");
  const int num_tensors = static_cast<int>(s->tensors()->size());
  for (int t = 0; t < num_tensors; ++t) ES_RETURN_IF_ERROR(CheckTensor(t, s->tensors()->Get(t)));
  for (int n = 0; n < static_cast<int>(s->nodes()->size()); ++n)
    ES_RETURN_IF_ERROR(CheckNode(n, s->nodes()->Get(n), num_tensors));
  if (!s->inputs() || !s->outputs() || s->inputs()->size() == 0 || s->outputs()->size() == 0)
    return Bad("no segment inputs or outputs");
  ES_RETURN_IF_ERROR(CheckIndices(s->inputs(), num_tensors, false, "segment input"));
  ES_RETURN_IF_ERROR(CheckIndices(s->outputs(), num_tensors, false, "segment output"));
  if (s->arena_bytes() < 0) return Bad("negative arena size");
  if (!ElementsAligned(s->arena_offsets())) return Bad("the arena plan's offsets vector is misaligned");
  if (!s->arena_offsets() || static_cast<int>(s->arena_offsets()->size()) != num_tensors)
    return Bad("arena plan has " + std::to_string(s->arena_offsets() ? s->arena_offsets()->size() : 0) +
               " offsets for " + std::to_string(num_tensors) + " tensors");
  return Status::Ok();
}

Tensor BuildTensor(const fb::Tensor* t) {
  Tensor out;
  out.name = t->name()->str();
  out.dtype = static_cast<DType>(t->dtype());
  if (t->shape()) out.shape.assign(t->shape()->begin(), t->shape()->end());
  if (const fb::Quant* q = t->quant()) {
    if (q->scales()) out.quant.scales.assign(q->scales()->begin(), q->scales()->end());
    if (q->zero_points()) out.quant.zero_points.assign(q->zero_points()->begin(), q->zero_points()->end());
    out.quant.axis = q->axis();
  }
  out.is_constant = t->is_constant();
  // Weights stay in the file; int64 shape operands are tiny and are copied so
  // that every pass reading `data` sees them.
  if (out.is_constant && t->data() && t->data()->size()) {
    if (out.dtype == DType::kInt64)
      out.data.assign(t->data()->begin(), t->data()->end());
    else
      out.external_data = t->data()->data();
  }
  return out;
}

Node BuildNode(const fb::Node* n) {
  Node out;
  OpTypeFromName(n->op()->string_view(), &out.op);  // checked by CheckNode
  out.name = n->name()->str();
  if (n->aliases())
    for (const flatbuffers::String* a : *n->aliases()) out.aliases.push_back(a ? a->str() : std::string());
  if (n->inputs()) out.inputs.assign(n->inputs()->begin(), n->inputs()->end());
  out.outputs.assign(n->outputs()->begin(), n->outputs()->end());
  if (n->attrs())
    for (const fb::Attr* a : *n->attrs()) {
      Attribute attr;
      attr.name = a->name()->str();
      attr.kind = static_cast<Attribute::Kind>(a->kind());
      attr.i = a->i();
      attr.f = a->f();
      if (a->ints()) attr.ints.assign(a->ints()->begin(), a->ints()->end());
      if (a->floats()) attr.floats.assign(a->floats()->begin(), a->floats()->end());
      if (a->s()) attr.s = a->s()->str();
      out.attrs.push_back(std::move(attr));
    }
  out.activation.kind = static_cast<ActivationKind>(n->activation());
  out.activation.min = n->act_min();
  out.activation.max = n->act_max();
  out.activation.alpha = n->act_alpha();
  return out;
}

// The stored shapes and dtypes must be what shape inference derives, and the
// stored arena plan what the planner computes: a file cannot make the executor
// trust sizes the kernels would not produce.
Status CheckAgainstInference(const fb::Segment* s, Graph& graph) {
  std::vector<Shape> stored_shapes;
  std::vector<DType> stored_dtypes;
  for (const Tensor& t : graph.tensors) {
    stored_shapes.push_back(t.shape);
    stored_dtypes.push_back(t.dtype);
  }
  ES_RETURN_IF_ERROR(InferShapes(graph).WithContext("segment file"));
  for (size_t t = 0; t < graph.tensors.size(); ++t)
    if (graph.tensors[t].shape != stored_shapes[t] || graph.tensors[t].dtype != stored_dtypes[t])
      return Bad("tensor '" + graph.tensors[t].name + "' is stored as " + DTypeName(stored_dtypes[t]) +
                 ShapeToString(stored_shapes[t]) + " but its producer gives " + DTypeName(graph.tensors[t].dtype) +
                 ShapeToString(graph.tensors[t].shape));
  ES_ASSIGN_OR_RETURN(SegmentMemory mem, PlanSegmentMemory(graph, 0, static_cast<int>(graph.nodes.size()),
                                                           static_cast<DType>(s->compute_dtype())));
  if (mem.arena_bytes != s->arena_bytes())
    return Bad("arena plan says " + std::to_string(s->arena_bytes()) + " bytes, the planner gives " +
               std::to_string(mem.arena_bytes));
  std::vector<int64_t> offsets(graph.tensors.size(), -1);
  for (size_t i = 0; i < mem.tensor_ids.size(); ++i) offsets[mem.tensor_ids[i]] = mem.offsets[i];
  for (size_t t = 0; t < offsets.size(); ++t)
    if (offsets[t] != s->arena_offsets()->Get(static_cast<flatbuffers::uoffset_t>(t)))
      return Bad("arena plan puts tensor '" + graph.tensors[t].name + "' at " +
                 std::to_string(s->arena_offsets()->Get(static_cast<flatbuffers::uoffset_t>(t))) +
                 ", the planner at " + std::to_string(offsets[t]));
  return Status::Ok();
}

Result<const fb::Segment*> VerifiedRoot(const void* bytes, size_t size) {
  if (!bytes || size < 8) return Bad("truncated: " + std::to_string(size) + " bytes");
  if (reinterpret_cast<uintptr_t>(bytes) % kSegmentAlignment != 0)
    return InvalidArgument("segment file: buffer is not 16-byte aligned in memory");
  // The file is size-prefixed, so a cut-off file is caught even where
  // FlatBuffers would only have lost trailing padding.
  const uint32_t prefix = flatbuffers::ReadScalar<uint32_t>(bytes);
  if (prefix != size - sizeof(uint32_t))
    return Bad("truncated or padded: the size prefix says " + std::to_string(prefix) + " bytes follow, the file has " +
               std::to_string(size - sizeof(uint32_t)));
  if (!flatbuffers::BufferHasIdentifier(bytes, fb::SegmentIdentifier(), /*size_prefixed=*/true))
    return Bad("missing the 'ESSG' identifier (not a segment file)");
  flatbuffers::Verifier verifier(static_cast<const uint8_t*>(bytes), size);
  if (!fb::VerifySizePrefixedSegmentBuffer(verifier))
    return Bad("malformed FlatBuffer (offsets or lengths out of bounds) in " + std::to_string(size) + " bytes");
  const fb::Segment* root = fb::GetSizePrefixedSegment(bytes);
  ES_RETURN_IF_ERROR(CheckFields(root));
  return root;
}

Result<LoadedSegment> Build(const fb::Segment* s) {
  LoadedSegment out;
  SegmentInfo& info = out.info;
  info.format_version = s->format_version();
  if (s->model()) info.model = s->model()->str();
  info.index = s->index();
  info.cut_before = s->cut_before();
  info.cut_after = s->cut_after();
  info.compute_dtype = static_cast<DType>(s->compute_dtype());
  info.arena_bytes = s->arena_bytes();
  Graph& g = out.graph;
  g.name = info.model + " segment " + std::to_string(info.index);
  g.tensors.reserve(s->tensors()->size());
  for (const fb::Tensor* t : *s->tensors()) g.tensors.push_back(BuildTensor(t));
  g.nodes.reserve(s->nodes()->size());
  for (const fb::Node* n : *s->nodes()) g.nodes.push_back(BuildNode(n));
  g.inputs.assign(s->inputs()->begin(), s->inputs()->end());
  g.outputs.assign(s->outputs()->begin(), s->outputs()->end());
  ES_RETURN_IF_ERROR(g.Validate().WithContext("segment file"));
  ES_RETURN_IF_ERROR(CheckAgainstInference(s, g));
  return out;
}

}  // namespace

Status VerifySegment(const void* bytes, size_t size) {
  ES_ASSIGN_OR_RETURN(const fb::Segment* root, VerifiedRoot(bytes, size));
  // The semantic checks need a graph; it is dropped again.
  ES_ASSIGN_OR_RETURN(LoadedSegment unused, Build(root));
  (void)unused;
  return Status::Ok();
}

Result<LoadedSegment> ReadSegment(const void* bytes, size_t size) {
  ES_ASSIGN_OR_RETURN(const fb::Segment* root, VerifiedRoot(bytes, size));
  return Build(root);
}

}  // namespace edgesplit
