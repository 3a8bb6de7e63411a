// Evaluation data and the codec sweep (include/edgesplit/eval.h).
#include <nlohmann/json.hpp>
#include <random>

#include "edgesplit/eval.h"

namespace edgesplit {

void EvalData::Fill(int64_t i, float* out) const {
  if (labelled) return ImageToFloat(images, i, mean, std_dev, out);
  std::mt19937 rng(static_cast<uint32_t>(7919 + i));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t k = 0; k < elements; ++k) out[k] = u(rng);
}

InputFn EvalData::Input() const {
  return [this](int64_t i, float* out) { Fill(i, out); };
}

std::vector<int> EvalData::Labels() const {
  if (!labelled) return {};
  return std::vector<int>(images.labels.begin(), images.labels.begin() + count);
}

Result<EvalData> LoadEvalData(const std::string& data, const Tensor& model_input, int64_t limit, float mean,
                              float std_dev) {
  if (data != "fashion-mnist" && data != "random")
    return InvalidArgument("--data " + data + ": expected fashion-mnist or random");
  if (limit < 0) return InvalidArgument("--limit must not be negative");
  if (std_dev == 0 || !std::isfinite(std_dev) || !std::isfinite(mean)) return InvalidArgument("--std must be finite and not 0");
  EvalData d;
  d.elements = 1;
  for (int64_t dim : model_input.shape) d.elements *= static_cast<size_t>(dim);
  d.mean = mean;
  d.std_dev = std_dev;
  if (data == "random") {
    d.count = limit > 0 ? limit : 100;
    return d;
  }
  ES_ASSIGN_OR_RETURN(d.images, LoadFashionMnist(FashionMnistDir(), "test", limit));
  if (d.elements != static_cast<size_t>(d.images.rows * d.images.cols))
    return InvalidArgument("model input " + ShapeToString(model_input.shape) + " does not take Fashion-MNIST's [1,1,28,28] images");
  d.labelled = true;
  d.count = d.images.count;
  return d;
}

Result<CodecSweep> SweepCodecs(const Graph& g, const Graph& f32, const Backend& backend, int64_t count,
                               const InputFn& input, const std::vector<int>& labels,
                               const std::function<void(int, int)>& progress) {
  if (count < 1) return InvalidArgument("the codec sweep needs at least one input");
  const bool labelled = !labels.empty();
  if (labelled && static_cast<int64_t>(labels.size()) < count)
    return InvalidArgument("the codec sweep has " + std::to_string(labels.size()) + " labels for " + std::to_string(count) + " inputs");
  const std::vector<int> truth(labels.begin(), labels.begin() + (labelled ? count : 0));
  CodecSweep s;
  s.samples = count;
  s.labelled = labelled;
  ES_ASSIGN_OR_RETURN(std::vector<int> f32_pred, PredictWhole(f32, backend, count, input));
  if (labelled) {
    ES_ASSIGN_OR_RETURN(std::vector<int> whole, PredictWhole(g, backend, count, input));
    s.f32_accuracy = Agreement(f32_pred, truth);
    s.accuracy = Agreement(whole, truth);
  }
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> all, FindCutPoints(g));
  std::vector<CutPoint> cuts;  // the interior natural bottlenecks
  for (const CutPoint& cut : all)
    if (cut.position > 0 && cut.position < static_cast<int>(g.nodes.size()) && (cut.bottleneck_loose || cut.bottleneck_strict))
      cuts.push_back(cut);
  int swept = 0;
  for (const CutPoint& cut : cuts) {
    const DType dt = g.tensors[cut.tensor].dtype;
    std::vector<Codec> codecs;
    for (const Codec& c : AllCodecs())
      if (CodecApplies(c, dt == DType::kInt8 ? CodecDType::kInt8 : CodecDType::kFloat32)) codecs.push_back(c);
    ES_ASSIGN_OR_RETURN(std::vector<CodecPredictions> runs, PredictSplit(g, cut.position, codecs, backend, count, input));
    for (CodecPredictions& r : runs) {
      CodecSweepEntry e;
      e.cut = cut;
      e.cut_dtype = dt;
      e.codec = r.codec;
      e.cut_bytes = r.mean_bytes;
      e.agreement = Agreement(r.predictions, f32_pred);
      if (labelled) {
        e.accuracy = Agreement(r.predictions, truth);
        e.accuracy_drop = (s.f32_accuracy - e.accuracy) * 100.0;
      }
      s.entries.push_back(std::move(e));
    }
    if (progress) progress(++swept, static_cast<int>(cuts.size()));
  }
  return s;
}

std::string CodecTableJson(const CodecSweep& s, const std::string& model, const std::string& dtype, const std::string& data) {
  using Json = nlohmann::ordered_json;  // schema_version first, as every edgesplit document
  auto nullable = [](double v) { return std::isnan(v) ? Json(nullptr) : Json(v); };
  Json j;
  j["schema_version"] = 1;
  j["kind"] = "codec_table";
  j["model"] = model;
  j["dtype"] = dtype;
  j["data"] = data;
  j["samples"] = s.samples;
  j["f32_accuracy"] = nullable(s.f32_accuracy);
  j["accuracy"] = nullable(s.accuracy);
  Json entries = Json::array();
  for (const CodecSweepEntry& e : s.entries)
    entries.push_back({{"cut_index", e.cut.index}, {"after", e.cut.after}, {"shape", e.cut.shape},
                       {"cut_dtype", DTypeName(e.cut_dtype)}, {"codec", CodecName(e.codec)}, {"codec_id", CodecId(e.codec)},
                       {"cut_bytes", e.cut_bytes}, {"accuracy", nullable(e.accuracy)},
                       {"accuracy_drop", nullable(e.accuracy_drop)}, {"agreement", e.agreement}});
  j["entries"] = std::move(entries);
  return j.dump(2) + "\n";
}

}  // namespace edgesplit
