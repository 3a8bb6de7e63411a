// ONNX model -> Graph.
//
// The model is checked top-down (opsets, initializers, inputs, names, order)
// and then built node by node in topological order, running the graph core's
// shape inference after each node: Shape nodes and the legacy rewrites need the
// shapes of what came before, and errors then name the first node that fails.
#include <algorithm>
#include <climits>
#include <filesystem>
#include <new>
#include <queue>

#include "onnx/defs/schema.h"
#include "onnx_internal.h"

namespace edgesplit {
namespace {

using onnx_internal::ImportState;
using onnx_internal::OnnxNode;

constexpr int64_t kMinIrVersion = 3;
constexpr int64_t kMaxIrVersion = 10;

Status NotAModel(const std::string& why) { return InvalidArgument("not a valid ONNX model: " + why); }

// ---- model-level checks ------------------------------------------------------------

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

Result<int64_t> DefaultOpset(const onnx::ModelProto& model) {
  if (!model.has_ir_version()) return NotAModel("ir_version is missing");
  if (model.ir_version() < kMinIrVersion || model.ir_version() > kMaxIrVersion)
    return Unsupported("ONNX ir_version " + std::to_string(model.ir_version()) + " is not supported (" +
                       std::to_string(kMinIrVersion) + " to " + std::to_string(kMaxIrVersion) + ")");
  int64_t opset = -1;
  for (const auto& entry : model.opset_import()) {
    if (!IsDefaultDomain(entry.domain())) continue;  // other domains only matter if a node uses them
    if (opset >= 0 && opset != entry.version()) return NotAModel("it imports the default opset twice");
    opset = entry.version();
  }
  if (opset < 0) return NotAModel("it imports no opset of the default domain (opset_import is missing)");
  if (opset < onnx_internal::kMinOpset || opset > onnx_internal::kMaxOpset)
    return Unsupported("opset " + std::to_string(opset) + " of the default domain is not supported (" +
                       std::to_string(onnx_internal::kMinOpset) + " to " + std::to_string(onnx_internal::kMaxOpset) +
                       ")");
  if (!model.has_graph()) return NotAModel("it has no graph");
  if (model.graph().sparse_initializer_size() > 0)
    return Unsupported("sparse initializers ('" + model.graph().sparse_initializer(0).values().name() +
                       "') are not supported");
  return opset;
}

// A graph input's type: a tensor of a supported dtype with a known rank.
Result<Tensor> GraphInputTensor(const onnx::ValueInfoProto& vi, const OnnxImportOptions& options) {
  const std::string where = "graph input '" + vi.name() + "'";
  if (!vi.type().has_tensor_type()) return Unsupported(where + " is not a tensor");
  const auto& tt = vi.type().tensor_type();
  Tensor t;
  t.name = vi.name();
  if (!onnx_internal::DTypeFromOnnx(tt.elem_type(), &t.dtype))
    return Unsupported(where + " has dtype " + onnx_internal::OnnxTypeName(tt.elem_type()) +
                       "; edgesplit supports FLOAT, INT8, UINT8, INT32 and INT64");
  if (!tt.has_shape()) return InvalidArgument(where + " has an unknown rank; its shape must be declared");
  for (const auto& dim : tt.shape().dim()) {
    if (dim.has_dim_value()) {
      if (dim.dim_value() < 0)
        return InvalidArgument(where + " has the negative dimension " + std::to_string(dim.dim_value()));
      t.shape.push_back(dim.dim_value());
    } else {  // symbolic (dim_param) or unknown: fixed by the caller's choice
      if (options.symbolic_dim_value < 0)
        return InvalidArgument(where + ": symbolic_dim_value " + std::to_string(options.symbolic_dim_value) +
                               " is negative");
      t.shape.push_back(options.symbolic_dim_value);
    }
  }
  if (onnx_internal::CheckedElementCount(t.shape, onnx_internal::kMaxActivationElements) < 0)
    return OutOfRange(where + " of shape " + ShapeToString(t.shape) + " has more than " +
                      std::to_string(onnx_internal::kMaxActivationElements) + " elements");
  return t;
}

// The declared shape of a graph output when every dim is a number.
bool DeclaredStaticShape(const onnx::ValueInfoProto& vi, Shape* shape) {
  if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) return false;
  shape->clear();
  for (const auto& dim : vi.type().tensor_type().shape().dim()) {
    if (!dim.has_dim_value()) return false;
    shape->push_back(dim.dim_value());
  }
  return true;
}

// Node indices in a topological order (the file's order where it is already
// one), after checking that every input is defined and every output defined once.
Result<std::vector<int>> TopologicalOrder(const onnx::GraphProto& g, const std::unordered_set<std::string>& given) {
  const int n = g.node_size();
  auto where = [&](int i) { return "node '" + g.node(i).name() + "' (" + g.node(i).op_type() + ")"; };
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const std::string& out : g.node(i).output()) {
      if (out.empty()) continue;
      if (given.count(out))
        return InvalidArgument(where(i) + ": output '" + out + "' has the name of a graph input or initializer");
      auto [it, inserted] = producer.emplace(out, i);
      if (!inserted)
        return InvalidArgument(where(i) + ": output '" + out + "' is also produced by " + where(it->second));
    }
  }
  std::vector<std::vector<int>> users(static_cast<size_t>(n));
  std::vector<int> pending_inputs(static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<int> deps;
    for (const std::string& in : g.node(i).input()) {
      if (in.empty() || given.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return InvalidArgument(where(i) + ": input '" + in +
                               "' is not defined (not a graph input, an initializer or a node output)");
      deps.push_back(it->second);
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    for (int d : deps) users[d].push_back(i);
    pending_inputs[i] = static_cast<int>(deps.size());
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i)
    if (pending_inputs[i] == 0) ready.push(i);
  std::vector<int> order;
  order.reserve(static_cast<size_t>(n));
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[i])
      if (--pending_inputs[u] == 0) ready.push(u);
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i)
      if (pending_inputs[i] > 0) return InvalidArgument("the graph has a cycle through " + where(i));
  }
  return order;
}

