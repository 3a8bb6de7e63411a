#include "edgesplit/graph.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace edgesplit {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {
constexpr const char* kOpNames[] = {
#define ES_OP_NAME(name) #name,
    ES_OP_LIST(ES_OP_NAME)
#undef ES_OP_NAME
};
constexpr size_t kNumOps = sizeof(kOpNames) / sizeof(kOpNames[0]);
}  // namespace

const char* OpTypeName(OpType op) {
  size_t i = static_cast<size_t>(op);
  return i < kNumOps ? kOpNames[i] : "?";
}

bool OpTypeFromName(std::string_view name, OpType* op) {
  for (size_t i = 0; i < kNumOps; ++i) {
    if (name == kOpNames[i]) {
      *op = static_cast<OpType>(i);
      return true;
    }
  }
  return false;
}

// ---- Node attributes ---------------------------------------------------------

Attribute Attribute::Int(std::string name, int64_t value) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::kInt;
  a.i = value;
  return a;
}
Attribute Attribute::Float(std::string name, float value) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::kFloat;
  a.f = value;
  return a;
}
Attribute Attribute::Ints(std::string name, std::vector<int64_t> values) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::kInts;
  a.ints = std::move(values);
  return a;
}
Attribute Attribute::String(std::string name, std::string value) {
  Attribute a;
  a.name = std::move(name);
  a.kind = Kind::kString;
  a.s = std::move(value);
  return a;
}

const Attribute* Node::FindAttr(std::string_view attr_name) const {
  for (const Attribute& a : attrs)
    if (a.name == attr_name) return &a;
  return nullptr;
}

int64_t Node::GetInt(std::string_view attr_name, int64_t fallback) const {
  const Attribute* a = FindAttr(attr_name);
  return a && a->kind == Attribute::Kind::kInt ? a->i : fallback;
}

float Node::GetFloat(std::string_view attr_name, float fallback) const {
  const Attribute* a = FindAttr(attr_name);
  return a && a->kind == Attribute::Kind::kFloat ? a->f : fallback;
}

std::vector<int64_t> Node::GetInts(std::string_view attr_name) const {
  const Attribute* a = FindAttr(attr_name);
  return a && a->kind == Attribute::Kind::kInts ? a->ints : std::vector<int64_t>{};
}

std::string Node::GetString(std::string_view attr_name, std::string_view fallback) const {
  const Attribute* a = FindAttr(attr_name);
  return a && a->kind == Attribute::Kind::kString ? a->s : std::string(fallback);
}

namespace {
Attribute& Upsert(std::vector<Attribute>& attrs, std::string_view name, Attribute::Kind kind) {
  for (Attribute& a : attrs) {
    if (a.name == name) {
      a = Attribute{};
      a.name = std::string(name);
      a.kind = kind;
      return a;
    }
  }
  attrs.push_back(Attribute{});
  attrs.back().name = std::string(name);
  attrs.back().kind = kind;
  return attrs.back();
}
}  // namespace

void Node::SetInt(std::string_view attr_name, int64_t value) {
  Upsert(attrs, attr_name, Attribute::Kind::kInt).i = value;
}
void Node::SetFloat(std::string_view attr_name, float value) {
  Upsert(attrs, attr_name, Attribute::Kind::kFloat).f = value;
}
void Node::SetInts(std::string_view attr_name, std::vector<int64_t> value) {
  Upsert(attrs, attr_name, Attribute::Kind::kInts).ints = std::move(value);
}
void Node::SetString(std::string_view attr_name, std::string value) {
  Upsert(attrs, attr_name, Attribute::Kind::kString).s = std::move(value);
}
void Node::RemoveAttr(std::string_view attr_name) {
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (attrs[i].name == attr_name) {
      attrs.erase(attrs.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

bool Node::HasName(std::string_view query) const {
  if (name == query) return true;
  for (const std::string& a : aliases)
    if (a == query) return true;
  return false;
}

// ---- Graph -------------------------------------------------------------------

int Graph::AddTensor(Tensor tensor) {
  tensors.push_back(std::move(tensor));
  return static_cast<int>(tensors.size()) - 1;
}

int Graph::AddConstant(std::string tensor_name, DType dtype, Shape shape, const void* values) {
  Tensor t;
  t.name = std::move(tensor_name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.is_constant = true;
  size_t bytes = static_cast<size_t>(NumElements(t.shape)) * DTypeSize(dtype);
  t.data.resize(bytes);
  if (bytes) std::memcpy(t.data.data(), values, bytes);
  return AddTensor(std::move(t));
}

int Graph::AddNode(Node node) {
  nodes.push_back(std::move(node));
  return static_cast<int>(nodes.size()) - 1;
}

int Graph::FindTensor(std::string_view tensor_name) const {
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].name == tensor_name) return static_cast<int>(i);
  return kNoTensor;
}

int Graph::FindNode(std::string_view query) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == query) return static_cast<int>(i);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].HasName(query)) return static_cast<int>(i);
  return -1;
}

