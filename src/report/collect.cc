// ReportFromDir: the JSON documents other commands wrote, recognised by their
// keys and turned into the report's rows. Every value is type-checked: a
// wrong type is an error naming the file and the key, never an exception.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "edgesplit/report.h"
#include "report_internal.h"

namespace edgesplit::report {
namespace {

// Above this a file is not one of the CLI's documents (a run of 10,000
// inferences is a few MB); refused before it is read.
constexpr uintmax_t kMaxDocumentBytes = 64u << 20;

struct Reader {
  const std::string& origin;
  Status Missing(const std::string& where, const char* key, const char* type) const {
    return InvalidArgument(origin + ": " + where + "." + key + " must be " + type);
  }
  Result<double> Number(const Json& o, const char* key, const std::string& where) const {
    auto it = o.find(key);
    if (it == o.end() || !it->is_number()) return Missing(where, key, "a number");
    return it->get<double>();
  }
  // A whole number within ±2^53 (a count, an index, bytes): never a cast of an out-of-range double.
  Result<int64_t> Integer(const Json& o, const char* key, const std::string& where) const {
    auto it = o.find(key);
    if (it != o.end() && it->is_number_integer()) {
      if (it->is_number_unsigned() && it->get<uint64_t>() > (uint64_t{1} << 53)) return Missing(where, key, "an integer below 2^53");
      return it->get<int64_t>();
    }
    if (it != o.end() && it->is_number_float()) {
      const double v = it->get<double>();
      if (std::isfinite(v) && std::fabs(v) < 9e15 && v == std::floor(v)) return static_cast<int64_t>(v);
    }
    return Missing(where, key, "an integer");
  }
  double NumberOr(const Json& o, const char* key, double fallback) const {
    auto it = o.find(key);
    return it != o.end() && it->is_number() ? it->get<double>() : fallback;
  }
  Result<std::string> String(const Json& o, const char* key, const std::string& where) const {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) return Missing(where, key, "a string");
    return it->get<std::string>();
  }
  std::string StringOr(const Json& o, const char* key, const std::string& fallback) const {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : fallback;
  }
  Result<bool> Bool(const Json& o, const char* key, const std::string& where) const {
    auto it = o.find(key);
    if (it == o.end() || !it->is_boolean()) return Missing(where, key, "true or false");
    return it->get<bool>();
  }
  Result<const Json*> Array(const Json& o, const char* key, const std::string& where) const {
    auto it = o.find(key);
    if (it == o.end() || !it->is_array()) return Missing(where, key, "an array");
    return &*it;
  }
  Status Object(const Json& o, const std::string& where) const {
    return o.is_object() ? Status::Ok() : InvalidArgument(origin + ": " + where + " must be an object");
  }
};

std::string At(const char* key, size_t i) { return std::string(key) + "[" + std::to_string(i) + "]"; }

Status AddInspect(const Json& d, const Reader& r, ReportData* data) {
  ES_ASSIGN_OR_RETURN(const Json* cuts, r.Array(d, "cut_points", "document"));
  for (size_t i = 0; i < cuts->size(); ++i) {
    const Json& c = (*cuts)[i];
    const std::string w = At("cut_points", i);
    ES_RETURN_IF_ERROR(r.Object(c, w));
    ES_ASSIGN_OR_RETURN(int64_t index, r.Integer(c, "index", w));
    ES_ASSIGN_OR_RETURN(std::string after, r.String(c, "after", w));
    ES_ASSIGN_OR_RETURN(int64_t b8, r.Integer(c, "bytes_int8", w));
    ES_ASSIGN_OR_RETURN(int64_t b32, r.Integer(c, "bytes_f32", w));
    ES_ASSIGN_OR_RETURN(int64_t macs, r.Integer(c, "head_macs", w));
    ES_ASSIGN_OR_RETURN(bool strict, r.Bool(c, "bottleneck_strict", w));
    ES_ASSIGN_OR_RETURN(bool loose, r.Bool(c, "bottleneck_loose", w));
    data->cuts.rows.push_back(CutRow(index, after, b8, b32, macs, strict, loose));
  }
  return Status::Ok();
}

Status AddCompare(const Json& d, const Reader& r, ReportData* data) {
  ES_ASSIGN_OR_RETURN(const Json* rows, r.Array(d, "rows", "document"));
  for (size_t i = 0; i < rows->size(); ++i) {
    const Json& x = (*rows)[i];
    const std::string w = At("rows", i);
    ES_RETURN_IF_ERROR(r.Object(x, w));
    ES_ASSIGN_OR_RETURN(int64_t devices, r.Integer(x, "devices", w));
    if (devices < 1 || devices > 1000000) return InvalidArgument(r.origin + ": " + w + ".devices must be in [1, 1000000]");
    ES_ASSIGN_OR_RETURN(std::string algorithm, r.String(x, "algorithm", w));
    ES_ASSIGN_OR_RETURN(bool ran, r.Bool(x, "ran", w));
    if (!ran) continue;  // brute force above --max-plans
    ES_ASSIGN_OR_RETURN(bool feasible, r.Bool(x, "feasible", w));
    double value = 0, latency = 0, gap = 0;
    if (feasible) {
      ES_ASSIGN_OR_RETURN(value, r.Number(x, "value", w));
      ES_ASSIGN_OR_RETURN(latency, r.Number(x, "latency_s", w));
      ES_ASSIGN_OR_RETURN(gap, r.Number(x, "gap_pct", w));
    }
    data->planners.rows.push_back(PlannerRow(static_cast<int>(devices), algorithm, feasible, value, latency, gap,
                                             r.NumberOr(x, "solve_time_s", 0), r.StringOr(x, "segments", "")));
  }
  data->planners.meta = {{"model", r.StringOr(d, "model", "")},
                         {"link", r.StringOr(d, "link", "")},
                         {"objective", r.StringOr(d, "objective", "latency")}};
  return Status::Ok();
}

// A source label unique per protocol: a second file measuring the same
// protocol gets its file name beside it.
std::string UniqueSource(const ReportData& data, const std::string& protocol, const std::string& source, const std::string& file) {
  for (const Json& x : data.round_trip.rows)
    if (x["protocol"] == protocol && x["source"] == source) return source + " (" + file + ")";
  return source;
}

Status AddBenchProtocols(const Json& d, const Reader& r, const std::string& file, ReportData* data) {
  ES_ASSIGN_OR_RETURN(const Json* protocols, r.Array(d, "protocols", "document"));
  std::vector<std::string> names;
  for (size_t i = 0; i < protocols->size(); ++i) {
    const Json& p = (*protocols)[i];
    const std::string w = At("protocols", i);
    ES_RETURN_IF_ERROR(r.Object(p, w));
    ES_ASSIGN_OR_RETURN(std::string protocol, r.String(p, "protocol", w));
    const std::string source = UniqueSource(*data, protocol, "measured", file);
    if (auto b = p.find("breakdown"); b != p.end()) {
      const std::string wb = w + ".breakdown";
      ES_RETURN_IF_ERROR(r.Object(*b, wb));
      ES_ASSIGN_OR_RETURN(double setup, r.Number(*b, "setup_s", wb));
      ES_ASSIGN_OR_RETURN(const Json* compute, r.Array(*b, "compute_s", wb));
      std::vector<double> seconds;
      for (size_t k = 0; k < compute->size(); ++k) {
        if (!(*compute)[k].is_number()) return InvalidArgument(file + ": " + wb + ".compute_s[" + std::to_string(k) + "] must be a number");
        seconds.push_back((*compute)[k].get<double>());
      }
      ES_ASSIGN_OR_RETURN(double transfer, r.Number(*b, "transfer_s", wb));
      ES_ASSIGN_OR_RETURN(double reply, r.Number(*b, "reply_s", wb));
      AddRoundTripRows(protocol, source, setup, seconds, transfer, reply, data);
    } else {
      // Written before bench-protocols kept the breakdown: set-up is cold - steady,
      // the rest of the round trip is one phase.
      ES_ASSIGN_OR_RETURN(double cold, r.Number(p, "cold_rtt_s", w));
      ES_ASSIGN_OR_RETURN(double steady, r.Number(p, "steady_rtt_s", w));
      ES_ASSIGN_OR_RETURN(double transfer, r.Number(p, "transfer_s", w));
      AddRoundTripRows(protocol, source, std::max(0.0, cold - steady), {std::max(0.0, steady - transfer)}, transfer, 0, data);
    }
    names.push_back(protocol);
  }
  AddPaperFigures(names, r.StringOr(d, "model", ""), r.StringOr(d, "cut", ""), data);
  data->emulated = data->emulated || !d.contains("emulated") || d["emulated"] == true;
  return Status::Ok();
}

Status AddRun(const Json& d, const Reader& r, const std::string& file, ReportData* data) {
  ES_ASSIGN_OR_RETURN(std::string link, r.String(d, "link", "document"));
  ES_ASSIGN_OR_RETURN(const Json* inferences, r.Array(d, "inferences", "document"));
  if (inferences->empty()) return InvalidArgument(file + ": document.inferences is empty");
  // The paper timed the cold round trip: the first inference.
  const Json& x = inferences->front();
  const std::string w = "inferences[0]";
  ES_RETURN_IF_ERROR(r.Object(x, w));
  ES_ASSIGN_OR_RETURN(double setup, r.Number(x, "setup_s", w));
  ES_ASSIGN_OR_RETURN(double reply, r.Number(x, "reply_s", w));
  ES_ASSIGN_OR_RETURN(const Json* nodes, r.Array(x, "nodes", w));
  ES_ASSIGN_OR_RETURN(const Json* hops, r.Array(x, "hops", w));
  std::vector<double> compute;
  for (size_t i = 0; i < nodes->size(); ++i) {
    ES_RETURN_IF_ERROR(r.Object((*nodes)[i], w + "." + At("nodes", i)));
    ES_ASSIGN_OR_RETURN(double s, r.Number((*nodes)[i], "compute_s", w + "." + At("nodes", i)));
    compute.push_back(s);
  }
  double transfer = 0;
  for (size_t i = 0; i < hops->size(); ++i) {
    ES_RETURN_IF_ERROR(r.Object((*hops)[i], w + "." + At("hops", i)));
    ES_ASSIGN_OR_RETURN(double s, r.Number((*hops)[i], "transfer_s", w + "." + At("hops", i)));
    transfer += s;
  }
  AddRoundTripRows(link, UniqueSource(*data, link, "measured", file), setup, compute, transfer, reply, data);
  // The cut of a two-node run is the first node's last layer, which run's JSON does not name: the model decides.
  AddPaperFigures({link}, r.StringOr(d, "model", ""), "block_16_project_BN", data);
  return Status::Ok();
}

Status AddDynamicRun(const Json& d, const Reader& r, ReportData* data) {
  ES_ASSIGN_OR_RETURN(const Json* inferences, r.Array(d, "inferences", "document"));
  for (size_t i = 0; i < inferences->size(); ++i) {
    const Json& x = (*inferences)[i];
    const std::string w = At("inferences", i);
    ES_RETURN_IF_ERROR(r.Object(x, w));
    ES_ASSIGN_OR_RETURN(double request, r.Number(x, "request", w));
    ES_ASSIGN_OR_RETURN(std::string split, r.String(x, "split", w));
    ES_ASSIGN_OR_RETURN(double rtt, r.Number(x, "rtt_s", w));
    ES_ASSIGN_OR_RETURN(double rate, r.Number(x, "true_rate_bytes_per_s", w));
    ES_ASSIGN_OR_RETURN(double load, r.Number(x, "server_load", w));
    data->trace.rows.push_back({{"request", request},
                                {"time_s", r.NumberOr(x, "done_at_s", 0)},
                                {"rate_bytes_per_s", rate},
                                {"server_load", load},
                                {"split", split},
                                {"cut_index", r.NumberOr(x, "cut_index", -1)},
                                {"latency_s", rtt}});
  }
  data->trace.meta = {{"policy", "dynamic (live run)"}, {"model", r.StringOr(d, "model", "")}, {"link", r.StringOr(d, "link", "")}};
  return Status::Ok();
}

Status AddSimulate(const Json& d, const Reader& r, ReportData* data) {
  auto t = d.find("timeline");
  if (t == d.end()) return Unsupported(r.origin + ": simulate output without a \"timeline\" (written by an older edgesplit)");
  ES_RETURN_IF_ERROR(r.Object(*t, "timeline"));
  ES_ASSIGN_OR_RETURN(std::string policy, r.String(*t, "policy", "timeline"));
  ES_ASSIGN_OR_RETURN(const Json* requests, r.Array(*t, "requests", "timeline"));
  static const char* kNumbers[] = {"request", "time_s", "rate_bytes_per_s", "server_load", "cut_index", "latency_s"};
  for (size_t i = 0; i < requests->size(); ++i) {
    const Json& x = (*requests)[i];
    const std::string w = "timeline." + At("requests", i);
    ES_RETURN_IF_ERROR(r.Object(x, w));
    for (const char* key : kNumbers) ES_RETURN_IF_ERROR(r.Number(x, key, w).status());
    ES_RETURN_IF_ERROR(r.String(x, "split", w).status());
    data->trace.rows.push_back(x);
  }
  data->trace.meta = {{"policy", policy},
                      {"model", r.StringOr(d, "model", "")},
                      {"device", r.StringOr(d, "device", "")},
                      {"server", r.StringOr(d, "server", "")},
                      {"link", r.StringOr(d, "link", "")}};
  return Status::Ok();
}

Section* SectionOf(DocumentKind kind, ReportData* data) {
  switch (kind) {
    case DocumentKind::kInspect: return &data->cuts;
    case DocumentKind::kCompare: return &data->planners;
    case DocumentKind::kBenchProtocols:
    case DocumentKind::kRun: return &data->round_trip;
    case DocumentKind::kDynamicRun:
    case DocumentKind::kSimulate: return &data->trace;
    case DocumentKind::kUnknown: break;
  }
  return nullptr;
}

}  // namespace

