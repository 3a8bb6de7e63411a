// Helpers shared by the test binaries.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "edgesplit/graph.h"

namespace edgesplit::testing {

// Folder of the torchvision fixtures (env EDGESPLIT_FIXTURES, else the build's).
std::string FixturesDir();
// Path of fixture file `name` inside FixturesDir(); "" when it does not exist.
// With EDGESPLIT_REQUIRE_FIXTURES=1 (CI) a missing fixture fails the test
// instead of skipping it, so that CI cannot pass by skipping.
std::string FixturePath(const std::string& name);
bool FixturesRequired();

// A fresh empty temporary directory, removed at process exit.
std::string MakeTempDir();

// Runs the edgesplit CLI with `args`; returns the exit code, fills stdout/stderr.
int RunCli(const std::string& args, std::string* out, std::string* err = nullptr);
// RunCli that expects exit 0 and JSON on stdout (a failed expectation names the
// command and its stderr); returns the parsed JSON, discarded when it is not.
nlohmann::json RunCliJson(const std::string& args);

std::string ReadFile(const std::string& path);

// Expects node `a` of `ga` and node `b` of `gb` to be the same: op, name,
// aliases, attributes, fused activation, and every input/output tensor's name,
// shape, dtype and (for constants) bytes. Failures name the node.
void ExpectSameNode(const Graph& ga, const Node& a, const Graph& gb, const Node& b);
void WriteFile(const std::string& path, const std::string& bytes);
// An echo server's answer to wire message `m`: a kPong with its id and
// payload; empty when `m` does not decode.
std::vector<uint8_t> PongFor(const std::vector<uint8_t>& m);

// An int8 codec table for `model` that makes int4+lz4 cheap (10 bytes, 0.5
// points) at every strict bottleneck, and a costs file pricing it on `head`
// and edge-x86: what the joint cut x codec tests hand the policy. Written as
// DIR/codec_table.json and DIR/codec_costs.json; returns {table, costs}.
std::pair<std::string, std::string> WriteCheapInt4CodecTable(const std::string& model, const std::string& head,
                                                             const std::string& dir);

}  // namespace edgesplit::testing

// Skips (or, in CI, fails) when a fixture is missing.
#define ES_REQUIRE_FIXTURE(var, name)                                                    \
  std::string var = ::edgesplit::testing::FixturePath(name);                            \
  if (var.empty()) {                                                                     \
    if (::edgesplit::testing::FixturesRequired()) FAIL() << "missing fixture " << name; \
    GTEST_SKIP() << "fixture " << name << " not generated (run tools/make_fixtures.py)"; \
  }
