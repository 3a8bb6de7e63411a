// Console helpers over the platform seam, shared by the firmwares.
#pragma once

#include <cstddef>
#include <cstdint>

#include "platform.h"

namespace edgesplit::mcu {

// v in decimal, no heap and no printf.
inline void OutputNumber(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  char out[24];
  for (int i = 0; i < n; ++i) out[i] = buf[n - 1 - i];
  Output(out, static_cast<size_t>(n));
}

}  // namespace edgesplit::mcu
