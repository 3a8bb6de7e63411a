// edgesplit serve MODEL (--listen HOST:PORT --link udp|tcp|espnow|ble | --mqtt HOST:PORT)
//     [--cuts strict|loose|all|CUT,...] [--dtype f32|int8] [--max-batch N] [--max-wait-ms T]
//     [--queue-limit Q] [--threads N] [--workers W] [--batching adaptive|always] [--busy-poll-ms T] [--id ID] [--backend onednn|reference] [--profiles DIR]
//     [--emulate DEVICE [--load L] [--rate BYTES_PER_S]] [--time-scale S] [--loss P]
//
// The edge server (docs/serve.md): prints one JSON line with `listening` on
// stdout when ready, nothing else; logs go to stderr. SIGTERM/SIGINT refuse new
// requests, finish the queued ones and exit within 10 s.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "link_args.h"
#include "secure_args.h"
#include "edgesplit/onednn.h"
#include "edgesplit/serve.h"

namespace edgesplit::cli {
namespace {

std::atomic<bool> g_stop{false}, g_reload{false};
void OnStop(int) { g_stop = true; }
void OnReload(int) { g_reload = true; }

struct ServeArgs {
  LinkArgs net;
  SecureArgs secure;
  std::string model, listen = "127.0.0.1:0", mqtt, cuts = "strict", dtype = "f32", id, backend = "onednn";
  std::string group = "edgesplit", emulate, batching = "always";
  double load = 1, rate = 0;
  int max_batch = 8, queue_limit = 1024, threads = 0, workers = 1, max_peers = 1024, max_connections = 1024;
  double max_wait_ms = 2, idle_timeout = 30, busy_poll_ms = 0;
};

Status RunServe(const ServeArgs& a) {
  runtime::ServeOptions o;
  if (!a.mqtt.empty()) {
    ES_ASSIGN_OR_RETURN(o.mqtt, net::ParseEndpoint(a.mqtt));
    o.mqtt_group = a.group;
  }
  o.model = a.model;
  o.dtype = a.dtype;
  o.cuts = a.cuts;
  o.backend = a.backend;
  o.max_batch = a.max_batch;
  o.max_wait_s = a.max_wait_ms / 1e3;
  o.queue_limit = a.queue_limit;
  o.workers = a.workers;
  o.adaptive_batching = a.batching == "adaptive";
  o.busy_poll_s = a.busy_poll_ms / 1e3;
  o.id = a.id;
  o.emulate = a.emulate;
  o.load = a.load;
  o.reply_rate_bytes_per_s = a.rate;
  if (a.emulate.empty() && (a.load != 1 || a.rate != 0)) return InvalidArgument("--load and --rate need --emulate DEVICE (a lab server)");
  ES_ASSIGN_OR_RETURN(o.listen, net::ParseEndpoint(a.listen));
  if (!o.mqtt && o.listen.host != "127.0.0.1" && o.listen.host != "localhost")
    std::fprintf(stderr, "edgesplit serve: listening beyond loopback on %s\n", o.listen.ToString().c_str());
  ES_ASSIGN_OR_RETURN(o.link, ToLinkSettings(a.net, !a.emulate.empty()));
  o.limits.max_peers = a.max_peers;
  o.limits.max_connections = a.max_connections;
  o.limits.idle_timeout_s = a.idle_timeout;
  std::shared_ptr<net::EnrolledKeys> enrolled;
  ES_ASSIGN_OR_RETURN(o.security, SecurityFromArgs(a.secure, true, "serve", &enrolled));
  // --threads 0 means all cores, shared by the workers (not each: that would oversubscribe them).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = a.threads == 0 && a.workers > 1 ? std::max(1, cores / a.workers) : a.threads;
  if (a.backend == "onednn") ES_RETURN_IF_ERROR(SetOneDnnThreads(threads));

  struct sigaction sa{};
  sa.sa_handler = OnStop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup{};
  hup.sa_handler = OnReload;  // re-read --allow: removed devices are revoked
  sigaction(SIGHUP, &hup, nullptr);
  ES_ASSIGN_OR_RETURN(std::unique_ptr<runtime::EdgeServer> server, runtime::EdgeServer::Start(o));
  std::printf("%s\n", server->ReadyJson().c_str());
  std::fflush(stdout);
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!g_reload.exchange(false) || !enrolled) continue;
    auto devices = runtime::ReadAllowFile(a.secure.allow);
    if (!devices.ok()) {  // a broken file keeps the enrolled set as it was
      std::fprintf(stderr, "edgesplit serve: SIGHUP: %s (enrolment unchanged)\n", devices.status().message().c_str());
      continue;
    }
    enrolled->Replace(runtime::EnrolledKeysOf(*devices));
    std::fprintf(stderr, "edgesplit serve: SIGHUP: %zu devices enrolled from %s\n", devices->size(), a.secure.allow.c_str());
  }
  std::fprintf(stderr, "edgesplit serve: stopping: finishing queued requests\n");
  server->Stop(8.0);
  const runtime::ServerCounters c = server->counters();
  std::fprintf(stderr, "edgesplit serve: %lld requests, %lld served, %lld busy, %lld errors, %lld pings\n",
               static_cast<long long>(c.received), static_cast<long long>(c.served), static_cast<long long>(c.busy),
               static_cast<long long>(c.errors), static_cast<long long>(c.pings));
  if (o.busy_poll_s > 0)
    std::fprintf(stderr, "edgesplit serve: %lld batches found by a polling worker (--busy-poll-ms)\n",
                 static_cast<long long>(c.batches_polled));
  if (o.security) {
    const net::ServerStats s = server->transport_stats();
    std::fprintf(stderr, "edgesplit serve: secure link: %lld handshakes, %lld rate-limited, %lld refused, %lld sealed frames dropped\n",
                 static_cast<long long>(s.handshakes), static_cast<long long>(s.handshakes_rate_limited),
                 static_cast<long long>(s.refused), static_cast<long long>(s.security_dropped));
  }
  return Status::Ok();
}

}  // namespace

