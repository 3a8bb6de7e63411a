// Plan files: what `edgesplit plan --format json` writes and `run --plan`
// reads back. Reading never throws: a field of the wrong type is an error
// naming it (issue 15's hostile plan files).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "internal/json_fields.h"
#include "edgesplit/plan.h"

namespace edgesplit {
namespace {

// Keys keep insertion order, so the file reads schema_version first.
using OJson = nlohmann::ordered_json;
using Json = nlohmann::json;

constexpr int kPlanSchemaVersion = 1;

std::string CutBefore(const Problem& p, int first) { return first == 0 ? "input" : p.layers[first - 1].name; }

OJson LinkJson(const LinkProfile& k) {
  return {{"name", k.name}, {"transport", k.transport}, {"per_message_s", k.per_message_s}, {"per_frame_s", k.per_frame_s},
          {"payload_bytes", k.payload_bytes}, {"bytes_per_s", k.bytes_per_s}, {"loss", k.loss}, {"shared_medium", k.shared_medium},
          {"setup_s", k.setup_s}};
}

// The link fields a plan's links[] entry spells out (LinkJson): any of them
// makes the entry a link of its own rather than a profile's name.
constexpr const char* kLinkNumbers[] = {"per_message_s", "per_frame_s", "payload_bytes", "bytes_per_s"};

// Reads optional fields of one object; the first error sticks and names the field.
class Fields {
 public:
  Fields(const std::string& origin, Status* bad) : origin_(origin), bad_(bad) {}
  // nullptr when absent or null; an error (and nullptr) when of the wrong type.
  const Json* Get(const Json& o, const char* key, const std::string& where, bool want_number) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    if (want_number ? !it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 : !it->is_string()) {
      if (bad_->ok())
        *bad_ = InvalidArgument(origin_ + ": field '" + where + key + "' is " + it->dump() + ", must be " +
                                (want_number ? "a number >= 0" : "a string"));
      return nullptr;
    }
    return &*it;
  }
  double Number(const Json& o, const char* key, const std::string& where) {
    const Json* v = Get(o, key, where, true);
    return v ? v->get<double>() : 0.0;
  }
  std::string Text(const Json& o, const char* key, const std::string& where) {
    const Json* v = Get(o, key, where, false);
    return v ? v->get<std::string>() : std::string();
  }

 private:
  const std::string& origin_;
  Status* bad_;
};

// A transfer of the plan; `links` is the size of links[] (0: none).
Status ReadTransfer(const std::string& origin, const Json& t, size_t i, size_t links, PlanFileTransfer* out) {
  const std::string where = origin + ": transfers[" + std::to_string(i) + "]";
  auto text = [&](const char* key) { return t.contains(key) && t[key].is_string() ? t[key].get<std::string>() : std::string(); };
  out->from = text("from");
  out->to = text("to");
  out->link = text("link");
  if (t.contains("bytes") && !t["bytes"].is_null()) {
    if (!t["bytes"].is_number() || !(t["bytes"].get<double>() >= 0 && t["bytes"].get<double>() <= 1e15))  // casts to int64_t safely
      return InvalidArgument(where + ".bytes is " + t["bytes"].dump() + ", must be a number in [0, 1e15]");
    out->bytes = static_cast<int64_t>(t["bytes"].get<double>());
  }
  if (t.contains("time_s") && !t["time_s"].is_null()) {
    if (!t["time_s"].is_number() || !std::isfinite(t["time_s"].get<double>()) || t["time_s"].get<double>() < 0)
      return InvalidArgument(origin + ": field 'transfers[" + std::to_string(i) + "].time_s' is " + t["time_s"].dump() +
                             ", must be a number >= 0");
    out->time_s = t["time_s"].get<double>();
  }
  if (links == 0) return Status::Ok();
  if (!t.contains("link_index") || !t["link_index"].is_number_integer())
    return InvalidArgument(where + " needs an integer 'link_index' into the plan's links[] (" + std::to_string(links) + " links)");
  const int64_t k = t["link_index"].get<int64_t>();
  if (k < 0 || k >= static_cast<int64_t>(links))
    return InvalidArgument(where + ".link_index " + std::to_string(k) + " is out of range: the plan has " + std::to_string(links) +
                           " links (0.." + std::to_string(links - 1) + ")");
  out->link_index = static_cast<int>(k);
  return Status::Ok();
}

// links[i]: a name, and the link's own parameters when the entry spells them.
Result<PlanFileLink> ReadLink(const std::string& origin, const Json& entry, size_t i) {
  const std::string where = origin + ": links[" + std::to_string(i) + "]";
  if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || entry["name"].get<std::string>().empty())
    return InvalidArgument(where + " needs a 'name' string");
  PlanFileLink l;
  l.name = entry["name"].get<std::string>();
  if (std::none_of(std::begin(kLinkNumbers), std::end(kLinkNumbers), [&](const char* k) { return entry.contains(k); })) return l;
  Json text = entry;
  if (!text.contains("schema_version")) text["schema_version"] = 1;
  if (!text.contains("sources")) text["sources"] = Json{{"all", "the plan " + origin + ", links[" + std::to_string(i) + "]"}};
  l.profile_json = text.dump(2, ' ', false, Json::error_handler_t::replace);  // the origin may not be UTF-8
  ES_ASSIGN_OR_RETURN(l.parameters, ParseLinkProfile(l.profile_json, where));
  return l;
}

}  // namespace

