// Shape and dtype inference, one node at a time, following the ONNX operator
// specifications (opset 17 forms; the importer normalises older forms).
//
// Conv and pooling nodes are also normalised here: kernel_shape, strides,
// dilations and explicit pads are always written and auto_pad removed, so that
// kernels and exporters see one form.
#include <algorithm>
#include <cstdint>
#include <string>

#include "edgesplit/graph.h"
#include "shape_util.h"

namespace edgesplit {
namespace {

using detail::NodeContext;

Status SameAsInput(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  return ctx.SetOutput(0, x->shape, x->dtype);
}

// ---- Windowed ops: Conv, QLinearConv, MaxPool, AveragePool --------------------

// Resolves kernel/strides/dilations/pads (incl. auto_pad) for `spatial` dims and
// writes them back as explicit attributes. Returns the output spatial dims.
Result<Shape> WindowOutput(NodeContext& ctx, const Shape& in_spatial, Shape kernel, bool ceil_mode) {
  Node& node = ctx.node();
  const size_t rank = in_spatial.size();
  if (kernel.size() != rank)
    return ctx.Error("kernel_shape has " + std::to_string(kernel.size()) + " dims, input has " +
                     std::to_string(rank) + " spatial dims");
  Shape strides = node.GetInts("strides");
  Shape dilations = node.GetInts("dilations");
  Shape pads = node.GetInts("pads");
  if (strides.empty()) strides.assign(rank, 1);
  if (dilations.empty()) dilations.assign(rank, 1);
  if (pads.empty()) pads.assign(2 * rank, 0);
  if (strides.size() != rank || dilations.size() != rank || pads.size() != 2 * rank)
    return ctx.Error("strides/dilations/pads do not match the " + std::to_string(rank) + " spatial dims");
  for (size_t i = 0; i < rank; ++i) {
    if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
      return ctx.Error("kernel_shape, strides and dilations must be positive");
    if (pads[i] < 0 || pads[i + rank] < 0) return ctx.Error("pads must not be negative");
    if (kernel[i] > (int64_t{1} << 20) || strides[i] > (int64_t{1} << 20) || dilations[i] > (int64_t{1} << 20) ||
        pads[i] > (int64_t{1} << 30) || pads[i + rank] > (int64_t{1} << 30))
      return ctx.Error("kernel_shape, strides, dilations or pads are implausibly large");
  }
  const std::string auto_pad = node.GetString("auto_pad", "NOTSET");
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t extent = (kernel[i] - 1) * dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out[i] = (in_spatial[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out[i] - 1) * strides[i] + extent - in_spatial[i]);
      int64_t small = total / 2;
      pads[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      pads[i + rank] = total - pads[i];
      continue;
    }
    if (auto_pad == "VALID") {
      pads[i] = pads[i + rank] = 0;
    } else if (auto_pad != "NOTSET") {
      return ctx.Error("unknown auto_pad '" + auto_pad + "'");
    }
    const int64_t span = in_spatial[i] + pads[i] + pads[i + rank] - extent;
    if (span < 0)
      return ctx.Error("the window (" + std::to_string(extent) + ") is larger than the padded input (" +
                       std::to_string(in_spatial[i] + pads[i] + pads[i + rank]) + ")");
    out[i] = (ceil_mode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
  }
  node.RemoveAttr("auto_pad");
  node.SetInts("kernel_shape", std::move(kernel));
  node.SetInts("strides", std::move(strides));
  node.SetInts("pads", std::move(pads));
  if (node.op != OpType::kAveragePool) node.SetInts("dilations", std::move(dilations));
  return out;
}

Status InferConvLike(NodeContext& ctx, int x_index, int w_index, int bias_index, DType out_dtype_default) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(x_index));
  ES_ASSIGN_OR_RETURN(const Tensor* w, ctx.Input(w_index));
  if (x->shape.size() < 3) return ctx.Error("input " + ShapeToString(x->shape) + " must be N,C,spatial...");
  if (w->shape.size() != x->shape.size())
    return ctx.Error("weight " + ShapeToString(w->shape) + " and input " + ShapeToString(x->shape) +
                     " ranks differ");
  const int64_t group = ctx.node().GetInt("group", 1);
  const int64_t channels = x->shape[1], out_channels = w->shape[0];
  if (group < 1 || out_channels % group != 0)
    return ctx.Error("group " + std::to_string(group) + " does not divide the " + std::to_string(out_channels) +
                     " output channels");
  if (w->shape[1] * group != channels)
    return ctx.Error("weight " + ShapeToString(w->shape) + " expects " + std::to_string(w->shape[1] * group) +
                     " input channels (group " + std::to_string(group) + ") but the input " +
                     ShapeToString(x->shape) + " has " + std::to_string(channels));
  if (ctx.node().HasInput(bias_index)) {
    ES_ASSIGN_OR_RETURN(const Tensor* b, ctx.Input(bias_index));
    if (b->shape != Shape{out_channels})
      return ctx.Error("bias " + ShapeToString(b->shape) + " must be [" + std::to_string(out_channels) + "]");
  }
  Shape spatial(x->shape.begin() + 2, x->shape.end());
  Shape kernel = ctx.node().GetInts("kernel_shape");
  if (kernel.empty()) kernel.assign(w->shape.begin() + 2, w->shape.end());
  if (kernel != Shape(w->shape.begin() + 2, w->shape.end()))
    return ctx.Error("kernel_shape " + ShapeToString(kernel) + " disagrees with the weight " +
                     ShapeToString(w->shape));
  ES_ASSIGN_OR_RETURN(Shape out_spatial, WindowOutput(ctx, spatial, kernel, false));
  ctx.node().SetInt("group", group);
  Shape out = {x->shape[0], out_channels};
  out.insert(out.end(), out_spatial.begin(), out_spatial.end());
  DType dtype = out_dtype_default == DType::kFloat32 ? x->dtype : out_dtype_default;
  return ctx.SetOutput(0, std::move(out), dtype);
}

