// Planner instances: building one from a model and profiles, reading and
// writing instance files, and checking their shape.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgesplit/plan.h"

namespace edgesplit {
namespace {

using Json = nlohmann::ordered_json;

std::string Where(const std::string& origin, const std::string& path) { return origin + ": field '" + path + "' "; }

Result<double> GetNumber(const Json& o, const char* key, const std::string& origin, const std::string& path,
                         bool required = true, double fallback = 0) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (required) return InvalidArgument(Where(origin, path + key) + "is missing");
    return fallback;
  }
  if (!it->is_number()) return InvalidArgument(Where(origin, path + key) + "must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < 0) return InvalidArgument(Where(origin, path + key) + "must be a finite number >= 0");
  return v;
}

Result<int64_t> GetBytes(const Json& o, const char* key, const std::string& origin, const std::string& path) {
  ES_ASSIGN_OR_RETURN(double v, GetNumber(o, key, origin, path));
  if (v != std::floor(v) || v > 9e15) return InvalidArgument(Where(origin, path + key) + "must be a whole number of bytes");
  return static_cast<int64_t>(v);
}

Result<std::string> GetString(const Json& o, const char* key, const std::string& origin, const std::string& path) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return InvalidArgument(Where(origin, path + key) + "must be a string");
  return it->get<std::string>();
}

Result<const Json*> GetArray(const Json& o, const char* key, const std::string& origin) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array() || it->empty()) return InvalidArgument(Where(origin, key) + "must be a non-empty array");
  return &*it;
}

}  // namespace

Status ValidateProblem(const Problem& p) {
  if (p.layers.empty()) return InvalidArgument("the problem has no layer groups");
  if (p.devices.empty()) return InvalidArgument("the problem has no devices");
  for (size_t g = 0; g < p.layers.size(); ++g) {
    const PlanLayer& l = p.layers[g];
    if (l.compute_s.size() != p.devices.size())
      return InvalidArgument("layer group " + std::to_string(g) + " ('" + l.name + "') has " + std::to_string(l.compute_s.size()) +
                             " compute_s entries for " + std::to_string(p.devices.size()) + " devices");
    for (double c : l.compute_s)
      if (!std::isfinite(c) || c < 0) return InvalidArgument("layer group " + std::to_string(g) + " has a compute_s that is not a finite number >= 0");
    if (l.weight_bytes < 0 || l.out_bytes < 0 || l.arena_bytes < 0)
      return InvalidArgument("layer group " + std::to_string(g) + " has negative bytes");
  }
  const LinkProfile& k = p.link;
  if (k.payload_bytes < 1) return InvalidArgument("link payload_bytes must be >= 1");
  if (!(k.bytes_per_s > 0)) return InvalidArgument("link bytes_per_s must be > 0");
  if (!(k.loss >= 0 && k.loss < 1)) return InvalidArgument("link loss must be in [0, 1)");
  if (!(k.per_message_s >= 0 && k.per_frame_s >= 0)) return InvalidArgument("link per_message_s and per_frame_s must be >= 0");
  return Status::Ok();
}

