// edgesplit device MODEL --connect HOST:PORT (--split CUT | --dynamic) --requests N
//     [--request-rate R] [--emulate PROFILE] [--link L] [--dtype D] [--codec C] [--format json|table]
//
// One sensor against `edgesplit serve` (docs/serve.md), in its own process,
// possibly on another machine.
#include <cmath>
#include <cstdio>
#include <limits>

#include "commands.h"
#include "link_args.h"
#include "secure_args.h"
#include "edgesplit/onednn.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/serve.h"

namespace edgesplit::cli {
namespace {

struct DeviceArgs {
  LinkArgs net;
  SecureArgs secure;
  std::string model, connect, mqtt, dtype = "f32", split, emulate, backend = "onednn", format = "table";
  std::string name = "device", rule = "strict", server_device = "edge-x86", codec = "raw", codec_table, codec_costs, rate_schedule;
  double max_accuracy_drop = std::numeric_limits<double>::quiet_NaN();
  bool dynamic = false;
  int requests = 1, threads = 1;
  double request_rate = 0, deadline_ms = 0, timeout = 10;
  std::string phases = "spread";
};

Status RunDeviceCommand(const DeviceArgs& a) {
  if (a.connect.empty() == a.mqtt.empty()) return InvalidArgument("give --connect HOST:PORT or --mqtt HOST:PORT, not both");
  if (a.format != "json" && a.format != "table") return InvalidArgument("--format must be json or table");
  runtime::DeviceOptions o;
  o.model = a.model;
  o.dtype = a.dtype;
  o.backend = a.backend;
  o.name = a.name;
  if (!a.connect.empty()) {
    ES_ASSIGN_OR_RETURN(o.server, net::ParseEndpoint(a.connect));
  } else {
    ES_ASSIGN_OR_RETURN(o.mqtt, net::ParseEndpoint(a.mqtt));
  }
  ES_ASSIGN_OR_RETURN(o.link, ToLinkSettings(a.net, !a.emulate.empty()));
  o.split = a.split;
  o.dynamic = a.dynamic;
  o.rule = a.rule;
  o.server_device = a.server_device;
  o.emulate = a.emulate;
  o.requests = a.requests;
  o.request_rate = a.request_rate;
  o.spread_phases = a.phases == "spread";
  o.deadline_s = a.deadline_ms / 1e3;
  o.timeout_s = a.timeout;
  o.controller.timeout_s = a.timeout;
  o.codec = a.codec;
  if (a.codec_table.empty() != std::isnan(a.max_accuracy_drop))
    return InvalidArgument("--codec-table FILE and --max-accuracy-drop P go together (with --dynamic: the cut x codec choice)");
  if (!a.codec_table.empty() && !a.dynamic) return InvalidArgument("--codec-table is for --dynamic; a fixed --split takes --codec");
  o.codec_table = a.codec_table;
  o.codec_costs = a.codec_costs;
  if (!a.codec_table.empty()) o.max_accuracy_drop = a.max_accuracy_drop;
  if (!a.rate_schedule.empty()) {  // run --dynamic's schedule format; the device applies its rate column
    ES_ASSIGN_OR_RETURN(std::vector<runtime::ScheduleRow> rows, runtime::LoadScheduleCsv(a.rate_schedule));
    for (const runtime::ScheduleRow& row : rows) {
      if (row.server != runtime::ServerState::kUnchanged || row.server_load != 1)
        return InvalidArgument(a.rate_schedule + ": request " + std::to_string(row.request) +
                               ": a device applies only the rate (the server's load and state are the server's own)");
      o.rate_schedule.emplace_back(row.request, row.rate_bytes_per_s);
    }
  }
  ES_ASSIGN_OR_RETURN(o.security, SecurityFromArgs(a.secure, false, "device"));
  if (a.backend == "onednn") ES_RETURN_IF_ERROR(SetOneDnnThreads(a.threads));
  ES_ASSIGN_OR_RETURN(runtime::DeviceReport r, runtime::RunDevice(o));
  if (a.format == "json") {
    std::printf("%s\n", runtime::DeviceJson(r).c_str());
    return Status::Ok();
  }
  std::printf("%s: %zu requests%s\n", r.model.c_str(), r.requests.size(),
              r.emulated ? " (timings emulated: device profile and/or shaped link)" : "");
  std::printf("  req  split                          codec      outcome              head_s  exchange_s  total_s  service_s  batch  queue  bytes  ok\n");
  for (const runtime::DeviceRequest& q : r.requests)
    std::printf("  %3d  %-30s %-10s %-20s %7.4f  %10.4f  %7.4f  %9.4f  %5u  %5u  %5lld  %s\n", q.index, q.split.c_str(),
                q.codec.c_str(), q.outcome.c_str(), q.head_s, q.exchange_s, q.total_s, q.service_s, q.batch_size, q.queue_length,
                static_cast<long long>(q.sent_bytes), q.verified ? "yes" : "NO");
  return Status::Ok();
}

}  // namespace

Runner RegisterDevice(CLI::App& app) {
  auto a = std::make_shared<DeviceArgs>();
  app.add_option("model", a->model, "Zoo spec or .onnx path (the server's)")->required();
  app.add_option("--connect", a->connect, "HOST:PORT of `edgesplit serve`");
  app.add_option("--mqtt", a->mqtt, "HOST:PORT of the MQTT broker the servers subscribe on");
  app.add_option("--name", a->name, "Device name (sender id; MQTT topic level)")->capture_default_str();
  app.add_option("--split", a->split, "Cut to split at (name, alias or index)");
  app.add_flag("--dynamic", a->dynamic, "Choose the split per request from the measured rate and server load");
  app.add_option("--rule", a->rule, "With --dynamic: candidate cuts (strict, loose, all)")->capture_default_str();
  app.add_option("--server-device", a->server_device, "With --dynamic: the server's device profile")->capture_default_str();
  app.add_option("--requests", a->requests, "Requests to send")->capture_default_str();
  app.add_option("--request-rate", a->request_rate, "Requests/s (0: back to back)")->capture_default_str();
  app.add_option("--phases", a->phases, "With --request-rate: spread (move the phase when requests queue behind others) or fixed")
      ->check(CLI::IsMember({"spread", "fixed"}))
      ->capture_default_str();
  app.add_option("--deadline-ms", a->deadline_ms, "Deadline sent with each request (0: none)")->capture_default_str();
  app.add_option("--timeout", a->timeout, "Seconds to wait for a reply before finishing locally")->capture_default_str();
  app.add_option("--codec", a->codec, "Cut-tensor codec (docs/codecs.md): raw, int8, int4, int2, fp16, each optionally +lz4 or +zstd")
      ->capture_default_str();
  app.add_option("--codec-table", a->codec_table, "With --dynamic: choose cut x codec per request from this accuracy table");
  app.add_option("--codec-costs", a->codec_costs, "With --codec-table: codec costs per device (default PROFILES/codecs/codec_costs.json)");
  app.add_option("--max-accuracy-drop", a->max_accuracy_drop, "With --codec-table: the codecs' accuracy budget, percentage points");
  app.add_option("--rate-schedule", a->rate_schedule, "CSV request,rate_bytes_per_s,server_load (load 1): the emulated link's rate from each request on");
  app.add_option("--emulate", a->emulate, "Device profile whose predicted compute time the head waits for");
  app.add_option("--dtype", a->dtype, "f32 or int8 (the server's)")->capture_default_str();
  app.add_option("--backend", a->backend, "onednn or reference (host kernels of the head)")->capture_default_str();
  app.add_option("--threads", a->threads, "oneDNN threads")->capture_default_str();
  app.add_option("--format", a->format, "table or json")->capture_default_str();
  AddLinkOptions(app, &a->net);
  AddSecureOptions(app, &a->secure, false);
  return [a] { return ExitIfRefused(RunDeviceCommand(*a)); };
}

}  // namespace edgesplit::cli
