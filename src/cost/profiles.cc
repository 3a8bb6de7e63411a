// Reading device and link profiles (JSON) with errors naming file and field.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edgesplit/cost.h"

#ifndef EDGESPLIT_PROFILES_DIR
#define EDGESPLIT_PROFILES_DIR "profiles"
#endif

namespace edgesplit {
namespace {

using Json = nlohmann::json;

// Reads fields of one JSON object; the first error sticks and names origin + path.
class Reader {
 public:
  Reader(const Json& j, std::string origin, std::string path) : j_(j), origin_(std::move(origin)), path_(std::move(path)) {}

  const Status& status() const { return status_; }

  double Number(const char* key, double lo, double hi, bool required = true, double fallback = 0) {
    const Json* v = Find(key, required);
    if (!v) return fallback;
    if (!v->is_number()) return Fail(key, "must be a number"), fallback;
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
      return Fail(key, "is " + Dump(*v) + ", must be in [" + Dump(Json(lo)) + ", " + Dump(Json(hi)) + "]"), fallback;
    return x;
  }
  int64_t Integer(const char* key, int64_t lo, int64_t hi, bool required = true, int64_t fallback = 0) {
    const Json* v = Find(key, required);
    if (!v) return fallback;
    if (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
                                     std::fabs(v->get<double>()) < 9e15))
      return Fail(key, "must be an integer"), fallback;
    const int64_t x = v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(v->get<double>());
    if (x < lo || x > hi) return Fail(key, "is " + std::to_string(x) + ", must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"), fallback;
    return x;
  }
  std::string String(const char* key, bool required = true, std::string fallback = "") {
    const Json* v = Find(key, required);
    if (!v) return fallback;
    if (!v->is_string()) return Fail(key, "must be a string"), fallback;
    return v->get<std::string>();
  }
  bool Bool(const char* key, bool fallback) {
    const Json* v = Find(key, false);
    if (!v) return fallback;
    if (!v->is_boolean()) return Fail(key, "must be true or false"), fallback;
    return v->get<bool>();
  }
  // A nested object (required); returns a Reader on it (on an empty object when missing).
  Reader Object(const char* key) {
    const Json* v = Find(key, true);
    if (v && !v->is_object()) Fail(key, "must be an object"), v = nullptr;
    Reader r(v ? *v : kEmpty, origin_, path_ + key + ".");
    if (!status_.ok()) r.status_ = status_;
    return r;
  }
  void Merge(const Reader& inner) {
    if (status_.ok() && !inner.status_.ok()) status_ = inner.status_;
  }
  void Sources(std::map<std::string, std::string>* out) {
    const Json* v = Find("sources", true);
    if (!v) return;
    if (!v->is_object()) return Fail("sources", "must be an object of field -> source text");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) return Fail("sources", "entry '" + it.key() + "' must be a string");
      (*out)[it.key()] = it->get<std::string>();
    }
  }
  void Fail(const std::string& key, const std::string& what) {
    if (status_.ok()) status_ = InvalidArgument(origin_ + ": field '" + path_ + key + "' " + what);
  }

 private:
  static std::string Dump(const Json& v) { return v.dump(); }
  const Json* Find(const char* key, bool required) {
    if (!status_.ok()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) Fail(key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  static inline const Json kEmpty = Json::object();
  const Json& j_;
  std::string origin_, path_;
  Status status_;
};

Result<Json> ParseObject(const std::string& text, const std::string& origin) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(origin + ": not valid JSON");
  if (!j.is_object()) return InvalidArgument(origin + ": the top level must be a JSON object");
  return j;
}

void CheckSchema(Reader& r) { r.Integer("schema_version", 1, 1); }

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<std::string> ResolveProfile(const std::string& dir, const std::string& kind, const std::string& name) {
  const bool is_path = name.find('/') != std::string::npos || name.ends_with(".json");
  const std::string path = is_path ? name : dir + "/" + kind + "/" + name + ".json";
  if (std::filesystem::is_regular_file(path)) return path;
  std::string known;
  for (const std::string& n : ListProfiles(dir, kind)) known += (known.empty() ? "" : ", ") + n;
  return NotFound("no " + std::string(kind == "devices" ? "device" : "link") + " profile '" + name + "' (looked for " +
                  path + "); available: " + (known.empty() ? "none" : known));
}

}  // namespace

