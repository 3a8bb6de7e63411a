// Quantize(): a float canonical graph -> the int8 graph of quant.h.
//
// Each activation may exist in two forms, float and int8. A node runs in int8
// when it has an int8 kernel and its operands allow it; its inputs then take
// the int8 form (a QuantizeLinear is inserted where only the float one exists)
// and a float node takes the float form (a DequantizeLinear is inserted). So the
// graph input gets a leading QuantizeLinear, the output a trailing
// DequantizeLinear, and ops without an int8 kernel run in float in between.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "internal/unique_names.h"
#include "edgesplit/quant.h"

namespace edgesplit {
namespace {

constexpr int kWeightMax = 127;  // symmetric int8 weights use [-127, 127], as TFLite

bool IsFloatConstant(const Graph& g, int t) { return t != kNoTensor && g.tensors[t].is_constant && g.tensors[t].dtype == DType::kFloat32; }
bool IsActivation(const Graph& g, int t) { return t != kNoTensor && !g.tensors[t].is_constant; }

// Ops that only move bytes: int8 when their input already is, with its params.
bool IsDataMovement(OpType op) {
  switch (op) {
    case OpType::kMaxPool:
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kTranspose:
    case OpType::kIdentity:
      return true;
    default: return false;
  }
}

class Quantizer {
 public:
  Quantizer(const Graph& f, const std::vector<TensorRange>& ranges) : f_(f), ranges_(ranges), q_(f) {
    q_.nodes.clear();
    int8_of_.assign(f.tensors.size(), kNoTensor);
    float_of_.assign(f.tensors.size(), kNoTensor);
    for (const Tensor& t : f.tensors) names_.Reserve(t.name);
    for (int t : f.inputs) float_of_[t] = t;
  }

  Result<Graph> Run() {
    for (const Node& node : f_.nodes) ES_RETURN_IF_ERROR(AddNode(node));
    for (int& out : q_.outputs) {
      ES_ASSIGN_OR_RETURN(out, FloatOutput(out));
    }
    ES_RETURN_IF_ERROR(RemoveUnused(q_));
    ES_RETURN_IF_ERROR(InferShapes(q_).WithContext("quantized graph"));
    return std::move(q_);
  }

 private:

  int AddScalarConstant(const std::string& base, DType dtype, const void* value) {
    return q_.AddConstant(names_.Take(base), dtype, Shape{}, value);
  }

  Result<QuantParams> RangeParams(int t) const {
    const TensorRange& r = ranges_[t];
    if (!r.seen) return Internal("tensor '" + f_.tensors[t].name + "' has no calibrated range");
    return ChooseActivationParams(r.min, r.max);
  }

  // The int8 form of activation `t`, adding a QuantizeLinear from its float form if needed.
  Result<int> Int8Form(int t) {
    if (int8_of_[t] != kNoTensor) return int8_of_[t];
    ES_ASSIGN_OR_RETURN(QuantParams params, RangeParams(t));
    const std::string& base = f_.tensors[t].name;
    Tensor qt;
    qt.name = names_.Take(base + "_quantized");
    qt.dtype = DType::kInt8;
    qt.shape = f_.tensors[t].shape;
    qt.quant = params;
    const int id = q_.AddTensor(std::move(qt));
    Node n;
    n.op = OpType::kQuantizeLinear;
    n.name = names_.Take(base + "_quantize");
    const float scale = params.scales[0];
    const int8_t zp = static_cast<int8_t>(params.zero_points[0]);
    n.inputs = {float_of_[t], AddScalarConstant(base + "_scale", DType::kFloat32, &scale),
                AddScalarConstant(base + "_zero_point", DType::kInt8, &zp)};
    n.outputs = {id};
    q_.nodes.push_back(std::move(n));
    int8_of_[t] = id;
    return id;
  }

  // The float form of activation `t`, adding a DequantizeLinear from its int8 form if needed.
  Result<int> FloatForm(int t, const std::string& name = "") {
    if (float_of_[t] != kNoTensor) return float_of_[t];
    const Tensor& src = q_.tensors[int8_of_[t]];
    const std::string base = f_.tensors[t].name;
    Tensor ft;
    ft.name = name.empty() ? names_.Take(base + "_dequantized") : name;
    ft.dtype = DType::kFloat32;
    ft.shape = src.shape;
    const float scale = src.quant.scales[0];
    const int8_t zp = static_cast<int8_t>(src.quant.zero_points[0]);
    const int id = q_.AddTensor(std::move(ft));
    Node n;
    n.op = OpType::kDequantizeLinear;
    n.name = names_.Take(base + "_dequantize");
    n.inputs = {int8_of_[t], AddScalarConstant(base + "_dequant_scale", DType::kFloat32, &scale),
                AddScalarConstant(base + "_dequant_zero_point", DType::kInt8, &zp)};
    n.outputs = {id};
    q_.nodes.push_back(std::move(n));
    float_of_[t] = id;
    return id;
  }

