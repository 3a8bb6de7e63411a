// The edge server's request path: any bytes as a received message through the
// wire decoder and the server's admission checks (TailSet::CheckRequest), an
// encoded payload through the reference decoder (TailSet::DecodeInput), and
// an admitted request through its tail. Admission either names what is wrong
// or the tail runs to completion on the request's bytes.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "../src/runtime/tail_set.h"
#include "edgesplit/wire.h"

namespace {

edgesplit::runtime::TailSet* Tails() {
  // A tiny model, every interior cut served, on the reference kernels.
  static std::unique_ptr<edgesplit::runtime::TailSet> tails = [] {
    auto t = edgesplit::runtime::TailSet::Load("mobilenet_v2:alpha=0.35,res=96,classes=10", "int8", "all", "reference", 1);
    if (!t.ok()) std::abort();
    return std::move(t).value();
  }();
  return tails.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgesplit::runtime::TailSet* tails = Tails();
  edgesplit::wire::WireLimits limits;
  limits.max_payload_bytes = static_cast<uint32_t>(tails->max_request_bytes());
  auto m = edgesplit::wire::DecodeMessage(std::span<const uint8_t>(data, size), limits);
  if (!m.ok()) return 0;
  auto t = tails->CheckRequest(m->header, m->payload.size());
  if (!t.ok()) {
    if (t.status().message().empty()) std::abort();  // every refusal says why
    return 0;
  }
  // An encoded request (codec != raw) is decoded first, as the server does:
  // a malformed payload is refused with a reason, a decoded one always runs.
  std::vector<uint8_t> decoded;
  std::span<const uint8_t> input = m->payload;
  if (m->header.codec != edgesplit::wire::kCodecRaw) {
    const edgesplit::Status s = tails->DecodeInput(*t, m->header, m->payload, &decoded);
    if (!s.ok()) {
      if (s.message().empty()) std::abort();
      return 0;
    }
    input = decoded;
  }
  const std::span<const uint8_t> inputs[1] = {input};
  if (!tails->Run(*t, inputs).ok()) std::abort();  // an admitted request always runs
  if (tails->Output(*t, 0).empty()) std::abort();
  return 0;
}
