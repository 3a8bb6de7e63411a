// Older opsets' forms rewritten into the opset-17 forms, so that the graph core,
// the kernels and the exporter know one form per op:
//   Clip <11, Slice <10, Split <13, Pad <11, Squeeze/Unsqueeze <13, Dropout <12:
//     attributes that later became inputs are moved to constant inputs;
//   ReduceMean 18: the axes input goes back to the opset-17 attribute;
//   Pad 18: the axes input is expanded into full-rank pads;
//   Split 18: num_outputs is dropped (the graph core splits by output count);
//   Softmax <13: accepted only where its flatten-to-2D semantics equal opset 13's;
//   BatchNormalization, Dropout, MaxPool: optional outputs nobody reads are dropped.
#include "onnx_internal.h"

namespace edgesplit::onnx_internal {
namespace {

Status SetInput(OnnxNode& node, size_t index, std::string name, const std::string& attr) {
  if (node.inputs.size() <= index) node.inputs.resize(index + 1);  // "" marks absent inputs
  if (!node.inputs[index].empty())
    return node.Error("has both the legacy attribute '" + attr + "' and input " + std::to_string(index));
  node.inputs[index] = std::move(name);
  return Status::Ok();
}

// Moves the ints attribute `attr` to input `index` as an int64 constant.
Status IntsAttrToInput(ImportState& state, OnnxNode& node, const std::string& attr, size_t index, bool required) {
  const Attribute* a = node.FindAttr(attr);
  if (!a) return required ? node.Error("attribute '" + attr + "' is required") : Status::Ok();
  if (a->kind != Attribute::Kind::kInts) return node.Error("attribute '" + attr + "' must be a list of ints");
  std::vector<int64_t> values = a->ints;
  node.RemoveAttr(attr);
  ES_ASSIGN_OR_RETURN(std::string name, state.AddConstant(node.name + "_" + attr, DType::kInt64,
                                                          Shape{static_cast<int64_t>(values.size())}, values.data()));
  return SetInput(node, index, std::move(name), attr);
}

// Moves the float attribute `attr` to input `index` as a float scalar constant.
Status FloatAttrToInput(ImportState& state, OnnxNode& node, const std::string& attr, size_t index) {
  const Attribute* a = node.FindAttr(attr);
  if (!a) return Status::Ok();
  if (a->kind != Attribute::Kind::kFloat) return node.Error("attribute '" + attr + "' must be a float");
  const float value = a->f;
  node.RemoveAttr(attr);
  ES_ASSIGN_OR_RETURN(std::string name, state.AddConstant(node.name + "_" + attr, DType::kFloat32, Shape{}, &value));
  return SetInput(node, index, std::move(name), attr);
}

Result<const Tensor*> InputTensor(ImportState& state, const OnnxNode& node, size_t index) {
  if (index >= node.inputs.size() || node.inputs[index].empty())
    return node.Error("input " + std::to_string(index) + " is missing");
  return state.Lookup(node.inputs[index], node);
}

// The values of constant int input `index`.
Result<std::vector<int64_t>> ConstantInts(ImportState& state, const OnnxNode& node, size_t index) {
  ES_ASSIGN_OR_RETURN(const Tensor* t, InputTensor(state, node, index));
  if (!t->is_constant)
    return node.Unsupported("input " + std::to_string(index) + " ('" + t->name +
                            "') must be a constant; it is computed at run time");
  const size_t n = static_cast<size_t>(t->num_elements());
  std::vector<int64_t> values(n);
  if (t->dtype == DType::kInt64) {
    for (size_t i = 0; i < n; ++i) values[i] = t->data_as<int64_t>()[i];
  } else if (t->dtype == DType::kInt32) {
    for (size_t i = 0; i < n; ++i) values[i] = t->data_as<int32_t>()[i];
  } else {
    return node.Error("input " + std::to_string(index) + " ('" + t->name + "') must be int64, not " +
                      DTypeName(t->dtype));
  }
  return values;
}

// Drops optional outputs 1.. when nothing reads them; the graph core rejects them otherwise.
void DropUnreadOutputs(const std::unordered_set<std::string>& consumed, OnnxNode& node) {
  for (size_t i = 1; i < node.outputs.size(); ++i)
    if (consumed.count(node.outputs[i])) return;
  if (node.outputs.size() > 1) node.outputs.resize(1);
}

// Softmax before opset 13 flattens the input to 2-D at `axis` (default 1) and
// normalises each row; that equals opset 13's per-axis softmax exactly when the
// dims after `axis` are all 1.
Status NormalizeOldSoftmax(ImportState& state, OnnxNode& node) {
  ES_ASSIGN_OR_RETURN(const Tensor* x, InputTensor(state, node, 0));
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  const Attribute* attr = node.FindAttr("axis");
  int64_t axis = attr && attr->kind == Attribute::Kind::kInt ? attr->i : 1;
  if (axis < -rank || axis >= rank)
    return node.Error("axis " + std::to_string(axis) + " is out of range for input " + ShapeToString(x->shape));
  if (axis < 0) axis += rank;
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x->shape[d];
  if (inner != 1)
    return node.Unsupported("before opset 13, Softmax normalises over all axes from " + std::to_string(axis) +
                            " on of input " + ShapeToString(x->shape) +
                            "; only a softmax over one axis (later dims of size 1) is supported");
  node.attrs.clear();
  node.attrs.push_back(Attribute{});
  node.attrs.back().name = "axis";
  node.attrs.back().i = axis;
  return Status::Ok();
}

Status NormalizeReduceMean18(ImportState& state, OnnxNode& node) {
  const Attribute* noop = node.FindAttr("noop_with_empty_axes");
  const bool noop_if_empty = noop && noop->kind == Attribute::Kind::kInt && noop->i != 0;
  node.RemoveAttr("noop_with_empty_axes");
  if (node.inputs.size() > 1 && !node.inputs[1].empty()) {
    ES_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ConstantInts(state, node, 1));
    node.inputs.resize(1);
    if (!axes.empty()) {
      node.attrs.push_back(Attribute{});
      node.attrs.back().name = "axes";
      node.attrs.back().kind = Attribute::Kind::kInts;
      node.attrs.back().ints = std::move(axes);
      return Status::Ok();
    }
  }
  node.inputs.resize(std::min<size_t>(node.inputs.size(), 1));
  if (noop_if_empty) {  // no axes and "do nothing": an identity
    node.op_type = "Identity";
    node.attrs.clear();
  }
  return Status::Ok();
}

// Pad 18's optional axes input: pads lists only those axes; expand to all.
Status NormalizePadAxes(ImportState& state, OnnxNode& node) {
  if (node.inputs.size() <= 3 || node.inputs[3].empty()) return Status::Ok();
  ES_ASSIGN_OR_RETURN(const Tensor* x, InputTensor(state, node, 0));
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ConstantInts(state, node, 1));
  ES_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ConstantInts(state, node, 3));
  if (pads.size() != 2 * axes.size())
    return node.Error("pads has " + std::to_string(pads.size()) + " values for " + std::to_string(axes.size()) +
                      " axes");
  std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
  std::vector<char> seen(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (a < -rank || a >= rank) return node.Error("pad axis " + std::to_string(a) + " is out of range");
    if (a < 0) a += rank;
    if (seen[a]) return node.Error("pad axis " + std::to_string(a) + " is listed twice");
    seen[a] = 1;
    full[a] = pads[i];
    full[a + rank] = pads[i + axes.size()];
  }
  ES_ASSIGN_OR_RETURN(std::string name, state.AddConstant(node.name + "_pads", DType::kInt64,
                                                          Shape{static_cast<int64_t>(full.size())}, full.data()));
  node.inputs[1] = std::move(name);
  node.inputs.resize(3);
  return Status::Ok();
}

