// Reference backend, Prepare: checks each node and resolves its attributes into
// the PreparedKernel layouts documented in reference_internal.h.
#include <algorithm>
#include <string>

#include "edgesplit/kernels.h"
#include "reference_internal.h"

namespace edgesplit {
namespace {

using namespace reference;

Status NodeFail(const Node& node, const std::string& message) {
  return Unsupported("node '" + node.name + "' (" + OpTypeName(node.op) + "): " + message);
}

Result<TensorDesc> Describe(const Graph& graph, const Node& node, int tensor) {
  TensorDesc d;
  if (tensor == kNoTensor) return d;
  const Tensor& t = graph.tensors[tensor];
  if (t.shape.size() > kMaxKernelRank)
    return NodeFail(node, "tensor '" + t.name + "' has rank " + std::to_string(t.shape.size()) + " (at most " +
                              std::to_string(kMaxKernelRank) + ")");
  d.dtype = t.dtype;
  d.rank = static_cast<int>(t.shape.size());
  for (int i = 0; i < d.rank; ++i) d.dims[i] = t.shape[i];
  d.elements = t.num_elements();
  d.present = true;
  return d;
}

Status RequireDType(const Node& node, const TensorDesc& d, const char* what, DType a, DType b, DType c) {
  if (!d.present || d.dtype == a || d.dtype == b || d.dtype == c) return Status::Ok();
  return NodeFail(node, std::string(what) + " has dtype " + DTypeName(d.dtype) + ", which the reference backend does not support for this op");
}
Status RequireF32(const Node& node, const TensorDesc& d, const char* what) {
  return RequireDType(node, d, what, DType::kFloat32, DType::kFloat32, DType::kFloat32);
}

// Conv and pooling: maps 1-D, 2-D and 3-D windows onto the 3-D layout.
Status PrepareWindow(const Node& node, const TensorDesc& x, const TensorDesc& y, std::vector<int64_t>* ints) {
  const int spatial = x.rank - 2;
  if (spatial < 1 || spatial > 3) return NodeFail(node, std::to_string(spatial) + "-D windows are not supported (1-D to 3-D are)");
  std::vector<int64_t> k = node.GetInts("kernel_shape"), s = node.GetInts("strides"), dl = node.GetInts("dilations"),
                       p = node.GetInts("pads");
  if (k.size() != static_cast<size_t>(spatial)) return NodeFail(node, "kernel_shape is not resolved");
  if (s.empty()) s.assign(spatial, 1);
  if (dl.empty()) dl.assign(spatial, 1);
  if (p.empty()) p.assign(2 * spatial, 0);
  ints->assign(kWinCount, 0);
  int64_t* w = ints->data();
  w[kWinN] = x.dims[0];
  w[kWinC] = x.dims[1];
  w[kWinM] = y.dims[1];
  const int lead = 3 - spatial;  // unit dims in front
  for (int i = 0; i < 3; ++i) {
    const int j = i - lead;
    const bool real = j >= 0;
    w[kWinD + i] = real ? x.dims[2 + j] : 1;
    w[kWinOD + i] = real ? y.dims[2 + j] : 1;
    w[kWinKD + i] = real ? k[j] : 1;
    w[kWinSD + i] = real ? s[j] : 1;
    w[kWinDD + i] = real ? dl[j] : 1;
    w[kWinPF + i] = real ? p[j] : 0;
    w[kWinPBk + i] = real ? p[j + spatial] : 0;
  }
  return Status::Ok();
}

// Strides of `d` broadcast to `out_rank` dims (0 along broadcast dims).
void BroadcastStrides(const TensorDesc& d, const TensorDesc& out, int64_t* strides) {
  int64_t stride = 1;
  for (int i = out.rank - 1; i >= 0; --i) {
    const int j = i - (out.rank - d.rank);
    if (j < 0) {
      strides[i] = 0;
      continue;
    }
    strides[i] = d.dims[j] == 1 ? 0 : stride;
    stride *= d.dims[j];
  }
}

// MatMul operands: ints += M, K, N, batch rank, batch dims[br], a batch strides[br], b batch strides[br].
void MatMulLayout(const TensorDesc& a, const TensorDesc& b, std::vector<int64_t>* ints) {
  TensorDesc a2 = a, b2 = b;
  if (a2.rank == 1) {  // Promote vectors to matrices.
    a2.dims[1] = a2.dims[0];
    a2.dims[0] = 1;
    a2.rank = 2;
  }
  if (b2.rank == 1) {
    b2.dims[1] = 1;
    b2.rank = 2;
  }
  const int64_t M = a2.dims[a2.rank - 2], K = a2.dims[a2.rank - 1], N = b2.dims[b2.rank - 1];
  const int br = std::max(a2.rank, b2.rank) - 2;
  ints->insert(ints->end(), {M, K, N, br});
  int64_t sa[kMaxKernelRank] = {}, sb[kMaxKernelRank] = {}, dims[kMaxKernelRank] = {};
  int64_t stride_a = M * K, stride_b = K * N;
  for (int i = br - 1; i >= 0; --i) {
    const int ja = i - (br - (a2.rank - 2)), jb = i - (br - (b2.rank - 2));
    const int64_t da = ja >= 0 ? a2.dims[ja] : 1, db = jb >= 0 ? b2.dims[jb] : 1;
    dims[i] = std::max(da, db);
    sa[i] = da == 1 ? 0 : stride_a;
    sb[i] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  for (int i = 0; i < br; ++i) ints->push_back(dims[i]);
  for (int i = 0; i < br; ++i) ints->push_back(sa[i]);
  for (int i = 0; i < br; ++i) ints->push_back(sb[i]);
}

Status PrepareReference(const void* /*context*/, const Graph& graph, int node_index, PreparedKernel* k) {
  const Node& node = graph.nodes[node_index];
  *k = PreparedKernel();
  k->op = node.op;
  k->node_index = node_index;
  k->activation = node.activation;
  for (int t : node.inputs) {
    ES_ASSIGN_OR_RETURN(TensorDesc d, Describe(graph, node, t));
    k->inputs.push_back(d);
  }
  for (int t : node.outputs) {
    ES_ASSIGN_OR_RETURN(TensorDesc d, Describe(graph, node, t));
    if (!d.present) return NodeFail(node, "has an omitted output");
    k->outputs.push_back(d);
  }
  if (k->inputs.empty() || !k->inputs[0].present || k->outputs.empty()) return NodeFail(node, "has no data input or output");
  const TensorDesc& x = k->inputs[0];
  const TensorDesc& y = k->outputs[0];
  auto in = [&](size_t i) -> const TensorDesc& {
    static const TensorDesc kAbsent;
    return i < k->inputs.size() ? k->inputs[i] : kAbsent;
  };
  if (IsQuantizedNode(graph, node)) return PrepareInt8(graph, node_index, k);
  if (node.activation.kind != ActivationKind::kNone && y.dtype != DType::kFloat32)
    return NodeFail(node, "a fused activation needs a float output");
  switch (node.op) {
    case OpType::kConv: {
      for (size_t i = 0; i < 3; ++i) ES_RETURN_IF_ERROR(RequireF32(node, in(i), "an input"));
      ES_RETURN_IF_ERROR(RequireF32(node, y, "the output"));
      ES_RETURN_IF_ERROR(PrepareWindow(node, x, y, &k->ints));
      k->ints[kWinGroup] = node.GetInt("group", 1);
      // A strided pointwise conv gathers its input pixels into scratch first.
      const int64_t* w = k->ints.data();
      if (IsPointwise(w) && (w[kWinSD] != 1 || w[kWinSH] != 1 || w[kWinSW] != 1))
        k->scratch_bytes = w[kWinC] * w[kWinOD] * w[kWinOH] * w[kWinOW] * 4;
      return Status::Ok();
    }
    case OpType::kMaxPool:
    case OpType::kAveragePool: {
      if (node.op == OpType::kMaxPool)
        ES_RETURN_IF_ERROR(RequireDType(node, x, "the input", DType::kFloat32, DType::kInt8, DType::kUInt8));
      else
        ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      if (node.outputs.size() != 1) return NodeFail(node, "the Indices output is not supported");
      if (node.op == OpType::kMaxPool && node.GetInt("storage_order", 0) != 0)
        return NodeFail(node, "storage_order=1 is not supported");
      ES_RETURN_IF_ERROR(PrepareWindow(node, x, y, &k->ints));
      k->ints[kWinGroup] = node.GetInt("count_include_pad", 0);
      return Status::Ok();
    }
    case OpType::kGlobalAveragePool:
      ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      k->ints = {x.dims[0] * x.dims[1], x.elements / std::max<int64_t>(1, x.dims[0] * x.dims[1])};
      return Status::Ok();
    case OpType::kBatchNormalization:
      for (size_t i = 0; i < 5; ++i) ES_RETURN_IF_ERROR(RequireF32(node, in(i), "an input"));
      if (node.outputs.size() != 1) return NodeFail(node, "training-mode outputs are not supported");
      if (node.GetInt("training_mode", 0) != 0) return NodeFail(node, "training_mode is not supported");
      k->ints = {x.dims[0], x.rank > 1 ? x.dims[1] : 1, x.elements / std::max<int64_t>(1, x.dims[0] * (x.rank > 1 ? x.dims[1] : 1))};
      k->floats = {node.GetFloat("epsilon", 1e-5f)};
      return Status::Ok();
    case OpType::kRelu:
    case OpType::kSigmoid:
    case OpType::kHardSwish:
      ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      return Status::Ok();
    case OpType::kLeakyRelu:
      ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      k->floats = {node.GetFloat("alpha", 0.01f)};
      return Status::Ok();
    case OpType::kHardSigmoid:
      ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      k->floats = {node.GetFloat("alpha", 0.2f), node.GetFloat("beta", 0.5f)};
      return Status::Ok();
    case OpType::kClip:
      if (x.dtype != DType::kFloat32 && x.dtype != DType::kInt8 && x.dtype != DType::kUInt8 && x.dtype != DType::kInt32)
        return NodeFail(node, std::string("dtype ") + DTypeName(x.dtype) + " is not supported");
      for (size_t i = 1; i < 3; ++i)
        if (in(i).present && (in(i).dtype != x.dtype || in(i).elements != 1))
          return NodeFail(node, "min/max must be scalars of the input's dtype");
      return Status::Ok();
    case OpType::kIdentity:
    case OpType::kDropout:
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
      if (node.outputs.size() != 1) return NodeFail(node, "extra outputs are not supported");
      if (x.elements != y.elements || x.dtype != y.dtype) return NodeFail(node, "input and output sizes differ");
      k->ints = {static_cast<int64_t>(DTypeSize(x.dtype)) * x.elements};
      return Status::Ok();
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv: {
      const TensorDesc& b = in(1);
      if (!b.present) return NodeFail(node, "needs two inputs");
      if (x.dtype != DType::kFloat32 && x.dtype != DType::kInt32 && x.dtype != DType::kInt64 && x.dtype != DType::kInt8 &&
          x.dtype != DType::kUInt8)
        return NodeFail(node, std::string("dtype ") + DTypeName(x.dtype) + " is not supported");
      if (b.dtype != x.dtype || y.dtype != x.dtype) return NodeFail(node, "input dtypes differ");
      // ints: rank, out dims[rank], a strides[rank], b strides[rank]
      const int r = std::max(1, y.rank);
      k->ints.assign(1 + 3 * r, 0);
      k->ints[0] = r;
      int64_t sa[kMaxKernelRank] = {}, sb[kMaxKernelRank] = {};
      if (y.rank == 0) {
        k->ints[1] = 1;
      } else {
        BroadcastStrides(x, y, sa);
        BroadcastStrides(b, y, sb);
        for (int i = 0; i < r; ++i) {
          k->ints[1 + i] = y.dims[i];
          k->ints[1 + r + i] = sa[i];
          k->ints[1 + 2 * r + i] = sb[i];
        }
      }
      return Status::Ok();
    }
    case OpType::kConcat: {
      const int64_t axis = node.GetInt("axis", 0);
      if (axis < 0 || axis >= std::max(1, y.rank)) return NodeFail(node, "axis is not resolved");
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= y.dims[d];
      const int64_t esize = static_cast<int64_t>(DTypeSize(y.dtype));
      // ints: outer, out row bytes, then per input its row bytes
      k->ints = {outer, outer ? y.elements / std::max<int64_t>(1, outer) * esize : 0};
      for (const TensorDesc& d : k->inputs) {
        if (!d.present || d.dtype != y.dtype) return NodeFail(node, "inputs must be present and share a dtype");
        k->ints.push_back(outer ? d.elements / std::max<int64_t>(1, outer) * esize : 0);
      }
      return Status::Ok();
    }
    case OpType::kReduceMean: {
      ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      std::vector<int64_t> axes = node.GetInts("axes");
      std::vector<char> reduce(x.rank, axes.empty() ? 1 : 0);
      if (axes.empty() && node.GetInt("noop_with_empty_axes", 0) != 0) reduce.assign(x.rank, 0);
      for (int64_t a : axes) reduce[a < 0 ? a + x.rank : a] = 1;
      // ints: rank, in dims[rank], out strides (0 along reduced dims)[rank], count
      const int r = x.rank;
      k->ints.assign(2 + 2 * r, 0);
      k->ints[0] = r;
      int64_t stride = 1, count = 1;
      for (int i = r - 1; i >= 0; --i) {
        k->ints[1 + i] = x.dims[i];
        if (reduce[i]) {
          k->ints[1 + r + i] = 0;
          count *= x.dims[i];
        } else {
          k->ints[1 + r + i] = stride;
          stride *= x.dims[i];
        }
      }
      k->ints[1 + 2 * r] = count;
      return Status::Ok();
    }
    case OpType::kSoftmax: {
      ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
      int64_t axis = node.GetInt("axis", -1);
      if (axis < 0) axis += x.rank;
      if (axis < 0 || axis >= x.rank) return NodeFail(node, "axis is out of range");
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < x.rank; ++d) {
        if (d < axis) outer *= x.dims[d];
        if (d > axis) inner *= x.dims[d];
      }
      k->ints = {outer, x.dims[axis], inner};
      return Status::Ok();
    }
    case OpType::kTranspose: {
      std::vector<int64_t> perm = node.GetInts("perm");
      if (static_cast<int>(perm.size()) != x.rank) return NodeFail(node, "perm is not resolved");
      // ints: rank, esize, out dims[rank], input strides permuted[rank]
      int64_t in_strides[kMaxKernelRank];
      int64_t s = 1;
      for (int i = x.rank - 1; i >= 0; --i) {
        in_strides[i] = s;
        s *= x.dims[i];
      }
      k->ints = {x.rank, static_cast<int64_t>(DTypeSize(x.dtype))};
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(y.dims[i]);
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(in_strides[perm[i]]);
      return Status::Ok();
    }
    case OpType::kSlice: {
      ES_ASSIGN_OR_RETURN(SliceBounds b, ResolveSlice(graph, node));
      // ints: rank, esize, base offset, counts[rank], strides (elements, times step)[rank]
      int64_t in_strides[kMaxKernelRank];
      int64_t s = 1;
      for (int i = x.rank - 1; i >= 0; --i) {
        in_strides[i] = s;
        s *= x.dims[i];
      }
      int64_t base = 0;
      for (int i = 0; i < x.rank; ++i)
        if (b.counts[i] > 0) base += b.starts[i] * in_strides[i];
      k->ints = {x.rank, static_cast<int64_t>(DTypeSize(x.dtype)), base};
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(b.counts[i]);
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(in_strides[i] * b.steps[i]);
      return Status::Ok();
    }
    case OpType::kSplit: {
      const int64_t axis = node.GetInt("axis", 0);
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
      const int64_t esize = static_cast<int64_t>(DTypeSize(x.dtype));
      k->ints = {outer, outer ? x.elements / std::max<int64_t>(1, outer) * esize : 0};
      for (const TensorDesc& d : k->outputs) k->ints.push_back(outer ? d.elements / std::max<int64_t>(1, outer) * esize : 0);
      return Status::Ok();
    }
    case OpType::kGather: {
      const TensorDesc& idx = in(1);
      if (!idx.present || (idx.dtype != DType::kInt64 && idx.dtype != DType::kInt32))
        return NodeFail(node, "indices must be int32 or int64");
      const int64_t axis = node.GetInt("axis", 0);
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < x.rank; ++d) {
        if (d < axis) outer *= x.dims[d];
        if (d > axis) inner *= x.dims[d];
      }
      k->ints = {outer, x.dims[axis], inner, idx.elements, static_cast<int64_t>(DTypeSize(x.dtype)),
                 idx.dtype == DType::kInt64 ? 8 : 4};
      return Status::Ok();
    }
    case OpType::kGemm: {
      for (size_t i = 0; i < 3; ++i) ES_RETURN_IF_ERROR(RequireF32(node, in(i), "an input"));
      const bool ta = node.GetInt("transA", 0) != 0, tb = node.GetInt("transB", 0) != 0;
      const int64_t M = y.dims[0], N = y.dims[1], K = ta ? x.dims[0] : x.dims[1];
      int64_t cm = 0, cn = 0;
      const TensorDesc& c = in(2);
      if (c.present) {
        if (c.rank == 2) {
          cm = c.dims[0] == 1 ? 0 : c.dims[1];
          cn = c.dims[1] == 1 ? 0 : 1;
        } else if (c.rank == 1) {
          cn = c.dims[0] == 1 ? 0 : 1;
        }
      }
      k->ints = {M, N, K, ta, tb, c.present, cm, cn};
      k->floats = {node.GetFloat("alpha", 1.0f), node.GetFloat("beta", 1.0f)};
      return Status::Ok();
    }
    case OpType::kMatMul: {
      for (size_t i = 0; i < 2; ++i) ES_RETURN_IF_ERROR(RequireF32(node, in(i), "an input"));
      MatMulLayout(x, in(1), &k->ints);
      return Status::Ok();
    }
    case OpType::kPad: {
      if (node.HasInput(3)) return NodeFail(node, "the axes input is not supported");
      ES_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ConstantInts(graph, node, 1));
      const std::string mode = node.GetString("mode", "constant");
      if (in(2).present && in(2).dtype != x.dtype) return NodeFail(node, "constant_value dtype differs from the input");
      // ints: rank, esize, mode (0 constant, 1 reflect, 2 edge), in dims[rank], out dims[rank], pads begin[rank]
      k->ints = {x.rank, static_cast<int64_t>(DTypeSize(x.dtype)), mode == "reflect" ? 1 : mode == "edge" ? 2 : 0};
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(x.dims[i]);
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(y.dims[i]);
      for (int i = 0; i < x.rank; ++i) k->ints.push_back(pads[i]);
      return Status::Ok();
    }
    case OpType::kQuantizeLinear:
    case OpType::kDequantizeLinear: {
      const bool quantize = node.op == OpType::kQuantizeLinear;
      if (quantize) {
        ES_RETURN_IF_ERROR(RequireF32(node, x, "the input"));
        ES_RETURN_IF_ERROR(RequireDType(node, y, "the output", DType::kInt8, DType::kUInt8, DType::kUInt8));
      } else {
        ES_RETURN_IF_ERROR(RequireDType(node, x, "the input", DType::kInt8, DType::kUInt8, DType::kInt32));
      }
      ES_RETURN_IF_ERROR(RequireF32(node, in(1), "the scale"));
      const TensorDesc& scale = in(1);
      if (!scale.present) return NodeFail(node, "needs a scale");
      if (in(2).present && in(2).elements != scale.elements) return NodeFail(node, "scale and zero point sizes differ");
      int64_t axis = node.GetInt("axis", 1);
      const bool per_axis = scale.elements != 1 || scale.rank == 1;
      int64_t outer = 1, dim = 1, inner = x.elements;
      if (per_axis && x.rank > 0) {
        if (axis < 0) axis += x.rank;
        if (axis < 0 || axis >= x.rank) return NodeFail(node, "axis is out of range");
        if (scale.elements != x.dims[axis])
          return NodeFail(node, "per-axis scale has " + std::to_string(scale.elements) + " values for an axis of " +
                                    std::to_string(x.dims[axis]));
        outer = 1;
        inner = 1;
        for (int d = 0; d < x.rank; ++d) {
          if (d < axis) outer *= x.dims[d];
          if (d > axis) inner *= x.dims[d];
        }
        dim = x.dims[axis];
      }
      // ints: outer, dim, inner, data dtype (x for Dequantize, y for Quantize), zero point dtype
      k->ints = {outer, dim, inner, static_cast<int64_t>(quantize ? y.dtype : x.dtype),
                 static_cast<int64_t>(in(2).present ? in(2).dtype : (quantize ? y.dtype : x.dtype))};
      return Status::Ok();
    }
    case OpType::kQLinearMatMul: {
      // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
      if (k->inputs.size() != 8) return NodeFail(node, "needs 8 inputs");
      for (size_t i : {0, 2, 3, 5, 7})
        ES_RETURN_IF_ERROR(RequireDType(node, in(i), "a quantized input", DType::kInt8, DType::kUInt8, DType::kUInt8));
      for (size_t i : {1, 4, 6}) ES_RETURN_IF_ERROR(RequireF32(node, in(i), "a scale"));
      const TensorDesc& b = in(3);
      if (x.rank < 2 || b.rank < 2) return NodeFail(node, "operands must be matrices (or batches of them)");
      if (in(1).elements != 1 || in(2).elements != 1 || in(6).elements != 1 || in(7).elements != 1)
        return NodeFail(node, "a and y must be quantized per tensor");
      const int64_t N = b.dims[b.rank - 1];
      if ((in(4).elements != 1 && in(4).elements != N) || in(5).elements != in(4).elements)
        return NodeFail(node, "b's scale/zero point must be per tensor or per column");
      // ints: per column, a signed, b signed, y signed, then the MatMul layout
      k->ints = {in(4).elements != 1, x.dtype == DType::kInt8, b.dtype == DType::kInt8, y.dtype == DType::kInt8};
      MatMulLayout(x, b, &k->ints);
      return Status::Ok();
    }
    case OpType::kQLinearConv: {
      // x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B
      if (k->inputs.size() < 8) return NodeFail(node, "needs at least 8 inputs");
      for (size_t i : {0, 2, 3, 5, 7})
        ES_RETURN_IF_ERROR(RequireDType(node, in(i), "a quantized input", DType::kInt8, DType::kUInt8, DType::kUInt8));
      for (size_t i : {1, 4, 6}) ES_RETURN_IF_ERROR(RequireF32(node, in(i), "a scale"));
      ES_RETURN_IF_ERROR(RequireDType(node, in(8), "the bias", DType::kInt32, DType::kInt32, DType::kInt32));
      const int64_t M = y.dims[1];
      if (in(1).elements != 1 || in(2).elements != 1 || in(6).elements != 1 || in(7).elements != 1)
        return NodeFail(node, "x and y must be quantized per tensor");
      if ((in(4).elements != 1 && in(4).elements != M) || (in(5).elements != 1 && in(5).elements != M))
        return NodeFail(node, "w's scale/zero point must be per tensor or per output channel");
      ES_RETURN_IF_ERROR(PrepareWindow(node, x, y, &k->ints));
      k->ints[kWinGroup] = node.GetInt("group", 1);
      // extra: per-channel scale, per-channel zp, x signed, w signed, y signed
      k->ints.insert(k->ints.end(), {in(4).elements != 1, in(5).elements != 1, x.dtype == DType::kInt8,
                                     in(3).dtype == DType::kInt8, y.dtype == DType::kInt8});
      k->scratch_bytes = (y.elements / std::max<int64_t>(1, y.dims[0] * M)) * 4;  // one int32 output plane
      return Status::Ok();
    }
  }
  return NodeFail(node, "is not supported by the reference backend");
}

Status EvalReference(const void* /*context*/, const PreparedKernel& k, const void* const* inputs, void* const* outputs,
                     void* scratch) {
  return reference::Eval(k, inputs, outputs, scratch);
}

constexpr Backend kReferenceBackend("reference", PrepareReference, EvalReference);

}  // namespace

namespace reference {
Status WindowLayout(const Node& node, const TensorDesc& x, const TensorDesc& y, std::vector<int64_t>* ints) {
  return PrepareWindow(node, x, y, ints);
}
void BroadcastLayout(const TensorDesc& d, const TensorDesc& out, int64_t* strides) { BroadcastStrides(d, out, strides); }
}  // namespace reference

const Backend& ReferenceBackend() { return kReferenceBackend; }

const Backend* FindBackend(std::string_view name) {
  if (name == "reference") return &ReferenceBackend();
  return FindRegisteredBackend(name);
}

}  // namespace edgesplit
