// Little-endian field access for the wire layouts. Byte by byte, so it works
// at any alignment and on any host byte order (the MCU and x86 agree on the bytes).
#pragma once

#include <bit>
#include <cstdint>

#include "edgesplit/wire.h"

namespace edgesplit::wire::internal {

inline void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void PutU24(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
}
inline void PutU32(uint8_t* p, uint32_t v) {
  PutU16(p, static_cast<uint16_t>(v));
  PutU16(p + 2, static_cast<uint16_t>(v >> 16));
}
inline uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t GetU24(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16);
}
inline uint32_t GetU32(const uint8_t* p) {
  return static_cast<uint32_t>(GetU16(p)) | (static_cast<uint32_t>(GetU16(p + 2)) << 16);
}
inline void PutF32(uint8_t* p, float v) { PutU32(p, std::bit_cast<uint32_t>(v)); }
inline float GetF32(const uint8_t* p) { return std::bit_cast<float>(GetU32(p)); }

// Datagram first bytes: magic, then version in the high nibble and kind in the low one.
inline constexpr uint8_t kDatagramMagic = 0xE5;
inline uint8_t VersionKindByte(uint8_t kind) { return static_cast<uint8_t>((unsigned{kWireVersion} << 4) | kind); }

}  // namespace edgesplit::wire::internal
