// libFuzzer target: arbitrary bytes -> the live dynamic run's two parsers of
// outside bytes: ParseDynamicControl (kPing/kPong payloads from the network)
// and ParseScheduleCsv (the --schedule file). An accepted control block must
// re-encode to the same fields; an accepted schedule must hold the documented
// invariants (requests >= 1 and increasing, rate > 0, load in (0, 1e6]).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "edgesplit/dynamic_runtime.h"

using namespace edgesplit::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = ParseDynamicControl(std::span<const uint8_t>(data, size));
  if (!c.ok()) {
    if (c.status().message().empty()) std::abort();  // every error says what is wrong
  } else {
    std::vector<uint8_t> again(kDynamicControlBytes);
    if (!EncodeDynamicControl(*c, again).ok()) std::abort();
    auto back = ParseDynamicControl(again);
    if (!back.ok() || back->flags != c->flags) std::abort();
    if ((c->flags & kControlSetRate) && !(c->rate_bytes_per_s > 0 && std::isfinite(c->rate_bytes_per_s))) std::abort();
    if ((c->flags & kControlSetLoad) && !(c->load > 0 && c->load <= 1e6)) std::abort();
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto rows = ParseScheduleCsv(text, "fuzz.csv");
  if (!rows.ok()) {
    if (rows.status().message().empty()) std::abort();
    return 0;
  }
  int last = 0;
  for (const ScheduleRow& r : *rows) {
    if (r.request <= last || !(r.rate_bytes_per_s > 0) || !std::isfinite(r.rate_bytes_per_s) || !(r.server_load > 0) ||
        r.server_load > 1e6)
      std::abort();
    last = r.request;
  }
  return 0;
}
