// The CLI's subcommands. Each registers its options on the CLI11 app and runs
// through a thin function over the library; all logic lives in the modules.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "edgesplit/status.h"

namespace edgesplit::cli {

// Every JSON document the CLI writes carries this.
inline constexpr int kSchemaVersion = 1;

// A subcommand's body: returns a Status; main prints failures and sets the exit code.
using Runner = std::function<Status()>;

Runner RegisterInspect(CLI::App& app);
Runner RegisterSplit(CLI::App& app);
Runner RegisterPlan(CLI::App& app);     // plan.cc
Runner RegisterCompare(CLI::App& app);  // compare.cc
Runner RegisterInfer(CLI::App& app);
Runner RegisterBenchEngine(CLI::App& app);
Runner RegisterNode(CLI::App& app);            // node.cc (docs/runtime.md)
Runner RegisterRun(CLI::App& app);             // run.cc
Runner RegisterBenchProtocols(CLI::App& app);  // bench_protocols.cc
Runner RegisterKeygen(CLI::App& app);          // keygen.cc (docs/mcu.md, over-the-air delivery)
Runner RegisterServe(CLI::App& app);           // serve.cc (docs/serve.md)
Runner RegisterLoadgen(CLI::App& app);         // loadgen.cc (docs/serve.md)
Runner RegisterDevice(CLI::App& app);          // device.cc (docs/serve.md)

// Re-executes the CLI once with the OpenMP wait policy set when the user set
// none: a bounded spin for bench-engine and infer, passive (idle oneDNN
// threads sleep at once) for every other command (openmp_env.cc). Call first in main().
void EnsureOpenMpWaitPolicy(char** argv);
Runner RegisterProfile(CLI::App& app);  // profile.cc
Runner RegisterQuantize(CLI::App& app);  // quantize.cc (docs/quantization.md)
Runner RegisterSqnr(CLI::App& app);      // quantize.cc
Runner RegisterPolicy(CLI::App& app);    // policy.cc (docs/dynamic.md)
Runner RegisterSimulate(CLI::App& app);  // simulate.cc
Runner RegisterEval(CLI::App& app);      // eval.cc (docs/codecs.md)
Runner RegisterReport(CLI::App& app);    // report.cc (docs/report.md)

}  // namespace edgesplit::cli