  // A graph output in int8 gets renamed "<name>_quantized"; the float output
  // after the trailing DequantizeLinear keeps the model's output name.
  Result<int> FloatOutput(int t) {
    if (float_of_[t] != kNoTensor) return float_of_[t];
    Tensor& qt = q_.tensors[int8_of_[t]];
    const std::string name = qt.name;
    qt.name = names_.Take(name + "_quantized");
    return FloatForm(t, name);
  }

  // Conv/Gemm weights: per output channel along `axis`, symmetric.
  int QuantizeWeights(int w, int axis, std::vector<float>* scales) {
    const Tensor& src = f_.tensors[w];
    const int64_t channels = src.shape[axis];
    int64_t inner = 1;
    for (size_t d = axis + 1; d < src.shape.size(); ++d) inner *= src.shape[d];
    const float* v = src.data_as<float>();
    const int64_t n = src.num_elements();
    scales->assign(static_cast<size_t>(channels), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      float& s = (*scales)[(i / inner) % channels];
      if (std::isfinite(v[i])) s = std::max(s, std::fabs(v[i]));
    }
    for (float& s : *scales) s = s > 0.0f ? s / kWeightMax : 1.0f;
    std::vector<int8_t> q(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const float r = std::round(v[i] / (*scales)[(i / inner) % channels]);
      q[i] = static_cast<int8_t>(std::isfinite(r) ? std::clamp(r, -static_cast<float>(kWeightMax), static_cast<float>(kWeightMax)) : 0.0f);
    }
    const int id = q_.AddConstant(names_.Take(src.name + "_quantized"), DType::kInt8, src.shape, q.data());
    q_.tensors[id].quant.scales = *scales;
    q_.tensors[id].quant.zero_points.assign(scales->size(), 0);
    q_.tensors[id].quant.axis = axis;
    return id;
  }

  // int32 bias at scale x_scale * w_scale[c].
  Result<int> QuantizeBias(const Node& node, int b, float x_scale, const std::vector<float>& w_scales) {
    const Tensor& src = f_.tensors[b];
    if (src.num_elements() != static_cast<int64_t>(w_scales.size()))
      return Unsupported("node '" + node.name + "': bias '" + src.name + "' does not have one value per output channel");
    std::vector<int32_t> q(w_scales.size());
    std::vector<float> scales(w_scales.size());
    for (size_t c = 0; c < q.size(); ++c) {
      scales[c] = x_scale * w_scales[c];
      const double r = std::round(static_cast<double>(src.data_as<float>()[c]) / scales[c]);
      q[c] = std::isfinite(r) ? static_cast<int32_t>(std::clamp(r, -2147483647.0, 2147483647.0)) : 0;
    }
    const int id = q_.AddConstant(names_.Take(src.name + "_quantized"), DType::kInt32, src.shape, q.data());
    q_.tensors[id].quant.scales = scales;
    q_.tensors[id].quant.zero_points.assign(scales.size(), 0);
    q_.tensors[id].quant.axis = 0;
    return id;
  }

  // Conv and Gemm: weights are float constants, the activation has an int8 form.
  bool CanRunWeightedInt8(const Node& n) const {
    if (!IsActivation(f_, n.inputs[0]) || n.inputs.size() < 2 || !IsFloatConstant(f_, n.inputs[1])) return false;
    if (n.HasInput(2) && !IsFloatConstant(f_, n.inputs[2])) return false;
    if (n.activation.kind == ActivationKind::kLeakyRelu || n.outputs.size() != 1) return false;
    if (n.op == OpType::kGemm)
      return n.GetInt("transA", 0) == 0 && n.GetFloat("alpha", 1.0f) == 1.0f && n.GetFloat("beta", 1.0f) == 1.0f &&
             f_.tensors[n.inputs[0]].shape.size() == 2 && f_.tensors[n.inputs[1]].shape.size() == 2 &&
             (!n.HasInput(2) || f_.tensors[n.inputs[2]].num_elements() == f_.tensors[n.outputs[0]].shape[1]);
    return f_.tensors[n.inputs[1]].shape.size() >= 3;
  }

  bool PrimaryInt8(int t) const { return t != kNoTensor && int8_of_[t] != kNoTensor && float_of_[t] == kNoTensor; }

  Status SetInt8Output(Node& node, const QuantParams& params) {
    const int y = node.outputs[0];
    Tensor& t = q_.tensors[y];
    t.dtype = DType::kInt8;
    t.quant = params;
    int8_of_[y] = y;
    return Status::Ok();
  }

