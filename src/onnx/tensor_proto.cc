// TensorProto <-> Tensor, with every storage form ONNX writers use, and the
// checks that keep a hostile file from making us read outside the model folder,
// truncate data silently or allocate without bound.
#include <google/protobuf/io/coded_stream.h>

#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "onnx_internal.h"

namespace edgesplit::onnx_internal {
namespace fs = std::filesystem;

bool DTypeFromOnnx(int64_t onnx_type, DType* dtype) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT: *dtype = DType::kFloat32; return true;
    case onnx::TensorProto::INT8: *dtype = DType::kInt8; return true;
    case onnx::TensorProto::UINT8: *dtype = DType::kUInt8; return true;
    case onnx::TensorProto::INT32: *dtype = DType::kInt32; return true;
    case onnx::TensorProto::INT64: *dtype = DType::kInt64; return true;
    default: return false;
  }
}

int OnnxFromDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return onnx::TensorProto::FLOAT;
    case DType::kInt8: return onnx::TensorProto::INT8;
    case DType::kUInt8: return onnx::TensorProto::UINT8;
    case DType::kInt32: return onnx::TensorProto::INT32;
    case DType::kInt64: return onnx::TensorProto::INT64;
  }
  return onnx::TensorProto::UNDEFINED;
}

std::string OnnxTypeName(int64_t onnx_type) {
  if (onnx_type >= INT_MIN && onnx_type <= INT_MAX && onnx::TensorProto_DataType_IsValid(static_cast<int>(onnx_type)))
    return onnx::TensorProto_DataType_Name(static_cast<int>(onnx_type));
  return "data type " + std::to_string(onnx_type);
}

int64_t CheckedElementCount(const std::vector<int64_t>& dims, int64_t limit) {
  // Zero dims count as 1 in the bound: a [0, 2^40, 2^40] tensor is empty, but
  // later size arithmetic over its other dims (Flatten, Reshape) would overflow.
  int64_t bound = 1;
  bool empty = false;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    if (d == 0) {
      empty = true;
      continue;
    }
    if (bound > limit / d) return -1;
    bound *= d;
  }
  return empty ? 0 : bound;
}

bool ParseProto(const void* data, size_t size, google::protobuf::MessageLite* message) {
  if (size > static_cast<size_t>(INT_MAX)) return false;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(data), static_cast<int>(size));
  // Larger than the buffer, so the limit never triggers protobuf's own logging;
  // the callers refuse oversized inputs with a clear message before this point.
  in.SetTotalBytesLimit(INT_MAX);
  return message->ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
}

