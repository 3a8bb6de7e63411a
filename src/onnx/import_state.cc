// The importer's symbol table: which name is a graph tensor, which a constant
// not yet used by any graph node. Constants stay out of the Graph until a node
// needs them, so that values consumed only by folded shape subgraphs never
// reach it and need no clean-up pass.
#include <algorithm>
#include <cstring>

#include "onnx_internal.h"

namespace edgesplit::onnx_internal {

Status OnnxNode::Unsupported(const std::string& message) const {
  return ::edgesplit::Unsupported(Where() + ": " + message);
}

Attribute* OnnxNode::FindAttr(const std::string& attr_name) {
  for (Attribute& a : attrs)
    if (a.name == attr_name) return &a;
  return nullptr;
}

void OnnxNode::RemoveAttr(const std::string& attr_name) {
  attrs.erase(std::remove_if(attrs.begin(), attrs.end(), [&](const Attribute& a) { return a.name == attr_name; }),
              attrs.end());
}

std::string ImportState::FreshName(const std::string& base) {
  std::string name = base;
  for (int i = 1; reserved_.count(name) != 0; ++i) name = base + "_" + std::to_string(i);
  reserved_.insert(name);
  return name;
}

Result<const Tensor*> ImportState::Lookup(const std::string& name, const OnnxNode& user) const {
  auto it = values_.find(name);
  if (it == values_.end()) return user.Error("input '" + name + "' is not defined");
  const Value& v = it->second;
  return v.id != kNoTensor ? &graph_.tensors[v.id] : &pending_[v.pending];
}

bool ImportState::IsConstant(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return false;
  return it->second.id == kNoTensor || graph_.tensors[it->second.id].is_constant;
}

Status ImportState::DefineGraphTensor(Tensor tensor, int* id) {
  if (values_.count(tensor.name)) return InvalidArgument("tensor '" + tensor.name + "' is defined twice");
  std::string name = tensor.name;
  *id = graph_.AddTensor(std::move(tensor));
  values_[name].id = *id;
  reserved_.insert(std::move(name));
  return Status::Ok();
}

Status ImportState::DefineConstant(Tensor tensor) {
  if (values_.count(tensor.name)) return InvalidArgument("tensor '" + tensor.name + "' is defined twice");
  tensor.is_constant = true;
  values_[tensor.name].pending = static_cast<int>(pending_.size());
  reserved_.insert(tensor.name);
  pending_.push_back(std::move(tensor));
  return Status::Ok();
}

Result<std::string> ImportState::AddConstant(const std::string& base, DType dtype, Shape shape, const void* values) {
  Tensor t;
  t.name = FreshName(base);
  t.dtype = dtype;
  t.shape = std::move(shape);
  const size_t bytes = static_cast<size_t>(NumElements(t.shape)) * DTypeSize(dtype);
  t.data.resize(bytes);
  if (bytes) std::memcpy(t.data.data(), values, bytes);
  std::string name = t.name;
  ES_RETURN_IF_ERROR(DefineConstant(std::move(t)));
  return name;
}

int ImportState::Materialize(const std::string& name) {
  auto it = values_.find(name);
  if (it == values_.end()) return kNoTensor;
  Value& v = it->second;
  if (v.id == kNoTensor) {
    v.id = graph_.AddTensor(std::move(pending_[v.pending]));
    pending_[v.pending] = Tensor{};  // the graph owns the data now
    v.pending = -1;
  }
  return v.id;
}

Status ImportState::ChargeFoldBytes(int64_t bytes, const OnnxNode& node) {
  const int64_t budget = kFoldAllowanceBytes + 2 * model_bytes_;
  if (bytes < 0 || bytes > budget - folded_bytes_)
    return OutOfRange(node.Where() + ": folding it would create " + std::to_string(bytes) +
                      " bytes of constants, beyond the import's budget of " + std::to_string(budget) + " bytes");
  folded_bytes_ += bytes;
  return Status::Ok();
}

Status CheckOutputSizes(const Graph& graph, const Node& node, const OnnxNode& where) {
  for (int id : node.outputs) {
    const Tensor& t = graph.tensors[id];
    if (CheckedElementCount(t.shape, kMaxActivationElements) < 0)
      return OutOfRange(where.Where() + ": output '" + t.name + "' of shape " + ShapeToString(t.shape) +
                        " is too large (over " + std::to_string(kMaxActivationElements) + " elements)");
  }
  return Status::Ok();
}

}  // namespace edgesplit::onnx_internal
