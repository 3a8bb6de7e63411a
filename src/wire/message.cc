// Tensor messages: the versioned, CRC-protected frame (layout in docs/wire.md).
#include <cmath>
#include <cstring>
#include <string>

#include "internal/byte_io.h"
#include "edgesplit/codec.h"
#include "edgesplit/wire.h"

namespace edgesplit::wire {
namespace {

using internal::GetF32;
using internal::GetU16;
using internal::GetU32;
using internal::PutF32;
using internal::PutU16;
using internal::PutU32;

constexpr uint8_t kMagic[4] = {'E', 'S', 'W', 'F'};

// Field offsets of the fixed header.
enum Offset : size_t {
  kOffMagic = 0,
  kOffVersion = 4,
  kOffType = 5,
  kOffDType = 6,
  kOffRank = 7,
  kOffRequestId = 8,
  kOffCutId = 12,
  kOffErrorCode = 14,
  kOffPayloadLength = 16,
  kOffQuantScale = 20,
  kOffQuantZeroPoint = 24,
  kOffDeadlineBudget = 28,
  kOffQueueLength = 32,
  kOffServiceTime = 36,
  kOffModelHash = 40,
  kOffBatchSize = 44,
  kOffCodec = 46,
  kOffFlags = 47,
  kOffSenderIdLength = 48,
  kOffDims = 49,
};
static_assert(kOffDims == kMessageFixedHeaderBytes);

// The wire codes of dtypes are fixed here, apart from DType's enumerator order,
// so reordering the IR enum can never change the bytes on the wire.
uint8_t DTypeCode(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 1;
    case DType::kInt8: return 2;
    case DType::kUInt8: return 3;
    case DType::kInt32: return 4;
    case DType::kInt64: return 5;
  }
  return 0;
}
bool DTypeFromCode(uint8_t code, DType* dtype) {
  switch (code) {
    case 1: *dtype = DType::kFloat32; return true;
    case 2: *dtype = DType::kInt8; return true;
    case 3: *dtype = DType::kUInt8; return true;
    case 4: *dtype = DType::kInt32; return true;
    case 5: *dtype = DType::kInt64; return true;
  }
  return false;
}

bool IsTensorType(MessageType type) {
  return type == MessageType::kTensorRequest || type == MessageType::kTensorResult;
}
bool IsKnownType(uint8_t code) {
  return (code >= 1 && code <= 5) || code == 16 || code == 17;
}

std::string N(uint64_t v) { return std::to_string(v); }
std::string Hex(uint8_t v) {
  const char* digits = "0123456789abcdef";
  return std::string{digits[v >> 4], digits[v & 15]};
}

// Checks the fields that fix the message size; shared by DecodeMessage and
// MessageSizeFromPrefix so both reject the same prefixes.
Status CheckPrefix(std::span<const uint8_t> bytes, const WireLimits& limits, size_t* encoded_size) {
  if (bytes.size() < kMessageFixedHeaderBytes)
    return InvalidArgument("truncated message: " + N(bytes.size()) + " bytes, the header alone is " +
                           N(kMessageFixedHeaderBytes));
  if (std::memcmp(bytes.data() + kOffMagic, kMagic, 4) != 0)
    return InvalidArgument("not an edgesplit message: bad magic (expected \"ESWF\")");
  if (bytes[kOffVersion] != kWireVersion)
    return Unsupported("message version " + N(bytes[kOffVersion]) + " (this build speaks version " +
                       N(kWireVersion) + ")");
  const uint8_t rank = bytes[kOffRank];
  const size_t max_rank = limits.max_rank < kMaxRank ? limits.max_rank : kMaxRank;
  if (rank > max_rank) return OutOfRange("message rank " + N(rank) + " exceeds the limit " + N(max_rank));
  const uint8_t id_length = bytes[kOffSenderIdLength];
  if (id_length > kMaxSenderIdBytes)
    return OutOfRange("sender id of " + N(id_length) + " bytes exceeds the limit of " + N(kMaxSenderIdBytes));
  const uint32_t payload = GetU32(bytes.data() + kOffPayloadLength);
  if (payload > limits.max_payload_bytes)
    return OutOfRange("message payload of " + N(payload) + " bytes exceeds the limit of " +
                      N(limits.max_payload_bytes));
  *encoded_size = EncodedMessageBytes(rank, payload, id_length);
  return Status::Ok();
}

void WriteHeader(const MessageHeader& h, size_t payload_bytes, uint8_t* out) {
  std::memcpy(out + kOffMagic, kMagic, 4);
  out[kOffVersion] = kWireVersion;
  out[kOffType] = static_cast<uint8_t>(h.type);
  out[kOffDType] = DTypeCode(h.dtype);
  out[kOffRank] = h.rank;
  PutU32(out + kOffRequestId, h.request_id);
  PutU16(out + kOffCutId, h.cut_id);
  PutU16(out + kOffErrorCode, h.error_code);
  PutU32(out + kOffPayloadLength, static_cast<uint32_t>(payload_bytes));
  PutF32(out + kOffQuantScale, h.quant_scale);
  PutU32(out + kOffQuantZeroPoint, static_cast<uint32_t>(h.quant_zero_point));
  // One slot, two meanings: a request's deadline budget, a result's queue wait.
  PutU32(out + kOffDeadlineBudget, h.type == MessageType::kTensorResult ? h.queue_wait_us : h.deadline_budget_us);
  PutU32(out + kOffQueueLength, h.queue_length);
  PutU32(out + kOffServiceTime, h.service_time_us);
  PutU32(out + kOffModelHash, h.model_hash);
  PutU16(out + kOffBatchSize, h.batch_size);
  out[kOffCodec] = h.codec;
  out[kOffFlags] = h.flags;
  out[kOffSenderIdLength] = h.sender_id_length;
  for (size_t i = 0; i < h.rank; ++i) PutU32(out + kOffDims + 4 * i, h.dims[i]);
  std::memcpy(out + kOffDims + 4 * h.rank, h.sender_id, h.sender_id_length);
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kTensorRequest: return "tensor_request";
    case MessageType::kTensorResult: return "tensor_result";
    case MessageType::kError: return "error";
    case MessageType::kPing: return "ping";
    case MessageType::kPong: return "pong";
    case MessageType::kSegmentChunk: return "segment_chunk";
    case MessageType::kSegmentAck: return "segment_ack";
  }
  return "unknown";
}

