// .npy reading and writing (float32, C order, little-endian).
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "edgesplit/io.h"

namespace edgesplit {
namespace {

Status Bad(const std::string& what, const std::string& message) {
  return InvalidArgument(what + ": " + message);
}

// The value after 'key': in a numpy header dict, up to the matching end.
bool FindValue(const std::string& header, const std::string& key, size_t* pos) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) return false;
  ++colon;
  while (colon < header.size() && header[colon] == ' ') ++colon;
  *pos = colon;
  return true;
}

}  // namespace

Result<FloatArray> ParseNpy(const void* bytes, size_t size, const std::string& what) {
  const unsigned char* p = static_cast<const unsigned char*>(bytes);
  static const unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10) return Bad(what, "truncated: " + std::to_string(size) + " bytes is shorter than an .npy header");
  if (std::memcmp(p, kMagic, 6) != 0) return Bad(what, "not an .npy file (bad magic)");
  const int major = p[6];
  size_t header_len, start;
  if (major == 1) {
    header_len = p[8] | (p[9] << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return Bad(what, "truncated .npy header");
    header_len = static_cast<size_t>(p[8]) | (static_cast<size_t>(p[9]) << 8) | (static_cast<size_t>(p[10]) << 16) |
                 (static_cast<size_t>(p[11]) << 24);
    start = 12;
  } else {
    return Bad(what, "unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > size - start)
    return Bad(what, "truncated: the header claims " + std::to_string(header_len) + " bytes but only " +
                         std::to_string(size - start) + " follow");
  const std::string header(reinterpret_cast<const char*>(p + start), header_len);
  size_t pos;
  if (!FindValue(header, "descr", &pos)) return Bad(what, "bad .npy header (no 'descr'): " + header);
  const size_t q = header.find('\'', pos + 1);
  if (header[pos] != '\'' || q == std::string::npos) return Bad(what, "bad .npy header (descr): " + header);
  const std::string descr = header.substr(pos + 1, q - pos - 1);
  if (descr != "<f4" && descr != "=f4")
    return Bad(what, "dtype '" + descr + "' is not supported; expected float32 ('<f4', little-endian)");
  if (!FindValue(header, "fortran_order", &pos)) return Bad(what, "bad .npy header (no 'fortran_order')");
  if (header.compare(pos, 4, "True") == 0) return Bad(what, "Fortran-order arrays are not supported; save a C-order array");
  if (header.compare(pos, 5, "False") != 0) return Bad(what, "bad .npy header (fortran_order)");
  if (!FindValue(header, "shape", &pos) || header[pos] != '(') return Bad(what, "bad .npy header (no 'shape')");
  const size_t close = header.find(')', pos);
  if (close == std::string::npos) return Bad(what, "bad .npy header (shape)");
  FloatArray array;
  int64_t count = 1;
  {
    std::string dims = header.substr(pos + 1, close - pos - 1);
    size_t i = 0;
    while (i < dims.size()) {
      while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
      if (i >= dims.size()) break;
      if (dims[i] < '0' || dims[i] > '9') return Bad(what, "bad .npy header (shape '" + dims + "')");
      int64_t d = 0;
      while (i < dims.size() && dims[i] >= '0' && dims[i] <= '9') {
        d = d * 10 + (dims[i] - '0');
        if (d > (int64_t{1} << 40)) return Bad(what, "implausibly large .npy shape");
        ++i;
      }
      array.shape.push_back(d);
      if (d > 0 && count > (int64_t{1} << 40) / d) return Bad(what, "implausibly large .npy shape");
      count *= d;
    }
  }
  const size_t data_start = start + header_len;
  const uint64_t need = static_cast<uint64_t>(count) * 4;
  if (size - data_start < need)
    return Bad(what, "truncated: shape " + ShapeToString(array.shape) + " needs " + std::to_string(need) +
                         " data bytes but the file has " + std::to_string(size - data_start));
  if (size - data_start > need)
    return Bad(what, std::to_string(size - data_start - need) + " unexpected bytes after the data of shape " +
                         ShapeToString(array.shape));
  array.data.resize(static_cast<size_t>(count));
  if (count) std::memcpy(array.data.data(), p + data_start, static_cast<size_t>(need));
  return array;
}

Result<FloatArray> ReadNpy(const std::string& path) {
  ES_ASSIGN_OR_RETURN(const std::string bytes, ReadRegularFile(path, kMaxNpyBytes, ".npy file"));
  return ParseNpy(bytes.data(), bytes.size(), "'" + path + "'");
}

std::string EncodeNpy(const Shape& shape, const float* data) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "") + (i + 1 < shape.size() ? " " : "");
  dict += "), }";
  size_t total = 10 + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  out += dict;
  const size_t n = static_cast<size_t>(NumElements(shape));
  out.append(reinterpret_cast<const char*>(data), n * 4);
  return out;
}

Status WriteNpy(const std::string& path, const Shape& shape, const float* data) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return IoError("cannot write '" + path + "'");
  const std::string bytes = EncodeNpy(shape, data);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return IoError("writing '" + path + "' failed");
  return Status::Ok();
}

Status CheckModelInput(const Tensor& model_input, const FloatArray& array, const std::string& what) {
  if (model_input.dtype != DType::kFloat32)
    return Unsupported("the model input '" + model_input.name + "' is " + DTypeName(model_input.dtype) + ", not float32");
  Shape shape = array.shape;
  if (shape.size() + 1 == model_input.shape.size() && model_input.shape[0] == 1) shape.insert(shape.begin(), 1);
  if (shape != model_input.shape)
    return InvalidArgument(what + ": shape " + ShapeToString(array.shape) + " does not match the model input '" +
                           model_input.name + "' " + ShapeToString(model_input.shape));
  for (size_t i = 0; i < array.data.size(); ++i)
    if (!std::isfinite(array.data[i]))
      return InvalidArgument(what + ": element " + std::to_string(i) + " is " + (std::isnan(array.data[i]) ? "NaN" : "infinite") +
                             "; inputs must be finite");
  return Status::Ok();
}

}  // namespace edgesplit
