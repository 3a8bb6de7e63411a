// Planner instances: building one from a model and profiles, reading and
// writing instance files, and checking their shape.
#include <cmath>
#include <nlohmann/json.hpp>

#include "internal/json_fields.h"
#include "edgesplit/plan.h"
#include "plan_codecs.h"

namespace edgesplit {
namespace {

using json_fields::Reader;
using plan_internal::PlanCodecsJson;
using plan_internal::ReadPlanCodecs;
using plan_internal::ValidatePlanCodecs;
using OrderedJson = nlohmann::ordered_json;  // output keeps key order
constexpr int64_t kMaxBytes = int64_t{1} << 53;
constexpr double kMaxNumber = 1e300;
constexpr int64_t kMaxCount = 4096;

Status ValidateLink(const LinkProfile& k, const std::string& what) {
  if (k.payload_bytes < 1) return InvalidArgument(what + " payload_bytes must be >= 1");
  if (!(k.bytes_per_s > 0)) return InvalidArgument(what + " bytes_per_s must be > 0");
  if (!(k.loss >= 0 && k.loss < 1)) return InvalidArgument(what + " loss must be in [0, 1)");
  if (!(k.per_message_s >= 0 && k.per_frame_s >= 0)) return InvalidArgument(what + " per_message_s and per_frame_s must be >= 0");
  return Status::Ok();
}

// A link's fields from `k` (an inline link object).
void ReadLinkFields(Reader& k, LinkProfile& link, const std::string& default_name) {
  link.name = k.String("name", false, default_name);
  link.per_message_s = k.Number("per_message_s", 0, kMaxNumber);
  link.per_frame_s = k.Number("per_frame_s", 0, kMaxNumber);
  link.payload_bytes = k.Integer("payload_bytes", 1, kMaxBytes);
  link.bytes_per_s = k.Number("bytes_per_s", 1e-300, kMaxNumber, true, 1);
  link.loss = k.Number("loss", 0, 0.999999, false, 0);
  link.shared_medium = k.Bool("shared_medium", false);
  link.setup_s = k.Number("setup_s", 0, kMaxNumber, false, 0);
  link.transport = k.String("transport", false, "");
}

// The "links" array `a` (elements at "links[i]."), each a profile name or inline fields.
Status ReadLinks(const json_fields::Json& a, Reader& r, const std::string& profiles_dir, std::vector<PlanLink>* out) {
  for (size_t i = 0; i < a.size() && r.status().ok(); ++i) {
    Reader e = r.Element(a[i], "links", i);
    PlanLink l;
    l.from = e.String("from");
    l.to = e.String("to");
    if (e.status().ok() && a[i].contains("profile")) {
      const std::string name = e.String("profile");
      if (e.status().ok()) {
        auto link = LoadLinkProfile(ProfilesDir(profiles_dir), name);
        if (!link.ok()) e.Fail("profile", "'" + name + "': " + link.status().message());
        else l.link = *link;
      }
    } else {
      ReadLinkFields(e, l.link, l.from + "-" + l.to);
    }
    r.Merge(e);
    out->push_back(std::move(l));
  }
  return r.status();
}

}  // namespace

Status ParseLinks(const std::string& text, const std::string& origin, const std::string& profiles_dir, Problem* problem) {
  json_fields::Json j = json_fields::Json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(origin + ": not valid JSON");
  const json_fields::Json* a = j.is_array() ? &j : j.is_object() && j.contains("links") ? &j["links"] : nullptr;
  if (!a || !a->is_array() || a->empty()) return InvalidArgument(origin + ": expected a non-empty \"links\" array");
  Reader r(j, origin, "");
  std::vector<PlanLink> links;
  ES_RETURN_IF_ERROR(ReadLinks(*a, r, profiles_dir, &links));
  Problem q = *problem;
  q.links = std::move(links);
  if (Status st = ValidateProblem(q); !st.ok()) return InvalidArgument(origin + ": " + st.message());
  *problem = std::move(q);
  return Status::Ok();
}

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
    ES_RETURN_IF_ERROR(ValidatePlanCodecs(l.codecs, p.devices.size(), "layer group " + std::to_string(g)));
  }
  if (std::isnan(p.max_accuracy_drop)) return InvalidArgument("max_accuracy_drop is not a number");
  int64_t hosts = 0;
  for (const PlanDevice& d : p.devices) {
    if (d.count < 1 || d.count > kMaxCount)
      return InvalidArgument("device '" + d.name + "' has count " + std::to_string(d.count) + "; it must be in [1, " + std::to_string(kMaxCount) + "]");
    hosts += d.count;
  }
  if (hosts > kMaxCount) return InvalidArgument("the devices have " + std::to_string(hosts) + " hosts in all; at most " + std::to_string(kMaxCount));
  ES_RETURN_IF_ERROR(ValidateLink(p.link, "link"));
  if (p.sealed && p.links.empty())
    if (std::string why = SealedLinkProblem(p.link); !why.empty()) return InvalidArgument(why);
  for (size_t i = 0; i < p.links.size(); ++i) {
    const PlanLink& l = p.links[i];
    const std::string at = "links[" + std::to_string(i) + "]";
    for (const std::string* end : {&l.from, &l.to}) {
      bool known = false;
      for (const PlanDevice& d : p.devices) known |= d.name == *end;
      if (!known) return InvalidArgument(at + " names no device '" + *end + "'");
    }
    for (size_t j = 0; j < i; ++j)
      if (p.links[j].from == l.from && p.links[j].to == l.to)
        return InvalidArgument(at + " repeats the pair " + l.from + " -> " + l.to + " of links[" + std::to_string(j) + "]");
    ES_RETURN_IF_ERROR(ValidateLink(l.link, at));
    if (p.sealed)
      if (std::string why = SealedLinkProblem(l.link); !why.empty()) return InvalidArgument(at + ": " + why);
  }
  return Status::Ok();
}

