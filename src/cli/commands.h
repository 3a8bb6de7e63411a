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
Runner RegisterDynamicNode(CLI::App& app);     // dynamic_node.cc (docs/dynamic.md, live)
Runner RegisterBenchProtocols(CLI::App& app);  // bench_protocols.cc
Runner RegisterKeygen(CLI::App& app);          // keygen.cc (docs/mcu.md, over-the-air delivery)

// Re-executes the CLI once with OMP_WAIT_POLICY=passive when it is unset, so
// idle oneDNN threads sleep instead of spinning (openmp_env.cc). Call first in main().
void EnsurePassiveOpenMpWait(char** argv);
Runner RegisterProfile(CLI::App& app);  // profile.cc
Runner RegisterQuantize(CLI::App& app);  // quantize.cc (docs/quantization.md)
Runner RegisterSqnr(CLI::App& app);      // quantize.cc
Runner RegisterPolicy(CLI::App& app);    // policy.cc (docs/dynamic.md)
Runner RegisterSimulate(CLI::App& app);  // simulate.cc
Runner RegisterEval(CLI::App& app);      // eval.cc (docs/codecs.md)

}  // namespace edgesplit::cli
