// The IDX reader (plain and gzip; include/edgesplit/idx.h): any bytes either
// fail with a Status or parse into dims whose product is the data size.
#include <cstdint>
#include <cstdlib>

#include "edgesplit/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A 1 MiB cap keeps hostile headers from exhausting the fuzzer's memory.
  auto a = edgesplit::ParseIdx(data, size, "fuzz", uint64_t{1} << 20);
  if (a.ok()) {
    uint64_t n = 1;
    for (int64_t d : a->dims) n *= static_cast<uint64_t>(d);
    if (a->dims.empty() || n != a->data.size()) std::abort();
  }
  return 0;
}