std::string PlanLinkName(const Problem& p, const Plan& plan) {
  if (p.links.empty()) return p.link.name;
  const std::vector<LinkProfile> links = PlanLinks(p);
  std::string name;
  for (const Transfer& t : plan.transfers) {
    if (!name.empty() && name != links[t.link].name) return "per-hop";
    name = links[t.link].name;
  }
  return name.empty() ? "none" : name;
}

std::string PlanToJson(const Problem& p, const std::string& algorithm, const std::string& order, const Plan& plan) {
  const std::vector<std::string> hosts = HostNames(p);
  const std::vector<LinkProfile> links = PlanLinks(p);
  OJson j;
  j["schema_version"] = kPlanSchemaVersion;
  j["model"] = p.model;
  j["link"] = PlanLinkName(p, plan);
  j["dtype"] = p.dtype;
  j["algorithm"] = algorithm;
  j["order"] = order;
  j["solver"] = plan.solver.empty() ? algorithm : plan.solver;
  j["exact"] = plan.exact;
  j["feasible"] = plan.feasible;
  if (!plan.feasible) j["reason"] = plan.reason;
  j["latency_s"] = plan.latency_s;
  j["throughput_stage_s"] = plan.throughput_stage_s;
  j["energy_j"] = plan.energy_j;
  j["solve_time_s"] = plan.solve_time_s;
  j["accuracy_drop"] = plan.accuracy_drop;
  if (std::isfinite(p.max_accuracy_drop)) j["max_accuracy_drop"] = p.max_accuracy_drop;
  j["segments"] = OJson::array();
  for (const Segment& s : plan.segments)
    j["segments"].push_back({{"device", hosts[s.device]}, {"device_index", s.device}, {"first_layer", s.first_layer},
                             {"last_layer", s.last_layer}, {"cut_before", CutBefore(p, s.first_layer)},
                             {"cut_after", p.layers[s.last_layer].name}, {"compute_s", s.compute_s},
                             {"weight_bytes", s.weight_bytes}, {"arena_bytes", s.arena_bytes}});
  j["transfers"] = OJson::array();
  double setup_s = 0;  // each link used once, cold start (not in latency_s)
  std::vector<char> seen(links.size(), 0);
  for (const Transfer& t : plan.transfers) {
    j["transfers"].push_back({{"kind", t.kind}, {"from", hosts[t.from]}, {"to", hosts[t.to]}, {"from_index", t.from},
                              {"to_index", t.to}, {"bytes", t.bytes}, {"time_s", t.time_s}, {"link", links[t.link].name},
                              {"link_index", t.link}, {"codec", t.codec}, {"accuracy_drop", t.accuracy_drop}});
    if (!seen[t.link]++) setup_s += links[t.link].setup_s;
  }
  j["links"] = OJson::array();
  for (const LinkProfile& k : links) j["links"].push_back(LinkJson(k));
  // Set-up (cold start, never in latency_s): the links' own and, when sealed, the handshakes.
  j["setup_s"] = (p.links.empty() ? p.link.setup_s : setup_s) + plan.handshake_s;
  j["sealed"] = p.sealed;
  j["security_overhead_s"] = plan.security_overhead_s;
  j["handshake_s"] = plan.handshake_s;
  return j.dump(2) + "\n";
}

