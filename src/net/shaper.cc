// The link shaper: when each frame of a sender may leave, and which ones the
// emulated medium loses. Durations follow the planner's T(b) (docs/runtime.md)
// so that measured transfers can be compared with predicted ones.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "internal/json_fields.h"
#include "edgesplit/net.h"
#include "sockets.h"

namespace edgesplit::net {
namespace {

constexpr Clock::duration kCatchUp = std::chrono::milliseconds(20);

Clock::duration Scaled(double seconds, double scale) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds * scale));
}

}  // namespace

ShaperConfig ShaperForLink(const LinkProfile& link, double time_scale, double loss, uint64_t seed) {
  ShaperConfig c;
  c.enabled = true;
  c.per_message_s = link.per_message_s;
  c.per_frame_s = link.per_frame_s;
  c.bytes_per_s = link.bytes_per_s;
  c.loss = loss < 0 ? link.loss : loss;
  c.time_scale = time_scale;
  c.seed = seed;
  return c;
}

Result<LinkExtras> LoadLinkExtras(const std::string& profiles_dir, const std::string& link_name) {
  const bool is_path = link_name.find('/') != std::string::npos ||
                       (link_name.size() > 5 && link_name.substr(link_name.size() - 5) == ".json");
  const std::string path = is_path ? link_name : profiles_dir + "/links/" + link_name + ".json";
  Result<std::string> text = json_fields::ReadTextFile(path);  // a regular file, size-capped
  if (!text.ok()) return NotFound("link profile '" + path + "' cannot be opened: " + text.status().message());
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument(path + ": not a JSON object");
  LinkExtras e;
  auto number = [&](const char* key, double* out) -> Status {
    if (!j.contains(key)) return Status::Ok();
    if (!j[key].is_number() || j[key].get<double>() < 0) return InvalidArgument(path + ": '" + key + "' must be a number >= 0");
    *out = j[key].get<double>();
    return Status::Ok();
  };
  double mtu = 0, writes = 0;
  ES_RETURN_IF_ERROR(number("att_mtu", &mtu));
  ES_RETURN_IF_ERROR(number("connection_interval_s", &e.connection_interval_s));
  ES_RETURN_IF_ERROR(number("writes_per_connection_interval", &writes));
  if (mtu > 65535 || writes > 1e6) return InvalidArgument(path + ": att_mtu or writes_per_connection_interval out of range");
  e.att_mtu = static_cast<int>(mtu);
  e.writes_per_connection_interval = static_cast<int>(writes);
  return e;
}

void ApplyLinkExtras(const LinkExtras& extras, ShaperConfig* config) {
  if (extras.writes_per_connection_interval > 0 && extras.connection_interval_s > 0) {
    config->frames_per_interval = extras.writes_per_connection_interval;
    config->interval_s = extras.connection_interval_s;
  }
}

LinkShaper::LinkShaper(const ShaperConfig& config) : config_(config), rng_(config.seed) {}

void LinkShaper::BeginMessage(Clock::time_point now) {
  if (busy_until_ < now) busy_until_ = now;
  message_pending_ = true;
}

Clock::time_point LinkShaper::Release(Clock::time_point now, int64_t bytes) {
  if (!config_.enabled) return now;
  const double s = config_.time_scale;
  // Frames of a burst follow each other on the medium's own clock: a sender
  // that wakes a little late (a loaded host) must not push every later frame
  // back too. Only after a real pause (longer than kCatchUp) does it restart from now.
  Clock::time_point start = now > busy_until_ + kCatchUp ? now : busy_until_;
  if (message_pending_) {
    start += Scaled(config_.per_message_s, s);
    message_pending_ = false;
  }
  if (config_.frames_per_interval > 0) {
    // BLE: writes ride connection events; an event carries at most N writes,
    // then the next one waits for the following event.
    const Clock::duration interval = Scaled(config_.interval_s, s);
    if (event_start_ == Clock::time_point{} || start >= event_start_ + interval) {
      event_start_ = start;
      frames_in_event_ = 0;
    } else if (frames_in_event_ >= config_.frames_per_interval) {
      event_start_ += interval;
      start = std::max(start, event_start_);
      frames_in_event_ = 0;
    }
    ++frames_in_event_;
  }
  double airtime = config_.per_frame_s;
  if (config_.bytes_per_s > 0) airtime += static_cast<double>(bytes) / config_.bytes_per_s;
  busy_until_ = start + Scaled(airtime, s);
  return busy_until_;
}

bool LinkShaper::Drop() {
  if (!config_.enabled || config_.loss <= 0) return false;
  return uniform_(rng_) < config_.loss;
}

double LinkShaper::MessageSeconds(int64_t bytes, int64_t frames) const {
  double t = config_.per_message_s + static_cast<double>(frames) * config_.per_frame_s;
  if (config_.bytes_per_s > 0) t += static_cast<double>(bytes) / config_.bytes_per_s;
  return t;
}

}  // namespace edgesplit::net
