// edgesplit node [--model MODEL --segment CUT:CUT] [--listen ADDR] [--next ADDR] --link L [--in-link L]
//     (--key NAME --allow FILE [--server-key NEXT.pub] | --insecure)
//     [--verify-key KEY.pub] [--state FILE] [--emulate DEVICE] [--dtype f32|int8] [--time-scale S] [--loss P] [--shape auto|on|off]
//     [--seed N] [--profiles DIR] [--request-timeout S] [--max-requests N] [--queue-limit Q]
//
// One device of a chain (docs/runtime.md): prints one JSON event per line on stdout.
// Secure by default (docs/security.md): sealed sessions with the senders --allow
// enrols (SIGHUP re-reads it) and with the next hop (--server-key).
// Without --model/--segment it starts empty and waits for its segment over the
// air (docs/mcu.md, "Over-the-air delivery").
#include "commands.h"
#include "edgesplit/runtime.h"

namespace edgesplit::cli {
namespace {

Status RunNodeCommand(const runtime::NodeFlags& flags) {
  ES_ASSIGN_OR_RETURN(runtime::NodeOptions o, runtime::NodeOptionsFromFlags(flags));
  return runtime::RunNode(o, stdout);
}

}  // namespace

Runner RegisterNode(CLI::App& app) {
  auto a = std::make_shared<runtime::NodeFlags>();
  app.add_option("--model", a->model, "Zoo spec or .onnx path (none: start empty, wait for a delivery)");
  app.add_option("--segment", a->segment, "CUT:CUT, e.g. input:block_16_project_BN (names, aliases or indices)");
  app.add_option("--verify-key", a->verify_key, "KEY.pub (edgesplit keygen): take segment deliveries signed with KEY (without it: none)");
  app.add_option("--state", a->state,
                 "FILE keeping the replay floor across restarts (written before each accepting ack; a damaged FILE stops the node)");
  app.add_option("--listen", a->listen, "HOST:PORT to receive on (port 0: any; the address is printed; beyond loopback is logged)")
      ->capture_default_str();
  app.add_option("--key", a->key, "This node's secret key file (`edgesplit keygen -o NAME`)");
  app.add_option("--allow", a->allow, "Senders it takes: one per line, NAME then the line of its .pub file (SIGHUP re-reads it)");
  app.add_option("--server-key", a->server_key, "With --next: the next node's (or client's) public key file");
  app.add_flag("--insecure", a->insecure, "Plain frames: no handshake, no sealing, no enrolment (trusted test networks only)");
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
  app.add_option("--queue-limit", a->queue_limit, "Requests queued before BUSY (the refusal goes down the chain)")
      ->capture_default_str();
  return [a] { return RunNodeCommand(*a); };
}

}  // namespace edgesplit::cli
