// Helpers shared by the live dynamic run's head, server and client.
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/wire.h"

namespace edgesplit::runtime::detail {

// One JSON event line, flushed (what the client's NodeProcess reads).
inline void EmitEvent(std::FILE* events, const nlohmann::ordered_json& j) {
  if (!events) return;
  const std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), events);
  std::fflush(events);
}

// The link's channel with its shaper paced at `rate` bytes/s (the retransmission
// timer follows the frame time, as ResolveLink sets it for the profile's rate).
inline net::ChannelOptions ChannelAtRate(const ResolvedLink& link, double rate, double time_scale) {
  net::ChannelOptions c = link.channel;
  c.shaper.bytes_per_s = rate;
  c.rto_s = std::max(0.02, 8 * (link.profile.per_frame_s + static_cast<double>(c.datagram_bytes) / rate) * time_scale);
  return c;
}

// The same channel, unpaced and lossless: the sensor's own bus to its
// application, and the emulation's control messages.
inline net::ChannelOptions Unshaped(const ResolvedLink& link) {
  net::ChannelOptions c = link.channel;
  c.shaper.enabled = false;
  c.shaper.loss = 0;
  return c;
}

// A kPing/kPong message whose payload is a control block padded to `payload_bytes`.
inline Result<size_t> EncodeControlMessage(wire::MessageType type, uint32_t id, const DynamicControl& control,
                                           size_t payload_bytes, std::vector<uint8_t>* out) {
  std::vector<uint8_t> payload(std::max(payload_bytes, kDynamicControlBytes), 0);
  ES_RETURN_IF_ERROR(EncodeDynamicControl(control, payload));
  wire::MessageHeader h;
  h.type = type;
  h.request_id = id;
  h.dtype = DType::kUInt8;
  out->resize(wire::EncodedMessageBytes(0, payload.size()));
  return wire::EncodeMessage(h, payload, *out);
}

// What both nodes load at start: the candidates, the shaped link, the device
// they emulate, the execution graphs, and the conditions they start in.
struct LiveNode {
  std::optional<SplitPolicy> policy;
  ResolvedLink link;
  DeviceProfile device;
  std::shared_ptr<const Graph> exec_graph;
  double rate = 0, load = 1;
  // The segment first_cut..last_cut of the model (cut names); errors name the segment.
  Result<std::unique_ptr<SegmentRunner>> Segment(const LivePolicySpec& spec, const std::string& first_cut,
                                                 const std::string& last_cut) const;
};
Result<LiveNode> LoadLiveNode(const DynamicNodeOptions& options, const std::string& device);

// SIGTERM/SIGINT end a node's loop: install once, then poll.
void InstallStopSignals();
bool StopRequested();

// A node's whole life: check the scale, Init (loads, binds, prints
// "listening"), then Loop until stopped.
template <class Node>
Status RunLiveNode(const DynamicNodeOptions& options, std::FILE* events) {
  if (!(options.link.time_scale > 0)) return InvalidArgument("--time-scale must be > 0");
  Node node(options, events);
  ES_RETURN_IF_ERROR(node.Init());
  InstallStopSignals();
  return node.Loop();
}

// Emulated seconds -> a wall-clock duration at `scale`.
inline net::Clock::duration Scaled(double seconds, double scale) {
  return std::chrono::duration_cast<net::Clock::duration>(std::chrono::duration<double>(seconds * scale));
}

}  // namespace edgesplit::runtime::detail
