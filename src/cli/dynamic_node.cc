// edgesplit dynamic-node --role head|server --model MODEL --head-device D --server-device S --link L
//     --listen ADDR [--server ADDR --next ADDR] [--dtype f32|int8] [--candidates strict|loose|all]
//     [--time-scale S] [--loss P] [--rate B/s] [--load L] [--probe-interval S] [--probe-bytes N]
//     [--hysteresis F] [--timeout S] [--request-timeout S] [--seed N] [--profiles DIR]
//
// One node of a live dynamic run (docs/dynamic.md, "Live"): started by
// `edgesplit run --dynamic`; prints one JSON event per line on stdout.
#include "commands.h"
#include "edgesplit/dynamic_runtime.h"

namespace edgesplit::cli {
namespace {

struct DynamicNodeArgs {
  std::string role, listen, server, next;
  runtime::DynamicNodeOptions o;
};

Status RunDynamicNodeCommand(DynamicNodeArgs a) {
  if (a.role != "head" && a.role != "server") return InvalidArgument("--role must be head or server, not '" + a.role + "'");
  ES_ASSIGN_OR_RETURN(a.o.listen, net::ParseEndpoint(a.listen));
  if (!a.server.empty()) {
    ES_ASSIGN_OR_RETURN(a.o.server, net::ParseEndpoint(a.server));
  }
  if (!a.next.empty()) {
    ES_ASSIGN_OR_RETURN(a.o.next, net::ParseEndpoint(a.next));
  }
  a.o.link.shaped = true;
  a.o.policy.link = a.o.link.link;
  a.o.policy.profiles_dir = a.o.link.profiles_dir;
  return a.role == "head" ? runtime::RunDynamicHead(a.o, stdout) : runtime::RunDynamicServer(a.o, stdout);
}

}  // namespace

Runner RegisterDynamicNode(CLI::App& app) {
  auto a = std::make_shared<DynamicNodeArgs>();
  runtime::DynamicNodeOptions& o = a->o;
  app.add_option("--role", a->role, "head or server")->required();
  app.add_option("--model", o.policy.model, "Zoo spec or .onnx path")->required();
  app.add_option("--head-device", o.policy.head_device, "Device profile of the head (e.g. esp32s3-espnn)")->required();
  app.add_option("--server-device", o.policy.server_device, "Device profile of the server (e.g. edge-x86)")->required();
  app.add_option("--link", o.link.link, "Link profile (e.g. udp)")->required();
  app.add_option("--listen", a->listen, "HOST:PORT to receive on (port 0: any; the address is printed)")->required();
  app.add_option("--server", a->server, "head: HOST:PORT of the server node");
  app.add_option("--next", a->next, "head: HOST:PORT the results go to (the client)");
  app.add_option("--dtype", o.policy.dtype, "f32 or int8")->capture_default_str();
  app.add_option("--candidates", o.policy.rule, "strict, loose or all")->capture_default_str();
  app.add_option("--time-scale", o.link.time_scale, "Multiply every emulated duration")->capture_default_str();
  app.add_option("--loss", o.link.loss, "Frame loss of the emulated medium (default: the profile's)");
  app.add_option("--rate", o.initial_rate_bytes_per_s, "The link's rate at start, bytes/s (0: the profile's)");
  app.add_option("--load", o.initial_load, "The server's load factor at start")->capture_default_str();
  app.add_option("--probe-interval", o.controller.probe_interval_s, "head: probe the link this often while nothing is sent (s)")
      ->capture_default_str();
  app.add_option("--probe-bytes", o.controller.probe_bytes, "head: size of a probe")->capture_default_str();
  app.add_option("--hysteresis", o.controller.hysteresis, "head: keep the split unless the best is this much faster")->capture_default_str();
  app.add_option("--timeout", o.controller.timeout_s, "head: a probe not answered within this (s) means fallback")->capture_default_str();
  app.add_option("--request-timeout", o.request_timeout_s, "Emulated seconds a transfer and its reply may take")->capture_default_str();
  app.add_option("--seed", o.link.seed, "Seed of the loss draws")->capture_default_str();
  app.add_option("--profiles", o.link.profiles_dir, "Profiles folder");
  return [a] { return RunDynamicNodeCommand(*a); };
}

}  // namespace edgesplit::cli
