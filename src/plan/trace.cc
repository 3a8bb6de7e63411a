// Channel/load traces: the CSV format the simulator reads and the seeded
// generators (constant, step, random walk, Gilbert-Elliott) it can make.
#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "internal/json_fields.h"
#include "edgesplit/dynamic.h"

namespace edgesplit {
namespace {

constexpr const char* kColumns[3] = {"time_s", "rate_bytes_per_s", "server_load"};
constexpr double kMaxValue = 1e15;
constexpr size_t kMaxRows = 10000000;

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> SplitCommas(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    fields.push_back(Trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return fields;
}

// A whole-field decimal number (strtod on the trimmed copy, which is NUL-terminated).
bool ParseNumber(const std::string& field, double* out) {
  if (field.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(field.c_str(), &end);
  if (end != field.c_str() + field.size() || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// SplitMix64: small, seedable, and the same everywhere (unlike <random>'s distributions).
class TraceRng {
 public:
  // The seed is mixed first: consecutive seeds would otherwise give the same
  // stream shifted by one draw.
  explicit TraceRng(uint64_t seed) : state_(Mix(seed ^ 0x632BE59BD9B4E019ull)) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ull); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {  // Box-Muller
    const double u = 1 - Uniform(), v = Uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  double LogUniform(double lo, double hi) { return lo * std::pow(hi / lo, Uniform()); }
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int Dwell(int min_dwell) { return min_dwell + static_cast<int>(Next() % static_cast<uint64_t>(min_dwell + 1)); }

 private:
  uint64_t state_;
};

double Reflect(double v, double lo, double hi) {
  for (int i = 0; i < 8 && (v < lo || v > hi); ++i) v = v < lo ? 2 * lo - v : 2 * hi - v;
  return std::clamp(v, lo, hi);
}

}  // namespace

Result<std::vector<TraceRow>> ParseTraceCsv(const std::string& text, const std::string& origin) {
  std::vector<TraceRow> rows;
  bool header_seen = false;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = Trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = origin + ":" + std::to_string(line_no);
    const std::vector<std::string> fields = SplitCommas(line);
    if (!header_seen) {
      if (fields.size() < 3 || fields[0] != kColumns[0] || fields[1] != kColumns[1] || fields[2] != kColumns[2])
        return InvalidArgument(where + ": the header must start with time_s,rate_bytes_per_s,server_load");
      header_seen = true;
      continue;
    }
    if (fields.size() < 3) return InvalidArgument(where + ": expected 3 columns, found " + std::to_string(fields.size()));
    double v[3];
    for (int c = 0; c < 3; ++c)
      if (!ParseNumber(fields[c], &v[c]) || std::fabs(v[c]) > kMaxValue)
        return InvalidArgument(where + ": column " + kColumns[c] + " is not a finite number: '" + fields[c].substr(0, 40) + "'");
    if (v[0] < 0) return InvalidArgument(where + ": time_s must be >= 0");
    if (!rows.empty() && v[0] < rows.back().time_s) return InvalidArgument(where + ": time_s goes backwards");
    if (v[1] != 0 && !(v[1] >= 1)) return InvalidArgument(where + ": rate_bytes_per_s must be 0 (link down) or >= 1");
    if (!(v[2] > 0)) return InvalidArgument(where + ": server_load must be > 0 (1 = idle)");
    if (rows.size() >= kMaxRows) return OutOfRange(where + ": more than " + std::to_string(kMaxRows) + " rows");
    rows.push_back({v[0], v[1], v[2]});
  }
  if (!header_seen) return InvalidArgument(origin + ": no header (time_s,rate_bytes_per_s,server_load)");
  if (rows.empty()) return InvalidArgument(origin + ": the trace has no rows");
  return rows;
}

Result<std::vector<TraceRow>> LoadTraceCsv(const std::string& path) {
  ES_ASSIGN_OR_RETURN(const std::string text, json_fields::ReadTextFile(path));  // a regular file, size-capped
  return ParseTraceCsv(text, path);
}

std::string TraceToCsv(const std::vector<TraceRow>& rows) {
  std::string s = "time_s,rate_bytes_per_s,server_load\n";
  // Shortest digits that read back as the same double: a written trace
  // reloads bit for bit (a fixed precision turned tiny loads into 0).
  char buf[32];
  for (const TraceRow& r : rows) {
    const double values[3] = {r.time_s, r.rate_bytes_per_s, r.server_load};
    for (int c = 0; c < 3; ++c) {
      const auto end = std::to_chars(buf, buf + sizeof buf, values[c]).ptr;
      s.append(buf, end);
      s += c < 2 ? ',' : '\n';
    }
  }
  return s;
}

Result<TraceGenerator> ParseTraceGenerator(const std::string& name) {
  if (name == "constant") return TraceGenerator::kConstant;
  if (name == "step") return TraceGenerator::kStep;
  if (name == "random-walk") return TraceGenerator::kRandomWalk;
  if (name == "gilbert-elliott") return TraceGenerator::kGilbertElliott;
  return InvalidArgument("unknown trace generator '" + name + "' (expected constant, step, random-walk or gilbert-elliott)");
}

const char* TraceGeneratorName(TraceGenerator g) {
  switch (g) {
    case TraceGenerator::kConstant: return "constant";
    case TraceGenerator::kStep: return "step";
    case TraceGenerator::kRandomWalk: return "random-walk";
    case TraceGenerator::kGilbertElliott: return "gilbert-elliott";
  }
  return "?";
}

Result<std::vector<TraceRow>> GenerateTrace(TraceGenerator generator, const TraceOptions& o) {
  if (o.steps < 1 || o.steps > static_cast<int>(kMaxRows)) return InvalidArgument("--steps must be in [1, 10000000]");
  if (!(o.min_rate_bytes_per_s > 0) || !(o.max_rate_bytes_per_s >= o.min_rate_bytes_per_s) || !std::isfinite(o.max_rate_bytes_per_s))
    return InvalidArgument("the rate range must satisfy 0 < min <= max");
  if (!(o.max_load >= 1) || !std::isfinite(o.max_load)) return InvalidArgument("max_load must be >= 1");
  if (o.min_dwell < 1 || o.min_dwell > 1000000) return InvalidArgument("min_dwell must be in [1, 1000000]");
  if (!(o.interval_s > 0)) return InvalidArgument("interval_s must be > 0");
  TraceRng rng(o.seed);
  const double lo = std::log(o.min_rate_bytes_per_s), hi = std::log(o.max_rate_bytes_per_s);
  const double third = (hi - lo) / 3;
  std::vector<TraceRow> rows;
  rows.reserve(static_cast<size_t>(o.steps));
  double log_rate = lo + (hi - lo) * rng.Uniform();
  double log_load = std::log(o.max_load) * rng.Uniform();
  bool good = true;  // step: high level; Gilbert-Elliott: the good state
  int left = 0;      // requests left in the current state
  for (int i = 0; i < o.steps; ++i) {
    if (left == 0 && generator != TraceGenerator::kConstant) {
      switch (generator) {
        case TraceGenerator::kStep:  // alternate between the upper and the lower third of the log range
          good = i == 0 ? true : !good;
          log_rate = good ? hi - third * rng.Uniform() : lo + third * rng.Uniform();
          log_load = std::log(o.max_load) * rng.Uniform();
          left = rng.Dwell(o.min_dwell);
          break;
        case TraceGenerator::kRandomWalk:  // a log-normal step per state, reflected at the bounds
          if (i > 0) {
            log_rate = Reflect(log_rate + 0.35 * (hi - lo) * rng.Normal(), lo, hi);
            log_load = Reflect(log_load + 0.35 * std::log(o.max_load) * rng.Normal(), 0, std::log(o.max_load));
          }
          left = rng.Dwell(o.min_dwell);
          break;
        case TraceGenerator::kGilbertElliott: {
          // Two states; after the minimum dwell, leave good with p = 0.05 and bad with p = 0.1 per request.
          if (i > 0) good = !good;
          log_rate = good ? hi - third * rng.Uniform() : lo + third * rng.Uniform();
          log_load = std::log(o.max_load) * rng.Uniform();
          const double p_leave = good ? 0.05 : 0.1;
          left = o.min_dwell;
          while (rng.Uniform() >= p_leave && left < 50 * o.min_dwell) ++left;
          break;
        }
        case TraceGenerator::kConstant: break;
      }
    }
    if (left > 0) --left;
    rows.push_back({i * o.interval_s, std::exp(log_rate), std::exp(log_load)});
  }
  return rows;
}

}  // namespace edgesplit
