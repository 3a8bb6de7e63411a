#include "render.h"

#include "edgesplit/io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace edgesplit::cli {

Json ShapeJson(const Shape& shape) {
  Json j = Json::array();
  for (int64_t d : shape) j.push_back(d);
  return j;
}

std::string ActivationText(const FusedActivation& a) {
  switch (a.kind) {
    case ActivationKind::kNone: return "";
    case ActivationKind::kRelu: return "Relu";
    case ActivationKind::kLeakyRelu: return fmt::format("LeakyRelu({:g})", a.alpha);
    case ActivationKind::kClip: return fmt::format("Clip({:g},{:g})", a.min, a.max);
  }
  return "";
}

Json CutJson(const CutPoint& c) {
  return {
      {"index", c.index},
      {"position", c.position},
      {"after", c.after},
      {"aliases", c.aliases},
      {"shape", ShapeJson(c.shape)},
      {"elements", c.elements},
      {"bytes_f32", c.bytes_f32},
      {"bytes_int8", c.bytes_int8},
      {"head_macs", c.head_macs},
      {"head_weight_bytes_f32", c.head_weight_bytes_f32},
      {"head_weight_bytes_int8", c.head_weight_bytes_int8},
      {"head_arena_bytes_f32", c.head_arena_bytes_f32},
      {"head_arena_bytes_int8", c.head_arena_bytes_int8},
      {"tail_arena_bytes_f32", c.tail_arena_bytes_f32},
      {"tail_arena_bytes_int8", c.tail_arena_bytes_int8},
      {"bottleneck_loose", c.bottleneck_loose},
      {"bottleneck_strict", c.bottleneck_strict},
  };
}

Json LayerJson(const Graph& graph, int node_index, const LayerStats& s) {
  const Node& n = graph.nodes[node_index];
  Json j = {
      {"name", n.name},
      {"op", OpTypeName(n.op)},
      {"aliases", n.aliases},
      {"output_shape", n.outputs.empty() ? Json::array() : ShapeJson(graph.tensors[n.outputs[0]].shape)},
      {"macs", s.macs},
      {"params", s.params},
      {"weight_bytes_f32", s.weight_bytes_f32},
      {"weight_bytes_int8", s.weight_bytes_int8},
      {"output_bytes_f32", s.output_bytes_f32},
      {"output_bytes_int8", s.output_bytes_int8},
  };
  std::string act = ActivationText(n.activation);
  j["activation"] = act.empty() ? Json(nullptr) : Json(act);
  return j;
}

std::string Human(double v) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:g}", v) : fmt::format("{:.3g}{}", v, units[u]);
}

std::string HumanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 3) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.3g}{}", v, units[u]);
}

namespace {

void Flatten(const Json& value, const std::string& prefix, std::vector<std::pair<std::string, std::string>>* out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, v] : value.items()) Flatten(v, prefix.empty() ? key : prefix + "." + key, out);
    return;
  }
  std::string text;
  if (value.is_null()) {
  } else if (value.is_boolean()) {
    text = value.get<bool>() ? "1" : "0";
  } else if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_array() && std::all_of(value.begin(), value.end(), [](const Json& x) { return x.is_primitive(); })) {
    for (const Json& x : value) text += (text.empty() ? "" : ";") + (x.is_string() ? x.get<std::string>() : x.dump());
  } else {
    text = value.dump();
  }
  out->emplace_back(prefix, text);
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::string RowsCsv(const Json& rows) {
  std::vector<std::string> columns;
  std::vector<std::vector<std::pair<std::string, std::string>>> cells;
  for (const Json& row : rows) {
    cells.emplace_back();
    Flatten(row, "", &cells.back());
    for (const auto& [key, text] : cells.back())
      if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
  }
  std::string csv;
  for (size_t c = 0; c < columns.size(); ++c) csv += (c ? "," : "") + CsvField(columns[c]);
  csv += "\n";
  for (const auto& row : cells) {
    for (size_t c = 0; c < columns.size(); ++c) {
      auto it = std::find_if(row.begin(), row.end(), [&](const auto& kv) { return kv.first == columns[c]; });
      csv += (c ? "," : "") + (it == row.end() ? std::string() : CsvField(it->second));
    }
    csv += "\n";
  }
  return csv;
}

Status WriteOutput(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status::Ok();
  }
  return WriteTextFile(path, text);
}

}  // namespace edgesplit::cli
