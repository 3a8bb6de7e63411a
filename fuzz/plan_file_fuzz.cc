// libFuzzer target: arbitrary bytes -> ParsePlanFile (what `run --plan` reads).
// Never an exception or a crash: every wrong type is an error naming the field.
// An accepted plan is consistent: segments, hops joining them when it has
// links[], link indices inside links[], the chain's nodes from input to output.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "edgesplit/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  edgesplit::Result<edgesplit::PlanFile> plan = edgesplit::ParsePlanFile(text, "fuzz.json");
  if (!plan.ok()) {
    if (plan.status().message().empty()) std::abort();  // every error says what is wrong
    return 0;
  }
  if (plan->segments.empty()) std::abort();
  const size_t links = plan->links.size();
  if (links > 0 && plan->hops.size() + 1 != plan->segments.size()) std::abort();
  auto check = [&](const edgesplit::PlanFileTransfer& t) {
    if (t.bytes < 0 || t.time_s < 0) std::abort();
    if (links == 0 ? t.link_index != -1 : t.link_index < 0 || static_cast<size_t>(t.link_index) >= links) std::abort();
  };
  for (const auto& h : plan->hops) check(h);
  if (plan->input) check(*plan->input);
  if (plan->result) check(*plan->result);
  for (const auto& l : plan->links) {
    if (l.name.empty() || l.parameters.has_value() == l.profile_json.empty()) std::abort();
    // A link the plan spells out parses again from the profile text kept for the nodes.
    if (l.parameters && !edgesplit::ParseLinkProfile(l.profile_json, "again").ok()) std::abort();
  }
  for (const auto& s : plan->segments) {
    if (s.compute_s < 0) std::abort();
    (void)edgesplit::HostProfileName(s.host);
  }
  return 0;
}
