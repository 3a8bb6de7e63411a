// Element types of tensors, as the graph, the kernels and the wire format
// share them (header-only: the wire module uses it without linking the graph).
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgesplit {

enum class DType : uint8_t { kFloat32, kInt8, kUInt8, kInt32, kInt64 };

// "f32", "int8", "uint8", "int32", "int64" ("?" for a value outside the enum).
constexpr const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "f32";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
  }
  return "?";
}

// Bytes of one element, in memory and on the wire (f32 4, int8/uint8 1, int32 4,
// int64 8; 0 for a value outside the enum).
constexpr size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kInt8: return 1;
    case DType::kUInt8: return 1;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
  }
  return 0;
}

}  // namespace edgesplit