void SetSenderId(MessageHeader* header, std::span<const char> id) {
  const size_t n = id.size() < kMaxSenderIdBytes ? id.size() : kMaxSenderIdBytes;
  if (n > 0) std::memcpy(header->sender_id, id.data(), n);
  header->sender_id_length = static_cast<uint8_t>(n);
}

Status ValidateHeader(const MessageHeader& h, size_t payload_bytes, const WireLimits& limits) {
  if (!IsKnownType(static_cast<uint8_t>(h.type)))
    return InvalidArgument("unknown message type " + N(static_cast<uint8_t>(h.type)));
  if (DTypeCode(h.dtype) == 0) return InvalidArgument("unknown dtype " + N(static_cast<uint8_t>(h.dtype)));
  const size_t max_rank = limits.max_rank < kMaxRank ? limits.max_rank : kMaxRank;
  if (h.rank > max_rank) return OutOfRange("message rank " + N(h.rank) + " exceeds the limit " + N(max_rank));
  if (payload_bytes > limits.max_payload_bytes)
    return OutOfRange("message payload of " + N(payload_bytes) + " bytes exceeds the limit of " +
                      N(limits.max_payload_bytes));
  if (!std::isfinite(h.quant_scale) || h.quant_scale < 0.0f)
    return InvalidArgument("quantization scale must be finite and >= 0");
  if (h.sender_id_length > kMaxSenderIdBytes)
    return OutOfRange("sender id of " + N(h.sender_id_length) + " bytes exceeds the limit of " + N(kMaxSenderIdBytes));
  if ((h.flags & kMessageFlagSealed) != 0)
    return Unsupported("sealed message (flag 0x01): this build does not open sealed frames");
  if ((h.flags & ~kKnownMessageFlags) != 0) return InvalidArgument("unknown message flags 0x" + Hex(h.flags));
  Codec codec;
  if (!CodecFromId(h.codec, &codec))
    return Unsupported("unknown codec id 0x" + Hex(h.codec) + " (edgesplit/codec.h lists the ids)");
  if (!IsTensorType(h.type)) {
    if (h.rank != 0)
      return InvalidArgument(std::string(MessageTypeName(h.type)) + " message has rank " + N(h.rank) +
                             "; only tensor messages carry a shape");
    if (h.codec != kCodecRaw)
      return InvalidArgument(std::string(MessageTypeName(h.type)) + " message names codec 0x" + Hex(h.codec) +
                             "; only tensor messages carry a codec");
    return Status::Ok();
  }
  // Product in 64 bits, stopping as soon as it passes the payload limit, so
  // huge dims can neither overflow nor pass.
  uint64_t bytes = DTypeSize(h.dtype);
  for (size_t i = 0; i < h.rank; ++i) {
    if (h.dims[i] == 0) return InvalidArgument("dimension " + N(i) + " of the tensor is 0");
    bytes *= h.dims[i];
    if (bytes > limits.max_payload_bytes)
      return OutOfRange("tensor shape needs more than the payload limit of " + N(limits.max_payload_bytes) +
                        " bytes");
  }
  // An encoded payload (codec != raw) has its own header, which the receiver's
  // decoder checks against this shape (edgesplit/codec.h); here only its size floor.
  if (h.codec != kCodecRaw) {
    if (payload_bytes < kCodecHeaderBytes)
      return InvalidArgument("codec 0x" + Hex(h.codec) + " payload of " + N(payload_bytes) + " bytes is shorter than its " +
                             N(kCodecHeaderBytes) + "-byte header");
    return Status::Ok();
  }
  if (bytes != payload_bytes)
    return InvalidArgument("tensor shape and dtype need " + N(bytes) + " bytes but the payload length is " +
                           N(payload_bytes));
  return Status::Ok();
}

