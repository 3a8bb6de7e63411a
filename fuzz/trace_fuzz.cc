// libFuzzer target: arbitrary bytes -> ParseTraceCsv; an accepted trace must
// survive TraceToCsv -> ParseTraceCsv with the same rows, and its first rows
// are simulated with every policy over a small hand-made candidate set (the
// controller and simulator must cope with any rate/load the parser accepts).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "edgesplit/dynamic.h"

namespace {

edgesplit::SplitPolicy MakePolicy() {
  edgesplit::CandidateSet set;
  set.link.per_message_s = 0.002;
  set.link.payload_bytes = 1472;
  set.link.bytes_per_s = 3.75e6;
  const double lines[3][4] = {{1.0, 0, 0, 0}, {0.2, 0.01, 4000, 1}, {0, 0.05, 30000, 2}};  // head, tail, bytes, kind
  for (const auto& l : lines) {
    edgesplit::SplitCandidate c;
    c.kind = static_cast<edgesplit::CandidateKind>(static_cast<int>(l[3]));
    c.name = "c" + std::to_string(set.candidates.size());
    c.head_s = l[0];
    c.tail_s = l[1];
    c.bytes = static_cast<int64_t>(l[2]);
    c.result_bytes = c.bytes > 0 ? 1000 : 0;
    c.device_rest_s = 1.0 - l[0];
    c.fixed_s = c.head_s + (c.bytes > 0 ? 2 * set.link.per_message_s : 0);
    c.slope_bytes = static_cast<double>(c.bytes + c.result_bytes);
    set.candidates.push_back(c);
  }
  set.device_only = 0;
  set.server_only = 2;
  return edgesplit::SplitPolicy::Build(std::move(set), {}).value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const edgesplit::SplitPolicy policy = MakePolicy();
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto rows = edgesplit::ParseTraceCsv(text, "fuzz.csv");
  if (!rows.ok()) {
    if (rows.status().message().empty()) std::abort();  // every error says what is wrong
    return 0;
  }
  auto again = edgesplit::ParseTraceCsv(edgesplit::TraceToCsv(*rows), "again.csv");
  if (!again.ok() || again->size() != rows->size()) std::abort();
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto& a = (*rows)[i];
    const auto& b = (*again)[i];
    if (a.time_s != b.time_s || a.rate_bytes_per_s != b.rate_bytes_per_s || a.server_load != b.server_load) std::abort();
  }
  if (rows->size() > 64) rows->resize(64);
  auto specs = edgesplit::ParsePolicySpecs(policy, "all");
  if (!specs.ok()) std::abort();
  auto results = edgesplit::Simulate(policy, *rows, *specs, edgesplit::ControllerOptions{});
  if (!results.ok()) std::abort();
  for (const auto& r : *results)
    if (std::isnan(r.mean_s) || r.mean_s < 0) std::abort();
  return 0;
}
