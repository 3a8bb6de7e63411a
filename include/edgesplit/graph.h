// The model graph: a DAG of operator nodes over named tensors.
//
// The IR keeps ONNX's semantics (NCHW shapes, ONNX attribute names, weights as
// constant input tensors) so that import and export are direct, with three
// differences that matter for split inference:
//   * nodes are stored in one topological order, and that order defines the cut
//     positions (position p = "after the first p nodes");
//   * a Conv may absorb a following BatchNormalization, and a Conv/Gemm/MatMul/
//     Add/BatchNormalization may absorb a following Relu/Clip/LeakyRelu; the node
//     keeps the absorbed nodes' names as `aliases`;
//   * Identity and Dropout nodes are removed, and constant-shape subgraphs are
//     folded to constants by the importer.
//
// This module is part of the portable device-side core: it is built without
// exceptions or RTTI and reports errors as Status values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "edgesplit/dtype.h"  // DType, DTypeName, DTypeSize
#include "edgesplit/status.h"

namespace edgesplit {

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar). Dimensions are never negative
// once a graph has passed shape inference.
int64_t NumElements(const Shape& shape);
std::string ShapeToString(const Shape& shape);  // "[1,3,224,224]"

// Quantization of an int8/uint8 tensor: real = scale * (q - zero_point).
// One scale/zero point for per-tensor, or one per index along `axis`.
struct QuantParams {
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  int axis = 1;
  bool empty() const { return scales.empty(); }
  bool operator==(const QuantParams&) const = default;
};

struct Tensor {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  QuantParams quant;
  bool is_constant = false;
  std::vector<uint8_t> data;  // raw little-endian values; constants only
  // A constant whose bytes live outside the graph (a segment file read in
  // place, include/edgesplit/segment.h): not owned, must outlive the graph,
  // num_elements() * DTypeSize(dtype) bytes. `data` stays empty then.
  const uint8_t* external_data = nullptr;

  int64_t num_elements() const { return NumElements(shape); }
  // A constant's bytes, wherever they are held.
  const uint8_t* bytes() const { return external_data ? external_data : data.data(); }
  size_t byte_size() const {
    return external_data ? static_cast<size_t>(num_elements()) * DTypeSize(dtype) : data.size();
  }
  // Typed view of a constant's data; the caller checks dtype first.
  template <typename T>
  const T* data_as() const { return reinterpret_cast<const T*>(bytes()); }
  template <typename T>
  T* mutable_data_as() { return reinterpret_cast<T*>(data.data()); }
};

#define ES_OP_LIST(X)                                                                           \
  X(Conv) X(BatchNormalization) X(Relu) X(Clip) X(LeakyRelu) X(Sigmoid) X(HardSigmoid)          \
  X(HardSwish) X(Mul) X(Add) X(Sub) X(Div) X(Concat) X(MaxPool) X(AveragePool)                  \
  X(GlobalAveragePool) X(ReduceMean) X(Flatten) X(Reshape) X(Squeeze) X(Unsqueeze) X(Transpose) \
  X(Slice) X(Split) X(Gather) X(Gemm) X(MatMul) X(Softmax) X(Pad) X(QuantizeLinear)            \
  X(DequantizeLinear) X(QLinearConv) X(QLinearMatMul) X(Identity) X(Dropout)

enum class OpType : uint8_t {
#define ES_OP_ENUM(name) k##name,
  ES_OP_LIST(ES_OP_ENUM)
#undef ES_OP_ENUM
};

const char* OpTypeName(OpType op);  // the ONNX op_type, e.g. "Conv"
// Looks up an ONNX op_type of the default domain; false if edgesplit does not support it.
bool OpTypeFromName(std::string_view name, OpType* op);

struct Attribute {
  enum class Kind : uint8_t { kInt, kFloat, kInts, kFloats, kString };
  std::string name;
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0.0f;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string s;
  bool operator==(const Attribute&) const = default;

  static Attribute Int(std::string name, int64_t value);
  static Attribute Float(std::string name, float value);
  static Attribute Ints(std::string name, std::vector<int64_t> values);
  static Attribute String(std::string name, std::string value);
};

// An elementwise activation folded into the node that produces its input.
enum class ActivationKind : uint8_t { kNone, kRelu, kClip, kLeakyRelu };
struct FusedActivation {
  ActivationKind kind = ActivationKind::kNone;
  float min = 0.0f;    // kClip
  float max = 0.0f;    // kClip
  float alpha = 0.0f;  // kLeakyRelu
  bool operator==(const FusedActivation&) const = default;
};

inline constexpr int kNoTensor = -1;  // an omitted optional input

struct Node {
  OpType op = OpType::kIdentity;
  std::string name;
  std::vector<std::string> aliases;  // names of nodes fused into this one, in order
  std::vector<int> inputs;           // tensor ids (kNoTensor for an omitted optional input)
  std::vector<int> outputs;          // tensor ids
  std::vector<Attribute> attrs;
  FusedActivation activation;