const char* DocumentKindName(DocumentKind kind) {
  switch (kind) {
    case DocumentKind::kInspect: return "inspect";
    case DocumentKind::kCompare: return "compare";
    case DocumentKind::kBenchProtocols: return "bench-protocols";
    case DocumentKind::kRun: return "run";
    case DocumentKind::kDynamicRun: return "run --dynamic";
    case DocumentKind::kSimulate: return "simulate";
    case DocumentKind::kUnknown: break;
  }
  return "unknown";
}

DocumentKind ClassifyDocument(const Json& d) {
  if (!d.is_object()) return DocumentKind::kUnknown;
  auto array = [&](const char* key) { return d.contains(key) && d[key].is_array(); };
  if (array("cut_points") && array("layers")) return DocumentKind::kInspect;
  if (array("rows") && array("free_order_algorithms")) return DocumentKind::kCompare;
  if (array("protocols") && !d["protocols"].empty() && d["protocols"][0].is_object()) return DocumentKind::kBenchProtocols;
  if (array("inferences")) return d.contains("dynamic") && d["dynamic"] == true ? DocumentKind::kDynamicRun : DocumentKind::kRun;
  if (array("policies") && d.contains("trace")) return DocumentKind::kSimulate;
  return DocumentKind::kUnknown;
}

