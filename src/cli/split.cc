// edgesplit split MODEL --split CUT[,CUT...] -o DIR
//
// Writes DIR/segment_0.onnx ... DIR/segment_K.onnx (segment k runs from cut
// c_k to cut c_{k+1}, with c_0 the input and c_{K+1} the output) and
// DIR/manifest.json describing the segments and the tensors crossing each cut.
// --format flat writes segment_K.essg instead (include/edgesplit/flat_segment.h).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "conventions.h"
#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "edgesplit/flat_segment.h"
#include "quant_args.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct SplitArgs {
  std::string model;
  std::vector<std::string> cuts;
  std::string out_dir;
  std::string format = "onnx";  // "onnx" (segment_K.onnx) or "flat" (segment_K.essg, docs/mcu.md)
  std::string dtype = "f32";    // "int8": quantize first (the graph a microcontroller runs)
  CalibArgs calib;
};

// Writes one segment in the chosen format; returns the file name.
Result<std::string> WriteSegmentAs(const SplitArgs& a, const Graph& seg, size_t k, const CutPoint& from,
                                   const CutPoint& to) {
  const std::filesystem::path dir(a.out_dir);
  if (a.format == "onnx") {
    const std::string file = fmt::format("segment_{}.onnx", k);
    ES_RETURN_IF_ERROR(ExportOnnxFile(seg, (dir / file).string()).WithContext("segment " + std::to_string(k)));
    return file;
  }
  SegmentInfo info;
  info.model = a.model;
  info.index = static_cast<int>(k);
  info.cut_before = from.index;
  info.cut_after = to.index;
  info.compute_dtype = DType::kFloat32;  // tensors take their own size: the executor's arena
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, WriteSegment(seg, info));
  const std::string file = fmt::format("segment_{}.essg", k);
  ES_RETURN_IF_ERROR(WriteOutput((dir / file).string(), std::string(bytes.begin(), bytes.end())));
  return file;
}

Json TensorJson(const Graph& g, int tensor) {
  const Tensor& t = g.tensors[tensor];
  return {{"name", t.name}, {"shape", ShapeJson(t.shape)}, {"dtype", DTypeName(t.dtype)}};
}

Status RunSplit(const SplitArgs& a) {
  if (a.out_dir.empty()) return InvalidArgument("--out-dir DIR is required (the folder for the segments and manifest.json)");
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.model));
  ES_ASSIGN_OR_RETURN(g, InDtype(std::move(g), a.dtype, a.calib, DefaultPreprocessing(a.model)));
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
  ES_ASSIGN_OR_RETURN(std::vector<int> chosen, ResolveInteriorCuts(g, cuts, a.cuts));
  std::error_code ec;
  std::filesystem::create_directories(a.out_dir, ec);
  if (ec) return IoError("cannot create '" + a.out_dir + "': " + ec.message());

  std::vector<int> bounds = {0};
  bounds.insert(bounds.end(), chosen.begin(), chosen.end());
  bounds.push_back(static_cast<int>(cuts.size()) - 1);
  Json manifest;
  manifest["schema_version"] = kSchemaVersion;
  manifest["model"] = a.model;
  manifest["format"] = a.format;
  manifest["dtype"] = IsQuantized(g) ? "int8" : "f32";
  manifest["num_cuts"] = cuts.size();
  manifest["segments"] = Json::array();
  manifest["cut_tensors"] = Json::array();
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    const CutPoint& from = cuts[bounds[k]];
    const CutPoint& to = cuts[bounds[k + 1]];
    ES_ASSIGN_OR_RETURN(Graph seg, ExtractSegment(g, from.position, to.position));
    seg.name = fmt::format("{} segment {} (cuts {}..{})", a.model, k, from.index, to.index);
    ES_ASSIGN_OR_RETURN(const std::string file, WriteSegmentAs(a, seg, k, from, to));
    ModelSummary m = Summarize(seg);
    ES_ASSIGN_OR_RETURN(SegmentMemory mem_int8, PlanSegmentMemory(g, from.position, to.position, DType::kInt8));
    ES_ASSIGN_OR_RETURN(SegmentMemory mem_f32, PlanSegmentMemory(g, from.position, to.position, DType::kFloat32));
    manifest["segments"].push_back({
        {"index", k},
        {"file", file},
        {"cut_before", from.index},
        {"cut_after", to.index},
        {"first_layer", seg.nodes.front().name},
        {"last_layer", seg.nodes.back().name},
        {"nodes", seg.nodes.size()},
        {"input", TensorJson(seg, seg.inputs[0])},
        {"output", TensorJson(seg, seg.outputs[0])},
        {"macs", m.total_macs},
        {"params", m.total_params},
        {"weight_bytes_f32", m.total_weight_bytes_f32},
        {"weight_bytes_int8", m.total_weight_bytes_int8},
        {"arena_bytes_f32", mem_f32.arena_bytes},
        {"arena_bytes_int8", mem_int8.arena_bytes},
    });
    if (k + 2 < bounds.size()) {
      Json cut = CutJson(to);
      cut["tensor"] = TensorJson(g, to.tensor);
      cut["from_segment"] = k;
      cut["to_segment"] = k + 1;
      manifest["cut_tensors"].push_back(cut);
    }
  }
  ES_RETURN_IF_ERROR(WriteOutput((std::filesystem::path(a.out_dir) / "manifest.json").string(), manifest.dump(2) + "\n"));
  std::string summary = fmt::format("wrote {} segments of {} to {}\n", bounds.size() - 1, a.model, a.out_dir);
  for (const auto& s : manifest["segments"])
    summary += fmt::format("  {}  cuts {:>3}..{:<3} {:>4} nodes  {:>9} MACs  {:>9} int8 weights  in {} out {}\n",
                           s["file"].get<std::string>(), s["cut_before"].get<int>(), s["cut_after"].get<int>(),
                           s["nodes"].get<int>(), Human(s["macs"].get<double>()),
                           HumanBytes(s["weight_bytes_int8"].get<int64_t>()), s["input"]["shape"].dump(),
                           s["output"]["shape"].dump());
  return WriteOutput("", summary);
}

}  // namespace

Runner RegisterSplit(CLI::App& app) {
  auto args = std::make_shared<SplitArgs>();
  app.add_option("model", args->model, "zoo spec or .onnx path")->required();
  app.add_option("--split", args->cuts, "cut names, aliases or indices, comma-separated")
      ->required()
      ->delimiter(',');
  // A folder: --out-dir (docs/cli.md); -o/--output is its old spelling.
  app.add_option("--out-dir", args->out_dir, "Output folder (segments and manifest.json)");
  AddHiddenAlias(app, "-o,--output", args->out_dir, "--out-dir");
  app.add_option("--format", args->format, "onnx: segment_K.onnx; flat: segment_K.essg FlatBuffers files (docs/mcu.md)")
      ->check(CLI::IsMember({"onnx", "flat"}));
  app.add_option("--dtype", args->dtype, "f32, or int8 (post-training quantization first, docs/quantization.md)")
      ->check(CLI::IsMember({"f32", "int8"}));
  app.add_option("--calib", args->calib.folder, "--dtype int8: calibration folder (default: 16 seeded random inputs)");
  return [args] { return RunSplit(*args); };
}

}  // namespace edgesplit::cli