  const Attribute* FindAttr(std::string_view attr_name) const;
  int64_t GetInt(std::string_view attr_name, int64_t fallback) const;
  float GetFloat(std::string_view attr_name, float fallback) const;
  // Empty when absent.
  std::vector<int64_t> GetInts(std::string_view attr_name) const;
  std::string GetString(std::string_view attr_name, std::string_view fallback) const;
  void SetInt(std::string_view attr_name, int64_t value);
  void SetFloat(std::string_view attr_name, float value);
  void SetInts(std::string_view attr_name, std::vector<int64_t> value);
  void SetString(std::string_view attr_name, std::string value);
  void RemoveAttr(std::string_view attr_name);
  // True when this node is called `query` or absorbed a node of that name.
  bool HasName(std::string_view query) const;
  // Number of inputs that are present (not kNoTensor) at index i.
  bool HasInput(size_t i) const { return i < inputs.size() && inputs[i] != kNoTensor; }
};

class Graph {
 public:
  std::string name;
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;  // in topological order once Validate() passes
  std::vector<int> inputs;  // non-constant tensors fed by the caller
  std::vector<int> outputs;

  int AddTensor(Tensor tensor);  // returns its id
  // Adds a constant tensor holding `values` (copied as raw bytes).
  int AddConstant(std::string tensor_name, DType dtype, Shape shape, const void* values);
  int AddNode(Node node);  // returns its index
  // Tensor id by name, or kNoTensor.
  int FindTensor(std::string_view tensor_name) const;
  // Node index whose name or alias is `query`, or -1.
  int FindNode(std::string_view query) const;
  // For each tensor id, the index of the node producing it (-1 for inputs and constants).
  std::vector<int> Producers() const;
  // For each tensor id, the indices of the nodes reading it, in order.
  std::vector<std::vector<int>> Consumers() const;

  // Checks ids, names, one producer per tensor, nodes in topological order and
  // inputs/outputs non-constant. Errors name the offending node or tensor.
  Status Validate() const;
};

// Shape (and dtype) inference for one node from its inputs' shapes, writing the
// output tensors' shape and dtype. Errors name the node and the mismatch.
Status InferNodeShapes(Graph& graph, int node_index);
// Validate() and InferNodeShapes for every node in order.
Status InferShapes(Graph& graph);

// A node's input `index` as int64 values; it must be an int32/int64 constant
// (shape, axes, pads... operands). Errors name the node.
Result<std::vector<int64_t>> ConstantInts(const Graph& graph, const Node& node, int index);

// Where a Slice node reads, after ONNX's clamping rules: one entry per input axis.
struct SliceBounds {
  std::vector<int64_t> starts, steps, counts;
};
Result<SliceBounds> ResolveSlice(const Graph& graph, const Node& node);

// Graph rewrites, each keeping the topological order and the model's function.
Status SortTopologically(Graph& graph);  // stable: keeps the given order where it can
Status RemoveIdentities(Graph& graph);   // Identity, and Dropout in inference mode
Status FoldBatchNormIntoConv(Graph& graph);
Status FuseActivations(Graph& graph);
// A zero Pad of H and W read only by an AveragePool becomes that pool's pads
// (count_include_pad=1): torchvision's avg_pool2d(padding=p) export.
Status FoldPadIntoAveragePool(Graph& graph);
// Drops nodes whose outputs nobody reads and tensors nobody references; renumbers ids.
Status RemoveUnused(Graph& graph);
// The whole canonical pipeline: sort, remove identities, fold BN, fuse
// activations, fold zero pads into average pools, remove unused, infer shapes. Importers and builders call this.
Status Canonicalize(Graph& graph);

// A standalone graph running nodes [begin, end) of `graph`: its input is the
// single tensor live at position `begin` (the model input when begin is 0), its
// output the single tensor live at `end`. Fails unless both positions are cuts.
Result<Graph> ExtractSegment(const Graph& graph, int begin, int end);

// The same model at batch size `n`: every graph input's axis 0 becomes n and
// shapes are re-inferred, so SegmentExecutor::Create(WithBatch(g, n), ...) runs
// n images at once. Node order, names and tensor ids are g's, so cut positions
// and indices are the same at every batch size. Reshape shape constants that
// spell g's batch at position 0 (constant-folded `view(1, -1)` exports) get n;
// Flatten, Gemm, pooling, Concat and the quantized ops need nothing.
// Checked, not assumed: every activation of g must have g's batch on axis 0,
// and every activation of the result the same shape with n there; an op that
// mixes images (Softmax over axis 0, a Reshape folding the batch into another
// axis...) fails with an error naming it.
// The result borrows g's constants (Tensor::external_data), so k batch sizes
// cost no extra weight memory: g must outlive it, unchanged.
Result<Graph> WithBatch(const Graph& g, int64_t n);

// Deterministic pseudo-random numbers (splitmix64), portable and seedable, for
// synthetic weights and inputs.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Uniform();                   // [0, 1)
  float Uniform(float lo, float hi);  // [lo, hi)
  float Normal();                     // standard normal (Box-Muller)

 private:
  uint64_t state_;
};

}  // namespace edgesplit