Result<Problem> ParseProblem(const std::string& text, const std::string& origin, const std::string& profiles_dir) {
  ES_ASSIGN_OR_RETURN(json_fields::Json j, json_fields::ParseObject(text, origin));
  Reader r(j, origin, "");
  Problem p;
  r.Integer("schema_version", 1, 1);
  p.model = r.String("model", false);
  p.dtype = r.String("dtype", false, "int8");
  p.input_bytes = r.Integer("input_bytes", 0, kMaxBytes);
  if (const json_fields::Json* devices = r.Array("devices")) {
    for (size_t d = 0; d < devices->size() && r.status().ok(); ++d) {
      Reader e = r.Element((*devices)[d], "devices", d);
      PlanDevice dev;
      dev.name = e.String("name");
      dev.weight_capacity_bytes = e.Integer("weight_capacity_bytes", 0, kMaxBytes);
      dev.ram_bytes = e.Integer("ram_bytes", 0, kMaxBytes);
      dev.active_w = e.Number("active_w", 0, kMaxNumber, false);
      dev.idle_w = e.Number("idle_w", 0, kMaxNumber, false);
      dev.tx_w = e.Number("tx_w", 0, kMaxNumber, false);
      dev.rx_w = e.Number("rx_w", 0, kMaxNumber, false);
      dev.count = static_cast<int>(e.Integer("count", 1, kMaxCount, false, 1));
      if (e.status().ok() && (*devices)[d].contains("security") && !(*devices)[d]["security"].is_null()) {
        Reader sec = e.Object("security");
        dev.seal.known = true;
        dev.seal.aead_s_per_byte = sec.Number("aead_s_per_byte", 0, 1);
        dev.seal.aead_s_per_frame = sec.Number("aead_s_per_frame", 0, 10);
        dev.seal.handshake_s = sec.Number("handshake_s", 0, 600);
        e.Merge(sec);
      }
      r.Merge(e);
      p.devices.push_back(std::move(dev));
    }
  }
  if (const json_fields::Json* layers = r.Array("layers")) {
    for (size_t g = 0; g < layers->size() && r.status().ok(); ++g) {
      const json_fields::Json& o = (*layers)[g];
      Reader e = r.Element(o, "layers", g);
      PlanLayer l;
      l.name = e.String("name");
      l.weight_bytes = e.Integer("weight_bytes", 0, kMaxBytes);
      l.out_bytes = e.Integer("out_bytes", 0, kMaxBytes);
      l.arena_bytes = e.Integer("arena_bytes", 0, kMaxBytes);
      const json_fields::Json* cs = e.status().ok() && o.contains("compute_s") ? &o["compute_s"] : nullptr;
      if (e.status().ok() && (!cs || !cs->is_array() || cs->size() != p.devices.size()))
        e.Fail("compute_s", "must be an array with one number per device (" + std::to_string(p.devices.size()) + ")");
      for (size_t k = 0; e.status().ok() && k < cs->size(); ++k) {
        const json_fields::Json& c = (*cs)[k];
        if (!c.is_number() || !std::isfinite(c.get<double>()) || c.get<double>() < 0)
          e.Fail("compute_s[" + std::to_string(k) + "]", "must be a finite number >= 0");
        else
          l.compute_s.push_back(c.get<double>());
      }
      if (e.status().ok() && o.contains("codecs")) ReadPlanCodecs(o["codecs"], e, p.devices.size(), &l.codecs);
      r.Merge(e);
      p.layers.push_back(std::move(l));
    }
  }
  p.max_accuracy_drop = r.Number("max_accuracy_drop", -kMaxNumber, kMaxNumber, false, p.max_accuracy_drop);
  p.sealed = r.Bool("sealed", false);
  const bool has_links = j.contains("links") && !j["links"].is_null();
  if (has_links && r.status().ok()) {
    if (const json_fields::Json* links = r.Array("links")) (void)ReadLinks(*links, r, profiles_dir, &p.links);  // errors stay in r
  }
  if (!has_links || (j.contains("link") && !j["link"].is_null())) {
    Reader k = r.Object("link");
    ReadLinkFields(k, p.link, "custom");
    r.Merge(k);
  } else if (!p.links.empty()) {
    p.link = p.links[0].link;  // unused: every pair's link comes from `links`
  }
  if (!r.status().ok()) return r.status();
  if (Status st = ValidateProblem(p); !st.ok() && !p.links.empty()) return InvalidArgument(origin + ": " + st.message());
  return p;
}

