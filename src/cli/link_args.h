// The link options `serve`, `loadgen` and `device` share: one spelling each,
// and one place that turns them into the runtime's LinkSettings.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "edgesplit/runtime.h"

namespace edgesplit::cli {

struct LinkArgs {
  std::string link = "udp", profiles, shape = "auto";
  double time_scale = 1;
  double loss = -1;  // < 0: the link profile's
};

inline void AddLinkOptions(CLI::App& app, LinkArgs* a) {
  app.add_option("--link", a->link, "Link profile: udp, tcp, espnow, espnow-v2, ble, ble-2m")->capture_default_str();
  app.add_option("--shape", a->shape, "auto, on or off: pace/lose frames as the link profile says")->capture_default_str();
  app.add_option("--time-scale", a->time_scale, "Multiply every emulated duration")->capture_default_str();
  app.add_option("--loss", a->loss, "Frame loss probability on a shaped link (default: the link profile's)");
  app.add_option("--profiles", a->profiles, "Profiles folder");
}

// `emulating`: a device profile is emulated (--shape auto then shapes udp/tcp too).
inline Result<runtime::LinkSettings> ToLinkSettings(const LinkArgs& a, bool emulating) {
  runtime::LinkSettings s;
  s.link = a.link;
  s.profiles_dir = a.profiles;
  ES_ASSIGN_OR_RETURN(s.shaped, runtime::DecideShaping(a.shape, a.link, a.profiles, emulating));
  s.time_scale = a.time_scale;
  s.loss = a.loss;
  return s;
}

}  // namespace edgesplit::cli
