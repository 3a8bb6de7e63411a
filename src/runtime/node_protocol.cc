// The node's event line and command line, each written and read in one place.
#include "node_protocol.h"

#include <charconv>

namespace edgesplit::runtime {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
T Get(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const nlohmann::json& v = j[key];
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean() ? v.get<bool>() : fallback;
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string() ? v.get<std::string>() : fallback;
  else return v.is_number() ? v.get<T>() : fallback;
}

// The shortest text that reads back as the same double.
std::string Number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

Json NodeRequestEventJson(const NodeRequestEvent& e) {
  if (!e.error.empty()) return Json{{"event", "error"}, {"request_id", e.request_id}, {"message", e.error}};
  Json j{{"event", "request"},
         {"request_id", e.request_id},
         {"cold", e.cold},
         {"device", e.node.device},
         {"compute_s", e.node.compute_s},
         {"predicted_compute_s", e.node.predicted_compute_s},
         {"host_compute_s", e.node.host_compute_s},
         {"overrun_s", e.node.overrun_s},
         {"setup_s", e.setup_s}};
  if (e.hop)
    j["hop"] = Json{{"bytes", e.hop->bytes},
                    {"tensor_bytes", e.hop->tensor_bytes},
                    {"fragments", e.hop->fragments},
                    {"retransmissions", e.hop->retransmissions},
                    {"dropped", e.hop->dropped},
                    {"serialize_s", e.hop->serialize_s},
                    {"transfer_s", e.hop->transfer_s},
                    {"predicted_transfer_s", e.hop->predicted_transfer_s},
                    {"link", e.hop->link}};
  return j;
}

NodeRequestEvent ParseNodeRequestEvent(const nlohmann::json& j) {
  NodeRequestEvent e;
  e.request_id = Get<uint32_t>(j, "request_id", 0);
  if (Get<std::string>(j, "event", "") == "error") {
    e.error = Get<std::string>(j, "message", "node error");
    if (e.error.empty()) e.error = "node error";
    return e;
  }
  e.cold = Get<bool>(j, "cold", false);
  e.node.device = Get<std::string>(j, "device", "host");
  e.node.compute_s = Get<double>(j, "compute_s", 0.0);
  e.node.predicted_compute_s = Get<double>(j, "predicted_compute_s", 0.0);
  e.node.host_compute_s = Get<double>(j, "host_compute_s", 0.0);
  e.node.overrun_s = Get<double>(j, "overrun_s", 0.0);
  e.setup_s = Get<double>(j, "setup_s", 0.0);
  if (j.is_object() && j.contains("hop") && j["hop"].is_object()) {
    const nlohmann::json& h = j["hop"];
    HopRecord hop;
    hop.bytes = Get<int64_t>(h, "bytes", 0);
    hop.fragments = Get<int64_t>(h, "fragments", 0);
    hop.retransmissions = Get<int64_t>(h, "retransmissions", 0);
    hop.tensor_bytes = Get<int64_t>(h, "tensor_bytes", 0);
    hop.dropped = Get<int64_t>(h, "dropped", 0);
    hop.serialize_s = Get<double>(h, "serialize_s", 0.0);
    hop.transfer_s = Get<double>(h, "transfer_s", 0.0);
    hop.predicted_transfer_s = Get<double>(h, "predicted_transfer_s", 0.0);
    hop.link = Get<std::string>(h, "link", "");
    e.hop = hop;
  }
  return e;
}

Result<NodeOptions> NodeOptionsFromFlags(const NodeFlags& a) {
  NodeOptions o;
  if (a.model.empty() != a.segment.empty())
    return InvalidArgument("give both --model and --segment, or neither (an empty node waits for a delivery)");
  if (!a.segment.empty()) {
    const size_t colon = a.segment.find(':');
    if (colon == std::string::npos) return InvalidArgument("--segment must be CUT:CUT (e.g. input:block_16_project_BN)");
    o.segment = {a.model, a.segment.substr(0, colon), a.segment.substr(colon + 1), a.dtype};
  }
  o.verify_key = a.verify_key;
  o.state_file = a.state;
  o.key = a.key;
  o.allow = a.allow;
  o.server_key = a.server_key;
  o.insecure = a.insecure;
  ES_ASSIGN_OR_RETURN(o.listen, net::ParseEndpoint(a.listen));
  if (!a.next.empty()) {
    ES_ASSIGN_OR_RETURN(o.next, net::ParseEndpoint(a.next));
  }
  o.link.link = a.link;
  o.link.profiles_dir = a.profiles;
  ES_ASSIGN_OR_RETURN(o.link.shaped, DecideShaping(a.shape, a.link, a.profiles, !a.emulate.empty()));
  o.link.time_scale = a.time_scale;
  o.link.loss = a.loss;
  o.link.seed = a.seed;
  if (!a.in_link.empty()) {  // receives on its predecessor's link (only the transport and framing matter here)
    o.in_link = o.link;
    o.in_link->link = a.in_link;
    o.in_link->shaped = false;
    o.in_link->loss = -1;
  }
  o.emulate_device = a.emulate;
  o.request_timeout_s = a.request_timeout;
  o.max_requests = a.max_requests;
  o.queue_limit = a.queue_limit;
  ES_RETURN_IF_ERROR(CheckNodeOptions(o));
  return o;
}

Status CheckNodeOptions(const NodeOptions& o) {
  const bool any = !o.key.empty() || !o.allow.empty() || !o.server_key.empty();
  if (o.insecure && any) return InvalidArgument("--insecure and --key/--allow/--server-key exclude each other");
  if (!o.insecure && (o.key.empty() || o.allow.empty()))
    return InvalidArgument("node is secure by default: give --key NAME --allow FILE (and --server-key NEXT.pub with --next) "
                           "(docs/security.md), or --insecure for plain frames");
  if (!o.insecure && o.next && o.server_key.empty())
    return InvalidArgument("--next needs --server-key NEXT.pub: the public key of the node (or client) it forwards to");
  if (o.queue_limit < 1) return InvalidArgument("--queue-limit must be at least 1");
  if (o.segment.model.empty() && o.verify_key.empty())
    return InvalidArgument("an empty node waits for a signed delivery: give --verify-key KEY.pub (or --model and --segment)");
  return Status::Ok();
}

std::vector<std::string> NodeCommandLine(const NodeOptions& o) {
  std::vector<std::string> a = {"node", "--listen", o.listen.ToString(), "--link", o.link.link,
                                "--shape", o.link.shaped ? "on" : "off", "--time-scale", Number(o.link.time_scale),
                                "--loss", Number(o.link.loss), "--seed", std::to_string(o.link.seed),
                                "--request-timeout", Number(o.request_timeout_s)};
  if (!o.segment.model.empty())
    a.insert(a.end(), {"--model", o.segment.model, "--segment", o.segment.first_cut + ":" + o.segment.last_cut,
                       "--dtype", o.segment.dtype});
  if (o.next) a.insert(a.end(), {"--next", o.next->ToString()});
  if (o.in_link) a.insert(a.end(), {"--in-link", o.in_link->link});
  if (!o.link.profiles_dir.empty()) a.insert(a.end(), {"--profiles", o.link.profiles_dir});
  if (!o.emulate_device.empty()) a.insert(a.end(), {"--emulate", o.emulate_device});
  if (!o.verify_key.empty()) a.insert(a.end(), {"--verify-key", o.verify_key});
  if (!o.key.empty()) a.insert(a.end(), {"--key", o.key});
  if (!o.allow.empty()) a.insert(a.end(), {"--allow", o.allow});
  if (!o.server_key.empty()) a.insert(a.end(), {"--server-key", o.server_key});
  if (o.insecure) a.push_back("--insecure");
  if (!o.state_file.empty()) a.insert(a.end(), {"--state", o.state_file});
  if (o.max_requests > 0) a.insert(a.end(), {"--max-requests", std::to_string(o.max_requests)});
  if (o.queue_limit != NodeOptions{}.queue_limit) a.insert(a.end(), {"--queue-limit", std::to_string(o.queue_limit)});
  return a;
}

}  // namespace edgesplit::runtime
