// edgesplit loadgen MODEL (--connect HOST:PORT [--link L] | --mqtt HOST:PORT) [--dtype D]
//     --clients N --requests M [--cuts strict|...] [--request-rate R] [--deadline-ms D]
//     [--precompute] [--timeout S] [--codec C] --format json
//
// N emulated devices against `edgesplit serve` (docs/serve.md): each runs its
// head, sends the cut tensor and checks the result against local inference.
#include <cstdio>

#include "commands.h"
#include "link_args.h"
#include "secure_args.h"
#include "edgesplit/onednn.h"
#include "edgesplit/serve.h"

namespace edgesplit::cli {
namespace {

struct LoadgenArgs {
  LinkArgs net;
  SecureArgs secure;
  std::string model, connect, mqtt, dtype = "f32", cuts = "strict", format = "json", backend = "onednn", codec = "raw";
  int clients = 1, requests = 1, threads = 1, inputs = 4;
  double request_rate = 0, deadline_ms = 0, timeout = 30, mqtt_retry = 2;
  std::string phases = "spread";
  bool precompute = false;
};

Status RunLoadgenCommand(const LoadgenArgs& a) {
  if (a.connect.empty() == a.mqtt.empty())
    return InvalidArgument("give --connect HOST:PORT (the address `edgesplit serve` printed) or --mqtt HOST:PORT, not both");
  if (a.format != "json" && a.format != "table") return InvalidArgument("--format must be json or table");
  runtime::LoadgenOptions o;
  o.model = a.model;
  o.dtype = a.dtype;
  o.cuts = a.cuts;
  o.backend = a.backend;
  if (!a.connect.empty()) {
    ES_ASSIGN_OR_RETURN(o.server, net::ParseEndpoint(a.connect));
  } else {
    ES_ASSIGN_OR_RETURN(o.mqtt, net::ParseEndpoint(a.mqtt));
    o.mqtt_retry_s = a.mqtt_retry;
  }
  ES_ASSIGN_OR_RETURN(o.link, ToLinkSettings(a.net, false));
  o.clients = a.clients;
  o.requests = a.requests;
  o.request_rate = a.request_rate;
  o.spread_phases = a.phases == "spread";
  o.deadline_s = a.deadline_ms / 1e3;
  o.timeout_s = a.timeout;
  o.precompute = a.precompute;
  o.distinct_inputs = a.inputs;
  o.codec = a.codec;
  ES_ASSIGN_OR_RETURN(o.security, SecurityFromArgs(a.secure, false, "loadgen"));  // all N clients: one identity
  if (a.backend == "onednn") ES_RETURN_IF_ERROR(SetOneDnnThreads(a.threads));
  ES_ASSIGN_OR_RETURN(runtime::LoadgenReport r, runtime::RunLoadgen(o));
  if (a.format == "json") {
    std::printf("%s\n", runtime::LoadgenJson(r).c_str());
  } else {
    std::printf("sent %lld  completed %lld  busy %lld  lost %lld  duplicated %lld  corrupted %lld\n",
                static_cast<long long>(r.sent), static_cast<long long>(r.completed), static_cast<long long>(r.busy),
                static_cast<long long>(r.lost), static_cast<long long>(r.duplicated), static_cast<long long>(r.corrupted));
    std::printf("p50 %.2f ms  p99 %.2f ms  throughput %.1f requests/s over %.2f s\n", r.p50_s * 1e3, r.p99_s * 1e3,
                r.throughput_rps, r.wall_s);
    std::printf("queued behind other work: p50 %.2f ms  p99 %.2f ms", r.queue_wait_p50_s * 1e3, r.queue_wait_p99_s * 1e3);
    if (r.phase_shifts > 0) std::printf("  (paced clients moved their phase %lld times)", static_cast<long long>(r.phase_shifts));
    std::printf("\nat the server (receipt to reply): p50 %.2f ms  p99 %.2f ms", r.service_p50_s * 1e3, r.service_p99_s * 1e3);
    std::printf("\nbatch sizes:");
    for (auto& [b, n] : r.batch_sizes) std::printf(" %d:%lld", b, static_cast<long long>(n));
    std::printf("\nper server:");
    for (auto& [s, n] : r.per_server) std::printf(" %s:%lld", s.c_str(), static_cast<long long>(n));
    std::printf("\n");
    for (const std::string& e : r.first_errors) std::printf("error: %s\n", e.c_str());
  }
  return Status::Ok();
}

}  // namespace

Runner RegisterLoadgen(CLI::App& app) {
  auto a = std::make_shared<LoadgenArgs>();
  app.add_option("model", a->model, "Zoo spec or .onnx path (the server's)")->required();
  app.add_option("--connect", a->connect, "HOST:PORT of `edgesplit serve`");
  app.add_option("--mqtt", a->mqtt, "HOST:PORT of the MQTT broker the servers subscribe on");
  app.add_option("--mqtt-retry", a->mqtt_retry, "With --mqtt: seconds before an unanswered request is published again")
      ->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32 or int8 (the server's)")->capture_default_str();
  app.add_option("--cuts", a->cuts, "Cuts the devices split at, round-robin: strict, loose, all, CUT,...")->capture_default_str();
  app.add_option("--backend", a->backend, "onednn or reference (the devices' heads and the reference)")->capture_default_str();
  app.add_option("--codec", a->codec, "Cut-tensor codec (docs/codecs.md): raw, int8, int4, int2, fp16, each optionally +lz4 or +zstd")
      ->capture_default_str();
  app.add_option("--clients", a->clients, "Emulated devices (threads), each with one request outstanding")->capture_default_str();
  app.add_option("--requests", a->requests, "Requests per client")->capture_default_str();
  app.add_option("--request-rate", a->request_rate, "Requests/s per client (0: as fast as answered)")->capture_default_str();
  app.add_option("--phases", a->phases, "With --request-rate: spread (a client whose requests queue behind another's moves its phase) or fixed")
      ->check(CLI::IsMember({"spread", "fixed"}))
      ->capture_default_str();
  app.add_option("--deadline-ms", a->deadline_ms, "Deadline sent with each request (0: none)")->capture_default_str();
  app.add_option("--timeout", a->timeout, "Seconds before a request with no reply counts as lost")->capture_default_str();
  app.add_flag("--precompute", a->precompute, "Compute heads before the clock starts");
  app.add_option("--inputs", a->inputs, "Distinct seeded inputs the clients cycle through")->capture_default_str();
  app.add_option("--threads", a->threads, "oneDNN threads for the heads")->capture_default_str();
  app.add_option("--format", a->format, "json or table")->capture_default_str();
  AddLinkOptions(app, &a->net);
  AddSecureOptions(app, &a->secure, false);
  return [a] { return ExitIfRefused(RunLoadgenCommand(*a)); };
}

}  // namespace edgesplit::cli