// ---- nodes ------------------------------------------------------------------------------

bool IsImportOnlyOp(const std::string& op_type) {
  return op_type == "Constant" || op_type == "Shape" || op_type == "Cast";
}

// Checks a node against ONNX's schema of its op in `opset` (attribute names
// and types, input and output counts), so that nothing the graph core would
// silently ignore is accepted and every imported graph exports. Graph nodes are
// checked once rewritten into the opset-17 form (libonnx 1.12 knows no opset-18
// schemas, and the rewrite is what gets exported), and as written when the
// model's opset is one libonnx knows.
Status VerifySchema(const OnnxNode& node, const onnx::NodeProto& proto, int64_t opset) {
  const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(node.op_type, static_cast<int>(opset), "");
  if (!schema)
    return node.Unsupported("operator '" + node.op_type + "' does not exist in opset " + std::to_string(opset));
  try {
    schema->Verify(proto);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    return node.Error(what.substr(0, what.find('\n')));  // drop onnx's multi-line context dump
  }
  return Status::Ok();
}

onnx::NodeProto ToNodeProto(const OnnxNode& node) {
  onnx::NodeProto p;
  p.set_op_type(node.op_type);
  p.set_name(node.name);
  for (const std::string& in : node.inputs) p.add_input(in);
  for (const std::string& out : node.outputs) p.add_output(out);
  for (const Attribute& a : node.attrs) onnx_internal::AttributeToProto(a, p.add_attribute());
  return p;
}

// Gives nodes unique non-empty names: the Graph finds nodes (and cuts) by name,
// but ONNX allows empty and repeated ones.
class NodeNamer {
 public:
  std::string Unique(const std::string& base) {
    if (used_.insert(base).second) return base;
    int& next = next_suffix_[base];  // continues where the last clash of `base` stopped: no quadratic search
    std::string name;
    do name = base + "_" + std::to_string(++next);
    while (!used_.insert(name).second);
    return name;
  }