Status InferPool(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  if (x->shape.size() < 3) return ctx.Error("input " + ShapeToString(x->shape) + " must be N,C,spatial...");
  if (ctx.node().outputs.size() > 1) return ctx.Error("the Indices output of MaxPool is not supported");
  Shape kernel = ctx.node().GetInts("kernel_shape");
  if (kernel.empty()) return ctx.Error("kernel_shape is required");
  Shape spatial(x->shape.begin() + 2, x->shape.end());
  const bool ceil_mode = ctx.node().GetInt("ceil_mode", 0) != 0;
  ES_ASSIGN_OR_RETURN(Shape out_spatial, WindowOutput(ctx, spatial, kernel, ceil_mode));
  Shape out = {x->shape[0], x->shape[1]};
  out.insert(out.end(), out_spatial.begin(), out_spatial.end());
  return ctx.SetOutput(0, std::move(out), x->dtype);
}

// ---- Elementwise and reductions -------------------------------------------------

Status InferBroadcast(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* a, ctx.Input(0));
  ES_ASSIGN_OR_RETURN(const Tensor* b, ctx.Input(1));
  if (a->dtype != b->dtype)
    return ctx.Error(std::string("input dtypes differ: ") + DTypeName(a->dtype) + " and " + DTypeName(b->dtype));
  ES_ASSIGN_OR_RETURN(Shape out, detail::BroadcastShapes(ctx.node(), a->shape, b->shape));
  return ctx.SetOutput(0, std::move(out), a->dtype);
}

Status InferBatchNorm(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  if (x->shape.size() < 2) return ctx.Error("input " + ShapeToString(x->shape) + " must have a channel axis");
  for (int i = 1; i <= 4; ++i) {
    ES_ASSIGN_OR_RETURN(const Tensor* p, ctx.Input(i));
    if (p->shape != Shape{x->shape[1]})
      return ctx.Error("parameter " + std::to_string(i) + " " + ShapeToString(p->shape) + " must be [" +
                       std::to_string(x->shape[1]) + "]");
  }
  if (ctx.node().outputs.size() > 1) return ctx.Error("training-mode outputs are not supported");
  return ctx.SetOutput(0, x->shape, x->dtype);
}

