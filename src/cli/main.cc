// edgesplit: the command line. Subcommands live in their own files.
#include <cstdio>
#include <map>
#include <memory>

#include "commands.h"
#include "conventions.h"

int main(int argc, char** argv) {
  edgesplit::cli::EnsureOpenMpWaitPolicy(argv);
  CLI::App app{"edgesplit: split inference of CNNs across a microcontroller, its radio and edge devices"};
  app.name("edgesplit");
  app.require_subcommand(1);
  app.set_version_flag("--version", "edgesplit 0.1.0");

  std::map<CLI::App*, edgesplit::cli::Runner> runners;
  auto add = [&](const char* name, const char* help, edgesplit::cli::Runner (*reg)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    runners[sub] = reg(*sub);
  };
  add("inspect", "Per-layer cost, cut points, activation memory and natural bottlenecks of a model",
      edgesplit::cli::RegisterInspect);
  add("split", "Cut a model at one or more cut points and write each segment as ONNX with a manifest",
      edgesplit::cli::RegisterSplit);
  add("plan", "Choose where to split a model across devices over a link (docs/planner.md)", edgesplit::cli::RegisterPlan);
  add("compare", "Every planning algorithm against the optimum on the first 1..N devices", edgesplit::cli::RegisterCompare);
  add("infer", "Run a model (whole, or head then tail at a cut) and print the top classes", edgesplit::cli::RegisterInfer);
  add("bench-engine", "Time the inference engine on a model: whole invocations and each layer", edgesplit::cli::RegisterBenchEngine);
  add("profile", "profile --measure: time the engine's layers on this machine and fit a device profile (docs/calibration.md)",
      edgesplit::cli::RegisterProfile);
  add("quantize", "int8 post-training quantization (TFLite scheme); writes the model as QDQ ONNX (docs/quantization.md)",
      edgesplit::cli::RegisterQuantize);
  add("sqnr", "Per-layer signal-to-quantization-noise ratio of the int8 model against f32", edgesplit::cli::RegisterSqnr);
  add("policy", "Dynamic split policy: the data rates at which the best split changes, per server load (docs/dynamic.md)",
      edgesplit::cli::RegisterPolicy);
  add("simulate", "Split policies (dynamic, oracle, static...) over a channel/load trace (docs/dynamic.md)",
      edgesplit::cli::RegisterSimulate);

  add("eval", "Top-1 accuracy on Fashion-MNIST, whole or split through a cut-tensor codec; --sweep: the codec table (docs/codecs.md)",
      edgesplit::cli::RegisterEval);

  add("node", "One device of a split-inference chain: receive, compute a segment, forward (docs/runtime.md)", edgesplit::cli::RegisterNode);
  add("run", "Run a chain of local node processes over a link and break the round trip down", edgesplit::cli::RegisterRun);
  add("serve", "The edge server: the model's tails at every candidate cut, batched across devices (docs/serve.md)",
      edgesplit::cli::RegisterServe);
  add("loadgen", "Emulate N devices against `serve` and check every result (docs/serve.md)", edgesplit::cli::RegisterLoadgen);
  add("device", "One sensor against `serve`: its head, the cut tensor, the reply (fixed or dynamic split)",
      edgesplit::cli::RegisterDevice);
  add("keygen", "Write an Ed25519 key pair for signed over-the-air segment delivery (docs/mcu.md)", edgesplit::cli::RegisterKeygen);
  add("bench-protocols", "The seed paper's experiment: MobileNetV2-0.35 int8 over udp, tcp, espnow and ble", edgesplit::cli::RegisterBenchProtocols);
  add("report", "One self-contained HTML page of charts: cut points, planners, round trip per protocol, a dynamic trace (docs/report.md)",
      edgesplit::cli::RegisterReport);
  CLI::App* completion = app.add_subcommand("completion", "Print a shell completion script: source <(edgesplit completion bash)");
  runners[completion] = edgesplit::cli::RegisterCompletion(*completion, app);
  if (const int exit_code = edgesplit::cli::ParseCommandLine(app, argc, argv); exit_code >= 0) return exit_code;
  for (auto& [sub, run] : runners) {
    if (!sub->parsed()) continue;
    edgesplit::Status status = run();
    if (!status.ok()) {
      std::fprintf(stderr, "edgesplit %s: error: %s\n", sub->get_name().c_str(), status.message().c_str());
      return 1;
    }
  }
  return 0;
}