 private:
  std::unordered_set<std::string> used_;
  std::unordered_map<std::string, int> next_suffix_;
};

// Reads a NodeProto into an OnnxNode with a unique non-empty name.
Result<OnnxNode> ReadNode(const onnx::NodeProto& proto, int64_t opset, NodeNamer& namer) {
  OnnxNode node;
  node.op_type = proto.op_type();
  node.proto = &proto;
  node.name = namer.Unique(proto.name().empty() ? proto.op_type() : proto.name());
  if (!IsDefaultDomain(proto.domain()))
    return node.Unsupported("operators of domain '" + proto.domain() + "' are not supported");
  OpType op;
  if (!OpTypeFromName(node.op_type, &op) && !IsImportOnlyOp(node.op_type))
    return node.Unsupported("operator '" + node.op_type + "' is not supported by edgesplit");
  if (opset <= onnx_internal::kExportOpset || IsImportOnlyOp(node.op_type))
    ES_RETURN_IF_ERROR(VerifySchema(node, proto, std::min(opset, onnx_internal::kExportOpset)));
  node.inputs.assign(proto.input().begin(), proto.input().end());
  node.outputs.assign(proto.output().begin(), proto.output().end());
  while (!node.outputs.empty() && node.outputs.back().empty()) node.outputs.pop_back();  // omitted optional outputs
  for (const std::string& out : node.outputs)
    if (out.empty()) return node.Unsupported("omits an optional output before a present one");
  const bool is_constant = node.op_type == "Constant";
  for (const onnx::AttributeProto& a : proto.attribute()) {
    if (is_constant && (a.type() == onnx::AttributeProto::TENSOR || a.has_t())) continue;  // read by the folder
    Result<Attribute> attr = onnx_internal::AttributeFromProto(a);
    if (!attr.ok()) return attr.status().WithContext(node.Where());
    node.attrs.push_back(std::move(attr).value());
  }
  return node;
}

Status ImportNode(ImportState& state, const std::unordered_set<std::string>& consumed, OnnxNode node) {
  bool done = false;
  ES_RETURN_IF_ERROR(onnx_internal::ImportOnlyOp(state, node, &done));
  if (done) return Status::Ok();
  ES_RETURN_IF_ERROR(onnx_internal::NormalizeLegacyForms(state, consumed, node));
  OpType op;
  if (!OpTypeFromName(node.op_type, &op))  // a legacy rewrite may have changed the op
    return node.Unsupported("operator '" + node.op_type + "' is not supported by edgesplit");
  ES_RETURN_IF_ERROR(VerifySchema(node, ToNodeProto(node), onnx_internal::kExportOpset));
  ES_RETURN_IF_ERROR(onnx_internal::TryFold(state, node, op, &done));
  if (done) return Status::Ok();

  Node n;
  n.op = op;
  n.name = node.name;
  n.attrs = std::move(node.attrs);
  for (const std::string& in : node.inputs) {
    if (in.empty()) {
      n.inputs.push_back(kNoTensor);
      continue;
    }
    if (!state.IsDefined(in)) return node.Error("input '" + in + "' is not defined");
    n.inputs.push_back(state.Materialize(in));
  }
  for (const std::string& out : node.outputs) {
    Tensor t;
    t.name = out;
    int id = kNoTensor;
    ES_RETURN_IF_ERROR(state.DefineGraphTensor(std::move(t), &id).WithContext(node.Where()));
    n.outputs.push_back(id);
  }
  const int index = state.graph().AddNode(std::move(n));
  ES_RETURN_IF_ERROR(InferNodeShapes(state.graph(), index));
  return onnx_internal::CheckOutputSizes(state.graph(), state.graph().nodes[index], node);
}

// ---- the whole model --------------------------------------------------------------------