Result<size_t> EncodeMessageInPlace(const MessageHeader& header, size_t payload_bytes, std::span<uint8_t> out,
                                    const WireLimits& limits) {
  ES_RETURN_IF_ERROR(ValidateHeader(header, payload_bytes, limits));
  const size_t total = EncodedMessageBytes(header, payload_bytes);
  if (out.size() < total)
    return OutOfRange("message needs " + N(total) + " bytes, the output buffer has " + N(out.size()));
  WriteHeader(header, payload_bytes, out.data());
  const size_t body = total - kMessageCrcBytes;
  PutU32(out.data() + body, Crc32(out.first(body)));
  return total;
}

Result<size_t> EncodeMessage(const MessageHeader& header, std::span<const uint8_t> payload, std::span<uint8_t> out,
                             const WireLimits& limits) {
  // Validate before copying: the copy must not run over a too-small buffer.
  ES_RETURN_IF_ERROR(ValidateHeader(header, payload.size(), limits));
  const size_t offset = MessageHeaderBytes(header);
  if (out.size() < EncodedMessageBytes(header, payload.size()))
    return OutOfRange("message needs " + N(EncodedMessageBytes(header, payload.size())) +
                      " bytes, the output buffer has " + N(out.size()));
  if (!payload.empty()) std::memmove(out.data() + offset, payload.data(), payload.size());
  return EncodeMessageInPlace(header, payload.size(), out, limits);
}

Result<size_t> MessageSizeFromPrefix(std::span<const uint8_t> prefix, const WireLimits& limits) {
  size_t size = 0;
  ES_RETURN_IF_ERROR(CheckPrefix(prefix, limits, &size));
  return size;
}

namespace {

// body_crc: the CRC of everything but the trailer, computed by the caller as
// the bytes arrived (null: computed here). check_crc false: not checked.
Result<DecodedMessage> Decode(std::span<const uint8_t> bytes, const WireLimits& limits, bool check_crc,
                              const uint32_t* body_crc = nullptr) {
  size_t size = 0;
  ES_RETURN_IF_ERROR(CheckPrefix(bytes, limits, &size));
  if (bytes.size() < size)
    return InvalidArgument("truncated message: " + N(bytes.size()) + " of " + N(size) + " bytes");
  if (bytes.size() > size) return InvalidArgument(N(bytes.size() - size) + " trailing bytes after the message");
  const size_t body = size - kMessageCrcBytes;
  if (check_crc && GetU32(bytes.data() + body) != (body_crc ? *body_crc : Crc32(bytes.first(body))))
    return InvalidArgument("message CRC32 mismatch: corrupted in transit");

  DecodedMessage m;
  MessageHeader& h = m.header;
  const uint8_t* p = bytes.data();
  if (!IsKnownType(p[kOffType])) return InvalidArgument("unknown message type " + N(p[kOffType]));
  h.type = static_cast<MessageType>(p[kOffType]);
  if (!DTypeFromCode(p[kOffDType], &h.dtype)) return InvalidArgument("unknown dtype code " + N(p[kOffDType]));
  h.rank = p[kOffRank];
  h.request_id = GetU32(p + kOffRequestId);
  h.cut_id = GetU16(p + kOffCutId);
  h.error_code = GetU16(p + kOffErrorCode);
  h.quant_scale = GetF32(p + kOffQuantScale);
  h.quant_zero_point = static_cast<int32_t>(GetU32(p + kOffQuantZeroPoint));
  (h.type == MessageType::kTensorResult ? h.queue_wait_us : h.deadline_budget_us) = GetU32(p + kOffDeadlineBudget);
  h.queue_length = GetU32(p + kOffQueueLength);
  h.service_time_us = GetU32(p + kOffServiceTime);
  h.model_hash = GetU32(p + kOffModelHash);
  h.batch_size = GetU16(p + kOffBatchSize);
  h.codec = p[kOffCodec];
  h.flags = p[kOffFlags];
  for (size_t i = 0; i < h.rank; ++i) h.dims[i] = GetU32(p + kOffDims + 4 * i);
  h.sender_id_length = p[kOffSenderIdLength];  // <= kMaxSenderIdBytes: CheckPrefix
  std::memcpy(h.sender_id, p + kOffDims + 4 * h.rank, h.sender_id_length);
  const size_t header_bytes = MessageHeaderBytes(h);
  m.payload = bytes.subspan(header_bytes, body - header_bytes);
  ES_RETURN_IF_ERROR(ValidateHeader(h, m.payload.size(), limits));
  return m;
}

}  // namespace

Result<DecodedMessage> DecodeMessage(std::span<const uint8_t> bytes, const WireLimits& limits) {
  return Decode(bytes, limits, /*check_crc=*/true);
}

Result<DecodedMessage> DecodeCheckedMessage(std::span<const uint8_t> bytes, const WireLimits& limits) {
  return Decode(bytes, limits, /*check_crc=*/false);
}

Result<DecodedMessage> DecodeMessageWithCrc(std::span<const uint8_t> bytes, uint32_t body_crc, const WireLimits& limits) {
  return Decode(bytes, limits, /*check_crc=*/true, &body_crc);
}

}  // namespace edgesplit::wire
