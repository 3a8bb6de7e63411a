// Per-layer SQNR of an int8 graph against its float original.
#include <cmath>
#include <limits>

#include "edgesplit/quant.h"

namespace edgesplit {

Result<std::vector<LayerSqnr>> MeasureSqnr(const Graph& f32_graph, const Graph& int8_graph,
                                           const std::vector<CalibrationSample>& samples) {
  if (samples.empty()) return InvalidArgument("SQNR needs at least one sample");
  // The int8 graph's tensor for each float node output: same name, or the
  // renamed int8 form of a model output ("<name>_quantized").
  struct Pair {
    int node, f32_tensor, int8_tensor;
  };
  std::vector<Pair> pairs;
  for (size_t n = 0; n < f32_graph.nodes.size(); ++n) {
    const int t = f32_graph.nodes[n].outputs[0];
    const std::string& name = f32_graph.tensors[t].name;
    int q = int8_graph.FindTensor(name + "_quantized");
    if (q == kNoTensor || int8_graph.tensors[q].dtype != DType::kInt8) q = int8_graph.FindTensor(name);
    if (q == kNoTensor || int8_graph.tensors[q].num_elements() != f32_graph.tensors[t].num_elements()) continue;
    const DType d = int8_graph.tensors[q].dtype;
    if (d != DType::kInt8 && d != DType::kFloat32) continue;
    if (d == DType::kInt8 && int8_graph.tensors[q].quant.scales.size() != 1) continue;
    pairs.push_back({static_cast<int>(n), t, q});
  }
  std::vector<double> signal(pairs.size(), 0.0), noise(pairs.size(), 0.0);
  for (const CalibrationSample& s : samples) {
    ES_ASSIGN_OR_RETURN(std::vector<std::vector<uint8_t>> ref, RunAllTensors(f32_graph, s));
    ES_ASSIGN_OR_RETURN(std::vector<std::vector<uint8_t>> got, RunAllTensors(int8_graph, s));
    for (size_t i = 0; i < pairs.size(); ++i) {
      const Tensor& qt = int8_graph.tensors[pairs[i].int8_tensor];
      const float* f = reinterpret_cast<const float*>(ref[pairs[i].f32_tensor].data());
      const int64_t n = qt.num_elements();
      for (int64_t e = 0; e < n; ++e) {
        double v;
        if (qt.dtype == DType::kInt8) {
          const int8_t q = static_cast<int8_t>(got[pairs[i].int8_tensor][e]);
          v = static_cast<double>(qt.quant.scales[0]) * (q - qt.quant.zero_points[0]);
        } else {
          v = reinterpret_cast<const float*>(got[pairs[i].int8_tensor].data())[e];
        }
        signal[i] += static_cast<double>(f[e]) * f[e];
        noise[i] += (f[e] - v) * (f[e] - v);
      }
    }
  }
  std::vector<LayerSqnr> out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    LayerSqnr l;
    const Node& node = f32_graph.nodes[pairs[i].node];
    l.node = node.name;
    l.tensor = f32_graph.tensors[pairs[i].f32_tensor].name;
    l.op = node.op;
    l.elements = f32_graph.tensors[pairs[i].f32_tensor].num_elements();
    l.sqnr_db = noise[i] == 0.0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal[i] / noise[i]);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace edgesplit
