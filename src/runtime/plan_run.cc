// run --plan in the library: a plan file's chain, its per-hop links, and its
// predictions beside the measurements (include/edgesplit/runtime_plan.h).
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include "edgesplit/runtime_plan.h"

namespace edgesplit::runtime {
namespace {

using Json = nlohmann::ordered_json;

double ErrorPct(double measured, double predicted) { return predicted > 0 ? 100.0 * (measured - predicted) / predicted : 0.0; }

bool SameParameters(const LinkProfile& a, const LinkProfile& b) {
  return a.transport == b.transport && a.per_message_s == b.per_message_s && a.per_frame_s == b.per_frame_s &&
         a.payload_bytes == b.payload_bytes && a.bytes_per_s == b.bytes_per_s && a.loss == b.loss &&
         a.shared_medium == b.shared_medium && a.setup_s == b.setup_s;
}

// What a node is given as --link for the plan's links[i]: the profile's name
// when the plan's numbers are that profile's (it keeps the profile's extras,
// e.g. BLE connection events), else a profile file holding the plan's numbers.
Result<std::string> LinkArgument(const std::string& origin, const PlanFileLink& link, size_t i, const std::string& profiles,
                                 const std::string& scratch_dir) {
  const std::string where = origin + ": links[" + std::to_string(i) + "] ('" + link.name + "')";
  Result<LinkProfile> shipped = LoadLinkProfile(ProfilesDir(profiles), link.name);
  if (!link.parameters) {  // a name only: it must be a profile
    if (!shipped.ok()) return InvalidArgument(where + " gives no link parameters and is not a link profile: " + shipped.status().message());
    ES_RETURN_IF_ERROR(net::ParseTransportKind(shipped->transport).status().WithContext(where));
    return link.name;
  }
  ES_RETURN_IF_ERROR(net::ParseTransportKind(link.parameters->transport).status().WithContext(where));
  if (shipped.ok() && SameParameters(*shipped, *link.parameters)) return link.name;
  if (scratch_dir.empty()) return IoError("no temporary folder for the plan's link '" + link.name + "' (mkdtemp failed; set TMPDIR)");
  const std::string path = scratch_dir + "/link" + std::to_string(i) + ".json";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << link.profile_json << "\n";
  out.close();
  if (!out) return IoError("cannot write " + path + " (the plan's link '" + link.name + "' for the nodes)");
  return path;
}

// The settings node k sends with (or the input's), for reports.
const LinkSettings& OutSettings(const ChainOptions& o, size_t k) { return o.hop_links.empty() ? o.link : o.hop_links[k]; }

std::string Transport(const LinkSettings& s) {
  Result<LinkProfile> p = LoadLinkProfile(ProfilesDir(s.profiles_dir), s.link);
  return p.ok() ? p->transport : std::string("?");
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The steady inferences (all but the cold first, unless there is only one), as Summarize counts them;
// `value` gives nullopt for a record without the figure (fewer nodes or hops than the last).
template <typename F>
double SteadyMedian(const std::vector<InferenceRecord>& recs, F value) {
  std::vector<double> v;
  for (size_t i = recs.size() > 1 ? 1 : 0; i < recs.size(); ++i)
    if (const std::optional<double> x = value(recs[i])) v.push_back(*x);
  return Median(std::move(v));
}

Json TransferVsMeasured(const PlanFileTransfer& t, const LinkSettings& s, const std::string& link_name, const HopRecord& last,
                        double median_s) {
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

std::vector<ChainNodeSpec> PlanNodes(const PlanFile& plan) {
  std::vector<ChainNodeSpec> nodes;
  for (const PlanFileSegment& s : plan.segments) nodes.push_back({s.cut_before, s.cut_after, HostProfileName(s.host)});
  if (!nodes.empty()) {
    nodes.front().first_cut = "input";
    nodes.back().last_cut = "output";  // the plan names the last layer; int8 graphs end in a DequantizeLinear after it
  }
  return nodes;
}

Status ApplyPlanLinks(const PlanFile& plan, const std::string& origin, const std::string& shape, bool emulating,
                      const std::string& scratch_dir, ChainOptions* o) {
  if (plan.links.empty()) return InvalidArgument(origin + ": the plan has no links[] (give --link)");
  std::vector<std::optional<LinkSettings>> made(plan.links.size());
  auto settings = [&](int i) -> Result<LinkSettings> {
    if (i < 0 || static_cast<size_t>(i) >= plan.links.size())
      return InvalidArgument(origin + ": a transfer's link_index " + std::to_string(i) + " is outside links[]");
    const size_t k = static_cast<size_t>(i);
    if (made[k]) return *made[k];
    LinkSettings s = o->link;
    ES_ASSIGN_OR_RETURN(s.link, LinkArgument(origin, plan.links[k], k, o->link.profiles_dir, scratch_dir));
    ES_ASSIGN_OR_RETURN(s.shaped, DecideShaping(shape, s.link, o->link.profiles_dir, emulating));
    if (s.loss > 0 && Transport(s) == "tcp") s.loss = -1;  // TCP loss is real (scripts/netns.sh), not emulated
    made[k] = s;
    return s;
  };
  auto local = [](LinkSettings s) {  // a transfer inside the sensor: not on any link
    s.shaped = false;
    s.loss = 0;
    return s;
  };
  o->hop_links.clear();
  o->input_link.reset();
  for (const PlanFileTransfer& h : plan.hops) {
    ES_ASSIGN_OR_RETURN(LinkSettings s, settings(h.link_index));
    o->hop_links.push_back(s);
  }
  if (plan.input) {
    ES_ASSIGN_OR_RETURN(LinkSettings s, settings(plan.input->link_index));
    o->input_link = s;
  }
  if (plan.result) {
    ES_ASSIGN_OR_RETURN(LinkSettings s, settings(plan.result->link_index));
    o->hop_links.push_back(s);
  } else if (!o->hop_links.empty()) {
    o->hop_links.push_back(local(o->hop_links.back()));  // the sensor ran the last stage
  } else if (o->input_link) {
    o->hop_links.push_back(local(*o->input_link));
  } else {  // the sensor runs the whole model: no transfer at all
    ES_ASSIGN_OR_RETURN(LinkSettings s, settings(0));
    o->hop_links.push_back(local(s));
  }
  return Status::Ok();
}

Json PlanVsMeasured(const PlanFile& plan, const ChainOptions& o, const std::vector<InferenceRecord>& recs, const RunSummary& summary) {
  if (recs.empty()) return Json::object();
  // Steady-state measurements beside the planner's numbers (the plan excludes set-up).
  const InferenceRecord& last = recs.back();
  Json p{{"predicted_latency_s", plan.latency_s},
         {"measured_steady_rtt_s", summary.steady_median_s},
         {"error_pct", ErrorPct(summary.steady_median_s, plan.latency_s)}};
  p["segments"] = Json::array();
  for (size_t i = 0; i < last.nodes.size() && i < plan.segments.size(); ++i) {
    const double predicted = plan.segments[i].compute_s;
    const double median = SteadyMedian(recs, [&](const InferenceRecord& r) {
      return i < r.nodes.size() ? std::optional<double>(r.nodes[i].compute_s) : std::nullopt;
    });
    p["segments"].push_back({{"device", last.nodes[i].device},
                             {"predicted_compute_s", predicted},
                             {"measured_compute_s", last.nodes[i].compute_s},
                             {"error_pct", ErrorPct(last.nodes[i].compute_s, predicted)},
                             {"host", plan.segments[i].host},
                             {"measured_median_compute_s", median},
                             {"median_error_pct", ErrorPct(median, predicted)}});
  }
  // With one link (--link, or a plan without links[]) every hop reports that link's name.
  auto name = [&](const HopRecord& h, const PlanFileTransfer& t) { return !h.link.empty() ? h.link : t.link; };
  p["hops"] = Json::array();
  for (size_t i = 0; i < last.hops.size() && i < plan.hops.size(); ++i) {
    const double median = SteadyMedian(recs, [&](const InferenceRecord& r) {
      return i < r.hops.size() ? std::optional<double>(r.hops[i].transfer_s) : std::nullopt;
    });
    p["hops"].push_back(TransferVsMeasured(plan.hops[i], OutSettings(o, i), name(last.hops[i], plan.hops[i]), last.hops[i], median));
  }
  if (plan.input && last.has_input) {
    // The planner counts the input in the plan's dtype, and so does the sensor: an int8 chain's sensor
    // quantizes it first (the int8 graph's leading QuantizeLinear), so measured = predicted + the wire's header.
    const PlanFileTransfer& t = *plan.input;
    const double median = SteadyMedian(recs, [](const InferenceRecord& r) { return std::optional<double>(r.input.transfer_s); });
    Json in = TransferVsMeasured(t, o.input_link ? *o.input_link : o.link, name(last.input, t), last.input, median);
    p["input"] = {{"predicted_bytes", t.bytes},
                  {"measured_bytes", last.input.bytes},
                  {"predicted_transfer_s", t.time_s},
                  {"measured_transfer_s", last.input.transfer_s},
                  {"error_pct", ErrorPct(last.input.transfer_s, t.time_s)}};
    p["input"].update(in);
  }
  if (plan.result && !last.nodes.empty()) {
    const PlanFileTransfer& t = *plan.result;
    const double median = SteadyMedian(recs, [](const InferenceRecord& r) { return std::optional<double>(r.reply.transfer_s); });
    p["result"] = TransferVsMeasured(t, OutSettings(o, last.nodes.size() - 1), name(last.reply, t), last.reply, median);
    p["result"]["measured_transfer_s"] = last.reply_s;
    p["result"]["error_pct"] = ErrorPct(last.reply_s, t.time_s);
  }
  return p;
}

std::string DescribeHopLinks(const ChainOptions& o) {
  std::string s;
  auto add = [&](const LinkSettings& l) {
    Result<LinkProfile> p = LoadLinkProfile(ProfilesDir(l.profiles_dir), l.link);  // a plan's inline link: its name, not the file
    s += (s.empty() ? "" : ", ") + (p.ok() ? p->name : l.link) + " (" + (p.ok() ? p->transport : "?") +
         (l.shaped ? ", shaped" : ", local") + ")";
  };
  if (o.input_link) add(*o.input_link);
  for (const LinkSettings& l : o.hop_links) add(l);
  return s;
}

ScratchDir::ScratchDir() {
  std::error_code ec;
  std::string templ = (std::filesystem::temp_directory_path(ec) / "edgesplit_run_XXXXXX").string();
  if (mkdtemp(templ.data())) path = templ;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!path.empty()) std::filesystem::remove_all(path, ec);
}

}  // namespace edgesplit::runtime
