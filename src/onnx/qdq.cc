// The int8 graph (quant.h) <-> ONNX's QDQ form.
//
// ONNX has no int8 Conv/Gemm/Add with a requantized int8 output, so an int8 op
// is written as the float op between DequantizeLinear nodes (on its int8
// inputs, weights and int32 bias) and a QuantizeLinear (on its output): the QDQ
// form every ONNX quantizer and runtime reads. Import folds that pattern back
// when edgesplit's int8 kernel computes the same thing (same checks as the
// kernels' Prepare, bias at x_scale * w_scale), so export then import gives the
// same int8 graph; anything else stays in float, computing what the file says.
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "internal/unique_names.h"
#include "edgesplit/kernels.h"
#include "onnx_internal.h"

namespace edgesplit::onnx_internal {
namespace {

bool IsInt8Op(OpType op) {
  switch (op) {
    case OpType::kConv:
    case OpType::kGemm:
    case OpType::kAdd:
    case OpType::kAveragePool:
    case OpType::kGlobalAveragePool:
    case OpType::kMaxPool:
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kTranspose:
    case OpType::kConcat: return true;
    default: return false;
  }
}
bool MovesBytesOnly(OpType op) { return IsInt8Op(op) && op != OpType::kConv && op != OpType::kGemm && op != OpType::kAdd; }

bool Quantized8(const Tensor& t) { return t.dtype == DType::kInt8 && !t.quant.empty(); }

// A node of the int8 graph that the QDQ form must spell out.
bool NeedsExpansion(const Graph& g, const Node& n) {
  if (!IsInt8Op(n.op) || n.outputs.size() != 1 || !Quantized8(g.tensors[n.outputs[0]])) return false;
  for (int t : n.inputs) {
    if (t == kNoTensor) continue;
    const Tensor& x = g.tensors[t];
    if ((x.dtype == DType::kInt8 || x.dtype == DType::kInt32) && x.quant.empty()) return false;
    if (x.dtype == DType::kFloat32 || x.dtype == DType::kUInt8) return false;
  }
  return true;
}

class Expander {
 public:
  explicit Expander(const Graph& q) : q_(q), out_(q) {
    out_.nodes.clear();
    for (const Tensor& t : q.tensors) names_.Reserve(t.name);
    for (const Node& n : q.nodes) names_.Reserve(n.name);
  }

  Result<Graph> Run() {
    for (const Node& src : q_.nodes) {
      if (!NeedsExpansion(q_, src)) {
        out_.nodes.push_back(src);
        continue;
      }
      Node n = src;
      for (int& t : n.inputs)
        if (t != kNoTensor && out_.tensors[t].dtype != DType::kInt64) t = Dequantized(t);
      const int y = src.outputs[0];
      Tensor yf;
      yf.name = names_.Take(q_.tensors[y].name + "_float");
      yf.shape = q_.tensors[y].shape;
      n.outputs = {out_.AddTensor(std::move(yf))};
      const int yf_id = n.outputs[0];
      out_.nodes.push_back(std::move(n));
      Node qn;
      qn.op = OpType::kQuantizeLinear;
      qn.name = names_.Take(src.name + "_quantize");
      AddParams(&qn, yf_id, q_.tensors[y]);
      qn.outputs = {y};
      out_.nodes.push_back(std::move(qn));
    }
    ES_RETURN_IF_ERROR(RemoveUnused(out_));
    ES_RETURN_IF_ERROR(InferShapes(out_).WithContext("QDQ form"));
    return std::move(out_);
  }

 private:

  // inputs = {x, scale, zero point} (+ axis when per-axis), from `q`'s params.
  void AddParams(Node* n, int x, const Tensor& q) {
    const QuantParams& p = q.quant;
    const bool per_axis = p.scales.size() != 1;
    const Shape shape = per_axis ? Shape{static_cast<int64_t>(p.scales.size())} : Shape{};
    const int scale = out_.AddConstant(names_.Take(q.name + "_scale"), DType::kFloat32, shape, p.scales.data());
    int zp;
    if (q.dtype == DType::kInt32) {
      zp = out_.AddConstant(names_.Take(q.name + "_zero_point"), DType::kInt32, shape, p.zero_points.data());
    } else {
      std::vector<int8_t> z(p.zero_points.begin(), p.zero_points.end());
      zp = out_.AddConstant(names_.Take(q.name + "_zero_point"), DType::kInt8, shape, z.data());
    }
    n->inputs = {x, scale, zp};
    if (per_axis) n->SetInt("axis", p.axis);
  }