Status InferConcat(NodeContext& ctx) {
  if (ctx.node().inputs.empty()) return ctx.Error("needs at least one input");
  ES_ASSIGN_OR_RETURN(const Tensor* first, ctx.Input(0));
  const Attribute* axis_attr = ctx.node().FindAttr("axis");
  if (!axis_attr) return ctx.Error("attribute 'axis' is required");
  ES_ASSIGN_OR_RETURN(int64_t axis, detail::NormalizeAxis(ctx.node(), axis_attr->i, first->shape.size()));
  Shape out = first->shape;
  for (size_t i = 1; i < ctx.node().inputs.size(); ++i) {
    ES_ASSIGN_OR_RETURN(const Tensor* t, ctx.Input(static_cast<int>(i)));
    if (t->shape.size() != out.size() || t->dtype != first->dtype)
      return ctx.Error("input " + std::to_string(i) + " " + ShapeToString(t->shape) + " cannot be concatenated with " +
                       ShapeToString(first->shape));
    for (size_t d = 0; d < out.size(); ++d) {
      if (static_cast<int64_t>(d) == axis) continue;
      if (t->shape[d] != out[d])
        return ctx.Error("input " + std::to_string(i) + " " + ShapeToString(t->shape) + " differs from " +
                         ShapeToString(first->shape) + " outside axis " + std::to_string(axis));
    }
    out[axis] += t->shape[axis];
  }
  ctx.node().SetInt("axis", axis);
  return ctx.SetOutput(0, std::move(out), first->dtype);
}

Status InferReduceMean(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  Shape axes = ctx.node().GetInts("axes");
  const bool keepdims = ctx.node().GetInt("keepdims", 1) != 0;
  std::vector<char> reduce(x->shape.size(), axes.empty() ? 1 : 0);
  for (int64_t a : axes) {
    ES_ASSIGN_OR_RETURN(int64_t axis, detail::NormalizeAxis(ctx.node(), a, x->shape.size()));
    reduce[axis] = 1;
  }
  Shape out;
  for (size_t d = 0; d < x->shape.size(); ++d) {
    if (!reduce[d]) out.push_back(x->shape[d]);
    else if (keepdims) out.push_back(1);
  }
  return ctx.SetOutput(0, std::move(out), x->dtype);
}

Status InferSoftmax(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  ES_ASSIGN_OR_RETURN(int64_t axis, detail::NormalizeAxis(ctx.node(), ctx.node().GetInt("axis", -1), x->shape.size()));
  (void)axis;
  return ctx.SetOutput(0, x->shape, x->dtype);
}

// ---- Matrix products --------------------------------------------------------------

Status InferGemm(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* a, ctx.Input(0));
  ES_ASSIGN_OR_RETURN(const Tensor* b, ctx.Input(1));
  if (a->shape.size() != 2 || b->shape.size() != 2)
    return ctx.Error("A " + ShapeToString(a->shape) + " and B " + ShapeToString(b->shape) + " must be matrices");
  const bool ta = ctx.node().GetInt("transA", 0) != 0, tb = ctx.node().GetInt("transB", 0) != 0;
  const int64_t m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
  const int64_t kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
  if (k != kb)
    return ctx.Error("inner dimensions differ: A " + ShapeToString(a->shape) + (ta ? " (transposed)" : "") + ", B " +
                     ShapeToString(b->shape) + (tb ? " (transposed)" : ""));
  if (ctx.node().HasInput(2)) {
    ES_ASSIGN_OR_RETURN(const Tensor* c, ctx.Input(2));
    ES_ASSIGN_OR_RETURN(Shape bc, detail::BroadcastShapes(ctx.node(), c->shape, Shape{m, n}));
    if (bc != Shape{m, n})
      return ctx.Error("C " + ShapeToString(c->shape) + " does not broadcast to [" + std::to_string(m) + "," +
                       std::to_string(n) + "]");
  }
  return ctx.SetOutput(0, Shape{m, n}, a->dtype);
}

Result<Shape> MatMulShape(NodeContext& ctx, Shape a, Shape b) {
  if (a.empty() || b.empty()) return ctx.Error("MatMul inputs must not be scalars");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), kb = b[b.size() - 2], n = b.back();
  if (k != kb) return ctx.Error("inner dimensions differ: " + ShapeToString(a) + " x " + ShapeToString(b));
  ES_ASSIGN_OR_RETURN(Shape batch, detail::BroadcastShapes(ctx.node(), Shape(a.begin(), a.end() - 2),
                                                           Shape(b.begin(), b.end() - 2)));
  if (!a_vec) batch.push_back(m);
  if (!b_vec) batch.push_back(n);
  return batch;
}

