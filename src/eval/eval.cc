// Top-1 predictions, whole and split through cut-tensor codecs (include/edgesplit/eval.h).
#include "edgesplit/eval.h"

#include <cstring>
#include <memory>

#include "edgesplit/exec.h"

namespace edgesplit {
namespace {

Status CheckEnds(const SegmentExecutor& ex, bool first, bool last) {
  if (ex.num_inputs() != 1 || ex.num_outputs() != 1)
    return Unsupported("evaluation needs segments with one input and one output");
  if (first && ex.input_tensor().dtype != DType::kFloat32) return Unsupported("the model input must be float32");
  if (last && ex.output_tensor().dtype != DType::kFloat32) return Unsupported("the model output must be float32");
  return Status::Ok();
}

size_t Elements(const Tensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return static_cast<size_t>(n);
}

}  // namespace

int TopClass(const float* v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return static_cast<int>(best);
}

Result<CutTensorView> CutView(const Tensor& tensor, const void* data) {
  CutTensorView v;
  v.data = data;
  if (tensor.dtype == DType::kFloat32) v.dtype = CodecDType::kFloat32;
  else if (tensor.dtype == DType::kInt8) v.dtype = CodecDType::kInt8;
  else return Unsupported("cut tensor '" + tensor.name + "' is neither float32 nor int8: no codec carries it");
  const size_t n = Elements(tensor);
  if (n > 0xffffffffu) return OutOfRange("cut tensor '" + tensor.name + "' is too large for a codec payload");
  v.elements = static_cast<uint32_t>(n);
  v.channels = CodecChannels(tensor.shape.data(), tensor.shape.size());
  return v;
}

Result<std::vector<int>> PredictWhole(const Graph& graph, const Backend& backend, int64_t count, const InputFn& input) {
  ES_ASSIGN_OR_RETURN(std::unique_ptr<SegmentExecutor> ex,
                      SegmentExecutor::Create(graph, 0, static_cast<int>(graph.nodes.size()), backend));
  ES_RETURN_IF_ERROR(CheckEnds(*ex, true, true));
  const size_t classes = Elements(ex->output_tensor());
  std::vector<int> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    input(i, static_cast<float*>(ex->input()));
    ES_RETURN_IF_ERROR(ex->Invoke().WithContext("input " + std::to_string(i)));
    out[static_cast<size_t>(i)] = TopClass(static_cast<const float*>(ex->output()), classes);
  }
  return out;
}

Result<std::vector<CodecPredictions>> PredictSplit(const Graph& graph, int position, const std::vector<Codec>& codecs,
                                                   const Backend& backend, int64_t count, const InputFn& input) {
  const int n = static_cast<int>(graph.nodes.size());
  if (position <= 0 || position >= n)
    return InvalidArgument("split position " + std::to_string(position) + " is not inside the model (1.." +
                           std::to_string(n - 1) + ")");
  ES_ASSIGN_OR_RETURN(std::unique_ptr<SegmentExecutor> head, SegmentExecutor::Create(graph, 0, position, backend));
  ES_ASSIGN_OR_RETURN(std::unique_ptr<SegmentExecutor> tail, SegmentExecutor::Create(graph, position, n, backend));
  ES_RETURN_IF_ERROR(CheckEnds(*head, true, false));
  ES_RETURN_IF_ERROR(CheckEnds(*tail, false, true));
  if (head->output_bytes() != tail->input_bytes()) return Internal("head output and tail input sizes differ");
  ES_ASSIGN_OR_RETURN(CutTensorView view, CutView(head->output_tensor(), head->output()));
  for (const Codec& c : codecs)
    if (!CodecApplies(c, view.dtype))
      return InvalidArgument("codec " + CodecName(c) + " needs a float32 cut tensor; '" + head->output_tensor().name +
                             "' is int8 (use raw, int4 or int2, with +lz4/+zstd)");
  const size_t classes = Elements(tail->output_tensor());
  std::vector<CodecPredictions> out(codecs.size());
  std::vector<double> bytes(codecs.size(), 0);
  for (size_t k = 0; k < codecs.size(); ++k) out[k].codec = codecs[k], out[k].predictions.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    input(i, static_cast<float*>(head->input()));
    ES_RETURN_IF_ERROR(head->Invoke().WithContext("input " + std::to_string(i)));
    view.data = head->output();
    for (size_t k = 0; k < codecs.size(); ++k) {
      Result<std::vector<uint8_t>> payload = EncodeCutTensorHost(codecs[k], view);
      if (!payload.ok()) return payload.status().WithContext("input " + std::to_string(i));
      bytes[k] += static_cast<double>(payload->size());
      CutTensorView expect = view;
      expect.data = nullptr;
      ES_RETURN_IF_ERROR(DecodeCutTensor(payload->data(), payload->size(), expect, tail->input())
                             .WithContext("input " + std::to_string(i) + ", codec " + CodecName(codecs[k])));
      ES_RETURN_IF_ERROR(tail->Invoke().WithContext("input " + std::to_string(i)));
      out[k].predictions[static_cast<size_t>(i)] = TopClass(static_cast<const float*>(tail->output()), classes);
    }
  }
  for (size_t k = 0; k < codecs.size(); ++k) out[k].mean_bytes = count ? bytes[k] / static_cast<double>(count) : 0;
  return out;
}

double Agreement(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.empty() || a.size() != b.size()) return 0;
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

}  // namespace edgesplit