Result<Problem> ParseProblem(const std::string& text, const std::string& origin) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(origin + ": not valid JSON");
  if (!j.is_object()) return InvalidArgument(origin + ": the top level must be a JSON object");
  Problem p;
  ES_ASSIGN_OR_RETURN(double schema, GetNumber(j, "schema_version", origin, ""));
  if (schema != 1) return InvalidArgument(Where(origin, "schema_version") + "must be 1");
  if (auto it = j.find("model"); it != j.end() && it->is_string()) p.model = it->get<std::string>();
  if (auto it = j.find("dtype"); it != j.end() && it->is_string()) p.dtype = it->get<std::string>();
  ES_ASSIGN_OR_RETURN(p.input_bytes, GetBytes(j, "input_bytes", origin, ""));
  ES_ASSIGN_OR_RETURN(const Json* devices, GetArray(j, "devices", origin));
  for (size_t d = 0; d < devices->size(); ++d) {
    const Json& o = (*devices)[d];
    const std::string path = "devices[" + std::to_string(d) + "].";
    if (!o.is_object()) return InvalidArgument(Where(origin, path.substr(0, path.size() - 1)) + "must be an object");
    PlanDevice dev;
    ES_ASSIGN_OR_RETURN(dev.name, GetString(o, "name", origin, path));
    ES_ASSIGN_OR_RETURN(dev.weight_capacity_bytes, GetBytes(o, "weight_capacity_bytes", origin, path));
    ES_ASSIGN_OR_RETURN(dev.ram_bytes, GetBytes(o, "ram_bytes", origin, path));
    ES_ASSIGN_OR_RETURN(dev.active_w, GetNumber(o, "active_w", origin, path, false));
    ES_ASSIGN_OR_RETURN(dev.idle_w, GetNumber(o, "idle_w", origin, path, false));
    ES_ASSIGN_OR_RETURN(dev.tx_w, GetNumber(o, "tx_w", origin, path, false));
    ES_ASSIGN_OR_RETURN(dev.rx_w, GetNumber(o, "rx_w", origin, path, false));
    p.devices.push_back(std::move(dev));
  }
  ES_ASSIGN_OR_RETURN(const Json* layers, GetArray(j, "layers", origin));
  for (size_t g = 0; g < layers->size(); ++g) {
    const Json& o = (*layers)[g];
    const std::string path = "layers[" + std::to_string(g) + "].";
    if (!o.is_object()) return InvalidArgument(Where(origin, path.substr(0, path.size() - 1)) + "must be an object");
    PlanLayer l;
    ES_ASSIGN_OR_RETURN(l.name, GetString(o, "name", origin, path));
    ES_ASSIGN_OR_RETURN(l.weight_bytes, GetBytes(o, "weight_bytes", origin, path));
    ES_ASSIGN_OR_RETURN(l.out_bytes, GetBytes(o, "out_bytes", origin, path));
    ES_ASSIGN_OR_RETURN(l.arena_bytes, GetBytes(o, "arena_bytes", origin, path));
    auto cs = o.find("compute_s");
    if (cs == o.end() || !cs->is_array() || cs->size() != p.devices.size())
      return InvalidArgument(Where(origin, path + "compute_s") + "must be an array with one number per device (" +
                             std::to_string(p.devices.size()) + ")");
    for (size_t k = 0; k < cs->size(); ++k) {
      const Json& c = (*cs)[k];
      if (!c.is_number() || !std::isfinite(c.get<double>()) || c.get<double>() < 0)
        return InvalidArgument(Where(origin, path + "compute_s[" + std::to_string(k) + "]") + "must be a finite number >= 0");
      l.compute_s.push_back(c.get<double>());
    }
    p.layers.push_back(std::move(l));
  }
  auto link = j.find("link");
  if (link == j.end() || !link->is_object()) return InvalidArgument(Where(origin, "link") + "must be an object");
  LinkProfile& k = p.link;
  k.name = link->contains("name") && (*link)["name"].is_string() ? (*link)["name"].get<std::string>() : "custom";
  ES_ASSIGN_OR_RETURN(k.per_message_s, GetNumber(*link, "per_message_s", origin, "link."));
  ES_ASSIGN_OR_RETURN(k.per_frame_s, GetNumber(*link, "per_frame_s", origin, "link."));
  ES_ASSIGN_OR_RETURN(k.payload_bytes, GetBytes(*link, "payload_bytes", origin, "link."));
  if (k.payload_bytes < 1) return InvalidArgument(Where(origin, "link.payload_bytes") + "must be >= 1");
  ES_ASSIGN_OR_RETURN(k.bytes_per_s, GetNumber(*link, "bytes_per_s", origin, "link."));
  if (!(k.bytes_per_s > 0)) return InvalidArgument(Where(origin, "link.bytes_per_s") + "must be > 0");
  ES_ASSIGN_OR_RETURN(k.loss, GetNumber(*link, "loss", origin, "link.", false, 0));
  if (k.loss >= 1) return InvalidArgument(Where(origin, "link.loss") + "must be in [0, 1)");
  if (auto it = link->find("shared_medium"); it != link->end() && !it->is_null()) {
    if (!it->is_boolean()) return InvalidArgument(Where(origin, "link.shared_medium") + "must be true or false");
    k.shared_medium = it->get<bool>();
  }
  ES_ASSIGN_OR_RETURN(k.setup_s, GetNumber(*link, "setup_s", origin, "link.", false, 0));
  return p;
}

