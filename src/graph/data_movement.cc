// Shape inference for the ops that move data without arithmetic, plus the
// helpers every inference file shares.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>

#include "shape_util.h"

namespace edgesplit::detail {

// Largest element count of any tensor: keeps later size arithmetic (bytes,
// arenas) far from int64 overflow.
constexpr int64_t kMaxElements = int64_t{1} << 40;

Status NodeError(const Node& n, const std::string& message) {
  return InvalidArgument("node '" + n.name + "' (" + OpTypeName(n.op) + "): " + message);
}

Status NodeContext::Error(const std::string& message) const { return NodeError(node(), message); }

Result<const Tensor*> NodeContext::Input(int index) {
  const Node& n = node();
  if (index < 0 || static_cast<size_t>(index) >= n.inputs.size() || n.inputs[index] == kNoTensor)
    return Error("input " + std::to_string(index) + " is missing");
  int id = n.inputs[index];
  if (id < 0 || static_cast<size_t>(id) >= graph_.tensors.size())
    return Error("input " + std::to_string(index) + " refers to an unknown tensor");
  return &graph_.tensors[id];
}

Result<std::vector<int64_t>> NodeContext::ConstantInts(int index) {
  return edgesplit::ConstantInts(graph_, node(), index);
}

Status NodeContext::SetOutput(size_t index, Shape shape, DType dtype) {
  if (index >= node().outputs.size()) return Status::Ok();
  // Bounded over the non-zero dims, so that an empty tensor cannot hide dims
  // whose product would overflow later arithmetic (Flatten, strides).
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return Error("computed a negative dimension in " + ShapeToString(shape));
    if (d != 0 && n > kMaxElements / d) return Error("output shape " + ShapeToString(shape) + " is too large");
    if (d != 0) n *= d;
  }
  Tensor& t = graph_.tensors[node().outputs[index]];
  t.shape = std::move(shape);
  t.dtype = dtype;
  return Status::Ok();
}

Result<Shape> BroadcastShapes(const Node& node, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return NodeError(node, "shapes " + ShapeToString(a) + " and " + ShapeToString(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Result<int64_t> NormalizeAxis(const Node& node, int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r)
    return NodeError(node, "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + r : axis;
}

namespace {
Result<SliceBounds> ComputeSliceBounds(const Node& node, const Shape& input, const std::vector<int64_t>& starts,
                                       const std::vector<int64_t>& ends, const std::vector<int64_t>& axes_in,
                                       const std::vector<int64_t>& steps_in) {
  const size_t rank = input.size();
  if (starts.size() != ends.size()) return NodeError(node, "starts and ends have different lengths");
  std::vector<int64_t> axes = axes_in;
  if (axes.empty()) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<int64_t> steps = steps_in.empty() ? std::vector<int64_t>(starts.size(), 1) : steps_in;
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return NodeError(node, "starts, ends, axes and steps must have the same length");
  SliceBounds b;
  b.starts.assign(rank, 0);
  b.steps.assign(rank, 1);
  b.counts.assign(input.begin(), input.end());
  std::vector<char> seen(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    ES_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, axes[i], rank));
    if (seen[axis]) return NodeError(node, "axis " + std::to_string(axis) + " is sliced twice");
    seen[axis] = 1;
    const int64_t dim = input[axis], step = steps[i];
    if (step == 0) return NodeError(node, "a slice step is 0");
    // Clamp as the ONNX specification says; int64 extremes mean "to the end".
    auto clamp_index = [&](int64_t v, bool is_start) {
      if (v < 0) v = v < std::numeric_limits<int64_t>::min() / 2 ? -dim - 1 : v + dim;
      if (step > 0) return std::clamp<int64_t>(v, 0, dim);
      (void)is_start;
      return std::clamp<int64_t>(v, -1, dim - 1);
    };
    int64_t s = clamp_index(starts[i], true), e = clamp_index(ends[i], false);
    int64_t count = 0;
    if (step > 0 && e > s) count = (e - s + step - 1) / step;
    if (step < 0 && s > e) count = (s - e + (-step) - 1) / (-step);
    b.starts[axis] = s;
    b.steps[axis] = step;
    b.counts[axis] = count;
  }
  return b;
}
}  // namespace

namespace {

Status InferFlatten(NodeContext& ctx, const Tensor& x) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = ctx.node().GetInt("axis", 1);
  if (axis < -rank || axis > rank) return ctx.Error("axis " + std::to_string(axis) + " is out of range");
  if (axis < 0) axis += rank;
  ctx.node().SetInt("axis", axis);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= x.shape[d];
  return ctx.SetOutput(0, Shape{outer, inner}, x.dtype);
}

Status InferReshape(NodeContext& ctx, const Tensor& x) {
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> target, ctx.ConstantInts(1));
  const bool allow_zero = ctx.node().GetInt("allowzero", 0) != 0;
  Shape out(target.size());
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allow_zero) {
      if (i >= x.shape.size()) return ctx.Error("shape has 0 at position " + std::to_string(i) + " beyond the input rank");
      d = x.shape[i];
    }
    if (d == -1) {
      if (infer_at >= 0) return ctx.Error("shape has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < 0) return ctx.Error("shape has the invalid dimension " + std::to_string(d));
    if (d > 0 && known > (int64_t{1} << 40) / d) return ctx.Error("target shape is too large");
    known *= d;
    out[i] = d;
  }
  const int64_t total = x.num_elements();
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      return ctx.Error("cannot infer -1: " + std::to_string(total) + " elements into " + ShapeToString(target));
    out[infer_at] = total / known;
  } else if (known != total) {
    return ctx.Error("cannot reshape " + ShapeToString(x.shape) + " (" + std::to_string(total) + " elements) to " +
                     ShapeToString(out));
  }
  return ctx.SetOutput(0, std::move(out), x.dtype);
}

