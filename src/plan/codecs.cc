// Cut-tensor codecs in the planner (plan.h, docs/codecs.md): the accuracy
// table and the encode/decode cost file it reads, and attaching both to a
// problem's layer groups.
#include <cmath>
#include <filesystem>
#include <map>

#include "plan_codecs.h"

namespace edgesplit {
namespace {

constexpr double kMaxNumber = 1e300;

}  // namespace

namespace plan_internal {

void ReadPlanCodecs(const json_fields::Json& a, json_fields::Reader& r, size_t devices, std::vector<PlanCodec>* out) {
  if (!a.is_array()) return r.Fail("codecs", "must be an array");
  for (size_t i = 0; i < a.size() && r.status().ok(); ++i) {
    json_fields::Reader e = r.Element(a[i], "codecs", i);
    PlanCodec c;
    c.name = e.String("name");
    c.bytes = e.Integer("bytes", 0, int64_t{1} << 53);
    c.accuracy_drop = e.Number("accuracy_drop", -100, 100, false, 0);
    c.lossless = e.Bool("lossless", false);
    for (auto [key, v] : {std::pair<const char*, std::vector<double>*>{"encode_s", &c.encode_s}, {"decode_s", &c.decode_s}}) {
      if (!e.status().ok()) break;
      const json_fields::Json& o = a[i];
      if (!o.contains(key)) {  // absent: free everywhere (raw-like costs)
        v->assign(devices, 0.0);
        continue;
      }
      const json_fields::Json& arr = o[key];
      if (!arr.is_array() || arr.size() != devices) {
        e.Fail(key, "must be an array with one number per device (" + std::to_string(devices) + "); < 0: unavailable there");
        break;
      }
      for (const json_fields::Json& x : arr) {
        if (!x.is_number() || !std::isfinite(x.get<double>())) {
          e.Fail(key, "must hold finite numbers");
          break;
        }
        v->push_back(x.get<double>() < 0 ? -1.0 : x.get<double>());
      }
    }
    r.Merge(e);
    out->push_back(std::move(c));
  }
}

nlohmann::ordered_json PlanCodecsJson(const std::vector<PlanCodec>& codecs) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const PlanCodec& c : codecs)
    a.push_back({{"name", c.name}, {"bytes", c.bytes}, {"accuracy_drop", c.accuracy_drop}, {"lossless", c.lossless},
                 {"encode_s", c.encode_s}, {"decode_s", c.decode_s}});
  return a;
}

Status ValidatePlanCodecs(const std::vector<PlanCodec>& codecs, size_t devices, const std::string& where) {
  for (size_t i = 0; i < codecs.size(); ++i) {
    const PlanCodec& c = codecs[i];
    const std::string at = where + " codec " + std::to_string(i) + " ('" + c.name + "')";
    if (c.name.empty()) return InvalidArgument(at + " has no name");
    if (c.bytes < 0) return InvalidArgument(at + " has negative bytes");
    if (!std::isfinite(c.accuracy_drop)) return InvalidArgument(at + ": accuracy_drop must be finite");
    if (c.encode_s.size() != devices || c.decode_s.size() != devices)
      return InvalidArgument(at + " needs encode_s and decode_s for each of the " + std::to_string(devices) + " devices");
    for (const std::vector<double>* v : {&c.encode_s, &c.decode_s})
      for (double x : *v)
        if (!std::isfinite(x)) return InvalidArgument(at + ": encode_s/decode_s must be finite (< 0: unavailable)");
  }
  return Status::Ok();
}

}  // namespace plan_internal

Result<CodecTable> ParseCodecTable(const std::string& text, const std::string& origin) {
  ES_ASSIGN_OR_RETURN(json_fields::Json j, json_fields::ParseObject(text, origin));
  json_fields::Reader r(j, origin, "");
  CodecTable t;
  if (r.String("kind", true) != "codec_table" && r.status().ok())
    return InvalidArgument(origin + ": kind is not \"codec_table\" (write one with `edgesplit eval --sweep --format json`)");
  t.model = r.String("model");
  std::vector<char> unlabelled_rows;
  t.dtype = r.String("dtype");
  if (const json_fields::Json* entries = r.Array("entries")) {
    for (size_t i = 0; i < entries->size() && r.status().ok(); ++i) {
      json_fields::Reader e = r.Element((*entries)[i], "entries", i);
      CodecTableEntry x;
      x.cut_index = static_cast<int>(e.Integer("cut_index", 0, 1 << 30));
      x.after = e.String("after");
      x.codec = e.String("codec");
      x.cut_bytes = e.Number("cut_bytes", 0, kMaxNumber);
      const json_fields::Json& o = (*entries)[i];
      // Unlabelled data (eval --data random) has no accuracy: the drop is then
      // what the codec loses of the top-1 agreement with the f32 model against
      // sending the same cut raw (fixed up below, once raw's row is known).
      const bool unlabelled = o.is_object() && o.contains("accuracy_drop") && o["accuracy_drop"].is_null();
      if (unlabelled) x.accuracy_drop = -100.0 * e.Number("agreement", 0, 1);
      else x.accuracy_drop = e.Number("accuracy_drop", -100, 100);
      unlabelled_rows.push_back(unlabelled);
      x.elements = 1;
      if (e.status().ok() && (!o.contains("shape") || !o["shape"].is_array() || o["shape"].empty()))
        e.Fail("shape", "must be a non-empty array of dimensions");
      for (size_t d = 0; e.status().ok() && d < o["shape"].size(); ++d) {
        const json_fields::Json& v = o["shape"][d];
        if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > (int64_t{1} << 31))
          e.Fail("shape", "must hold positive integers");
        else
          x.elements *= v.get<int64_t>();
      }
      if (x.elements > (int64_t{1} << 40)) e.Fail("shape", "is too large");
      r.Merge(e);
      t.entries.push_back(std::move(x));
    }
  }
  if (!r.status().ok()) return r.status();
  std::map<std::string, double> raw;  // cut -> -100 x raw's agreement
  for (size_t i = 0; i < t.entries.size(); ++i)
    if (unlabelled_rows[i] && t.entries[i].codec == "raw") raw[t.entries[i].after] = t.entries[i].accuracy_drop;
  for (size_t i = 0; i < t.entries.size(); ++i) {
    if (!unlabelled_rows[i]) continue;
    CodecTableEntry& x = t.entries[i];
    auto it = raw.find(x.after);
    if (it == raw.end()) return InvalidArgument(origin + ": cut '" + x.after + "' has no raw row to measure the codecs' agreement against");
    x.accuracy_drop -= it->second;  // 100 x (agreement raw - agreement codec)
  }
  return t;
}