Status DefineInputsAndInitializers(ImportState& state, const onnx::GraphProto& g) {
  for (const onnx::TensorProto& init : g.initializer()) {
    if (init.name().empty()) return InvalidArgument("an initializer has no name");
    ES_ASSIGN_OR_RETURN(Tensor t, onnx_internal::TensorFromProto(init, state.external_data()));
    state.CountModelBytes(static_cast<int64_t>(t.data.size()));
    Status s = state.DefineConstant(std::move(t));
    if (!s.ok()) return InvalidArgument("initializer '" + init.name() + "' is defined twice");
  }
  for (const onnx::ValueInfoProto& vi : g.input()) {
    if (vi.name().empty()) return InvalidArgument("a graph input has no name");
    if (state.IsConstant(vi.name())) continue;  // an initializer listed as input: a constant (old exporters)
    ES_ASSIGN_OR_RETURN(Tensor t, GraphInputTensor(vi, state.options()));
    int id = kNoTensor;
    Status s = state.DefineGraphTensor(std::move(t), &id);
    if (!s.ok()) return InvalidArgument("graph input '" + vi.name() + "' is listed twice");
    state.graph().inputs.push_back(id);
  }
  return Status::Ok();
}

Status DefineOutputs(ImportState& state, const onnx::GraphProto& g) {
  std::unordered_set<std::string> seen;
  for (const onnx::ValueInfoProto& vi : g.output()) {
    const std::string where = "graph output '" + vi.name() + "'";
    if (!seen.insert(vi.name()).second) return InvalidArgument(where + " is listed twice");
    if (!state.IsDefined(vi.name())) return InvalidArgument(where + " is never produced");
    if (state.IsConstant(vi.name()))
      return Unsupported(where + " is a constant (computed from constants only at import); edgesplit needs outputs "
                         "computed from the graph inputs");
    state.graph().outputs.push_back(state.Materialize(vi.name()));
  }
  if (state.graph().outputs.empty()) return InvalidArgument("the graph has no outputs");
  return Status::Ok();
}

// Compares the file's declared output types with what inference computed.
Status CheckDeclaredOutputs(const Graph& graph, const onnx::GraphProto& g) {
  if (graph.outputs.size() != static_cast<size_t>(g.output_size()))
    return Internal("the graph has " + std::to_string(graph.outputs.size()) + " outputs after import, the file " +
                    std::to_string(g.output_size()));
  for (int i = 0; i < g.output_size(); ++i) {
    const onnx::ValueInfoProto& vi = g.output(i);
    const Tensor& t = graph.tensors[graph.outputs[i]];
    const std::string where = "graph output '" + vi.name() + "'";
    const int elem_type = vi.type().tensor_type().elem_type();
    if (elem_type != onnx::TensorProto::UNDEFINED && elem_type != onnx_internal::OnnxFromDType(t.dtype))
      return InvalidArgument(where + " is declared " + onnx_internal::OnnxTypeName(elem_type) + " but computes " +
                             DTypeName(t.dtype));
    Shape declared;
    if (DeclaredStaticShape(vi, &declared) && declared != t.shape)
      return InvalidArgument(where + " is declared " + ShapeToString(declared) + " but computes " +
                             ShapeToString(t.shape));
  }
  return Status::Ok();
}

// Puts back the alias lists an edgesplit export stored (activation and BatchNorm
// names that a re-import cannot recover from the nodes alone). Only after
// canonicalisation: without it the activation nodes are still separate nodes
// carrying those names themselves.
Status RestoreAliases(Graph& graph, const onnx::ModelProto& model) {
  const std::string prefix = onnx_internal::kAliasKeyPrefix;
  std::unordered_map<std::string, Node*> by_name;
  for (Node& node : graph.nodes) by_name.emplace(node.name, &node);
  for (const auto& prop : model.metadata_props()) {
    if (prop.key().compare(0, prefix.size(), prefix) != 0) continue;
    std::vector<std::string> aliases;
    if (!onnx_internal::DecodeAliases(prop.value(), &aliases))
      return InvalidArgument("metadata '" + prop.key() + "' is damaged: '" + prop.value() + "'");
    auto it = by_name.find(prop.key().substr(prefix.size()));
    if (it != by_name.end()) it->second->aliases = std::move(aliases);  // a node edited away: nothing to restore
  }
  return Status::Ok();
}

