// edgesplit node [--model MODEL --segment CUT:CUT] --listen ADDR [--next ADDR] --link L [--in-link L]
//     [--verify-key KEY.pub] [--state FILE] [--coordinator ADDR] [--emulate DEVICE] [--dtype f32|int8] [--time-scale S] [--loss P] [--shape auto|on|off]
//     [--seed N] [--profiles DIR] [--request-timeout S] [--max-requests N]
//
// One device of a chain (docs/runtime.md): prints one JSON event per line on stdout.
// Without --model/--segment it starts empty and waits for its segment over the
// air (docs/mcu.md, "Over-the-air delivery").
#include "commands.h"
#include "edgesplit/runtime.h"

namespace edgesplit::cli {
namespace {

struct NodeArgs {
  std::string model, segment, listen, next, link, emulate, dtype = "f32", shape = "auto", profiles;
  std::string verify_key, coordinator, state, in_link;
  double time_scale = 1, loss = -1, request_timeout = 120;
  uint64_t seed = 1;
  int max_requests = 0;
};

Status RunNodeCommand(const NodeArgs& a) {
  runtime::NodeOptions o;
  if (a.model.empty() != a.segment.empty())
    return InvalidArgument("give both --model and --segment, or neither (an empty node waits for a delivery)");
  if (!a.segment.empty()) {
    const size_t colon = a.segment.find(':');
    if (colon == std::string::npos) return InvalidArgument("--segment must be CUT:CUT (e.g. input:block_16_project_BN)");
    o.segment = {a.model, a.segment.substr(0, colon), a.segment.substr(colon + 1), a.dtype};
  }
  o.verify_key = a.verify_key;
  o.state_file = a.state;
  if (!a.coordinator.empty()) {
    ES_ASSIGN_OR_RETURN(o.coordinator, net::ParseEndpoint(a.coordinator));
  }
  ES_ASSIGN_OR_RETURN(o.listen, net::ParseEndpoint(a.listen));
  if (!a.next.empty()) {
    ES_ASSIGN_OR_RETURN(o.next, net::ParseEndpoint(a.next));
  }
  o.link.link = a.link;
  o.link.profiles_dir = a.profiles;
  ES_ASSIGN_OR_RETURN(o.link.shaped, runtime::DecideShaping(a.shape, a.link, a.profiles, !a.emulate.empty()));
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
  return runtime::RunNode(o, stdout);
}

}  // namespace

Runner RegisterNode(CLI::App& app) {
  auto a = std::make_shared<NodeArgs>();
  app.add_option("--model", a->model, "Zoo spec or .onnx path (none: start empty, wait for a delivery)");
  app.add_option("--segment", a->segment, "CUT:CUT, e.g. input:block_16_project_BN (names, aliases or indices)");
  app.add_option("--verify-key", a->verify_key, "KEY.pub (edgesplit keygen): accept only deliveries signed with KEY");
  app.add_option("--state", a->state,
                 "FILE keeping the replay floor across restarts (written before each accepting ack; a damaged FILE stops the node)");
  app.add_option("--coordinator", a->coordinator, "HOST:PORT where delivery acknowledgements go");
  app.add_option("--listen", a->listen, "HOST:PORT to receive on (port 0: any; the address is printed)")->required();
  app.add_option("--next", a->next, "HOST:PORT of the next node (or the client); none: results are only reported");
  app.add_option("--link", a->link, "Link profile: udp, tcp, espnow, espnow-v2, ble, ble-2m")->required();
  app.add_option("--in-link", a->in_link, "Link profile it receives on: the previous node's --link (default: --link)");
  app.add_option("--emulate", a->emulate, "Device profile whose predicted compute time the node waits for");
  app.add_option("--dtype", a->dtype, "f32 or int8")->capture_default_str();
  app.add_option("--time-scale", a->time_scale, "Multiply every emulated duration (0.01: 100x faster)")->capture_default_str();
  app.add_option("--loss", a->loss, "Frame loss of the emulated medium (default: the profile's)");
  app.add_option("--shape", a->shape, "auto, on or off: pace/lose frames as the link profile says")->capture_default_str();
  app.add_option("--seed", a->seed, "Seed of the loss draws")->capture_default_str();
  app.add_option("--profiles", a->profiles, "Profiles folder");
  app.add_option("--request-timeout", a->request_timeout, "Seconds a request may take at this node")->capture_default_str();
  app.add_option("--max-requests", a->max_requests, "Exit after N requests (0: run until SIGTERM)")->capture_default_str();
  return [a] { return RunNodeCommand(*a); };
}

}  // namespace edgesplit::cli
