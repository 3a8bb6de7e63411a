// edgesplit policy MODEL --device D --server S --link L [--candidates strict|loose|all]
//   [--load-levels LIST] [--dtype int8|f32] [--profiles DIR] [--format table|json] [-o FILE]
//   [--codec-table FILE --max-accuracy-drop P [--codec-costs FILE]] [--insecure]
//
// Prints the dynamic split policy (docs/dynamic.md): the candidates with their
// latency terms and, per load level, the data rates at which the choice changes.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "commands.h"
#include "dynamic_args.h"
#include "edgesplit/models.h"
#include "render.h"

namespace edgesplit::cli {

void AddDynamicSourceOptions(CLI::App& app, DynamicSource& s) {
  app.add_option("model", s.model, "Zoo spec or .onnx path")->required();
  app.add_option("--device", s.device, "Head device profile (e.g. esp32s3-espnn)")->required();
  app.add_option("--server", s.server, "Server device profile (e.g. edge-x86)")->required();
  app.add_option("--link", s.link, "Link profile; its rate is replaced by the trace's or the estimate (e.g. udp)")->required();
  app.add_option("--candidates", s.candidates, "strict or loose natural bottlenecks, or all cuts (+ both ends)")->capture_default_str();
  app.add_option("--load-levels", s.load_levels, "Envelope grid of server loads, ascending, >= 1 (default 1..64, 4 per octave)")
      ->delimiter(',');
  app.add_option("--dtype", s.dtype, "int8 or f32: what crosses the link and what the weights take")->capture_default_str();
  app.add_option("--profiles", s.profiles_dir, "Profiles folder (default: env EDGESPLIT_PROFILES, else the source tree's)");
  app.add_option("--codec-table", s.codec_table, "Add a candidate per cut x codec from this accuracy table (eval --sweep --format json)");
  app.add_option("--codec-costs", s.codec_costs, "Codec encode/decode costs per device (default PROFILES/codecs/codec_costs.json)");
  app.add_option("--max-accuracy-drop", s.max_accuracy_drop, "With --codec-table: the codecs' top-1 accuracy budget, percentage points against f32");
  app.add_flag("--insecure", s.insecure, "Model plain links (default: sealed, as serve/device run them; docs/security.md)");
}

Json DynamicSetupJson(const SplitPolicy& p) {
  const CandidateSet& set = p.candidate_set();
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["model"] = set.model;
  j["device"] = set.device;
  j["server"] = set.server;
  j["link"] = set.link_name;
  j["sealed"] = set.sealing.sealed;
  j["handshake_s"] = set.handshake_s;
  return j;
}

Result<SplitPolicy> LoadSplitPolicyWithNotes(const DynamicSource& s) {
  std::vector<std::string> notes;
  auto policy = runtime::LoadSplitPolicy(s, &notes);
  for (const std::string& note : notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  return policy;
}

namespace {

struct PolicyArgs {
  DynamicSource source;
  std::string format = "table";
  std::string output;
};

const char* KindName(CandidateKind k) {
  return k == CandidateKind::kDeviceOnly ? "device-only" : k == CandidateKind::kServerOnly ? "server-only" : "split";
}

Json RateJson(double rate) { return std::isfinite(rate) ? Json(rate) : Json(nullptr); }

Json PolicyJson(const SplitPolicy& p, const std::string& rule) {
  const CandidateSet& set = p.candidate_set();
  Json j = DynamicSetupJson(p);
  j["candidate_rule"] = rule;
  j["latency_model"] = "head_s + tail_s * load + T_link(bytes, rate) + T_link(result_bytes, rate)";
  j["candidates"] = Json::array();
  for (const SplitCandidate& c : set.candidates)
    j["candidates"].push_back({{"name", c.name}, {"kind", KindName(c.kind)}, {"cut_index", c.cut_index}, {"bytes", c.bytes},
                               {"result_bytes", c.result_bytes}, {"head_s", c.head_s}, {"tail_s", c.tail_s},
                               {"device_rest_s", c.device_rest_s}, {"head_weight_bytes", c.head_weight_bytes},
                               {"head_arena_bytes", c.head_arena_bytes}, {"codec", c.codec}, {"accuracy_drop", c.accuracy_drop}});
  j["dropped"] = set.dropped;
  j["load_levels"] = Json::array();
  for (int level = 0; level < static_cast<int>(p.load_levels().size()); ++level) {
    Json l;
    l["load"] = p.load_levels()[level];
    l["breakpoints_bytes_per_s"] = Json::array();
    l["pieces"] = Json::array();
    for (const EnvelopePiece& e : p.Envelope(level)) {
      if (e.from_rate > 0) l["breakpoints_bytes_per_s"].push_back(e.from_rate);
      l["pieces"].push_back({{"candidate", set.candidates[e.candidate].name}, {"from_rate_bytes_per_s", e.from_rate},
                             {"to_rate_bytes_per_s", RateJson(e.to_rate)}, {"codec", set.candidates[e.candidate].codec}});
    }
    j["load_levels"].push_back(l);
  }
  return j;
}

std::string Mbit(double rate) { return fmt::format("{:.3g}", rate * 8 / 1e6); }

std::string PolicyTable(const SplitPolicy& p, const std::string& rule) {
  const CandidateSet& set = p.candidate_set();
  std::string s = fmt::format("model       {}\nhead        {}\nserver      {}\nlink        {} (rate from the trace or the estimate)\n"
                              "candidates  {} ({})\n",
                              set.model, set.device, set.server, set.link_name, set.candidates.size(), rule);
  s += set.sealing.sealed ? fmt::format("security    sealed links (+{:.3f} s handshake at set-up, in no latency)\n\n", set.handshake_s)
                          : "security    none (--insecure: plain links)\n\n";
  s += fmt::format("{:<32} {:>4} {:>10} {:>11} {:>11}\n", "candidate", "cut", "sends", "head s", "tail s idle");
  for (const SplitCandidate& c : set.candidates)
    s += fmt::format("{:<32} {:>4} {:>10} {:>11.6f} {:>11.6f}\n", c.name, c.cut_index, HumanBytes(c.bytes), c.head_s, c.tail_s);
  for (const std::string& d : set.dropped) s += "dropped: " + d + "\n";
  s += "\nchoice by data rate (Mbit/s), per server load:\n";
  for (int level = 0; level < static_cast<int>(p.load_levels().size()); ++level) {
    std::string line;
    for (const EnvelopePiece& e : p.Envelope(level)) {
      if (!line.empty()) line += fmt::format(" | {} ", Mbit(e.from_rate));
      line += set.candidates[e.candidate].name;
    }
    s += fmt::format("  load {:>6.2f}  {}\n", p.load_levels()[level], line);
  }
  return s;
}

Status RunPolicy(const PolicyArgs& a) {
  if (a.format != "table" && a.format != "json" && a.format != "csv") return InvalidArgument("--format must be table, json or csv");
  ES_ASSIGN_OR_RETURN(SplitPolicy policy, LoadSplitPolicyWithNotes(a.source));
  const std::string text = a.format == "json"  ? PolicyJson(policy, a.source.candidates).dump(2) + "\n"
                           : a.format == "csv" ? RowsCsv(PolicyJson(policy, a.source.candidates)["candidates"])
                                               : PolicyTable(policy, a.source.candidates);
  return WriteOutput(a.output, text);
}

}  // namespace

Runner RegisterPolicy(CLI::App& app) {
  auto a = std::make_shared<PolicyArgs>();
  AddDynamicSourceOptions(app, a->source);
  app.add_option("--format", a->format, "table, json or csv (csv: the candidates)")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_option("-o,--output", a->output, "Write to FILE instead of stdout");
  return [a] { return RunPolicy(*a); };
}

}  // namespace edgesplit::cli
