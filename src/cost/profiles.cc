// Reading device and link profiles (JSON) with errors naming file and field.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "edgesplit/cost.h"
#include "edgesplit/suggest.h"
#include "internal/json_fields.h"
#include "internal/self_exe.h"

#ifndef EDGESPLIT_INSTALLED_PROFILES
#define EDGESPLIT_INSTALLED_PROFILES "share/edgesplit/profiles"
#endif
#ifndef EDGESPLIT_INSTALL_PREFIX
#define EDGESPLIT_INSTALL_PREFIX "/usr/local"
#endif
#ifndef EDGESPLIT_PROFILES_DIR
#define EDGESPLIT_PROFILES_DIR "profiles"
#endif

namespace edgesplit {
namespace {

using json_fields::Json;
using json_fields::ParseObject;
using json_fields::Reader;

void CheckSchema(Reader& r) { r.Integer("schema_version", 1, 1); }

Result<std::string> ResolveProfile(const std::string& dir, const std::string& kind, const std::string& name) {
  const bool is_path = name.find('/') != std::string::npos || name.ends_with(".json");
  const std::string path = is_path ? name : dir + "/" + kind + "/" + name + ".json";
  if (std::filesystem::is_regular_file(path)) return path;
  std::string known;
  for (const std::string& n : ListProfiles(dir, kind)) known += (known.empty() ? "" : ", ") + n;
  return NotFound("no " + std::string(kind == "devices" ? "device" : "link") + " profile '" + name + "' (looked for " +
                  path + "); available: " + (known.empty() ? "none" : known) + "." + DidYouMean(name, ListProfiles(dir, kind)));
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
  if (j.contains("security")) {
    Reader sec = r.Object("security");
    d.has_security = true;
    d.x25519_s = sec.Number("x25519_s", 0, 60);
    d.ed25519_sign_s = sec.Number("ed25519_sign_s", 0, 60);
    d.ed25519_verify_s = sec.Number("ed25519_verify_s", 0, 60);
    d.handshake_s = sec.Number("handshake_s", 0, 600);
    d.aead_cycles_per_byte = sec.Number("aead_cycles_per_byte", 0, 1e6);
    d.aead_cycles_per_message = sec.Number("aead_cycles_per_message", 0, 1e9);
    r.Merge(sec);
  }
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
  // An installed tree (cmake --install, the .deb) keeps the profiles beside the
  // binary's prefix; a build tree finds none there and uses the source tree's.
  std::error_code ec;
  if (const Result<std::string> exe = internal::SelfExecutablePath(); exe.ok()) {
    const std::filesystem::path beside = std::filesystem::path(*exe).parent_path().parent_path() / EDGESPLIT_INSTALLED_PROFILES;
    if (std::filesystem::is_directory(beside / "devices", ec)) return beside.string();
  }
  if (std::filesystem::is_directory(std::filesystem::path(EDGESPLIT_INSTALL_PREFIX) / EDGESPLIT_INSTALLED_PROFILES / "devices", ec))
    return (std::filesystem::path(EDGESPLIT_INSTALL_PREFIX) / EDGESPLIT_INSTALLED_PROFILES).string();
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
  ES_ASSIGN_OR_RETURN(std::string text, json_fields::ReadTextFile(path));
  return ParseDeviceProfile(text, path);
}

Result<LinkProfile> LoadLinkProfile(const std::string& dir, const std::string& name) {
  ES_ASSIGN_OR_RETURN(std::string path, ResolveProfile(dir, "links", name));
  ES_ASSIGN_OR_RETURN(std::string text, json_fields::ReadTextFile(path));
  return ParseLinkProfile(text, path);
}

}  // namespace edgesplit
