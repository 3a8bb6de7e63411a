// The live dynamic run's two formats of outside bytes: the control block
// carried in kPing / kPong payloads and the rate/load schedule CSV (fuzzed:
// fuzz/dynamic_control_fuzz.cc; this file depends on nothing but the header).
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edgesplit/io.h"
#include "edgesplit/dynamic_runtime.h"

namespace edgesplit::runtime {
namespace {

constexpr uint8_t kControlMagic[4] = {'E', 'S', 'D', 'C'};
constexpr uint8_t kControlVersion = 2;  // 1 carried a reply-to address (gone: replies go to the sender)
constexpr uint8_t kKnownFlags = kControlSetRate | kControlSetLoad | kControlProbe;
constexpr double kMaxLoad = 1e6;

void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
void PutF64(uint8_t* p, double d) {
  uint64_t v;
  std::memcpy(&v, &d, sizeof v);
  PutU64(p, v);
}
double GetF64(const uint8_t* p) {
  const uint64_t v = GetU64(p);
  double d;
  std::memcpy(&d, &v, sizeof d);
  return d;
}

}  // namespace

Status EncodeDynamicControl(const DynamicControl& c, std::span<uint8_t> out) {
  if (out.size() < kDynamicControlBytes) return InvalidArgument("control block needs " + std::to_string(kDynamicControlBytes) + " bytes");
  if (c.flags & ~kKnownFlags) return InvalidArgument("unknown control flags");
  uint8_t* p = out.data();
  std::memset(p, 0, kDynamicControlBytes);
  std::memcpy(p, kControlMagic, 4);
  p[4] = kControlVersion;
  p[5] = c.flags;
  PutF64(p + 8, c.rate_bytes_per_s);
  PutF64(p + 16, c.load);
  return Status::Ok();
}

Result<DynamicControl> ParseDynamicControl(std::span<const uint8_t> bytes) {
  if (bytes.size() < kDynamicControlBytes)
    return InvalidArgument("control block of " + std::to_string(bytes.size()) + " bytes is shorter than " +
                           std::to_string(kDynamicControlBytes));
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kControlMagic, 4) != 0) return InvalidArgument("control block: bad magic (not 'ESDC')");
  if (p[4] != kControlVersion) return InvalidArgument("control block: version " + std::to_string(p[4]) + " (expected " + std::to_string(kControlVersion) + ")");
  DynamicControl c;
  c.flags = p[5];
  if (c.flags & ~kKnownFlags) return InvalidArgument("control block: unknown flags 0x" + std::to_string(c.flags));
  for (int i : {6, 7, 24, 25, 26, 27, 28, 29, 30, 31})
    if (p[i] != 0) return InvalidArgument("control block: reserved bytes are not zero");
  c.rate_bytes_per_s = GetF64(p + 8);
  c.load = GetF64(p + 16);
  if ((c.flags & kControlSetRate) && !(std::isfinite(c.rate_bytes_per_s) && c.rate_bytes_per_s > 0))
    return InvalidArgument("control block: rate_bytes_per_s must be finite and > 0");
  if ((c.flags & kControlSetLoad) && !(std::isfinite(c.load) && c.load > 0 && c.load <= kMaxLoad))
    return InvalidArgument("control block: load must be in (0, 1e6]");
  return c;
}

// ---- Schedule ----------------------------------------------------------------------

namespace {

std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::stringstream ss(line);
  while (std::getline(ss, field, ',')) {
    const size_t b = field.find_first_not_of(" \t\r");
    const size_t e = field.find_last_not_of(" \t\r");
    out.push_back(b == std::string::npos ? "" : field.substr(b, e - b + 1));
  }
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

Result<double> ParseNumber(const std::string& text, const std::string& where) {
  if (text.empty()) return InvalidArgument(where + ": empty");
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v))
    return InvalidArgument(where + ": '" + text + "' is not a finite number");
  return v;
}

}  // namespace

Result<std::vector<ScheduleRow>> ParseScheduleCsv(const std::string& text, const std::string& origin) {
  std::vector<ScheduleRow> rows;
  std::stringstream in(text);
  std::string line;
  int line_no = 0;
  bool header = false, has_server = false;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string at = origin + ":" + std::to_string(line_no);
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::vector<std::string> f = SplitFields(line);
    if (!header) {
      if (f.size() < 3 || f[0] != "request" || f[1] != "rate_bytes_per_s" || f[2] != "server_load" ||
          (f.size() >= 4 && f[3] != "server") || f.size() > 4)
        return InvalidArgument(at + ": the header must be 'request,rate_bytes_per_s,server_load' (optionally ',server')");
      header = true;
      has_server = f.size() == 4;
      continue;
    }
    if (f.size() < 3 || f.size() > (has_server ? 4u : 3u))
      return InvalidArgument(at + ": expected " + std::string(has_server ? "3 or 4" : "3") + " columns, found " + std::to_string(f.size()));
    ScheduleRow r;
    ES_ASSIGN_OR_RETURN(double req, ParseNumber(f[0], at + " column 1 (request)"));
    if (req != std::floor(req) || req < 1 || req > 1e9) return InvalidArgument(at + " column 1 (request): must be an integer >= 1");
    r.request = static_cast<int>(req);
    ES_ASSIGN_OR_RETURN(r.rate_bytes_per_s, ParseNumber(f[1], at + " column 2 (rate_bytes_per_s)"));
    if (!(r.rate_bytes_per_s > 0)) return InvalidArgument(at + " column 2 (rate_bytes_per_s): must be > 0 (use server=down for an outage)");
    ES_ASSIGN_OR_RETURN(r.server_load, ParseNumber(f[2], at + " column 3 (server_load)"));
    if (!(r.server_load > 0) || r.server_load > kMaxLoad) return InvalidArgument(at + " column 3 (server_load): must be in (0, 1e6]");
    if (f.size() == 4) {
      if (f[3] == "up") r.server = ServerState::kUp;
      else if (f[3] == "down") r.server = ServerState::kDown;
      else if (!f[3].empty()) return InvalidArgument(at + " column 4 (server): '" + f[3] + "' is not up, down or empty");
    }
    if (!rows.empty() && r.request <= rows.back().request)
      return InvalidArgument(at + " column 1 (request): " + std::to_string(r.request) + " does not increase (previous " +
                             std::to_string(rows.back().request) + ")");
    rows.push_back(r);
  }
  if (!header) return InvalidArgument(origin + ": empty schedule (no header 'request,rate_bytes_per_s,server_load')");
  return rows;
}

Result<std::vector<ScheduleRow>> LoadScheduleCsv(const std::string& path) {
  ES_ASSIGN_OR_RETURN(const std::string text, ReadRegularFile(path, 64 << 20, "schedule file"));
  return ParseScheduleCsv(text, path);
}

}  // namespace edgesplit::runtime