  Status AddNode(const Node& src) {
    Node node = src;
    const OpType op = node.op;
    // Every int8 form needs a present data input and one output.
    const bool has_data = !node.inputs.empty() && node.inputs[0] != kNoTensor && node.outputs.size() == 1;
    const bool weighted = has_data && (op == OpType::kConv || op == OpType::kGemm) && CanRunWeightedInt8(node);
    const bool add = has_data && op == OpType::kAdd && node.inputs.size() == 2 && IsActivation(f_, node.inputs[0]) &&
                     IsActivation(f_, node.inputs[1]) && node.activation.kind != ActivationKind::kLeakyRelu;
    const bool pooled = has_data && (op == OpType::kAveragePool || op == OpType::kGlobalAveragePool) && PrimaryInt8(node.inputs[0]) &&
                        node.outputs.size() == 1 && node.activation.kind == ActivationKind::kNone;
    const bool moved = has_data && IsDataMovement(op) && PrimaryInt8(node.inputs[0]) && node.outputs.size() == 1 &&
                       node.activation.kind == ActivationKind::kNone;
    bool concat = has_data && op == OpType::kConcat && !node.inputs.empty() && node.activation.kind == ActivationKind::kNone;
    // Concat moves bytes only when every input already shares one set of params.
    for (int t : node.inputs)
      concat = concat && PrimaryInt8(t) && q_.tensors[int8_of_[t]].quant == q_.tensors[int8_of_[node.inputs[0]]].quant;

    if (weighted) {
      ES_ASSIGN_OR_RETURN(node.inputs[0], Int8Form(src.inputs[0]));
      const float x_scale = q_.tensors[node.inputs[0]].quant.scales[0];
      const int axis = op == OpType::kGemm && node.GetInt("transB", 0) == 0 ? 1 : 0;
      std::vector<float> w_scales;
      node.inputs[1] = QuantizeWeights(src.inputs[1], axis, &w_scales);
      if (node.HasInput(2)) {
        ES_ASSIGN_OR_RETURN(node.inputs[2], QuantizeBias(src, src.inputs[2], x_scale, w_scales));
      }
      ES_ASSIGN_OR_RETURN(QuantParams params, RangeParams(src.outputs[0]));
      ES_RETURN_IF_ERROR(SetInt8Output(node, params));
    } else if (add) {
      for (size_t i = 0; i < 2; ++i) {
        ES_ASSIGN_OR_RETURN(node.inputs[i], Int8Form(src.inputs[i]));
      }
      ES_ASSIGN_OR_RETURN(QuantParams params, RangeParams(src.outputs[0]));
      ES_RETURN_IF_ERROR(SetInt8Output(node, params));
    } else if (pooled || moved || concat) {
      for (size_t i = 0; i < node.inputs.size(); ++i)
        if (IsActivation(f_, src.inputs[i])) node.inputs[i] = int8_of_[src.inputs[i]];
      const QuantParams params = q_.tensors[node.inputs[0]].quant;
      ES_RETURN_IF_ERROR(SetInt8Output(node, params));
    } else {
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (!IsActivation(f_, src.inputs[i])) continue;
        ES_ASSIGN_OR_RETURN(node.inputs[i], FloatForm(src.inputs[i]));
      }
      for (int y : node.outputs) float_of_[y] = y;
    }
    q_.nodes.push_back(std::move(node));
    return Status::Ok();
  }

  const Graph& f_;
  const std::vector<TensorRange>& ranges_;
  Graph q_;
  std::vector<int> int8_of_, float_of_;  // per float-graph tensor id: its form in q_ (ids are shared)
  UniqueNames names_;
};

}  // namespace

bool IsQuantized(const Graph& graph) {
  for (const Tensor& t : graph.tensors)
    if (!t.is_constant && t.dtype == DType::kInt8 && !t.quant.empty()) return true;
  return false;
}

Result<Graph> Quantize(const Graph& graph, const std::vector<CalibrationSample>& samples, const QuantizeOptions& options) {
  if (graph.inputs.size() != 1 || graph.outputs.size() != 1)
    return Unsupported("quantization needs a model with exactly one input and one output");
  if (graph.tensors[graph.inputs[0]].dtype != DType::kFloat32 || graph.tensors[graph.outputs[0]].dtype != DType::kFloat32)
    return Unsupported("quantization needs a float32 model (its input or output is not float32)");
  for (const Tensor& t : graph.tensors)
    if (!t.is_constant && t.dtype != DType::kFloat32 && t.dtype != DType::kInt64 && t.dtype != DType::kInt32)
      return Unsupported("tensor '" + t.name + "' is already " + DTypeName(t.dtype) + ": the model is quantized");
  std::vector<CalibrationSample> random;
  const std::vector<CalibrationSample>* use = &samples;
  if (samples.empty()) {
    random = RandomCalibrationSamples(graph.tensors[graph.inputs[0]], options.random_samples, options.seed);
    use = &random;
  }
  ES_ASSIGN_OR_RETURN(std::vector<TensorRange> ranges, CalibrateRanges(graph, *use, options.progress));
  return Quantizer(graph, ranges).Run();
}

}  // namespace edgesplit