Result<Problem> LoadProblem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read problem file '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return ParseProblem(s.str(), path);
}

std::string ProblemToJson(const Problem& p) {
  Json j;
  j["schema_version"] = 1;
  if (!p.model.empty()) j["model"] = p.model;
  j["dtype"] = p.dtype;
  j["input_bytes"] = p.input_bytes;
  j["layers"] = Json::array();
  for (const PlanLayer& l : p.layers)
    j["layers"].push_back({{"name", l.name}, {"weight_bytes", l.weight_bytes}, {"out_bytes", l.out_bytes},
                           {"arena_bytes", l.arena_bytes}, {"compute_s", l.compute_s}});
  j["devices"] = Json::array();
  for (const PlanDevice& d : p.devices)
    j["devices"].push_back({{"name", d.name}, {"weight_capacity_bytes", d.weight_capacity_bytes}, {"ram_bytes", d.ram_bytes},
                            {"active_w", d.active_w}, {"idle_w", d.idle_w}, {"tx_w", d.tx_w}, {"rx_w", d.rx_w}});
  const LinkProfile& k = p.link;
  j["link"] = {{"name", k.name}, {"per_message_s", k.per_message_s}, {"per_frame_s", k.per_frame_s},
               {"payload_bytes", k.payload_bytes}, {"bytes_per_s", k.bytes_per_s}, {"loss", k.loss},
               {"shared_medium", k.shared_medium}, {"setup_s", k.setup_s}};
  return j.dump(2) + "\n";
}

Result<Problem> BuildProblem(const Graph& graph, const std::string& model_name, const std::vector<DeviceProfile>& devices,
                             const LinkProfile& link, DType dtype) {
  if (dtype != DType::kInt8 && dtype != DType::kFloat32) return InvalidArgument("plan dtype must be int8 or f32");
  if (devices.empty()) return InvalidArgument("no devices given");
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(graph));
  if (cuts.size() < 2) return InvalidArgument("the model has fewer than two cut points");
  const bool int8 = dtype == DType::kInt8;
  Problem p;
  p.model = model_name;
  p.dtype = int8 ? "int8" : "f32";
  p.link = link;
  p.input_bytes = int8 ? cuts[0].bytes_int8 : cuts[0].bytes_f32;
  for (const DeviceProfile& d : devices)
    p.devices.push_back({d.name, d.weight_capacity_bytes, d.ram_bytes, d.active_w, d.idle_w, d.tx_w, d.rx_w});
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    const int begin = cuts[c].position, end = cuts[c + 1].position;
    PlanLayer l;
    l.name = cuts[c + 1].after;
    l.out_bytes = int8 ? cuts[c + 1].bytes_int8 : cuts[c + 1].bytes_f32;
    l.compute_s.assign(devices.size(), 0.0);
    for (int n = begin; n < end; ++n) {
      const LayerStats s = ComputeLayerStats(graph, n);
      l.weight_bytes += int8 ? s.weight_bytes_int8 : s.weight_bytes_f32;
      for (size_t k = 0; k < devices.size(); ++k) l.compute_s[k] += NodeSeconds(devices[k], graph, n, s);
    }
    ES_ASSIGN_OR_RETURN(SegmentMemory mem, PlanSegmentMemory(graph, begin, end, dtype));
    l.arena_bytes = mem.arena_bytes;
    p.layers.push_back(std::move(l));
  }
  return p;
}

}  // namespace edgesplit
