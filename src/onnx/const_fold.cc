// Import-time constant folding.
//
// Exporters compute Reshape targets and similar shape values with small
// subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape). Evaluating them
// here leaves the Graph with constant shapes, which its static shape inference
// and the cut-point analysis need. Output shapes come from the graph core's
// InferNodeShapes on a one-node scratch graph, so the folding code only moves
// and combines values and cannot disagree with the graph's shape rules.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "onnx_internal.h"

namespace edgesplit::onnx_internal {
namespace {

// Calls f(T{}) with T the C++ type of `dtype`.
template <typename F>
auto VisitDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32: return f(float{});
    case DType::kInt8: return f(int8_t{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kInt64: break;
  }
  return f(int64_t{});
}

// Casts as ONNX's Cast does for in-range values; out-of-range floats saturate
// and NaN becomes 0 instead of being undefined behaviour.
template <typename To, typename From>
To CastValue(From v) {
  if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To{0};
    const double d = static_cast<double>(v);
    if (d <= static_cast<double>(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
    if (d >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return static_cast<To>(v);  // integer narrowing is modular (C++20)
  }
}

Tensor ConvertTensor(const Tensor& in, DType to, const std::string& name) {
  Tensor out;
  out.name = name;
  out.dtype = to;
  out.shape = in.shape;
  out.is_constant = true;
  const size_t n = static_cast<size_t>(in.num_elements());
  out.data.resize(n * DTypeSize(to));
  VisitDType(in.dtype, [&](auto from_tag) {
    using From = decltype(from_tag);
    VisitDType(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* src = in.data_as<From>();
      To* dst = out.mutable_data_as<To>();
      for (size_t i = 0; i < n; ++i) dst[i] = CastValue<To>(src[i]);
    });
  });
  return out;
}

int64_t Product(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) n *= shape[i];
  return n;
}

// Row-major strides of `shape` aligned to the last dims of an output of rank
// `rank`, with 0 for broadcast dims.
std::vector<int64_t> BroadcastStrides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t d = shape.size() - 1 - i, o = out.size() - 1 - i;
    strides[o] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}

// Visits every output element in row-major order, passing the offsets that the
// two strided inputs have there.
template <typename F>
void ForEachIndex(const Shape& out, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, F&& f) {
  const size_t rank = out.size();
  const int64_t total = NumElements(out);
  std::vector<int64_t> idx(rank, 0);
  int64_t a = 0, b = 0;
  for (int64_t i = 0; i < total; ++i) {
    f(i, a, b);
    for (size_t d = rank; d-- > 0;) {
      a += sa[d];
      b += sb[d];
      if (++idx[d] < out[d]) break;
      a -= sa[d] * out[d];
      b -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

template <typename T>
Status Arithmetic(OpType op, const Tensor& x, const Tensor& y, Tensor& out, const OnnxNode& node) {
  const T* a = x.data_as<T>();
  const T* b = y.data_as<T>();
  T* c = out.mutable_data_as<T>();
  Status status;
  ForEachIndex(out.shape, BroadcastStrides(x.shape, out.shape), BroadcastStrides(y.shape, out.shape),
               [&](int64_t i, int64_t ia, int64_t ib) {
                 const T u = a[ia], v = b[ib];
                 if constexpr (std::is_integral_v<T>) {
                   // Wrapping arithmetic: constant shapes never overflow, hostile ones must not be UB.
                   using U = std::make_unsigned_t<T>;
                   switch (op) {
                     case OpType::kAdd: c[i] = static_cast<T>(static_cast<U>(u) + static_cast<U>(v)); break;
                     case OpType::kSub: c[i] = static_cast<T>(static_cast<U>(u) - static_cast<U>(v)); break;
                     case OpType::kMul: c[i] = static_cast<T>(static_cast<U>(u) * static_cast<U>(v)); break;
                     default:
                       if (v == 0 || (v == -1 && u == std::numeric_limits<T>::min())) {
                         if (status.ok()) status = node.Error("integer division by zero or overflow while folding");
                         c[i] = 0;
                       } else {
                         c[i] = static_cast<T>(u / v);
                       }
                   }
                 } else {
                   switch (op) {
                     case OpType::kAdd: c[i] = u + v; break;
                     case OpType::kSub: c[i] = u - v; break;
                     case OpType::kMul: c[i] = u * v; break;
                     default: c[i] = u / v;
                   }
                 }
               });
  return status;
}

Status FoldArithmetic(const Graph& g, Tensor& out, const OnnxNode& node) {
  const Tensor& x = g.tensors[g.nodes[0].inputs[0]];
  const Tensor& y = g.tensors[g.nodes[0].inputs[1]];
  const OpType op = g.nodes[0].op;
  switch (out.dtype) {
    case DType::kFloat32: return Arithmetic<float>(op, x, y, out, node);
    case DType::kInt32: return Arithmetic<int32_t>(op, x, y, out, node);
    case DType::kInt64: return Arithmetic<int64_t>(op, x, y, out, node);
    default: return Internal(node.Where() + ": folding arithmetic on " + DTypeName(out.dtype));
  }
}

void FoldConcat(const Graph& g, Tensor& out) {
  const Node& n = g.nodes[0];
  const size_t axis = static_cast<size_t>(n.GetInt("axis", 0));  // normalised by shape inference
  const size_t elem = DTypeSize(out.dtype);
  const int64_t outer = Product(out.shape, 0, axis);
  uint8_t* dst = out.data.data();
  for (int64_t o = 0; o < outer; ++o) {
    for (int id : n.inputs) {
      const Tensor& in = g.tensors[id];
      const size_t chunk = static_cast<size_t>(Product(in.shape, axis, in.shape.size())) * elem;
      if (chunk) std::memcpy(dst, in.data.data() + static_cast<size_t>(o) * chunk, chunk);
      dst += chunk;
    }
  }
}

Status FoldGather(Graph& g, Tensor& out) {
  const Node& n = g.nodes[0];
  const Tensor& data = g.tensors[n.inputs[0]];
  const size_t axis = static_cast<size_t>(n.GetInt("axis", 0));
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> indices, ConstantInts(g, n, 1));
  const int64_t dim = data.shape[axis];
  const size_t elem = DTypeSize(data.dtype);
  const size_t inner = static_cast<size_t>(Product(data.shape, axis + 1, data.shape.size())) * elem;
  const int64_t outer = Product(data.shape, 0, axis);
  uint8_t* dst = out.data.data();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t index : indices) {
      if (index < -dim || index >= dim)
        return InvalidArgument("node '" + n.name + "' (Gather): index " + std::to_string(index) + " is out of range");
      if (index < 0) index += dim;
      if (inner) std::memcpy(dst, data.data.data() + (static_cast<size_t>(o * dim + index)) * inner, inner);
      dst += inner;
    }
  }
  return Status::Ok();
}

Status FoldSlice(Graph& g, Tensor& out) {
  const Node& n = g.nodes[0];
  const Tensor& data = g.tensors[n.inputs[0]];
  ES_ASSIGN_OR_RETURN(SliceBounds b, ResolveSlice(g, n));
  if (b.counts != out.shape)
    return Internal("node '" + n.name + "' (Slice): slice bounds disagree with the inferred shape");
  const size_t rank = data.shape.size();
  std::vector<int64_t> in_strides(rank, 1), start_step(rank, 0);
  for (size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * data.shape[d];
  int64_t base = 0;
  for (size_t d = 0; d < rank; ++d) {
    base += b.starts[d] * in_strides[d];
    start_step[d] = b.steps[d] * in_strides[d];
  }
  const size_t elem = DTypeSize(data.dtype);
  const int64_t in_count = data.num_elements();
  Status status;
  ForEachIndex(out.shape, start_step, start_step, [&](int64_t i, int64_t offset, int64_t) {
    const int64_t src = base + offset;
    if (src < 0 || src >= in_count) {
      if (status.ok()) status = Internal("node '" + n.name + "' (Slice): slice reads outside its input");
      return;
    }
    std::memcpy(out.data.data() + static_cast<size_t>(i) * elem, data.data.data() + static_cast<size_t>(src) * elem,
                elem);
  });
  return status;
}

bool IsFoldable(OpType op) {
  switch (op) {
    case OpType::kIdentity:
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kConcat:
    case OpType::kGather:
    case OpType::kSlice:
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv: return true;
    default: return false;
  }
}

bool IsArithmetic(OpType op) {
  return op == OpType::kAdd || op == OpType::kSub || op == OpType::kMul || op == OpType::kDiv;
}

// A Constant node's value, from whichever of its value attributes is set.
Result<Tensor> ConstantValue(ImportState& state, const OnnxNode& node) {
  if (node.proto) {
    for (const onnx::AttributeProto& a : node.proto->attribute()) {
      if (a.name() == "value") {
        Result<Tensor> t = TensorFromProto(a.t(), state.external_data());
        if (!t.ok()) return t.status().WithContext(node.Where() + ": attribute 'value'");
        return t;
      }
      if (a.name() == "sparse_value" || a.name() == "value_string" || a.name() == "value_strings")
        return node.Unsupported("attribute '" + a.name() + "' is not supported");
    }
  }
  auto make = [](DType dtype, Shape shape, const void* values) {
    Tensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.data.resize(static_cast<size_t>(NumElements(t.shape)) * DTypeSize(dtype));
    if (!t.data.empty()) std::memcpy(t.data.data(), values, t.data.size());
    return t;
  };
  for (const Attribute& a : node.attrs) {
    const int64_t n = static_cast<int64_t>(a.kind == Attribute::Kind::kInts ? a.ints.size() : a.floats.size());
    if (a.name == "value_float" && a.kind == Attribute::Kind::kFloat) return make(DType::kFloat32, {}, &a.f);
    if (a.name == "value_int" && a.kind == Attribute::Kind::kInt) return make(DType::kInt64, {}, &a.i);
    if (a.name == "value_floats" && a.kind == Attribute::Kind::kFloats)
      return make(DType::kFloat32, {n}, a.floats.data());
    if (a.name == "value_ints" && a.kind == Attribute::Kind::kInts) return make(DType::kInt64, {n}, a.ints.data());
  }
  return node.Error("has no supported value attribute");
}

Status FoldConstantNode(ImportState& state, const OnnxNode& node) {
  if (node.outputs.size() != 1) return node.Error("must have exactly one output");
  ES_ASSIGN_OR_RETURN(Tensor t, ConstantValue(state, node));
  t.name = node.outputs[0];
  t.is_constant = true;
  return state.DefineConstant(std::move(t));
}

Status FoldShape(ImportState& state, const OnnxNode& node) {
  if (node.inputs.empty() || node.inputs[0].empty() || node.outputs.size() != 1)
    return node.Error("needs one input and one output");
  ES_ASSIGN_OR_RETURN(const Tensor* x, state.Lookup(node.inputs[0], node));
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  int64_t start = 0, end = rank;
  for (const Attribute& a : node.attrs) {
    if (a.kind != Attribute::Kind::kInt) continue;
    if (a.name == "start") start = clamp(a.i);
    if (a.name == "end") end = clamp(a.i);
  }
  Tensor t;
  t.name = node.outputs[0];
  t.dtype = DType::kInt64;
  t.is_constant = true;
  Shape dims(x->shape.begin() + start, x->shape.begin() + std::max(start, end));
  t.shape = {static_cast<int64_t>(dims.size())};
  t.data.resize(dims.size() * 8);
  if (!dims.empty()) std::memcpy(t.data.data(), dims.data(), t.data.size());
  return state.DefineConstant(std::move(t));
}

// Cast of a constant folds; of a run-time tensor it is only an identity.
Status ImportCast(ImportState& state, OnnxNode& node, bool* handled) {
  const Attribute* to_attr = node.FindAttr("to");
  if (!to_attr || to_attr->kind != Attribute::Kind::kInt) return node.Error("attribute 'to' is required");
  DType to;
  if (!DTypeFromOnnx(to_attr->i, &to)) return node.Unsupported("casts to " + OnnxTypeName(to_attr->i));
  if (node.inputs.empty() || node.inputs[0].empty() || node.outputs.size() != 1)
    return node.Error("needs one input and one output");
  ES_ASSIGN_OR_RETURN(const Tensor* x, state.Lookup(node.inputs[0], node));
  if (x->is_constant) {
    ES_RETURN_IF_ERROR(state.ChargeFoldBytes(x->num_elements() * static_cast<int64_t>(DTypeSize(to)), node));
    *handled = true;
    return state.DefineConstant(ConvertTensor(*x, to, node.outputs[0]));
  }
  if (x->dtype != to)
    return node.Unsupported(std::string("casting a run-time tensor from ") + DTypeName(x->dtype) + " to " +
                            DTypeName(to) + " is not supported");
  node.op_type = "Identity";
  node.attrs.clear();
  return Status::Ok();
}

}  // namespace

Status ImportOnlyOp(ImportState& state, OnnxNode& node, bool* handled) {
  *handled = false;
  if (node.op_type == "Constant") {
    *handled = true;
    return FoldConstantNode(state, node);
  }
  if (node.op_type == "Shape") {
    *handled = true;
    return FoldShape(state, node);
  }
  if (node.op_type == "Cast") return ImportCast(state, node, handled);
  return Status::Ok();
}

Status TryFold(ImportState& state, const OnnxNode& node, OpType op, bool* folded) {
  *folded = false;
  if (!IsFoldable(op) || node.inputs.empty() || node.outputs.size() != 1) return Status::Ok();
  for (const std::string& in : node.inputs)
    if (!in.empty() && !state.IsConstant(in)) return Status::Ok();

  // One-node scratch graph over copies of the constant inputs.
  Graph g;
  Node n;
  n.op = op;
  n.name = node.name;
  n.attrs = node.attrs;
  for (const std::string& in : node.inputs) {
    if (in.empty()) {
      n.inputs.push_back(kNoTensor);
      continue;
    }
    ES_ASSIGN_OR_RETURN(const Tensor* t, state.Lookup(in, node));
    n.inputs.push_back(g.AddTensor(*t));
  }
  Tensor out_tensor;
  out_tensor.name = node.outputs[0];
  n.outputs.push_back(g.AddTensor(std::move(out_tensor)));
  g.AddNode(std::move(n));
  if (IsArithmetic(op)) {
    const DType dtype = g.tensors[g.nodes[0].inputs[0]].dtype;
    if (dtype != DType::kFloat32 && dtype != DType::kInt32 && dtype != DType::kInt64) return Status::Ok();
  }
  ES_RETURN_IF_ERROR(InferNodeShapes(g, 0));
  ES_RETURN_IF_ERROR(CheckOutputSizes(g, g.nodes[0], node));

  Tensor& out = g.tensors[g.nodes[0].outputs[0]];
  const int64_t out_bytes = out.num_elements() * static_cast<int64_t>(DTypeSize(out.dtype));
  // Every folded constant is new memory (its inputs stay defined), so even
  // reshapes count: a chain of them over one big weight must not multiply it.
  ES_RETURN_IF_ERROR(state.ChargeFoldBytes(out_bytes, node));
  out.is_constant = true;
  switch (op) {
    case OpType::kConcat:
      out.data.resize(static_cast<size_t>(out_bytes));
      FoldConcat(g, out);
      break;
    case OpType::kGather:
      out.data.resize(static_cast<size_t>(out_bytes));
      ES_RETURN_IF_ERROR(FoldGather(g, out));
      break;
    case OpType::kSlice:
      out.data.resize(static_cast<size_t>(out_bytes));
      ES_RETURN_IF_ERROR(FoldSlice(g, out));
      break;
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
      out.data.resize(static_cast<size_t>(out_bytes));
      ES_RETURN_IF_ERROR(FoldArithmetic(g, out, node));
      break;
    default: {  // same elements, new shape
      Tensor& in = g.tensors[g.nodes[0].inputs[0]];
      if (in.data.size() != static_cast<size_t>(out_bytes))
        return Internal(node.Where() + ": inferred shape " + ShapeToString(out.shape) + " does not hold the input's " +
                        std::to_string(in.data.size()) + " bytes");
      out.data = std::move(in.data);
    }
  }
  *folded = true;
  return state.DefineConstant(std::move(out));
}

}  // namespace edgesplit::onnx_internal
