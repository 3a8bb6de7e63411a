// Reading fields of JSON data files with errors that name the file and the
// field path ("p.json: field 'layers[3].compute_s' must be ..."). Internal to
// the cost, plan and net modules (profiles, instance files, plans); not a public contract.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "edgesplit/status.h"

namespace edgesplit::json_fields {

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
  // Reader on element `e` of an array field, at path "<key>[i].".
  Reader Element(const Json& e, const std::string& key, size_t i) {
    Reader r(e, origin_, path_ + key + "[" + std::to_string(i) + "].");
    if (!e.is_object()) r.Fail("", "must be an object");
    return r;
  }
  // A required non-empty array field; nullptr (and the error) otherwise.
  const Json* Array(const char* key) {
    const Json* v = Find(key, true);
    if (v && (!v->is_array() || v->empty())) return Fail(key, "must be a non-empty array"), nullptr;
    return v;
  }
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
  // Records the first error; `key` "" names the object itself.
  void Fail(const std::string& key, const std::string& what) {
    std::string field = path_ + key;
    if (key.empty() && !field.empty()) field.pop_back();  // "layers[3]." -> "layers[3]"
    if (status_.ok()) status_ = InvalidArgument(origin_ + ": field '" + field + "' " + what);
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

inline Result<Json> ParseObject(const std::string& text, const std::string& origin) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(origin + ": not valid JSON");
  if (!j.is_object()) return InvalidArgument(origin + ": the top level must be a JSON object");
  return j;
}

// The whole file at `path`, or an error naming it. Data files are small: a
// device or pipe (/dev/zero) or anything over 64 MiB is refused before reading.
inline Result<std::string> ReadTextFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec) return IoError("cannot read '" + path + "': " + ec.message());
  if (!std::filesystem::is_regular_file(status)) return InvalidArgument("'" + path + "' is not a regular file");
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes > (uintmax_t{64} << 20)) return InvalidArgument("'" + path + "' is larger than a data file may be (64 MiB)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read '" + path + "'");
  std::string text(static_cast<size_t>(bytes), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

}  // namespace edgesplit::json_fields
