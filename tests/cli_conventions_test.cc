// CLI conventions (issue 15, docs/cli.md): usage errors exit 2 with the usage
// line and a did-you-mean; hidden internal commands; shell completion that
// loads in bash and completes; progress only on a terminal; the suggestions.
#include <gtest/gtest.h>

#include "edgesplit/suggest.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using testing::MakeTempDir;
using testing::RunCli;

bool Has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST(Suggest, NearestNamesFirstAndNothingWhenFar) {
  EXPECT_EQ(EditDistance("inspcet", "inspect"), 1);  // an adjacent swap
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(ClosestNames("inspcet", {"plan", "inspect", "infer"}), std::vector<std::string>{"inspect"});
  EXPECT_EQ(DidYouMean("resnet81", {"mobilenet_v2", "resnet18"}), " Did you mean 'resnet18'?");
  EXPECT_EQ(DidYouMean("zzzzzz", {"inspect", "plan"}), "");
  EXPECT_EQ(ClosestNames("--fromat", {"--format", "--layers", "-o"}), std::vector<std::string>{"--format"});
}

TEST(CliConventions, MisspelledCommandSuggestsAndExitsTwo) {
  std::string out, err;
  EXPECT_EQ(RunCli("inspcet resnet18", &out, &err), 2);
  EXPECT_TRUE(Has(err, "Did you mean 'inspect'?")) << err;
  EXPECT_TRUE(Has(err, "Usage: edgesplit")) << err;
  EXPECT_TRUE(out.empty()) << out;
}

TEST(CliConventions, UnknownOptionSuggestsAndExitsTwo) {
  std::string out, err;
  EXPECT_EQ(RunCli("inspect resnet18 --fromat json", &out, &err), 2);
  EXPECT_TRUE(Has(err, "Did you mean '--format'?")) << err;
  EXPECT_TRUE(Has(err, "Usage: edgesplit inspect")) << err;
}

TEST(CliConventions, MissingArgumentAndBadValueExitTwo) {
  std::string out, err;
  EXPECT_EQ(RunCli("inspect", &out, &err), 2) << err;
  EXPECT_EQ(RunCli("run resnet18 --split 3 --repeat many", &out, &err), 2) << err;
  EXPECT_EQ(RunCli("", &out, &err), 2) << err;  // no command at all
  EXPECT_EQ(RunCli("--help", &out, &err), 0);
  EXPECT_EQ(RunCli("--version", &out, &err), 0);
}

TEST(CliConventions, ZooModelTypoSuggestsTheModel) {
  std::string out, err;
  EXPECT_EQ(RunCli("inspect resnet81", &out, &err), 1);
  EXPECT_TRUE(Has(err, "Did you mean 'resnet18'")) << err;
}

TEST(CliConventions, HelpListsTheCommandsAndNoRemovedOne) {
  std::string out, err;
  ASSERT_EQ(RunCli("--help", &out, &err), 0);
  EXPECT_TRUE(Has(out, "inspect") && Has(out, "serve") && Has(out, "device")) << out;
  // run --dynamic starts `serve`: the old internal dynamic-node command is gone, and says so.
  EXPECT_FALSE(Has(out, "dynamic-node")) << out;
  EXPECT_EQ(RunCli("dynamic-node --help", &out, &err), 2) << err;
}

// Runs `script` in bash with the completion loaded; returns its stdout.
std::string Bash(const std::string& script) {
  const std::string dir = MakeTempDir();
  testing::WriteFile(dir + "/t.sh", "source <(\"" + std::string(EDGESPLIT_CLI_PATH) + "\" completion bash)\n" + script);
  std::string cmd = "bash " + dir + "/t.sh > " + dir + "/out 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFile(dir + "/out");
  return testing::ReadFile(dir + "/out");
}

TEST(CliConventions, BashCompletionLoadsAndCompletes) {
  EXPECT_TRUE(Has(Bash("complete -p edgesplit\n"), "-F _edgesplit edgesplit"));
  // What bash does on TAB: COMP_WORDS and COMP_CWORD set, the function called, COMPREPLY read.
  const std::string commands = Bash("COMP_WORDS=(edgesplit ins); COMP_CWORD=1; _edgesplit; echo \"${COMPREPLY[*]}\"\n");
  EXPECT_EQ(commands, "inspect\n");
  const std::string all = Bash("COMP_WORDS=(edgesplit ''); COMP_CWORD=1; _edgesplit; echo \"${COMPREPLY[*]}\"\n");
  EXPECT_TRUE(Has(all, "plan") && Has(all, "completion") && !Has(all, "dynamic-node")) << all;
  const std::string options =
      Bash("COMP_WORDS=(edgesplit inspect resnet18 --fo); COMP_CWORD=3; _edgesplit; echo \"${COMPREPLY[*]}\"\n");
  EXPECT_EQ(options, "--format\n");
}

TEST(CliConventions, ZshAndFishScriptsNameTheCommands) {
  std::string out, err;
  ASSERT_EQ(RunCli("completion zsh", &out, &err), 0) << err;
  EXPECT_TRUE(Has(out, "#compdef edgesplit") && Has(out, "'inspect:")) << out;
  ASSERT_EQ(RunCli("completion fish", &out, &err), 0) << err;
  EXPECT_TRUE(Has(out, "-a inspect") && Has(out, "-l format")) << out;
  EXPECT_EQ(RunCli("completion tcsh", &out, &err), 2);
}

TEST(CliConventions, ProgressOnlyOnATerminal) {
  const std::string dir = MakeTempDir();
  const std::string args = " quantize mobilenet_v2:alpha=0.35,res=96 --samples 2 -o " + dir + "/q.onnx";
  std::string out, err;
  ASSERT_EQ(RunCli(args, &out, &err), 0) << err;
  EXPECT_FALSE(Has(err, "calibrating")) << err;  // stderr is a file here: silent
  // Under a pseudo-terminal (util-linux script), the progress line is drawn.
  const std::string cmd = "script -qec '" + std::string(EDGESPLIT_CLI_PATH) + args + "' /dev/null > " + dir + "/tty 2>&1";
  if (std::system("command -v script >/dev/null") != 0) GTEST_SKIP() << "no script(1)";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFile(dir + "/tty");
  EXPECT_TRUE(Has(testing::ReadFile(dir + "/tty"), "calibrating  2/2")) << testing::ReadFile(dir + "/tty");
}

}  // namespace
}  // namespace edgesplit
