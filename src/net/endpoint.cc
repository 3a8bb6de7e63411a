// Endpoints, deadlines, transport names and frame payloads.
#include <charconv>
#include <cmath>
#include <thread>

#include "edgesplit/net.h"

namespace edgesplit::net {

Deadline DeadlineIn(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}
double SecondsUntil(Deadline deadline) { return std::chrono::duration<double>(deadline - Clock::now()).count(); }
double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void SleepUntil(Clock::time_point t) {
  if (t > Clock::now()) std::this_thread::sleep_until(t);
}

std::string Endpoint::ToString() const { return host + ":" + std::to_string(port); }

Result<Endpoint> ParseEndpoint(const std::string& text) {
  Endpoint e;
  std::string port_text = text;
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    e.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (e.host.empty()) e.host = "127.0.0.1";
  }
  unsigned value = 0;
  const char* begin = port_text.data();
  const char* end = begin + port_text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (port_text.empty() || ec != std::errc() || ptr != end || value > 65535)
    return InvalidArgument("address '" + text + "' is not HOST:PORT with a port in 0..65535");
  e.port = static_cast<uint16_t>(value);
  return e;
}

const char* TransportKindName(TransportKind kind) {
  switch (kind) {
    case TransportKind::kUdp: return "udp";
    case TransportKind::kTcp: return "tcp";
    case TransportKind::kEspNow: return "espnow";
    case TransportKind::kBle: return "ble";
  }
  return "?";
}

Result<TransportKind> ParseTransportKind(const std::string& name) {
  if (name == "udp") return TransportKind::kUdp;
  if (name == "tcp") return TransportKind::kTcp;
  if (name == "espnow") return TransportKind::kEspNow;
  if (name == "ble") return TransportKind::kBle;
  return InvalidArgument("unknown transport '" + name + "' (udp, tcp, espnow, ble)");
}

int64_t FramePayloadBytes(const LinkProfile& link, TransportKind kind) {
  // udp: the sketches' 1460 B, not the profile's 1472 B maximum. The radios keep
  // their profile's limit (espnow 250/1470, ble att_mtu - 3 = payload_bytes).
  if (kind == TransportKind::kUdp) return kUdpPayloadBytes;
  return link.payload_bytes > 0 ? link.payload_bytes : kUdpPayloadBytes;
}

}  // namespace edgesplit::net