Result<std::string> ReadFileLimited(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return IoError("cannot read '" + path + "': not a regular file or missing");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return IoError("cannot read '" + path + "': " + ec.message());
  if (size > static_cast<uintmax_t>(max_bytes))
    return OutOfRange("'" + path + "' is " + std::to_string(size) + " bytes, more than the limit of " +
                      std::to_string(max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open '" + path + "'");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) return IoError("short read from '" + path + "'");
  return bytes;
}

namespace {

bool ParseNonNegative(const std::string& s, int64_t* value) {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *value);
  return ec == std::errc() && ptr == end && *value >= 0;
}

// `child` is inside `parent` (both canonical): parent's components are a strict prefix.
bool IsInside(const fs::path& parent, const fs::path& child) {
  auto p = parent.begin(), c = child.begin();
  for (; p != parent.end(); ++p, ++c) {
    if (c == child.end() || *p != *c) return false;
  }
  return c != child.end();
}

// Narrows the int32_data field (which ONNX also uses for 8-bit types) with a range check.
template <typename T>
Status CopyNarrowed(const google::protobuf::RepeatedField<int32_t>& values, Tensor& t, const std::string& where) {
  T* out = t.mutable_data_as<T>();
  for (int i = 0; i < values.size(); ++i) {
    const int32_t v = values[i];
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
      return InvalidArgument(where + ": value " + std::to_string(v) + " does not fit " + DTypeName(t.dtype));
    out[i] = static_cast<T>(v);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ExternalData::Read(const onnx::TensorProto& proto, const std::string& where,
                                       size_t expected_bytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset" || entry.key() == "length") {
      int64_t v = 0;
      if (!ParseNonNegative(entry.value(), &v))
        return InvalidArgument(where + ": external data " + entry.key() + " '" + entry.value() +
                               "' is not a non-negative integer");
      (entry.key() == "offset" ? offset : length) = v;
    }
  }
  if (location.empty()) return InvalidArgument(where + ": external data has no 'location'");
  const std::string what = where + ": external data '" + location + "'";
  if (base_dir_.empty()) return InvalidArgument(what + " is not allowed: the model was not read from a file");
  if (location.find('\0') != std::string::npos) return InvalidArgument(what + " contains a NUL byte");
  const fs::path rel(location);
  if (rel.is_absolute() || location.front() == '/' || location.front() == '\\')
    return InvalidArgument(what + " is an absolute path; it must be relative to the model's folder");
  for (const fs::path& part : rel)
    if (part == "..") return InvalidArgument(what + " contains '..'; it must stay inside the model's folder");

  std::error_code ec;
  const fs::path base = fs::canonical(base_dir_, ec);
  if (ec) return IoError(what + ": cannot resolve the model folder '" + base_dir_ + "': " + ec.message());
  const fs::path file = fs::canonical(base / rel, ec);
  if (ec) return NotFound(what + " cannot be opened: " + ec.message());
  if (!IsInside(base, file))
    return InvalidArgument(what + " resolves to '" + file.string() + "', outside the model's folder");
  if (!fs::is_regular_file(file, ec)) return InvalidArgument(what + " is not a regular file");
  const uintmax_t file_size = fs::file_size(file, ec);
  if (ec) return IoError(what + ": " + ec.message());
  if (static_cast<uintmax_t>(offset) > file_size)
    return OutOfRange(what + ": offset " + std::to_string(offset) + " is beyond the end of the file (" +
                      std::to_string(file_size) + " bytes)");
  const uintmax_t available = file_size - static_cast<uintmax_t>(offset);
  if (length < 0) length = static_cast<int64_t>(available);
  if (static_cast<uintmax_t>(length) > available)
    return OutOfRange(what + ": offset " + std::to_string(offset) + " + length " + std::to_string(length) +
                      " is beyond the end of the file (" + std::to_string(file_size) + " bytes)");
  // Checked before anything is allocated.
  if (static_cast<uintmax_t>(length) != expected_bytes)
    return InvalidArgument(what + " holds " + std::to_string(length) + " bytes but the tensor's shape needs " +
                           std::to_string(expected_bytes));
  if (file_sizes_.emplace(file.string(), file_size).second) total_file_bytes_ += file_size;
  if (static_cast<uintmax_t>(length) > total_file_bytes_ - bytes_read_)
    return OutOfRange(what + ": the model's tensors read more external data than its files hold (" +
                      std::to_string(total_file_bytes_) + " bytes); tensors may not share bytes");
  bytes_read_ += static_cast<uintmax_t>(length);

  std::ifstream in(file, std::ios::binary);
  if (!in) return IoError(what + " cannot be opened");
  in.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(static_cast<size_t>(length), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(length));
  if (in.gcount() != static_cast<std::streamsize>(length)) return IoError(what + ": short read");
  return bytes;
}

Result<Tensor> TensorFromProto(const onnx::TensorProto& proto, ExternalData& external) {
  const std::string where = "tensor '" + proto.name() + "'";
  Tensor t;
  t.name = proto.name();
  t.is_constant = true;
  if (!DTypeFromOnnx(proto.data_type(), &t.dtype))
    return Unsupported(where + " has dtype " + OnnxTypeName(proto.data_type()) +
                       "; edgesplit supports FLOAT, INT8, UINT8, INT32 and INT64");
  t.shape.assign(proto.dims().begin(), proto.dims().end());
  for (int64_t d : t.shape)
    if (d < 0) return InvalidArgument(where + " has a negative dimension in " + ShapeToString(t.shape));
  const int64_t count = CheckedElementCount(t.shape, kMaxConstantElements);
  if (count < 0)
    return OutOfRange(where + " of shape " + ShapeToString(t.shape) + " has more than " +
                      std::to_string(kMaxConstantElements) + " elements");
  if (proto.has_segment()) return Unsupported(where + " is a segment of a larger tensor");
  const size_t elem = DTypeSize(t.dtype);
  const size_t expected_bytes = static_cast<size_t>(count) * elem;
  auto mismatch = [&](const std::string& form, size_t have, const std::string& unit) {
    return InvalidArgument(where + ": " + form + " holds " + std::to_string(have) + " " + unit + " but the shape " +
                           ShapeToString(t.shape) + " of " + DTypeName(t.dtype) + " needs " +
                           std::to_string(unit == "bytes" ? expected_bytes : static_cast<size_t>(count)));
  };

  const bool is_external = proto.data_location() == onnx::TensorProto::EXTERNAL;
  const int typed_count = proto.float_data_size() + proto.int32_data_size() + proto.int64_data_size() +
                          proto.double_data_size() + proto.uint64_data_size() + proto.string_data_size();
  if (is_external + proto.has_raw_data() + (typed_count > 0) > 1)
    return InvalidArgument(where + " stores its data in more than one form");

  if (is_external || proto.has_raw_data()) {
    std::string external_bytes;
    if (is_external) {
      ES_ASSIGN_OR_RETURN(external_bytes, external.Read(proto, where, expected_bytes));
    }
    const std::string& bytes = is_external ? external_bytes : proto.raw_data();
    if (bytes.size() != expected_bytes)
      return mismatch(is_external ? "external data" : "raw_data", bytes.size(), "bytes");
    t.data.assign(bytes.begin(), bytes.end());  // little-endian, as in the file
    return t;
  }

  t.data.resize(expected_bytes);
  auto check_count = [&](int have, const char* field) -> Status {
    if (static_cast<size_t>(have) != static_cast<size_t>(count))
      return mismatch(field, static_cast<size_t>(have), "values");
    return Status::Ok();
  };
  switch (t.dtype) {
    case DType::kFloat32:
      ES_RETURN_IF_ERROR(check_count(proto.float_data_size(), "float_data"));
      if (count) std::memcpy(t.data.data(), proto.float_data().data(), expected_bytes);
      break;
    case DType::kInt64:
      ES_RETURN_IF_ERROR(check_count(proto.int64_data_size(), "int64_data"));
      if (count) std::memcpy(t.data.data(), proto.int64_data().data(), expected_bytes);
      break;
    case DType::kInt32:
      ES_RETURN_IF_ERROR(check_count(proto.int32_data_size(), "int32_data"));
      if (count) std::memcpy(t.data.data(), proto.int32_data().data(), expected_bytes);
      break;
    case DType::kInt8:
      ES_RETURN_IF_ERROR(check_count(proto.int32_data_size(), "int32_data"));
      ES_RETURN_IF_ERROR(CopyNarrowed<int8_t>(proto.int32_data(), t, where));
      break;
    case DType::kUInt8:
      ES_RETURN_IF_ERROR(check_count(proto.int32_data_size(), "int32_data"));
      ES_RETURN_IF_ERROR(CopyNarrowed<uint8_t>(proto.int32_data(), t, where));
      break;
  }
  return t;
}

void TensorToProto(const Tensor& tensor, onnx::TensorProto* proto) {
  proto->set_name(tensor.name);
  proto->set_data_type(OnnxFromDType(tensor.dtype));
  for (int64_t d : tensor.shape) proto->add_dims(d);
  proto->set_raw_data(tensor.bytes(), tensor.byte_size());  // also constants held in place (segment files)
}

}  // namespace edgesplit::onnx_internal

namespace edgesplit {
using namespace onnx_internal;

Result<Tensor> ReadTensorProtoFile(const std::string& path) {
  ES_ASSIGN_OR_RETURN(std::string bytes, ReadFileLimited(path, INT_MAX));
  onnx::TensorProto proto;
  if (!ParseProto(bytes.data(), bytes.size(), &proto))
    return InvalidArgument("'" + path + "' is not a valid ONNX TensorProto (truncated or not protobuf)");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  ExternalData external(dir.empty() ? "." : dir);
  Result<Tensor> t = TensorFromProto(proto, external);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

}  // namespace edgesplit
