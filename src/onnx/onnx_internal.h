// Internals shared by the ONNX import and export files (not installed).
//
// The split is by concern: tensor_proto.cc and attributes.cc convert tensors
// (in every storage form) and attributes, legacy.cc rewrites older opsets' attribute forms into the opset-17
// input forms, const_fold.cc evaluates constant subgraphs, import.cc walks the
// model and builds the Graph, export.cc writes it back, metadata.cc holds the
// edgesplit-specific metadata_props format both directions share.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/onnx.h"
#include "edgesplit/status.h"
#include "onnx/onnx_pb.h"

namespace edgesplit::onnx_internal {

// Largest constant tensor read from a file: keeps byte counts far from size_t
// and int overflow, and refuses hostile dims before anything is allocated.
inline constexpr int64_t kMaxConstantElements = int64_t{1} << 31;
// Largest activation (graph input) accepted; the graph core uses the same cap
// for inferred shapes.
inline constexpr int64_t kMaxActivationElements = int64_t{1} << 40;
// Folding may create constants no larger than the model itself; this is the
// allowance on top of twice the model's constant bytes (shape subgraphs fold
// to tiny tensors, so legitimate models stay far below it).
inline constexpr int64_t kFoldAllowanceBytes = int64_t{16} << 20;

inline constexpr int64_t kMinOpset = 7;
inline constexpr int64_t kMaxOpset = 18;
inline constexpr int64_t kExportOpset = 17;
inline constexpr int64_t kExportIrVersion = 8;

// ---- dtypes and shapes -----------------------------------------------------------

// ONNX TensorProto.DataType -> DType; false for dtypes edgesplit does not hold.
bool DTypeFromOnnx(int64_t onnx_type, DType* dtype);
int OnnxFromDType(DType dtype);
// "FLOAT16", or "data type 99" for values ONNX does not define.
std::string OnnxTypeName(int64_t onnx_type);
// Product of `dims` if all are non-negative and the product of the non-zero
// ones stays <= limit; -1 otherwise.
int64_t CheckedElementCount(const std::vector<int64_t>& dims, int64_t limit);

// ---- tensors (tensor_proto.cc) -----------------------------------------------------

// The files a model's external data may come from: inside `base_dir` ("" allows
// none). Each byte of those files may be read once, so that many tensors naming
// the same file cannot multiply it in memory.
class ExternalData {
 public:
  explicit ExternalData(std::string base_dir) : base_dir_(std::move(base_dir)) {}
  // The bytes of an EXTERNAL tensor, which must be `expected_bytes` long; errors start with `where`.
  Result<std::string> Read(const onnx::TensorProto& proto, const std::string& where, size_t expected_bytes);

 private:
  std::string base_dir_;
  std::unordered_map<std::string, uintmax_t> file_sizes_;  // by canonical path
  uintmax_t total_file_bytes_ = 0;
  uintmax_t bytes_read_ = 0;
};

// Converts a TensorProto of any storage form (raw_data, typed fields, external
// data) into a constant Tensor. Errors name the tensor.
Result<Tensor> TensorFromProto(const onnx::TensorProto& proto, ExternalData& external);
// Writes `tensor` (constant) into `proto` as raw_data.
void TensorToProto(const Tensor& tensor, onnx::TensorProto* proto);
// Parses any message under a size limit, rejecting trailing garbage.
bool ParseProto(const void* data, size_t size, google::protobuf::MessageLite* message);
// Reads a whole file, refusing files over `max_bytes`.
Result<std::string> ReadFileLimited(const std::string& path, int64_t max_bytes);

// ---- attributes (attributes.cc) ---------------------------------------------------

// Errors (unsupported kinds: tensors, graphs, strings lists) name the attribute.
Result<Attribute> AttributeFromProto(const onnx::AttributeProto& proto);
void AttributeToProto(const Attribute& attribute, onnx::AttributeProto* proto);

// ---- the import state --------------------------------------------------------------

// A node as read from the file, with tensor names still unresolved: the form the
// legacy rewrites and the folder work on before it becomes a Graph node.
struct OnnxNode {
  std::string op_type;
  std::string name;  // unique, non-empty
  std::vector<std::string> inputs;  // "" for an omitted optional input
  std::vector<std::string> outputs;
  std::vector<Attribute> attrs;
  const onnx::NodeProto* proto = nullptr;  // for attributes the IR cannot hold (Constant's tensor)