Status InferSqueezeLike(NodeContext& ctx, const Tensor& x, bool squeeze) {
  std::vector<int64_t> axes;
  if (ctx.node().HasInput(1)) {
    ES_ASSIGN_OR_RETURN(axes, ctx.ConstantInts(1));
  } else if (!squeeze) {
    return ctx.Error("axes are required");
  }
  const size_t out_rank = squeeze ? x.shape.size() : x.shape.size() + axes.size();
  std::vector<char> marked(squeeze ? x.shape.size() : out_rank, 0);
  for (int64_t a : axes) {
    ES_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.node(), a, marked.size()));
    if (marked[axis]) return ctx.Error("axis " + std::to_string(axis) + " is listed twice");
    marked[axis] = 1;
  }
  Shape out;
  if (squeeze) {
    for (size_t d = 0; d < x.shape.size(); ++d) {
      const bool drop = axes.empty() ? x.shape[d] == 1 : marked[d];
      if (drop && x.shape[d] != 1)
        return ctx.Error("cannot squeeze axis " + std::to_string(d) + " of size " + std::to_string(x.shape[d]));
      if (!drop) out.push_back(x.shape[d]);
    }
  } else {
    size_t next = 0;
    for (size_t d = 0; d < out_rank; ++d) out.push_back(marked[d] ? 1 : x.shape[next++]);
  }
  return ctx.SetOutput(0, std::move(out), x.dtype);
}

Status InferTranspose(NodeContext& ctx, const Tensor& x) {
  const size_t rank = x.shape.size();
  std::vector<int64_t> perm = ctx.node().GetInts("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  if (perm.size() != rank) return ctx.Error("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  std::vector<char> used(rank, 0);
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(rank) || used[perm[i]])
      return ctx.Error("perm " + ShapeToString(perm) + " is not a permutation");
    used[perm[i]] = 1;
    out[i] = x.shape[perm[i]];
  }
  ctx.node().SetInts("perm", perm);
  return ctx.SetOutput(0, std::move(out), x.dtype);
}

Status InferSlice(NodeContext& ctx, const Tensor& x) {
  ES_ASSIGN_OR_RETURN(SliceBounds b, ResolveSlice(ctx.graph(), ctx.node()));
  return ctx.SetOutput(0, b.counts, x.dtype);
}

Status InferSplit(NodeContext& ctx, const Tensor& x) {
  ES_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.node(), ctx.node().GetInt("axis", 0), x.shape.size()));
  const size_t parts = ctx.node().outputs.size();
  std::vector<int64_t> sizes;
  if (ctx.node().HasInput(1)) {
    ES_ASSIGN_OR_RETURN(sizes, ctx.ConstantInts(1));
    if (sizes.size() != parts)
      return ctx.Error("split lists " + std::to_string(sizes.size()) + " sizes for " + std::to_string(parts) + " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return ctx.Error("a split size is negative");
      sum += s;
    }
    if (sum != x.shape[axis])
      return ctx.Error("split sizes sum to " + std::to_string(sum) + " but axis " + std::to_string(axis) + " has " +
                       std::to_string(x.shape[axis]));
  } else {
    const int64_t dim = x.shape[axis], n = static_cast<int64_t>(parts);
    // Equal parts; the last one smaller when the axis does not divide (opset 18).
    const int64_t chunk = (dim + n - 1) / n;
    if (chunk * (n - 1) > dim) return ctx.Error("axis of size " + std::to_string(dim) + " cannot split into " + std::to_string(n));
    for (int64_t i = 0; i < n; ++i) sizes.push_back(i + 1 < n ? chunk : dim - chunk * (n - 1));
  }
  ctx.node().SetInt("axis", axis);
  for (size_t i = 0; i < parts; ++i) {
    Shape out = x.shape;
    out[axis] = sizes[i];
    ES_RETURN_IF_ERROR(ctx.SetOutput(i, std::move(out), x.dtype));
  }
  return Status::Ok();
}