Result<DeviceProfile> ParseDeviceProfile(const std::string& text, const std::string& origin) {
  ES_ASSIGN_OR_RETURN(Json j, ParseObject(text, origin));
  Reader r(j, origin, "");
  DeviceProfile d;
  d.file = origin;
  CheckSchema(r);
  d.name = r.String("name");
  const std::string dtype = r.String("dtype");
  if (r.status().ok() && dtype != "int8" && dtype != "f32") r.Fail("dtype", "is '" + dtype + "', must be int8 or f32");
  d.dtype = dtype == "f32" ? DType::kFloat32 : DType::kInt8;
  d.weight_capacity_bytes = r.Integer("weight_capacity_bytes", 0, int64_t{1} << 50);
  d.ram_bytes = r.Integer("ram_bytes", 0, int64_t{1} << 50);
  Reader c = r.Object("compute");
  d.clock_hz = c.Number("clock_hz", 1, 1e12);
  d.scale = c.Number("scale", 1e-9, 1e9);
  d.per_layer_overhead_s = c.Number("per_layer_overhead_s", 0, 10, false, 0);
  Reader mpc = c.Object("macs_per_cycle");
  for (OpClass k : {OpClass::kConv, OpClass::kDepthwise, OpClass::kPointwise, OpClass::kFc})
    d.work_per_cycle[static_cast<int>(k)] = mpc.Number(OpClassName(k), 1e-9, 1e9);
  Reader cpe = c.Object("cycles_per_element");
  for (OpClass k : {OpClass::kElementwise, OpClass::kPool})
    d.work_per_cycle[static_cast<int>(k)] = 1.0 / cpe.Number(OpClassName(k), 1e-9, 1e9, true, 1);
  c.Merge(mpc);
  c.Merge(cpe);
  r.Merge(c);
  Reader p = r.Object("power");
  d.active_w = p.Number("active_w", 0, 1e6);
  d.idle_w = p.Number("idle_w", 0, 1e6);
  d.tx_w = p.Number("tx_w", 0, 1e6);
  d.rx_w = p.Number("rx_w", 0, 1e6);
  r.Merge(p);
  r.Sources(&d.sources);
  if (!r.status().ok()) return r.status();
  return d;
}

Result<LinkProfile> ParseLinkProfile(const std::string& text, const std::string& origin) {
  ES_ASSIGN_OR_RETURN(Json j, ParseObject(text, origin));
  Reader r(j, origin, "");
  LinkProfile l;
  l.file = origin;
  CheckSchema(r);
  l.name = r.String("name");
  l.transport = r.String("transport");
  l.per_message_s = r.Number("per_message_s", 0, 1e6);
  l.per_frame_s = r.Number("per_frame_s", 0, 1e6);
  l.payload_bytes = r.Integer("payload_bytes", 1, int64_t{1} << 40);
  l.bytes_per_s = r.Number("bytes_per_s", 1e-9, 1e15);
  l.loss = r.Number("loss", 0, 0.999999, false, 0);
  l.shared_medium = r.Bool("shared_medium", false);
  l.setup_s = r.Number("setup_s", 0, 1e6, false, 0);
  r.Sources(&l.sources);
  if (!r.status().ok()) return r.status();
  return l;
}

std::string ProfilesDir(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (const char* env = std::getenv("EDGESPLIT_PROFILES"); env && *env) return env;
  return EDGESPLIT_PROFILES_DIR;
}

std::vector<std::string> ListProfiles(const std::string& dir, const std::string& kind) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/" + kind, ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Result<DeviceProfile> LoadDeviceProfile(const std::string& dir, const std::string& name) {
  ES_ASSIGN_OR_RETURN(std::string path, ResolveProfile(dir, "devices", name));
  ES_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  return ParseDeviceProfile(text, path);
}

Result<LinkProfile> LoadLinkProfile(const std::string& dir, const std::string& name) {
  ES_ASSIGN_OR_RETURN(std::string path, ResolveProfile(dir, "links", name));
  ES_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  return ParseLinkProfile(text, path);
}

}  // namespace edgesplit