Status InferMatMul(NodeContext& ctx, int a_index, int b_index, DType dtype_override, bool use_override) {
  ES_ASSIGN_OR_RETURN(const Tensor* a, ctx.Input(a_index));
  ES_ASSIGN_OR_RETURN(const Tensor* b, ctx.Input(b_index));
  ES_ASSIGN_OR_RETURN(Shape out, MatMulShape(ctx, a->shape, b->shape));
  return ctx.SetOutput(0, std::move(out), use_override ? dtype_override : a->dtype);
}

// ---- Quantization ------------------------------------------------------------------

Result<DType> ZeroPointDType(NodeContext& ctx, int index, DType fallback) {
  if (!ctx.node().HasInput(index)) return fallback;
  ES_ASSIGN_OR_RETURN(const Tensor* zp, ctx.Input(index));
  return zp->dtype;
}

Status InferQuantize(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  ES_ASSIGN_OR_RETURN(DType dtype, ZeroPointDType(ctx, 2, DType::kUInt8));
  if (dtype != DType::kUInt8 && dtype != DType::kInt8)
    return ctx.Error(std::string("quantizes to ") + DTypeName(dtype) + "; only int8 and uint8 are supported");
  return ctx.SetOutput(0, x->shape, dtype);
}

Status InferDequantize(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
  return ctx.SetOutput(0, x->shape, DType::kFloat32);
}

}  // namespace

Status InferNodeShapes(Graph& graph, int node_index) {
  NodeContext ctx(graph, node_index);
  Node& node = ctx.node();
  if (node.outputs.empty()) return ctx.Error("has no outputs");
  switch (node.op) {
    case OpType::kConv: return InferConvLike(ctx, 0, 1, 2, DType::kFloat32);
    case OpType::kQLinearConv: {
      ES_ASSIGN_OR_RETURN(DType dtype, ZeroPointDType(ctx, 7, DType::kUInt8));
      return InferConvLike(ctx, 0, 3, 8, dtype);
    }
    case OpType::kBatchNormalization: return InferBatchNorm(ctx);
    case OpType::kRelu:
    case OpType::kClip:
    case OpType::kLeakyRelu:
    case OpType::kSigmoid:
    case OpType::kHardSigmoid:
    case OpType::kHardSwish:
    case OpType::kIdentity:
    case OpType::kDropout:
      if (node.op == OpType::kDropout && node.outputs.size() > 1)
        return ctx.Error("the mask output of Dropout is not supported");
      return SameAsInput(ctx);
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv: return InferBroadcast(ctx);
    case OpType::kConcat: return InferConcat(ctx);
    case OpType::kMaxPool:
    case OpType::kAveragePool: return InferPool(ctx);
    case OpType::kGlobalAveragePool: {
      ES_ASSIGN_OR_RETURN(const Tensor* x, ctx.Input(0));
      if (x->shape.size() < 3) return ctx.Error("input " + ShapeToString(x->shape) + " must be N,C,spatial...");
      Shape out(x->shape.size(), 1);
      out[0] = x->shape[0];
      out[1] = x->shape[1];
      return ctx.SetOutput(0, std::move(out), x->dtype);
    }
    case OpType::kReduceMean: return InferReduceMean(ctx);
    case OpType::kSoftmax: return InferSoftmax(ctx);
    case OpType::kGemm: return InferGemm(ctx);
    case OpType::kMatMul: return InferMatMul(ctx, 0, 1, DType::kFloat32, false);
    case OpType::kQLinearMatMul: {
      ES_ASSIGN_OR_RETURN(DType dtype, ZeroPointDType(ctx, 7, DType::kUInt8));
      return InferMatMul(ctx, 0, 3, dtype, true);
    }
    case OpType::kQuantizeLinear: return InferQuantize(ctx);
    case OpType::kDequantizeLinear: return InferDequantize(ctx);
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kTranspose:
    case OpType::kSlice:
    case OpType::kSplit:
    case OpType::kGather:
    case OpType::kPad: return detail::InferDataMovement(ctx);
  }
  return ctx.Error("has no shape inference");
}

Status InferShapes(Graph& graph) {
  ES_RETURN_IF_ERROR(graph.Validate());
  for (size_t i = 0; i < graph.nodes.size(); ++i) ES_RETURN_IF_ERROR(InferNodeShapes(graph, static_cast<int>(i)));
  return Status::Ok();
}

}  // namespace edgesplit