Result<Graph> ImportModel(const onnx::ModelProto& model, const std::string& base_dir,
                          const OnnxImportOptions& options) {
  ES_ASSIGN_OR_RETURN(int64_t opset, DefaultOpset(model));
  const onnx::GraphProto& g = model.graph();
  ImportState state(options, base_dir, opset);
  state.graph().name = g.name();

  std::unordered_set<std::string> given, consumed;
  for (const auto& init : g.initializer()) given.insert(init.name());
  for (const auto& vi : g.input()) given.insert(vi.name());
  for (const std::string& name : given) state.ReserveName(name);
  for (const auto& node : g.node()) {
    for (const std::string& in : node.input()) consumed.insert(in);
    for (const std::string& out : node.output()) state.ReserveName(out);
  }
  for (const auto& vi : g.output()) consumed.insert(vi.name());

  ES_RETURN_IF_ERROR(DefineInputsAndInitializers(state, g));
  ES_ASSIGN_OR_RETURN(std::vector<int> order, TopologicalOrder(g, given));
  NodeNamer namer;
  for (int i : order) {
    ES_ASSIGN_OR_RETURN(OnnxNode node, ReadNode(g.node(i), opset, namer));
    ES_RETURN_IF_ERROR(ImportNode(state, consumed, std::move(node)));
  }
  ES_RETURN_IF_ERROR(DefineOutputs(state, g));

  Graph graph = std::move(state.graph());
  if (options.canonicalize) {
    ES_RETURN_IF_ERROR(Canonicalize(graph));
  } else {
    ES_RETURN_IF_ERROR(InferShapes(graph));
  }
  ES_RETURN_IF_ERROR(CheckDeclaredOutputs(graph, g));
  if (options.canonicalize) ES_RETURN_IF_ERROR(RestoreAliases(graph, model));
  if (options.canonicalize) ES_RETURN_IF_ERROR(onnx_internal::FoldQdq(graph));  // QDQ -> int8 ops (qdq.cc)
  return graph;
}

}  // namespace

Result<Graph> ImportOnnxBytes(const void* data, size_t size, const std::string& base_dir,
                              const OnnxImportOptions& options) {
  if (static_cast<uint64_t>(size) > static_cast<uint64_t>(std::max<int64_t>(options.max_file_bytes, 0)))
    return OutOfRange("the model is " + std::to_string(size) + " bytes, more than the limit of " +
                      std::to_string(options.max_file_bytes));
  if (size == 0) return NotAModel("it is empty");
  if (size > static_cast<size_t>(INT_MAX))
    return OutOfRange("the model is " + std::to_string(size) + " bytes; protobuf cannot parse models over 2 GiB");
  try {
    onnx::ModelProto model;
    if (!onnx_internal::ParseProto(data, size, &model))
      return NotAModel("the bytes do not parse as an ONNX ModelProto (truncated, corrupt or not protobuf)");
    return ImportModel(model, base_dir, options);
  } catch (const std::bad_alloc&) {
    return OutOfRange("out of memory while importing the model");
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while importing the model: ") + e.what());
  }
}

Result<Graph> ImportOnnxFile(const std::string& path, const OnnxImportOptions& options) {
  ES_ASSIGN_OR_RETURN(std::string bytes, onnx_internal::ReadFileLimited(path, options.max_file_bytes));
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  Result<Graph> graph = ImportOnnxBytes(bytes.data(), bytes.size(), dir, options);
  if (!graph.ok()) return graph.status().WithContext(path);
  return graph;
}

}  // namespace edgesplit