Runner RegisterServe(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  app.add_option("model", a->model, "Zoo spec or .onnx path")->required();
  app.add_option("--listen", a->listen, "HOST:PORT to listen on (port 0: a free port; beyond loopback is logged)")
      ->capture_default_str();
  app.add_option("--mqtt", a->mqtt, "HOST:PORT of an MQTT broker: serve as one replica of a shared subscription");
  app.add_option("--group", a->group, "With --mqtt: the shared subscription's group (replicas of one server)")
      ->capture_default_str();
  app.add_option("--cuts", a->cuts, "strict, loose, all, or CUT,... (the input cut is always served)")->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32 or int8")->capture_default_str();
  app.add_option("--backend", a->backend, "onednn or reference")->capture_default_str();
  app.add_option("--max-batch", a->max_batch, "Largest batch of same-cut requests (1: no batching)")->capture_default_str();
  app.add_option("--max-wait-ms", a->max_wait_ms, "How long a batch's first request waits for more")->capture_default_str();
  app.add_option("--queue-limit", a->queue_limit, "Requests queued before BUSY replies")->capture_default_str();
  app.add_option("--threads", a->threads, "oneDNN threads per worker (0: the cores shared by the workers)")->capture_default_str();
  app.add_option("--batching", a->batching,
                 "always: batch what is queued, up to --max-batch; adaptive: batch a cut's requests only while its "
                 "batches cost less per request than single runs")
      ->check(CLI::IsMember({"adaptive", "always"}))
      ->capture_default_str();
  app.add_option("--workers", a->workers, "Worker threads computing batches side by side, each with its own executors (1..64)")
      ->capture_default_str();
  app.add_option("--busy-poll-ms", a->busy_poll_ms,
                 "An idle worker polls for work this long before it sleeps: a core kept awake answers short "
                 "inferences with a lower tail, at the cost of that core while idle (0: sleep at once)")
      ->capture_default_str();
  app.add_option("--id", a->id, "Server id carried by every reply (default HOSTNAME:PID)");
  app.add_option("--max-peers", a->max_peers, "Datagram senders holding state at once")->capture_default_str();
  app.add_option("--max-connections", a->max_connections, "TCP connections at once")->capture_default_str();
  app.add_option("--idle-timeout", a->idle_timeout, "Seconds an idle peer or connection is kept")->capture_default_str();
  app.add_option("--emulate", a->emulate,
                 "Lab runs: hold results to this device profile's time x --load and obey control pings (run --dynamic)");
  app.add_option("--load", a->load, "With --emulate: the server's load factor at start (1: idle)")->capture_default_str();
  app.add_option("--rate", a->rate, "With --emulate: its replies' link rate in bytes/s at start (0: the link profile's)")
      ->capture_default_str();
  AddLinkOptions(app, &a->net);
  AddSecureOptions(app, &a->secure, true);
  return [a] { return RunServe(*a); };
}

}  // namespace edgesplit::cli