Status NormalizeSplit(ImportState& state, OnnxNode& node) {
  if (state.opset() < 13) ES_RETURN_IF_ERROR(IntsAttrToInput(state, node, "split", 1, false));
  if (const Attribute* n = node.FindAttr("num_outputs")) {
    if (n->kind != Attribute::Kind::kInt || n->i != static_cast<int64_t>(node.outputs.size()))
      return node.Error("num_outputs does not match its " + std::to_string(node.outputs.size()) + " outputs");
    node.RemoveAttr("num_outputs");
  }
  return Status::Ok();
}

Status NormalizeBatchNorm(const std::unordered_set<std::string>& consumed, OnnxNode& node) {
  if (const Attribute* spatial = node.FindAttr("spatial")) {
    if (spatial->kind != Attribute::Kind::kInt || spatial->i != 1)
      return node.Unsupported("spatial=0 (per-element statistics) is not supported");
    node.RemoveAttr("spatial");
  }
  if (const Attribute* training = node.FindAttr("training_mode")) {
    if (training->kind != Attribute::Kind::kInt || training->i != 0)
      return node.Unsupported("training_mode=1 is not supported; export the model in inference mode");
    node.RemoveAttr("training_mode");
  }
  DropUnreadOutputs(consumed, node);
  return Status::Ok();
}

}  // namespace

Status NormalizeLegacyForms(ImportState& state, const std::unordered_set<std::string>& consumed, OnnxNode& node) {
  const int64_t opset = state.opset();
  const std::string& op = node.op_type;
  if (op == "Clip" && opset < 11) {
    ES_RETURN_IF_ERROR(FloatAttrToInput(state, node, "min", 1));
    return FloatAttrToInput(state, node, "max", 2);
  }
  if (op == "Slice" && opset < 10) {
    ES_RETURN_IF_ERROR(IntsAttrToInput(state, node, "starts", 1, true));
    ES_RETURN_IF_ERROR(IntsAttrToInput(state, node, "ends", 2, true));
    return IntsAttrToInput(state, node, "axes", 3, false);
  }
  if (op == "Split") return NormalizeSplit(state, node);
  if ((op == "Squeeze" || op == "Unsqueeze") && opset < 13)
    return IntsAttrToInput(state, node, "axes", 1, op == "Unsqueeze");
  if (op == "Pad") {
    if (opset < 11) {
      ES_RETURN_IF_ERROR(IntsAttrToInput(state, node, "pads", 1, true));
      return FloatAttrToInput(state, node, "value", 2);
    }
    return NormalizePadAxes(state, node);
  }
  if (op == "ReduceMean" && opset >= 18) return NormalizeReduceMean18(state, node);
  if (op == "Softmax" && opset < 13) return NormalizeOldSoftmax(state, node);
  if (op == "BatchNormalization") return NormalizeBatchNorm(consumed, node);
  if (op == "Dropout") {
    if (opset < 12) ES_RETURN_IF_ERROR(FloatAttrToInput(state, node, "ratio", 1));
    DropUnreadOutputs(consumed, node);
    return Status::Ok();
  }
  if (op == "MaxPool") DropUnreadOutputs(consumed, node);
  return Status::Ok();
}

}  // namespace edgesplit::onnx_internal
