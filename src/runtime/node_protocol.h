// A node's protocol with the process that started it, in one place: the
// event line a node prints per request (node.cc writes it, the chain reads it)
// and the hop it reports. The command line (NodeOptions to and from flags) is
// public: edgesplit/runtime.h, NodeCommandLine / NodeOptionsFromFlags.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "edgesplit/runtime.h"

namespace edgesplit::runtime {

// {"event": "request", "request_id", "cold", "device", "compute_s",
// "predicted_compute_s", "host_compute_s", "overrun_s", "setup_s", "hop": {...}}
// or, when `error` is set, {"event": "error", "request_id", "message"}.
struct NodeRequestEvent {
  uint32_t request_id = 0;
  bool cold = false;
  NodeRecord node;
  double setup_s = 0;
  std::optional<HopRecord> hop;  // none: a sink (nothing forwarded)
  std::string error;             // the request failed here
};
nlohmann::ordered_json NodeRequestEventJson(const NodeRequestEvent& event);
// Reads what NodeRequestEventJson wrote; a field of the wrong type reads as
// its default (a line is never a reason to abort the client).
NodeRequestEvent ParseNodeRequestEvent(const nlohmann::json& line);

}  // namespace edgesplit::runtime
