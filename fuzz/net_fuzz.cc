// The net module's parsers of outside text: addresses given on the command line
// (ParseEndpoint) and transport names from link profiles (ParseTransportKind).
// Either they fail with a Status or what they accept prints back the same.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "edgesplit/net.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto e = edgesplit::net::ParseEndpoint(text);
  if (e.ok()) {
    auto again = edgesplit::net::ParseEndpoint(e->ToString());
    if (!again.ok() || !(*again == *e)) std::abort();
  }
  auto k = edgesplit::net::ParseTransportKind(text);
  if (k.ok() && edgesplit::net::TransportKindName(*k) != text) std::abort();
  return 0;
}