Status AddDocument(const Json& d, DocumentKind kind, const std::string& origin, ReportData* data) {
  const Reader r{origin};
  const std::string file = std::filesystem::path(origin).filename().string();
  Section* section = SectionOf(kind, data);
  if (section == nullptr) return InvalidArgument(origin + ": not a document of edgesplit inspect, compare, bench-protocols, run or simulate");
  // One inspect, compare or trace per report: a second would mix two models' bars.
  const bool one_only = kind != DocumentKind::kBenchProtocols && kind != DocumentKind::kRun;
  if (one_only && !section->empty()) {
    data->notes.push_back(file + ": skipped (" + DocumentKindName(kind) + "; the report already has " + section->sources.front() + ")");
    return Status::Ok();
  }
  switch (kind) {
    case DocumentKind::kInspect: ES_RETURN_IF_ERROR(AddInspect(d, r, data)); break;
    case DocumentKind::kCompare: ES_RETURN_IF_ERROR(AddCompare(d, r, data)); break;
    case DocumentKind::kBenchProtocols: ES_RETURN_IF_ERROR(AddBenchProtocols(d, r, file, data)); break;
    case DocumentKind::kRun: ES_RETURN_IF_ERROR(AddRun(d, r, file, data)); break;
    case DocumentKind::kDynamicRun: ES_RETURN_IF_ERROR(AddDynamicRun(d, r, data)); break;
    case DocumentKind::kSimulate: ES_RETURN_IF_ERROR(AddSimulate(d, r, data)); break;
    case DocumentKind::kUnknown: break;
  }
  section->sources.push_back(file + " (" + DocumentKindName(kind) + ")");
  if (data->title.empty() && d.contains("model") && d["model"].is_string()) data->title = d["model"].get<std::string>();
  return Status::Ok();
}