Result<CodecTable> LoadCodecTable(const std::string& path) {
  ES_ASSIGN_OR_RETURN(std::string text, json_fields::ReadTextFile(path));
  return ParseCodecTable(text, path);
}

Result<CodecCosts> ParseCodecCosts(const std::string& text, const std::string& origin, const std::vector<DeviceProfile>& devices) {
  ES_ASSIGN_OR_RETURN(json_fields::Json j, json_fields::ParseObject(text, origin));
  if (!j.contains("devices") || !j["devices"].is_object()) return InvalidArgument(origin + ": needs a \"devices\" object");
  CodecCosts out;
  for (const auto& [name, dev] : j["devices"].items()) {
    const std::string at = origin + ": devices." + name;
    if (!dev.is_object() || !dev.contains("dtypes") || !dev["dtypes"].is_object())
      return InvalidArgument(at + " needs a \"dtypes\" object (f32/int8 -> codec -> costs)");
    double clock_hz = 0;
    for (const DeviceProfile& d : devices)
      if (d.name == name) clock_hz = d.clock_hz;
    for (const auto& [dtype, codecs] : dev["dtypes"].items()) {
      if (dtype != "f32" && dtype != "int8") return InvalidArgument(at + ".dtypes: '" + dtype + "' is neither f32 nor int8");
      if (!codecs.is_object()) return InvalidArgument(at + ".dtypes." + dtype + " must be an object");
      for (const auto& [codec, f] : codecs.items()) {
        const std::string cat = at + ".dtypes." + dtype + "." + codec;
        if (!f.is_object()) return InvalidArgument(cat + " must be an object");
        CodecCost c;
        for (auto [what, slot] : {std::pair<const char*, double*>{"encode", &c.encode_s_per_element}, {"decode", &c.decode_s_per_element}}) {
          const std::string sec = std::string(what) + "_s_per_element", cyc = std::string(what) + "_cycles_per_element";
          for (const std::string& key : {sec, cyc}) {
            if (!f.contains(key)) continue;
            if (!f[key].is_number() || !(f[key].get<double>() >= 0) || !std::isfinite(f[key].get<double>()))
              return InvalidArgument(cat + "." + key + " must be a finite number >= 0");
          }
          if (f.contains(sec)) *slot = f[sec].get<double>();
          else if (f.contains(cyc) && clock_hz > 0) *slot = f[cyc].get<double>() / clock_hz;
        }
        out.devices[name][dtype + ":" + codec] = c;
      }
    }
  }
  return out;
}

Result<CodecCosts> LoadCodecCosts(const std::string& path, const std::vector<DeviceProfile>& devices) {
  ES_ASSIGN_OR_RETURN(std::string text, json_fields::ReadTextFile(path));
  return ParseCodecCosts(text, path, devices);
}

Status AttachCodecs(const CodecTable& table, const CodecCosts& costs, double max_drop, Problem* p) {
  if (std::isnan(max_drop)) return InvalidArgument("--max-accuracy-drop is not a number");
  if (table.dtype != p->dtype)
    return InvalidArgument("the codec table is for the " + table.dtype + " model, the plan is " + p->dtype +
                           " (write the table with eval --dtype " + p->dtype + " --sweep)");
  int matched = 0;
  for (PlanLayer& l : p->layers) {
    l.codecs.clear();
    for (const CodecTableEntry& e : table.entries) {
      if (e.after != l.name || e.codec == "raw") continue;
      PlanCodec c;
      c.name = e.codec;
      c.bytes = static_cast<int64_t>(std::llround(e.cut_bytes));
      c.accuracy_drop = e.accuracy_drop;
      c.lossless = e.codec.rfind("raw+", 0) == 0;
      for (const PlanDevice& d : p->devices) {
        double enc = -1, dec = -1;
        auto dev = costs.devices.find(d.name);
        if (dev != costs.devices.end()) {
          auto f = dev->second.find(p->dtype + ":" + e.codec);
          if (f != dev->second.end()) {
            if (f->second.encode_s_per_element >= 0) enc = f->second.encode_s_per_element * static_cast<double>(e.elements);
            if (f->second.decode_s_per_element >= 0) dec = f->second.decode_s_per_element * static_cast<double>(e.elements);
          }
        }
        c.encode_s.push_back(enc);
        c.decode_s.push_back(dec);
      }
      l.codecs.push_back(std::move(c));
    }
    matched += !l.codecs.empty();
  }
  if (matched == 0)
    return InvalidArgument("the codec table (" + table.model + ") names none of this model's cuts (" +
                           (p->model.empty() ? std::string("problem file") : p->model) + "): is it the same model?");
  p->max_accuracy_drop = max_drop;
  return Status::Ok();
}

}  // namespace edgesplit