  // One DequantizeLinear per int8/int32 tensor, placed before its first reader.
  int Dequantized(int t) {
    auto it = dq_.find(t);
    if (it != dq_.end()) return it->second;
    const Tensor& src = q_.tensors[t];
    Tensor f;
    f.name = names_.Take(src.name + "_dequantized");
    f.shape = src.shape;
    const int id = out_.AddTensor(std::move(f));
    Node n;
    n.op = OpType::kDequantizeLinear;
    n.name = names_.Take(src.name + "_dequantize");
    AddParams(&n, t, src);
    n.outputs = {id};
    out_.nodes.push_back(std::move(n));
    dq_[t] = id;
    return id;
  }

  const Graph& q_;
  Graph out_;
  UniqueNames names_;
  std::unordered_map<int, int> dq_;
};

// ---- import -----------------------------------------------------------------------

Status Bad(const Node& n, const std::string& message) {
  return InvalidArgument("node '" + n.name + "' (" + OpTypeName(n.op) + "): " + message);
}

// The constant scale/zero point of a QuantizeLinear/DequantizeLinear as
// QuantParams; false when they are not constants (then nothing is folded).
Result<bool> ReadParams(const Graph& g, const Node& n, QuantParams* p) {
  if (!n.HasInput(1) || !g.tensors[n.inputs[1]].is_constant) return false;
  if (n.HasInput(2) && !g.tensors[n.inputs[2]].is_constant) return false;
  const Tensor& s = g.tensors[n.inputs[1]];
  const Tensor& x = g.tensors[n.inputs[0]];
  if (s.dtype != DType::kFloat32) return false;
  p->scales.assign(s.data_as<float>(), s.data_as<float>() + s.num_elements());
  for (float v : p->scales)
    if (!(v > 0.0f) || !std::isfinite(v)) return Bad(n, "scale " + std::to_string(v) + " must be positive and finite");
  p->zero_points.assign(p->scales.size(), 0);
  if (n.HasInput(2)) {
    const Tensor& z = g.tensors[n.inputs[2]];
    if (z.num_elements() != s.num_elements()) return Bad(n, "scale and zero point sizes differ");
    for (int64_t i = 0; i < z.num_elements(); ++i) {
      switch (z.dtype) {
        case DType::kInt8: p->zero_points[i] = z.data_as<int8_t>()[i]; break;
        case DType::kUInt8: p->zero_points[i] = z.data_as<uint8_t>()[i]; break;
        case DType::kInt32: p->zero_points[i] = z.data_as<int32_t>()[i]; break;
        default: return false;
      }
    }
  }
  int64_t axis = n.GetInt("axis", 1);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (axis < 0) axis += rank;
  if (p->scales.size() != 1 || s.shape.size() == 1) {
    if (axis < 0 || axis >= rank || x.shape[axis] != static_cast<int64_t>(p->scales.size()))
      return Bad(n, "per-axis parameters do not match axis " + std::to_string(axis) + " of '" + x.name + "'");
  }
  p->axis = static_cast<int>(p->scales.size() != 1 ? axis : 1);
  return true;
}

bool SameScale(float a, float b) { return std::fabs(a - b) <= 1e-5f * std::max(std::fabs(a), std::fabs(b)); }

}  // namespace

bool HasInt8Ops(const Graph& graph) {
  for (const Node& n : graph.nodes)
    if (NeedsExpansion(graph, n)) return true;
  return false;
}

Result<Graph> ExpandQdq(const Graph& graph) { return Expander(graph).Run(); }

Status FoldQdq(Graph& g) {
  // 1. Parameters onto the int8 tensors (checked: hostile values are errors).
  std::vector<char> conflicting(g.tensors.size(), 0);
  bool any = false;
  for (const Node& n : g.nodes) {
    if (n.op != OpType::kQuantizeLinear && n.op != OpType::kDequantizeLinear) continue;
    QuantParams p;
    ES_ASSIGN_OR_RETURN(bool constant, ReadParams(g, n, &p));
    if (!constant) continue;
    const int t = n.op == OpType::kQuantizeLinear ? n.outputs[0] : n.inputs[0];
    Tensor& tensor = g.tensors[t];
    if (tensor.dtype != DType::kInt8 && tensor.dtype != DType::kInt32) continue;
    if (!tensor.quant.empty() && !(tensor.quant == p)) conflicting[t] = 1;
    tensor.quant = p;
    any = true;
  }
  if (!any) return Status::Ok();
  const std::vector<int> producers = g.Producers();
  const std::vector<std::vector<int>> consumers = g.Consumers();
  std::vector<char> is_output(g.tensors.size(), 0);
  for (int t : g.outputs) is_output[t] = 1;
  // The int8 tensor a DequantizeLinear reads, when `t` is such a node's output.
  auto dequantized_from = [&](int t) -> int {
    const int p = t == kNoTensor ? -1 : producers[t];
    if (p < 0 || g.nodes[p].op != OpType::kDequantizeLinear) return kNoTensor;
    const int src = g.nodes[p].inputs[0];
    return conflicting[src] || g.tensors[src].quant.empty() ? kNoTensor : src;
  };

  // 2. DequantizeLinear -> op -> QuantizeLinear becomes the int8 op when its kernel agrees.
  std::vector<char> erase(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node original = g.nodes[i];
    if (!IsInt8Op(original.op) || original.outputs.size() != 1 || is_output[original.outputs[0]] ||
        !original.HasInput(0))
      continue;
    const std::vector<int>& readers = consumers[original.outputs[0]];
    if (readers.size() != 1 || g.nodes[readers[0]].op != OpType::kQuantizeLinear) continue;
    const Node& qn = g.nodes[readers[0]];
    const int y = qn.outputs[0];
    if (g.tensors[y].dtype != DType::kInt8 || g.tensors[y].quant.scales.size() != 1 || conflicting[y]) continue;
    Node folded = original;
    bool ok = true;
    for (size_t k = 0; k < folded.inputs.size() && ok; ++k) {
      const int t = folded.inputs[k];
      if (t == kNoTensor || g.tensors[t].dtype == DType::kInt64) continue;
      const int src = dequantized_from(t);
      const bool weight = (original.op == OpType::kConv || original.op == OpType::kGemm) && k >= 1;
      ok = src != kNoTensor && g.tensors[src].is_constant == weight &&
           g.tensors[src].dtype == (weight && k == 2 ? DType::kInt32 : DType::kInt8);
      if (ok) folded.inputs[k] = src;
    }
    if (!ok) continue;
    folded.outputs = {y};
    const QuantParams& xq = g.tensors[folded.inputs[0]].quant;
    if (MovesBytesOnly(original.op)) {
      // Byte moves and pools keep their input's params: only then is the int8 op the same function.
      for (int t : folded.inputs)
        if (t != kNoTensor && g.tensors[t].dtype == DType::kInt8) ok = ok && g.tensors[t].quant == g.tensors[y].quant;
    } else if (folded.HasInput(2) && xq.scales.size() == 1) {
      const QuantParams& wq = g.tensors[folded.inputs[1]].quant;
      const QuantParams& bq = g.tensors[folded.inputs[2]].quant;
      for (size_t c = 0; c < bq.scales.size() && ok; ++c)
        ok = SameScale(bq.scales[c], xq.scales[0] * wq.scales[wq.scales.size() == 1 ? 0 : c]) && bq.zero_points[c] == 0;
    }
    if (!ok) continue;
    g.nodes[i] = folded;
    PreparedKernel k;
    if (!ReferenceBackend().Prepare(g, static_cast<int>(i), &k).ok()) {
      g.nodes[i] = original;  // not an op edgesplit runs in int8: keep the float form
      continue;
    }
    erase[readers[0]] = 1;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  ES_RETURN_IF_ERROR(RemoveUnused(g));
  return InferShapes(g);
}

}  // namespace edgesplit::onnx_internal
