// run --plan: reading a plan, its per-hop links, and its predictions beside the measurements.
#include "run_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdlib.h>

#include "edgesplit/io.h"

namespace edgesplit::cli {
namespace {

double ErrorPct(double measured, double predicted) { return predicted > 0 ? 100.0 * (measured - predicted) / predicted : 0.0; }

// The profile a host emulates: `name#k` (a plan's k-th host of an entry with a count) is `name`.
std::string HostProfile(const std::string& host) {
  const size_t hash = host.rfind('#');
  if (hash == std::string::npos || hash + 1 == host.size() || hash == 0) return host;
  for (size_t i = hash + 1; i < host.size(); ++i)
    if (host[i] < '0' || host[i] > '9') return host;
  return host.substr(0, hash);
}

// The link fields a plan's links[] entry carries (plan.cc LinkJson).
constexpr const char* kLinkNumbers[] = {"per_message_s", "per_frame_s", "payload_bytes", "bytes_per_s"};

bool SameParameters(const LinkProfile& a, const LinkProfile& b) {
  return a.transport == b.transport && a.per_message_s == b.per_message_s && a.per_frame_s == b.per_frame_s &&
         a.payload_bytes == b.payload_bytes && a.bytes_per_s == b.bytes_per_s && a.loss == b.loss &&
         a.shared_medium == b.shared_medium && a.setup_s == b.setup_s;
}

// What a node is given as --link for the plan's links[i]: the profile's name
// when the plan's numbers are that profile's (it keeps the profile's extras,
// e.g. BLE connection events), else a profile file holding the plan's numbers.
Result<std::string> LinkArgument(const std::string& plan_path, const Json& entry, size_t i, const std::string& profiles,
                                 const std::string& scratch_dir) {
  const std::string where = plan_path + ": links[" + std::to_string(i) + "]";
  if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || entry["name"].get<std::string>().empty())
    return InvalidArgument(where + " needs a 'name' string");
  const std::string name = entry["name"].get<std::string>();
  const std::string dir = ProfilesDir(profiles);
  Result<LinkProfile> shipped = LoadLinkProfile(dir, name);
  const bool inline_numbers = std::any_of(std::begin(kLinkNumbers), std::end(kLinkNumbers), [&](const char* k) { return entry.contains(k); });
  if (!inline_numbers) {  // a name only: it must be a profile
    if (!shipped.ok())
      return InvalidArgument(where + " ('" + name + "') gives no link parameters and is not a link profile: " + shipped.status().message());
    ES_RETURN_IF_ERROR(net::ParseTransportKind(shipped->transport).status().WithContext(where + " ('" + name + "')"));
    return name;
  }
  Json text = entry;
  if (!text.contains("schema_version")) text["schema_version"] = 1;
  if (!text.contains("sources")) text["sources"] = Json{{"all", "the plan " + plan_path + ", links[" + std::to_string(i) + "]"}};
  const std::string profile_text = text.dump(2, ' ', false, Json::error_handler_t::replace);  // the path may not be UTF-8
  ES_ASSIGN_OR_RETURN(LinkProfile planned, ParseLinkProfile(profile_text, where));
  Result<net::TransportKind> kind = net::ParseTransportKind(planned.transport);
  if (!kind.ok()) return kind.status().WithContext(where + " ('" + name + "')");
  if (shipped.ok() && SameParameters(*shipped, planned)) return name;
  if (scratch_dir.empty()) return IoError("no temporary folder for the plan's link '" + name + "' (mkdtemp failed; set TMPDIR)");
  const std::string path = scratch_dir + "/link" + std::to_string(i) + ".json";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << profile_text << "\n";
  out.close();
  if (!out) return IoError("cannot write " + path + " (the plan's link '" + name + "' for the nodes)");
  return path;
}

// A transfer of the plan; `links` is the size of links[] (0: none).
Status ReadTransfer(const std::string& path, const Json& t, size_t i, size_t links, PlanTransfer* out) {
  const std::string where = path + ": transfers[" + std::to_string(i) + "]";
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
      return InvalidArgument(path + ": field 'transfers[" + std::to_string(i) + "].time_s' is " + t["time_s"].dump() + ", must be a number >= 0");
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

// The settings node k sends with (or the input's), for reports.
const runtime::LinkSettings& OutSettings(const runtime::ChainOptions& o, size_t k) {
  return o.hop_links.empty() ? o.link : o.hop_links[k];
}

std::string Transport(const runtime::LinkSettings& s) {
  Result<LinkProfile> p = LoadLinkProfile(ProfilesDir(s.profiles_dir), s.link);
  return p.ok() ? p->transport : std::string("?");
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The steady inferences (all but the cold first, unless there is only one), as Summarize counts them.
template <typename F>
double SteadyMedian(const std::vector<runtime::InferenceRecord>& recs, F value) {
  std::vector<double> v;
  for (size_t i = recs.size() > 1 ? 1 : 0; i < recs.size(); ++i) v.push_back(value(recs[i]));
  return Median(std::move(v));
}

Json TransferVsMeasured(const PlanTransfer& t, const runtime::LinkSettings& s, const std::string& link_name,
                        const runtime::HopRecord& last, double median_s) {
  return Json{{"predicted_transfer_s", t.time_s},
              {"measured_transfer_s", last.transfer_s},
              {"error_pct", ErrorPct(last.transfer_s, t.time_s)},
              {"from", t.from},
              {"to", t.to},
              {"link", link_name},
              {"transport", Transport(s)},
              {"shaped", s.shaped},
              {"predicted_bytes", t.bytes},
              {"measured_bytes", last.bytes},
              {"link_model_transfer_s", last.predicted_transfer_s},
              {"measured_median_transfer_s", median_s},
              {"median_error_pct", ErrorPct(median_s, t.time_s)}};
}

}  // namespace

Status ReadPlan(const std::string& path, std::string* link, std::string* dtype, std::vector<runtime::ChainNodeSpec>* nodes,
                PlanPrediction* pred) {
  ES_ASSIGN_OR_RETURN(const std::string text, ReadRegularFile(path, 64 << 20, "plan file"));
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("segments") || !j["segments"].is_array() || j["segments"].empty())
    return InvalidArgument(path + ": not a plan (no 'segments'; write one with edgesplit plan --format json)");
  if (j.contains("feasible") && j["feasible"].is_boolean() && !j["feasible"].get<bool>())
    return InvalidArgument(path + ": the plan is infeasible: " +
                           (j.contains("reason") && j["reason"].is_string() ? j["reason"].get<std::string>() : "no reason given"));
  if (link->empty() && j.contains("link") && j["link"].is_string()) *link = j["link"].get<std::string>();
  if (dtype->empty() && j.contains("dtype") && j["dtype"].is_string()) *dtype = j["dtype"].get<std::string>();
  // Optional fields of the wrong type are errors naming the field, not exceptions.
  Status bad;
  auto field = [&](const Json& o, const char* key, const std::string& where, bool want_number) -> const Json* {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    if (want_number ? !it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 : !it->is_string()) {
      if (bad.ok())
        bad = InvalidArgument(path + ": field '" + where + key + "' is " + it->dump() + ", must be " +
                              (want_number ? "a number >= 0" : "a string"));
      return nullptr;
    }
    return &*it;
  };
  auto number = [&](const Json& o, const char* key, const std::string& where) {
    const Json* v = field(o, key, where, true);
    return v ? v->get<double>() : 0.0;
  };
  pred->latency_s = number(j, "latency_s", "");
  for (size_t i = 0; i < j["segments"].size(); ++i) {
    const Json& s = j["segments"][i];
    const std::string where = "segments[" + std::to_string(i) + "].";
    if (!s.is_object() || !s.contains("cut_before") || !s.contains("cut_after") || !s["cut_before"].is_string() ||
        !s["cut_after"].is_string())
      return InvalidArgument(path + ": every segment needs 'cut_before' and 'cut_after' strings (" + where + ")");
    const Json* device = field(s, "device", where, false);
    const std::string host = device ? device->get<std::string>() : std::string();
    nodes->push_back({s["cut_before"].get<std::string>(), s["cut_after"].get<std::string>(), HostProfile(host)});
    pred->hosts.push_back(host);
    pred->compute_s.push_back(number(s, "compute_s", where));
  }
  ES_RETURN_IF_ERROR(bad);
  if (j.contains("links") && !j["links"].is_null()) {
    if (!j["links"].is_array()) return InvalidArgument(path + ": 'links' must be an array of links");
    for (const Json& l : j["links"]) pred->links.push_back(l);
  }
  if (j.contains("transfers") && j["transfers"].is_array())
    for (size_t i = 0; i < j["transfers"].size(); ++i) {
      const Json& t = j["transfers"][i];
      if (!t.is_object()) continue;
      const Json* kind_field = field(t, "kind", "transfers[" + std::to_string(i) + "].", false);
      ES_RETURN_IF_ERROR(bad);
      const std::string kind = kind_field ? kind_field->get<std::string>() : std::string();
      PlanTransfer tr;
      ES_RETURN_IF_ERROR(ReadTransfer(path, t, i, pred->links.size(), &tr));
      if (kind == "hop") pred->hops.push_back(tr);
      if (kind == "result") pred->result = tr, pred->has_result = true;
      if (kind == "input") pred->input = tr, pred->has_input = true;
    }
  if (!pred->links.empty() && pred->hops.size() + 1 != nodes->size())
    return InvalidArgument(path + ": " + std::to_string(nodes->size()) + " segments need " + std::to_string(nodes->size() - 1) +
                           " transfers of kind 'hop', the plan has " + std::to_string(pred->hops.size()));
  nodes->front().first_cut = "input";
  nodes->back().last_cut = "output";  // the plan names the last layer; int8 graphs end in a DequantizeLinear after it
  return Status::Ok();
}

Status ApplyPlanLinks(const std::string& plan_path, const PlanPrediction& pred, const std::string& shape, bool emulating,
                      const std::string& scratch_dir, runtime::ChainOptions* o) {
  if (pred.links.empty()) return InvalidArgument(plan_path + ": the plan has no links[] (give --link)");
  std::vector<std::optional<runtime::LinkSettings>> made(pred.links.size());
  auto settings = [&](int i) -> Result<runtime::LinkSettings> {
    const size_t k = static_cast<size_t>(i);
    if (made[k]) return *made[k];
    runtime::LinkSettings s = o->link;
    ES_ASSIGN_OR_RETURN(s.link, LinkArgument(plan_path, pred.links[k], k, o->link.profiles_dir, scratch_dir));
    ES_ASSIGN_OR_RETURN(s.shaped, runtime::DecideShaping(shape, s.link, o->link.profiles_dir, emulating));
    if (s.loss > 0 && Transport(s) == "tcp") s.loss = -1;  // TCP loss is real (scripts/netns.sh), not emulated
    made[k] = s;
    return s;
  };
  auto local = [](runtime::LinkSettings s) {  // a transfer inside the sensor: not on any link
    s.shaped = false;
    s.loss = 0;
    return s;
  };
  o->hop_links.clear();
  o->input_link.reset();
  for (const PlanTransfer& h : pred.hops) {
    ES_ASSIGN_OR_RETURN(runtime::LinkSettings s, settings(h.link_index));
    o->hop_links.push_back(s);
  }
  if (pred.has_input) {
    ES_ASSIGN_OR_RETURN(runtime::LinkSettings s, settings(pred.input.link_index));
    o->input_link = s;
  }
  if (pred.has_result) {
    ES_ASSIGN_OR_RETURN(runtime::LinkSettings s, settings(pred.result.link_index));
    o->hop_links.push_back(s);
  } else if (!o->hop_links.empty()) {
    o->hop_links.push_back(local(o->hop_links.back()));  // the sensor ran the last stage
  } else if (o->input_link) {
    o->hop_links.push_back(local(*o->input_link));
  } else {  // the sensor runs the whole model: no transfer at all
    ES_ASSIGN_OR_RETURN(runtime::LinkSettings s, settings(0));
    o->hop_links.push_back(local(s));
  }
  return Status::Ok();
}

Json PlanVsMeasured(const PlanPrediction& pred, const runtime::ChainOptions& o, const std::vector<runtime::InferenceRecord>& recs,
                    const runtime::RunSummary& summary) {
  // Steady-state measurements beside the planner's numbers (the plan excludes set-up).
  const runtime::InferenceRecord& last = recs.back();
  Json p{{"predicted_latency_s", pred.latency_s},
         {"measured_steady_rtt_s", summary.steady_median_s},
         {"error_pct", ErrorPct(summary.steady_median_s, pred.latency_s)}};
  p["segments"] = Json::array();
  for (size_t i = 0; i < last.nodes.size() && i < pred.compute_s.size(); ++i) {
    const double median = SteadyMedian(recs, [&](const runtime::InferenceRecord& r) { return r.nodes[i].compute_s; });
    p["segments"].push_back({{"device", last.nodes[i].device},
                             {"predicted_compute_s", pred.compute_s[i]},
                             {"measured_compute_s", last.nodes[i].compute_s},
                             {"error_pct", ErrorPct(last.nodes[i].compute_s, pred.compute_s[i])},
                             {"host", pred.hosts[i]},
                             {"measured_median_compute_s", median},
                             {"median_error_pct", ErrorPct(median, pred.compute_s[i])}});
  }
  // With one link (--link, or a plan without links[]) every hop reports that link's name.
  auto name = [&](const runtime::HopRecord& h, const PlanTransfer& t) { return !h.link.empty() ? h.link : t.link; };
  p["hops"] = Json::array();
  for (size_t i = 0; i < last.hops.size() && i < pred.hops.size(); ++i) {
    const double median = SteadyMedian(recs, [&](const runtime::InferenceRecord& r) { return r.hops[i].transfer_s; });
    p["hops"].push_back(TransferVsMeasured(pred.hops[i], OutSettings(o, i), name(last.hops[i], pred.hops[i]), last.hops[i], median));
  }
  if (pred.has_input && last.has_input) {
    // The planner counts the input in the plan's dtype, and so does the sensor: an int8 chain's sensor
    // quantizes it first (the int8 graph's leading QuantizeLinear), so measured = predicted + the wire's header.
    const double median = SteadyMedian(recs, [](const runtime::InferenceRecord& r) { return r.input.transfer_s; });
    Json in = TransferVsMeasured(pred.input, o.input_link ? *o.input_link : o.link, name(last.input, pred.input), last.input, median);
    p["input"] = {{"predicted_bytes", pred.input.bytes},
                  {"measured_bytes", last.input.bytes},
                  {"predicted_transfer_s", pred.input.time_s},
                  {"measured_transfer_s", last.input.transfer_s},
                  {"error_pct", ErrorPct(last.input.transfer_s, pred.input.time_s)}};
    p["input"].update(in);
  }
  if (pred.has_result) {
    const double median = SteadyMedian(recs, [](const runtime::InferenceRecord& r) { return r.reply.transfer_s; });
    p["result"] = TransferVsMeasured(pred.result, OutSettings(o, last.nodes.size() - 1), name(last.reply, pred.result), last.reply, median);
    p["result"]["measured_transfer_s"] = last.reply_s;
    p["result"]["error_pct"] = ErrorPct(last.reply_s, pred.result.time_s);
  }
  return p;
}

std::string PlanVsMeasuredText(const Json& p) {
  std::string t = fmt::format("\nplan       predicted {:.4f} s, measured steady {:.4f} s ({:+.1f}%)\n", p["predicted_latency_s"].get<double>(),
                              p["measured_steady_rtt_s"].get<double>(), p["error_pct"].get<double>());
  // "T(sent) s": the hop's link model for the tensor the node really sent (an int8 chain returns f32 logits).
  t += fmt::format("  {:<7} {:<28} {:<28} {:>7}  {:>11} {:>10} {:>10} {:>8}\n", "stage", "where", "device / link (transport)", "bytes",
                   "predicted s", "T(sent) s", "measured s", "error");
  auto transfer = [&](const char* what, const Json& x) {
    t += fmt::format("  {:<7} {:<28} {:<28} {:>7}  {:>11.4f} {:>10.4f} {:>10.4f} {:>+7.1f}%\n", what,
                     x.value("from", "") + " -> " + x.value("to", ""),
                     x.value("link", "") + " (" + x.value("transport", "") + (x.value("shaped", false) ? ", shaped" : "") + ")",
                     x.value("predicted_bytes", int64_t{0}), x["predicted_transfer_s"].get<double>(),
                     x.value("link_model_transfer_s", 0.0), x.value("measured_median_transfer_s", 0.0), x.value("median_error_pct", 0.0));
  };
  if (p.contains("input")) transfer("input", p["input"]);
  for (size_t i = 0; i < p["segments"].size(); ++i) {
    const Json& s = p["segments"][i];
    t += fmt::format("  {:<7} {:<28} {:<28} {:>7}  {:>11.4f} {:>10} {:>10.4f} {:>+7.1f}%\n", "compute", s.value("host", ""),
                     s["device"].get<std::string>(), "", s["predicted_compute_s"].get<double>(), "", s.value("measured_median_compute_s", 0.0),
                     s.value("median_error_pct", 0.0));
    if (i < p["hops"].size()) transfer("hop", p["hops"][i]);
  }
  if (p.contains("result")) transfer("result", p["result"]);
  t += "  (measured: the median of the steady inferences; JSON measured_* is the last one's)\n";
  return t;
}

ScratchDir::ScratchDir() {
  std::error_code ec;
  std::string templ = (std::filesystem::temp_directory_path(ec) / "edgesplit_run_XXXXXX").string();
  if (mkdtemp(templ.data())) path = templ;  // else ApplyPlanLinks reports the file it cannot write
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!path.empty()) std::filesystem::remove_all(path, ec);
}

std::string DescribeHopLinks(const runtime::ChainOptions& o) {
  std::string s;
  auto add = [&](const runtime::LinkSettings& l) {
    Result<LinkProfile> p = LoadLinkProfile(ProfilesDir(l.profiles_dir), l.link);  // a plan's inline link: its name, not the file
    s += (s.empty() ? "" : ", ") + (p.ok() ? p->name : l.link) + " (" + (p.ok() ? p->transport : "?") +
         (l.shaped ? ", shaped" : ", local") + ")";
  };
  if (o.input_link) add(*o.input_link);
  for (const runtime::LinkSettings& l : o.hop_links) add(l);
  return s;
}

}  // namespace edgesplit::cli