std::string HostProfileName(const std::string& host) {
  const size_t hash = host.rfind('#');
  if (hash == std::string::npos || hash + 1 == host.size() || hash == 0) return host;
  for (size_t i = hash + 1; i < host.size(); ++i)
    if (host[i] < '0' || host[i] > '9') return host;
  return host.substr(0, hash);
}

Result<PlanFile> ParsePlanFile(const std::string& text, const std::string& origin) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("segments") || !j["segments"].is_array() || j["segments"].empty())
    return InvalidArgument(origin + ": not a plan (no 'segments'; write one with edgesplit plan --format json)");
  if (j.contains("feasible") && j["feasible"].is_boolean() && !j["feasible"].get<bool>())
    return InvalidArgument(origin + ": the plan is infeasible: " +
                           (j.contains("reason") && j["reason"].is_string() ? j["reason"].get<std::string>() : "no reason given"));
  PlanFile plan;
  Status bad;  // optional fields of the wrong type are errors naming the field, not exceptions
  Fields f(origin, &bad);
  plan.model = f.Text(j, "model", "");
  plan.link = f.Text(j, "link", "");
  plan.dtype = f.Text(j, "dtype", "");
  plan.latency_s = f.Number(j, "latency_s", "");
  for (size_t i = 0; i < j["segments"].size(); ++i) {
    const Json& s = j["segments"][i];
    const std::string where = "segments[" + std::to_string(i) + "].";
    if (!s.is_object() || !s.contains("cut_before") || !s.contains("cut_after") || !s["cut_before"].is_string() ||
        !s["cut_after"].is_string())
      return InvalidArgument(origin + ": every segment needs 'cut_before' and 'cut_after' strings (" + where + ")");
    plan.segments.push_back(
        {s["cut_before"].get<std::string>(), s["cut_after"].get<std::string>(), f.Text(s, "device", where), f.Number(s, "compute_s", where)});
  }
  ES_RETURN_IF_ERROR(bad);
  if (j.contains("links") && !j["links"].is_null()) {
    if (!j["links"].is_array()) return InvalidArgument(origin + ": 'links' must be an array of links");
    for (size_t i = 0; i < j["links"].size(); ++i) {
      ES_ASSIGN_OR_RETURN(PlanFileLink l, ReadLink(origin, j["links"][i], i));
      plan.links.push_back(std::move(l));
    }
  }
  if (j.contains("transfers") && j["transfers"].is_array())
    for (size_t i = 0; i < j["transfers"].size(); ++i) {
      const Json& t = j["transfers"][i];
      if (!t.is_object()) continue;
      const std::string kind = f.Text(t, "kind", "transfers[" + std::to_string(i) + "].");
      ES_RETURN_IF_ERROR(bad);
      PlanFileTransfer tr;
      ES_RETURN_IF_ERROR(ReadTransfer(origin, t, i, plan.links.size(), &tr));
      if (kind == "hop") plan.hops.push_back(tr);
      if (kind == "result") plan.result = tr;
      if (kind == "input") plan.input = tr;
    }
  if (!plan.links.empty() && plan.hops.size() + 1 != plan.segments.size())
    return InvalidArgument(origin + ": " + std::to_string(plan.segments.size()) + " segments need " +
                           std::to_string(plan.segments.size() - 1) + " transfers of kind 'hop', the plan has " +
                           std::to_string(plan.hops.size()));
  return plan;
}

Result<PlanFile> ReadPlanFile(const std::string& path) {
  ES_ASSIGN_OR_RETURN(const std::string text, json_fields::ReadTextFile(path));
  return ParsePlanFile(text, path);
}

}  // namespace edgesplit