  std::string Where() const { return "node '" + name + "' (" + op_type + ")"; }
  Status Error(const std::string& message) const { return InvalidArgument(Where() + ": " + message); }
  Status Unsupported(const std::string& message) const;
  Attribute* FindAttr(const std::string& attr_name);
  void RemoveAttr(const std::string& attr_name);
};

// Everything known while the importer walks the nodes: the Graph built so far,
// and the constants that no graph node has needed yet.
class ImportState {
 public:
  ImportState(const OnnxImportOptions& options, std::string base_dir, int64_t opset)
      : options_(options), external_(std::move(base_dir)), opset_(opset) {}

  const OnnxImportOptions& options() const { return options_; }
  ExternalData& external_data() { return external_; }
  int64_t opset() const { return opset_; }
  Graph& graph() { return graph_; }

  // Names appearing anywhere in the file, so that generated names never collide.
  void ReserveName(const std::string& name) { reserved_.insert(name); }
  std::string FreshName(const std::string& base);

  bool IsDefined(const std::string& name) const { return values_.count(name) != 0; }
  // The tensor currently called `name` (valid until the graph or the pending
  // constants change); an error naming `user` when it is undefined.
  Result<const Tensor*> Lookup(const std::string& name, const OnnxNode& user) const;
  bool IsConstant(const std::string& name) const;
  // Adds a non-constant tensor to the graph (an input or a node output).
  Status DefineGraphTensor(Tensor tensor, int* id);
  // Records a constant (initializer, folded value, rewritten attribute).
  Status DefineConstant(Tensor tensor);
  // A new constant with a fresh name derived from `base`; returns its name.
  Result<std::string> AddConstant(const std::string& base, DType dtype, Shape shape, const void* values);
  // The graph tensor id of `name`, moving a pending constant into the graph.
  int Materialize(const std::string& name);

  // Folding budget: constants created at import may not exceed this many bytes.
  void CountModelBytes(int64_t bytes) { model_bytes_ += bytes; }
  Status ChargeFoldBytes(int64_t bytes, const OnnxNode& node);

 private:
  struct Value {
    int id = kNoTensor;  // in graph_.tensors
    int pending = -1;    // in pending_
  };
  const OnnxImportOptions& options_;
  ExternalData external_;
  int64_t opset_;
  Graph graph_;
  std::unordered_map<std::string, Value> values_;
  std::vector<Tensor> pending_;
  std::unordered_set<std::string> reserved_;
  int64_t model_bytes_ = 0;
  int64_t folded_bytes_ = 0;
};

// After shape inference of `node`: refuses outputs whose size arithmetic could
// overflow later (see CheckedElementCount), whatever inference let through.
Status CheckOutputSizes(const Graph& graph, const Node& node, const OnnxNode& where);

// ---- legacy.cc ----------------------------------------------------------------------

// Rewrites `node` from the model's opset into the opset-17 form the graph core
// expects (attributes that became inputs, and the reverse for ReduceMean-18).
// `consumed` holds every tensor name some node or graph output reads, to drop
// optional outputs nobody uses.
Status NormalizeLegacyForms(ImportState& state, const std::unordered_set<std::string>& consumed, OnnxNode& node);

// ---- const_fold.cc -------------------------------------------------------------------

// Import-only ops (Constant, Shape, Cast) that never become graph nodes; sets
// *handled when `node` was one of them.
Status ImportOnlyOp(ImportState& state, OnnxNode& node, bool* handled);
// Evaluates `node` (of graph op `op`) when all its inputs are constants and it is
// an op worth folding; sets *folded.
Status TryFold(ImportState& state, const OnnxNode& node, OpType op, bool* folded);

// ---- qdq.cc: the int8 graph (quant.h) <-> ONNX's QDQ form ---------------------------

// True when `graph` has int8 ops (int8 output with QuantParams) that ONNX can
// only express as DequantizeLinear -> float op -> QuantizeLinear.
bool HasInt8Ops(const Graph& graph);
// The QDQ form of an int8 graph: every int8 op between DequantizeLinear nodes
// on its int8/int32 inputs and a QuantizeLinear on its output.
Result<Graph> ExpandQdq(const Graph& graph);
// The reverse, after canonicalisation: puts Quantize/DequantizeLinear's constant
// parameters on their int8 tensors (an invalid scale or zero point is an error
// naming the node) and folds each DequantizeLinear -> op -> QuantizeLinear into
// the int8 op when edgesplit's int8 kernel computes the same function.
Status FoldQdq(Graph& graph);

// ---- metadata.cc ----------------------------------------------------------------------

// metadata_props key prefix: "edgesplit.aliases.<node name>" -> encoded list.
inline constexpr const char* kAliasKeyPrefix = "edgesplit.aliases.";
std::string EncodeAliases(const std::vector<std::string>& aliases);
bool DecodeAliases(const std::string& value, std::vector<std::string>* aliases);

}  // namespace edgesplit::onnx_internal