std::vector<int> Graph::Producers() const {
  std::vector<int> producer(tensors.size(), -1);
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int t : nodes[n].outputs)
      if (t >= 0 && static_cast<size_t>(t) < tensors.size()) producer[t] = static_cast<int>(n);
  return producer;
}

std::vector<std::vector<int>> Graph::Consumers() const {
  std::vector<std::vector<int>> consumers(tensors.size());
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int t : nodes[n].inputs)
      if (t >= 0 && static_cast<size_t>(t) < tensors.size()) {
        auto& c = consumers[t];
        if (c.empty() || c.back() != static_cast<int>(n)) c.push_back(static_cast<int>(n));
      }
  return consumers;
}

Status Graph::Validate() const {
  const int num_tensors = static_cast<int>(tensors.size());
  auto valid_id = [&](int t) { return t >= 0 && t < num_tensors; };
  std::unordered_set<std::string> tensor_names;
  for (const Tensor& t : tensors) {
    if (!tensor_names.insert(t.name).second) return InvalidArgument("tensor name '" + t.name + "' is used twice");
    for (int64_t d : t.shape)
      if (d < 0) return InvalidArgument("tensor '" + t.name + "' has a negative dimension " + ShapeToString(t.shape));
    if (t.is_constant && t.byte_size() != static_cast<size_t>(t.num_elements()) * DTypeSize(t.dtype))
      return InvalidArgument("constant '" + t.name + "' holds " + std::to_string(t.byte_size()) +
                             " bytes but its shape " + ShapeToString(t.shape) + " needs " +
                             std::to_string(t.num_elements() * static_cast<int64_t>(DTypeSize(t.dtype))));
  }
  // available[t]: the tensor has a value at this point of the order.
  std::vector<char> available(tensors.size(), 0);
  for (int t : inputs) {
    if (!valid_id(t)) return InvalidArgument("graph input refers to tensor id " + std::to_string(t));
    if (tensors[t].is_constant) return InvalidArgument("graph input '" + tensors[t].name + "' is a constant");
    available[t] = 1;
  }
  for (int t = 0; t < num_tensors; ++t)
    if (tensors[t].is_constant) available[t] = 1;
  std::unordered_set<std::string> node_names;
  for (const Node& node : nodes) {
    const std::string where = "node '" + node.name + "' (" + OpTypeName(node.op) + ")";
    if (!node.name.empty() && !node_names.insert(node.name).second)
      return InvalidArgument(where + ": node name is used twice");
    for (int t : node.inputs) {
      if (t == kNoTensor) continue;
      if (!valid_id(t)) return InvalidArgument(where + ": input refers to tensor id " + std::to_string(t));
      if (!available[t])
        return InvalidArgument(where + ": input '" + tensors[t].name +
                               "' is not produced by an earlier node (undefined tensor or a cycle)");
    }
    if (node.outputs.empty()) return InvalidArgument(where + ": has no outputs");
    for (int t : node.outputs) {
      if (!valid_id(t)) return InvalidArgument(where + ": output refers to tensor id " + std::to_string(t));
      if (available[t])
        return InvalidArgument(where + ": output '" + tensors[t].name +
                               "' is already produced elsewhere (an input, constant or earlier node)");
      available[t] = 1;
    }
  }
  for (int t : outputs) {
    if (!valid_id(t)) return InvalidArgument("graph output refers to tensor id " + std::to_string(t));
    if (!available[t]) return InvalidArgument("graph output '" + tensors[t].name + "' is never produced");
  }
  return Status::Ok();
}

// ---- Rng -----------------------------------------------------------------------

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }

float Rng::Uniform(float lo, float hi) { return lo + static_cast<float>(Uniform()) * (hi - lo); }

float Rng::Normal() {
  double u1 = Uniform();
  double u2 = Uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace edgesplit
