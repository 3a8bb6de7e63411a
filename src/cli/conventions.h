// Command-line conventions (git/cargo as the model; docs/cli.md): usage errors
// exit 2 with the usage line and a did-you-mean on stderr, shell completion
// scripts, progress on a terminal.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "commands.h"

namespace edgesplit::cli {

// Exit code of a usage error (unknown command or option, bad option value).
inline constexpr int kUsageExit = 2;

// Parses argv into `app`. Returns -1 when the command should run, else the exit
// code (0 after --help or --version, kUsageExit after a usage error, which is
// reported on stderr with the usage line and the nearest names).
int ParseCommandLine(CLI::App& app, int argc, char** argv);

// An old spelling of an option, kept so scripts keep working (docs/cli.md, "One
// spelling per concept"): it sets the same variable as the new one, and is left
// out of --help, the completion scripts and did-you-mean.
template <typename T>
CLI::Option* AddHiddenAlias(CLI::App& app, const std::string& old_names, T& variable, const std::string& new_name) {
  return app.add_option(old_names, variable, "Old spelling of " + new_name)->group("");
}
inline bool IsHiddenOption(const CLI::Option* o) { return o->get_group().empty(); }

// `edgesplit completion bash|zsh|fish`: prints a completion script for the
// visible subcommands and their options (hidden ones, in the group "", left out).
Runner RegisterCompletion(CLI::App& app, const CLI::App& root);

}  // namespace edgesplit::cli