Result<ReportData> ReportFromDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound("--from: '" + dir + "' is not a folder");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") files.push_back(e.path());
  if (ec) return IoError("--from: cannot list '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  ReportData data;
  data.emulated = false;
  data.origin = "from the JSON documents in " + dir;
  int used = 0;
  for (const fs::path& path : files) {
    const std::string name = path.filename().string();
    if (!fs::is_regular_file(path, ec)) {
      data.notes.push_back(name + ": skipped (not a regular file)");
      continue;
    }
    if (fs::file_size(path, ec) > kMaxDocumentBytes) {
      data.notes.push_back(name + ": skipped (over 64 MiB: not an edgesplit document)");
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return IoError("cannot read '" + path.string() + "'");
    const Json d = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (d.is_discarded()) {
      data.notes.push_back(name + ": skipped (not valid JSON)");
      continue;
    }
    const DocumentKind kind = ClassifyDocument(d);
    if (kind == DocumentKind::kUnknown) {
      data.notes.push_back(name + ": skipped (not an inspect, compare, bench-protocols, run or simulate document)");
      continue;
    }
    if (Status s = AddDocument(d, kind, path.string(), &data); !s.ok()) {
      if (s.code() != StatusCode::kUnsupported) return s;
      data.notes.push_back(name + ": skipped (" + s.message() + ")");
      continue;
    }
    ++used;
  }
  if (used == 0)
    return NotFound("--from: no JSON document of edgesplit inspect, compare, bench-protocols, run or simulate in '" + dir + "'" +
                    (files.empty() ? " (no *.json files)" : " (" + std::to_string(files.size()) + " *.json files, none of those kinds)"));
  if (data.title.empty()) data.title = fs::path(dir).filename().string();
  return data;
}

}  // namespace edgesplit::report