Status LoadLinks(const std::string& path, const std::string& profiles_dir, Problem* problem) {
  ES_ASSIGN_OR_RETURN(std::string text, json_fields::ReadTextFile(path));
  return ParseLinks(text, path, profiles_dir, problem);
}

Result<Problem> LoadProblem(const std::string& path, const std::string& profiles_dir) {
  ES_ASSIGN_OR_RETURN(std::string text, json_fields::ReadTextFile(path));
  return ParseProblem(text, path, profiles_dir);
}

std::string ProblemToJson(const Problem& p) {
  OrderedJson j;
  j["schema_version"] = 1;
  if (!p.model.empty()) j["model"] = p.model;
  j["dtype"] = p.dtype;
  j["input_bytes"] = p.input_bytes;
  j["layers"] = OrderedJson::array();
  for (const PlanLayer& l : p.layers) {
    j["layers"].push_back({{"name", l.name}, {"weight_bytes", l.weight_bytes}, {"out_bytes", l.out_bytes},
                           {"arena_bytes", l.arena_bytes}, {"compute_s", l.compute_s}});
    if (!l.codecs.empty()) j["layers"].back()["codecs"] = PlanCodecsJson(l.codecs);
  }
  if (std::isfinite(p.max_accuracy_drop)) j["max_accuracy_drop"] = p.max_accuracy_drop;
  if (p.sealed) j["sealed"] = true;
  j["devices"] = OrderedJson::array();
  for (const PlanDevice& d : p.devices) {
    OrderedJson e = {{"name", d.name}, {"weight_capacity_bytes", d.weight_capacity_bytes}, {"ram_bytes", d.ram_bytes},
                     {"active_w", d.active_w}, {"idle_w", d.idle_w}, {"tx_w", d.tx_w}, {"rx_w", d.rx_w}};
    if (d.count != 1) e["count"] = d.count;
    if (d.seal.known)
      e["security"] = {{"aead_s_per_byte", d.seal.aead_s_per_byte}, {"aead_s_per_frame", d.seal.aead_s_per_frame},
                       {"handshake_s", d.seal.handshake_s}};
    j["devices"].push_back(e);
  }
  auto link_json = [](const LinkProfile& k) {
    return OrderedJson{{"name", k.name}, {"per_message_s", k.per_message_s}, {"per_frame_s", k.per_frame_s},
                       {"payload_bytes", k.payload_bytes}, {"bytes_per_s", k.bytes_per_s}, {"loss", k.loss},
                       {"shared_medium", k.shared_medium}, {"setup_s", k.setup_s}};
  };
  j["link"] = link_json(p.link);
  if (!p.link.transport.empty()) j["link"]["transport"] = p.link.transport;  // sealed frames differ on tcp
  if (!p.links.empty()) {
    j["links"] = OrderedJson::array();
    for (const PlanLink& l : p.links) {
      OrderedJson e = {{"from", l.from}, {"to", l.to}};
      e.update(link_json(l.link));
      if (!l.link.transport.empty()) e["transport"] = l.link.transport;
      j["links"].push_back(e);
    }
  }
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
    p.devices.push_back({d.name, d.weight_capacity_bytes, d.ram_bytes, d.active_w, d.idle_w, d.tx_w, d.rx_w, 1, DeviceSealCost(d)});
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
