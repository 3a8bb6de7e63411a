// edgesplit inspect MODEL [--format table|json|csv] [--layers] [-o FILE]
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct InspectArgs {
  std::string model;
  std::string format = "table";
  std::string output;
  bool layers = false;
};

std::string RenderJson(const std::string& model, const Graph& g, const ModelSummary& m,
                       const std::vector<CutPoint>& cuts) {
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["model"] = model;
  j["input_shape"] = ShapeJson(m.input_shape);
  j["total_macs"] = m.total_macs;
  j["total_params"] = m.total_params;
  j["total_weight_bytes_f32"] = m.total_weight_bytes_f32;
  j["total_weight_bytes_int8"] = m.total_weight_bytes_int8;
  j["layers"] = Json::array();
  for (size_t i = 0; i < g.nodes.size(); ++i) j["layers"].push_back(LayerJson(g, static_cast<int>(i), m.layers[i]));
  j["cut_points"] = Json::array();
  for (const CutPoint& c : cuts) j["cut_points"].push_back(CutJson(c));
  return j.dump(2) + "\n";
}

std::string RenderCsv(const Graph& g, const ModelSummary& m, const std::vector<CutPoint>& cuts, bool layers) {
  std::string out;
  if (layers) {
    out += "index,name,op,activation,output_shape,macs,params,weight_bytes_int8,output_bytes_int8\n";
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      const LayerStats& s = m.layers[i];
      out += fmt::format("{},{},{},{},\"{}\",{},{},{},{}\n", i, n.name, OpTypeName(n.op), ActivationText(n.activation),
                         ShapeToString(g.tensors[n.outputs[0]].shape), s.macs, s.params, s.weight_bytes_int8,
                         s.output_bytes_int8);
    }
    return out;
  }
  out += "index,after,shape,bytes_f32,bytes_int8,head_macs,head_weight_bytes_int8,head_arena_bytes_int8,"
         "tail_arena_bytes_int8,bottleneck_loose,bottleneck_strict\n";
  for (const CutPoint& c : cuts)
    out += fmt::format("{},{},\"{}\",{},{},{},{},{},{},{},{}\n", c.index, c.after, ShapeToString(c.shape), c.bytes_f32,
                       c.bytes_int8, c.head_macs, c.head_weight_bytes_int8, c.head_arena_bytes_int8,
                       c.tail_arena_bytes_int8, c.bottleneck_loose ? 1 : 0, c.bottleneck_strict ? 1 : 0);
  return out;
}

std::string RenderTable(const std::string& model, const Graph& g, const ModelSummary& m,
                        const std::vector<CutPoint>& cuts, bool layers) {
  std::string out = fmt::format("model       {}\ninput       {}\nnodes       {}\nMACs        {} ({})\nparams      {} ({})\n"
                                "weights     {} f32, {} int8\ncut points  {}\n\n",
                                model, ShapeToString(m.input_shape), g.nodes.size(), Human(double(m.total_macs)),
                                m.total_macs, Human(double(m.total_params)), m.total_params,
                                HumanBytes(m.total_weight_bytes_f32), HumanBytes(m.total_weight_bytes_int8), cuts.size());
  if (layers) {
    out += fmt::format("{:>4}  {:<28} {:<18} {:<18} {:>9} {:>9}\n", "#", "layer", "op", "output", "MACs", "params");
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      std::string op = OpTypeName(n.op);
      std::string act = ActivationText(n.activation);
      if (!act.empty()) op += "+" + act;
      out += fmt::format("{:>4}  {:<28} {:<18} {:<18} {:>9} {:>9}\n", i, n.name, op,
                         ShapeToString(g.tensors[n.outputs[0]].shape), Human(double(m.layers[i].macs)),
                         Human(double(m.layers[i].params)));
    }
    out += "\n";
  }
  out += fmt::format("{:>4}  {:<28} {:<16} {:>9} {:>8} {:>9} {:>10} {:>10} {:>10}  {}\n", "cut", "after", "shape",
                     "int8", "head%", "head MAC", "head wts", "head arena", "tail arena", "bottleneck");
  const double total = std::max<double>(1.0, double(m.total_macs));
  for (const CutPoint& c : cuts) {
    std::string after = c.after;
    if (!c.aliases.empty()) after = c.aliases.back();  // the name a user knows the cut by
    if (after.size() > 28) after = "..." + after.substr(after.size() - 25);  // the end is the specific part
    const char* bottleneck = c.bottleneck_strict ? "strict" : c.bottleneck_loose ? "loose" : "";
    out += fmt::format("{:>4}  {:<28} {:<16} {:>9} {:>7.1f}% {:>9} {:>10} {:>10} {:>10}  {}\n", c.index, after,
                       ShapeToString(c.shape), HumanBytes(c.bytes_int8), 100.0 * double(c.head_macs) / total,
                       Human(double(c.head_macs)), HumanBytes(c.head_weight_bytes_int8),
                       HumanBytes(c.head_arena_bytes_int8), HumanBytes(c.tail_arena_bytes_int8), bottleneck);
  }
  return out;
}

Status RunInspect(const InspectArgs& a) {
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(a.model));
  ModelSummary m = Summarize(g);
  // A model split analysis cannot handle (several inputs or outputs) still gets
  // its layer report, with the reason on stderr.
  std::vector<CutPoint> cuts;
  Result<std::vector<CutPoint>> found = FindCutPoints(g);
  if (found.ok()) {
    cuts = std::move(found).value();
  } else if (found.status().code() == StatusCode::kUnsupported) {
    std::fprintf(stderr, "edgesplit inspect: note: no cut points: %s\n", found.status().message().c_str());
  } else {
    return found.status();
  }
  std::string text;
  if (a.format == "json") text = RenderJson(a.model, g, m, cuts);
  else if (a.format == "csv") text = RenderCsv(g, m, cuts, a.layers);
  else text = RenderTable(a.model, g, m, cuts, a.layers);
  return WriteOutput(a.output, text);
}

}  // namespace

Runner RegisterInspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  app.add_option("model", args->model, "zoo spec (mobilenet_v2:alpha=0.35,res=224, resnet50, ...) or .onnx path")
      ->required();
  app.add_option("--format", args->format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_flag("--layers", args->layers, "table/csv: list the layers (json always has them)");
  app.add_option("-o,--output", args->output, "write to this file instead of stdout");
  return [args] { return RunInspect(*args); };
}

}  // namespace edgesplit::cli