Status InferGather(NodeContext& ctx, const Tensor& x) {
  ES_ASSIGN_OR_RETURN(const Tensor* indices, ctx.Input(1));
  if (indices->dtype != DType::kInt64 && indices->dtype != DType::kInt32)
    return ctx.Error(std::string("indices must be int32 or int64, not ") + DTypeName(indices->dtype));
  if (x.shape.empty()) return ctx.Error("data must have rank >= 1");
  ES_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.node(), ctx.node().GetInt("axis", 0), x.shape.size()));
  if (indices->is_constant) {
    ES_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ctx.ConstantInts(1));
    for (int64_t i : idx)
      if (i < -x.shape[axis] || i >= x.shape[axis])
        return ctx.Error("index " + std::to_string(i) + " is out of range for axis of size " + std::to_string(x.shape[axis]));
  }
  ctx.node().SetInt("axis", axis);
  Shape out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), indices->shape.begin(), indices->shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  return ctx.SetOutput(0, std::move(out), x.dtype);
}

Status InferPad(NodeContext& ctx, const Tensor& x) {
  const std::string mode = ctx.node().GetString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") return ctx.Error("unknown mode '" + mode + "'");
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.ConstantInts(1));
  const size_t rank = x.shape.size();
  if (pads.size() != 2 * rank)
    return ctx.Error("pads has " + std::to_string(pads.size()) + " values; rank " + std::to_string(rank) + " needs " +
                     std::to_string(2 * rank));
  Shape out(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (pads[d] > (int64_t{1} << 30) || pads[d + rank] > (int64_t{1} << 30)) return ctx.Error("pads are implausibly large");
    out[d] = x.shape[d] + pads[d] + pads[d + rank];
    if (out[d] < 0) return ctx.Error("negative pads remove more than axis " + std::to_string(d) + " holds");
    if (mode == "reflect" && (pads[d] >= x.shape[d] || pads[d + rank] >= x.shape[d]) && (pads[d] > 0 || pads[d + rank] > 0))
      return ctx.Error("reflect pads must be smaller than the axis");
  }
  return ctx.SetOutput(0, std::move(out), x.dtype);
}

}  // namespace

Status InferDataMovement(NodeContext& ctx) {
  ES_ASSIGN_OR_RETURN(const Tensor* x_ptr, ctx.Input(0));
  const Tensor& x = *x_ptr;
  switch (ctx.node().op) {
    case OpType::kFlatten: return InferFlatten(ctx, x);
    case OpType::kReshape: return InferReshape(ctx, x);
    case OpType::kSqueeze: return InferSqueezeLike(ctx, x, true);
    case OpType::kUnsqueeze: return InferSqueezeLike(ctx, x, false);
    case OpType::kTranspose: return InferTranspose(ctx, x);
    case OpType::kSlice: return InferSlice(ctx, x);
    case OpType::kSplit: return InferSplit(ctx, x);
    case OpType::kGather: return InferGather(ctx, x);
    case OpType::kPad: return InferPad(ctx, x);
    default: return ctx.Error("is not a data-movement op");
  }
}

}  // namespace edgesplit::detail

namespace edgesplit {

Result<std::vector<int64_t>> ConstantInts(const Graph& graph, const Node& node, int index) {
  if (!node.HasInput(static_cast<size_t>(index)) || node.inputs[index] < 0 ||
      static_cast<size_t>(node.inputs[index]) >= graph.tensors.size())
    return detail::NodeError(node, "input " + std::to_string(index) + " is missing");
  const Tensor& t = graph.tensors[node.inputs[index]];
  if (!t.is_constant)
    return detail::NodeError(node, "input " + std::to_string(index) + " ('" + t.name +
                                       "') must be a constant; it is computed at run time");
  std::vector<int64_t> values(static_cast<size_t>(t.num_elements()));
  if (t.byte_size() < values.size() * DTypeSize(t.dtype))
    return detail::NodeError(node, "constant '" + t.name + "' holds fewer bytes than its shape needs");
  if (t.dtype == DType::kInt64) {
    for (size_t i = 0; i < values.size(); ++i) values[i] = t.data_as<int64_t>()[i];
  } else if (t.dtype == DType::kInt32) {
    for (size_t i = 0; i < values.size(); ++i) values[i] = t.data_as<int32_t>()[i];
  } else {
    return detail::NodeError(node, "input " + std::to_string(index) + " ('" + t.name + "') must be int64, not " +
                                       DTypeName(t.dtype));
  }
  return values;
}

Result<SliceBounds> ResolveSlice(const Graph& graph, const Node& node) {
  if (!node.HasInput(0)) return detail::NodeError(node, "input 0 is missing");
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ConstantInts(graph, node, 1));
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> ends, ConstantInts(graph, node, 2));
  std::vector<int64_t> axes, steps;
  if (node.HasInput(3)) { ES_ASSIGN_OR_RETURN(axes, ConstantInts(graph, node, 3)); }
  if (node.HasInput(4)) { ES_ASSIGN_OR_RETURN(steps, ConstantInts(graph, node, 4)); }
  return detail::ComputeSliceBounds(node, graph.tensors[node.inputs[0]].shape, starts, ends, axes, steps);
}

}  // namespace edgesplit
