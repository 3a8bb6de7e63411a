// Cut-tensor codecs, the portable part: ids and names, the header, the
// quantizers (raw, int8, int4, int2, fp16) and the +lz4 stage's encoder.
// No heap, no OS calls on the encode/decode paths (include/edgesplit/codec.h).
#include <cmath>
#include <cstring>

#include "edgesplit/codec.h"

namespace edgesplit {
namespace {

constexpr uint32_t kMaxChannels = 0xffff;
constexpr const char* kQuantNames[] = {"raw", "int8", "int4", "int2", "fp16"};
constexpr const char* kEntropyNames[] = {"", "lz4", "zstd"};

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
void PutF32(uint8_t* p, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  PutU32(p, v);
}
float GetF32(const uint8_t* p) {
  const uint32_t v = GetU32(p);
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}

int QuantBits(CodecQuant q) { return q == CodecQuant::kInt8 ? 8 : q == CodecQuant::kInt4 ? 4 : 2; }
bool IsAffine(CodecQuant q) { return q == CodecQuant::kInt8 || q == CodecQuant::kInt4 || q == CodecQuant::kInt2; }
bool ValidDType(uint8_t d) { return d == 1 || d == 2; }
size_t DTypeBytes(CodecDType d) { return d == CodecDType::kFloat32 ? 4 : 1; }

// The quantizer's output size, in 64 bits so a 32-bit device cannot overflow; 0 = invalid.
uint64_t BodyBytes64(CodecQuant q, CodecDType dtype, uint32_t elements, uint32_t channels) {
  if (channels == 0 || channels > kMaxChannels || elements % channels != 0) return 0;
  const uint64_t n = elements;
  switch (q) {
    case CodecQuant::kRaw: return n * DTypeBytes(dtype);
    case CodecQuant::kFp16: return dtype == CodecDType::kFloat32 ? n * 2 : 0;
    case CodecQuant::kInt8: return dtype == CodecDType::kFloat32 ? 8 + n : 0;
    case CodecQuant::kInt4: return uint64_t{8} * channels + (n + 1) / 2;
    case CodecQuant::kInt2: return uint64_t{8} * channels + (n + 3) / 4;
  }
  return 0;
}

// ZSTD_COMPRESSBOUND (zstd.h), so the bound needs no libzstd here.
uint64_t ZstdBound(uint64_t n) { return n + (n >> 8) + (n < (128u << 10) ? ((128u << 10) - n) >> 11 : 0); }

float ValueAt(const CutTensorView& t, size_t i) {
  if (t.dtype == CodecDType::kFloat32) return static_cast<const float*>(t.data)[i];
  return static_cast<float>(static_cast<const int8_t*>(t.data)[i]);
}

// float32 -> binary16, round to nearest even; NaN stays a (quiet) NaN, overflow is inf.
uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
  const int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {  // a half subnormal (or zero): value / 2^-24, rounded
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // a carry into the exponent is correct (inf at the top)
  return static_cast<uint16_t>(sign | half);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (uint32_t{h} & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      uint32_t e = 113;
      while (!(mant & 0x400u)) mant <<= 1, --e;
      bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// int8 / int4 / int2: per group (the tensor for int8, each channel otherwise)
// lo = min, scale = (max - min) / L, code = floor((x - lo) / scale + 0.5) <= L.
Status EncodeAffine(CodecQuant q, const CutTensorView& t, uint8_t* body) {
  const int bits = QuantBits(q);
  const uint32_t levels = (1u << bits) - 1;
  const uint32_t groups = q == CodecQuant::kInt8 ? 1 : t.channels;
  const size_t per = t.elements / groups;
  uint8_t* codes = body + 8 * size_t{groups};
  if (bits < 8) std::memset(codes, 0, (size_t{t.elements} * bits + 7) / 8);
  for (uint32_t g = 0; g < groups; ++g) {
    const size_t begin = g * per;
    float lo = 0, hi = 0;
    for (size_t i = begin; i < begin + per; ++i) {
      const float v = ValueAt(t, i);
      if (!std::isfinite(v)) return InvalidArgument("codec " + std::string(kQuantNames[static_cast<int>(q)]) +
                                                    ": element " + std::to_string(i) + " is not finite");
      if (i == begin || v < lo) lo = v;
      if (i == begin || v > hi) hi = v;
    }
    const float scale = (hi - lo) / static_cast<float>(levels);
    if (!std::isfinite(scale)) return InvalidArgument("codec: the value range of channel " + std::to_string(g) + " overflows float32");
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    PutF32(body + 8 * size_t{g}, lo);
    PutF32(body + 8 * size_t{g} + 4, scale);
    for (size_t i = begin; i < begin + per; ++i) {
      const float r = (ValueAt(t, i) - lo) * inv + 0.5f;
      // A non-finite value (NaN from the head) gets code 0 rather than an undefined conversion.
      const uint32_t code = !(r >= 0.0f) ? 0u : r >= static_cast<float>(levels) ? levels : static_cast<uint32_t>(r);
      if (bits == 8) codes[i] = static_cast<uint8_t>(code);
      else codes[i * bits / 8] |= static_cast<uint8_t>(code << ((i * bits) % 8));
    }
  }
  return Status::Ok();
}

Status DecodeAffine(const CodecHeader& h, const uint8_t* body, void* out) {
  const CodecQuant q = h.codec.quant;
  const int bits = QuantBits(q);
  const uint32_t levels = (1u << bits) - 1;
  const uint32_t groups = q == CodecQuant::kInt8 ? 1 : h.channels;
  const size_t per = h.elements / groups;
  const uint8_t* codes = body + 8 * size_t{groups};
  for (uint32_t g = 0; g < groups; ++g) {
    const float lo = GetF32(body + 8 * size_t{g}), scale = GetF32(body + 8 * size_t{g} + 4);
    if (!std::isfinite(lo) || !std::isfinite(scale) || scale < 0 || !std::isfinite(lo + static_cast<float>(levels) * scale))
      return InvalidArgument("codec payload: channel " + std::to_string(g) + " has a bad range (min " + std::to_string(lo) +
                             ", scale " + std::to_string(scale) + ")");
    for (size_t i = g * per; i < (g + 1) * per; ++i) {
      const uint32_t code = bits == 8 ? codes[i] : (codes[i * bits / 8] >> ((i * bits) % 8)) & levels;
      const float v = lo + static_cast<float>(code) * scale;
      if (h.dtype == CodecDType::kFloat32) {
        static_cast<float*>(out)[i] = v;
      } else {  // round half away from zero, clamp to int8
        float r = v >= 0 ? std::floor(v + 0.5f) : -std::floor(-v + 0.5f);
        r = r < -128.0f ? -128.0f : r > 127.0f ? 127.0f : r;
        static_cast<int8_t*>(out)[i] = static_cast<int8_t>(r);
      }
    }
  }
  return Status::Ok();
}

Status CheckView(Codec c, const CutTensorView& t) {
  if (!CodecApplies(c, t.dtype))
    return InvalidArgument("codec " + CodecName(c) + " needs a float32 tensor; this one is int8 (use raw, int4 or int2)");
  if (t.channels == 0 || t.channels > kMaxChannels || t.elements % t.channels != 0)
    return InvalidArgument("codec " + CodecName(c) + ": " + std::to_string(t.channels) + " channels do not divide " +
                           std::to_string(t.elements) + " elements (1..65535 channels)");
  if (t.elements > 0 && !t.data) return InvalidArgument("codec " + CodecName(c) + ": no tensor data");
  if (BodyBytes64(c.quant, t.dtype, t.elements, t.channels) > 0xffffffffu)
    return OutOfRange("codec " + CodecName(c) + ": the tensor is too large (" + std::to_string(t.elements) + " elements)");
  return Status::Ok();
}

Status EncodeBody(CodecQuant q, const CutTensorView& t, uint8_t* body) {
  switch (q) {
    case CodecQuant::kRaw:
      if (t.elements) std::memcpy(body, t.data, size_t{t.elements} * DTypeBytes(t.dtype));  // little-endian hosts and MCUs
      return Status::Ok();
    case CodecQuant::kFp16:
      for (size_t i = 0; i < t.elements; ++i) {
        const uint16_t v = FloatToHalf(static_cast<const float*>(t.data)[i]);
        body[2 * i] = static_cast<uint8_t>(v);
        body[2 * i + 1] = static_cast<uint8_t>(v >> 8);
      }
      return Status::Ok();
    default:
      return EncodeAffine(q, t, body);
  }
}

}  // namespace

uint32_t CodecChannels(const int64_t* shape, size_t rank) {
  constexpr int64_t kMinChannelPlane = 16;
  if (rank < 3 || shape[1] <= 0 || shape[1] > static_cast<int64_t>(kMaxChannels)) return 1;
  int64_t plane = 1;
  for (size_t d = 2; d < rank; ++d) plane *= shape[d];
  return plane >= kMinChannelPlane ? static_cast<uint32_t>(shape[1]) : 1;
}

uint8_t CodecId(Codec c) { return static_cast<uint8_t>(static_cast<uint8_t>(c.quant) | (static_cast<uint8_t>(c.entropy) << 4)); }

bool CodecFromId(uint8_t id, Codec* out) {
  const uint8_t q = id & 0x0f, e = id >> 4;
  if (q > 4 || e > 2) return false;
  *out = Codec{static_cast<CodecQuant>(q), static_cast<CodecEntropy>(e)};
  return true;
}

Result<Codec> ParseCodecName(std::string_view name) {
  const size_t plus = name.find('+');
  const std::string_view qn = name.substr(0, plus);
  Codec c;
  bool found = false;
  for (int q = 0; q < 5; ++q)
    if (qn == kQuantNames[q]) c.quant = static_cast<CodecQuant>(q), found = true;
  if (!found)
    return InvalidArgument("unknown codec '" + std::string(name) + "': the quantizer '" + std::string(qn) +
                           "' is not one of raw, int8, int4, int2, fp16");
  if (plus != std::string_view::npos) {
    const std::string_view en = name.substr(plus + 1);
    if (en == "lz4") c.entropy = CodecEntropy::kLz4;
    else if (en == "zstd") c.entropy = CodecEntropy::kZstd;
    else return InvalidArgument("unknown codec '" + std::string(name) + "': the entropy stage '" + std::string(en) +
                                "' is not lz4 or zstd");
  }
  return c;
}

std::string CodecName(Codec c) {
  std::string n = kQuantNames[static_cast<int>(c.quant) % 5];
  if (c.entropy != CodecEntropy::kNone) n = n + "+" + kEntropyNames[static_cast<int>(c.entropy) % 3];
  return n;
}

std::vector<Codec> AllCodecs() {
  std::vector<Codec> all;
  for (int e = 0; e < 3; ++e)
    for (int q = 0; q < 5; ++q) all.push_back(Codec{static_cast<CodecQuant>(q), static_cast<CodecEntropy>(e)});
  return all;
}

bool CodecApplies(Codec c, CodecDType dtype) {
  return dtype == CodecDType::kFloat32 || (c.quant != CodecQuant::kInt8 && c.quant != CodecQuant::kFp16);
}

Status ParseCodecHeader(const uint8_t* payload, size_t size, CodecHeader* out) {
  if (size < kCodecHeaderBytes)
    return InvalidArgument("codec payload: " + std::to_string(size) + " bytes is shorter than the 12-byte header");
  CodecHeader h;
  if (!CodecFromId(payload[0], &h.codec)) return InvalidArgument("codec payload: unknown codec id " + std::to_string(payload[0]));
  if (!ValidDType(payload[1])) return InvalidArgument("codec payload: unknown dtype " + std::to_string(payload[1]));
  h.dtype = static_cast<CodecDType>(payload[1]);
  h.channels = uint32_t{payload[2]} | (uint32_t{payload[3]} << 8);
  h.elements = GetU32(payload + 4);
  h.body_bytes = GetU32(payload + 8);
  if (!CodecApplies(h.codec, h.dtype))
    return InvalidArgument("codec payload: codec " + CodecName(h.codec) + " cannot carry an int8 tensor");
  const uint64_t body = BodyBytes64(h.codec.quant, h.dtype, h.elements, h.channels);
  if (h.channels == 0 || h.elements % h.channels != 0)
    return InvalidArgument("codec payload: " + std::to_string(h.channels) + " channels do not divide " +
                           std::to_string(h.elements) + " elements");
  if (body != h.body_bytes)
    return InvalidArgument("codec payload: body size " + std::to_string(h.body_bytes) + " does not match " +
                           CodecName(h.codec) + " of " + std::to_string(h.elements) + " elements (" + std::to_string(body) + ")");
  *out = h;
  return Status::Ok();
}

size_t CodecBodyBytes(CodecQuant q, const CutTensorView& t) {
  const uint64_t b = BodyBytes64(q, t.dtype, t.elements, t.channels);
  return b > 0xffffffffu ? 0 : static_cast<size_t>(b);
}

size_t CodecMaxEncodedBytes(Codec c, const CutTensorView& t) {
  const size_t body = CodecBodyBytes(c.quant, t);
  if (body == 0 && t.elements != 0) return 0;
  switch (c.entropy) {
    case CodecEntropy::kNone: return kCodecHeaderBytes + body;
    case CodecEntropy::kLz4: return kCodecHeaderBytes + Lz4CompressBound(body);
    case CodecEntropy::kZstd: return kCodecHeaderBytes + static_cast<size_t>(ZstdBound(body));
  }
  return 0;
}

size_t CodecScratchBytes(Codec c, const CutTensorView& t) {
  if (c.entropy == CodecEntropy::kNone) return 0;
  return kLz4HashBytes + CodecBodyBytes(c.quant, t);
}

Status EncodeCutTensor(Codec c, const CutTensorView& t, void* scratch, size_t scratch_size, uint8_t* out,
                       size_t capacity, size_t* written) {
  ES_RETURN_IF_ERROR(CheckView(c, t));
  if (c.entropy == CodecEntropy::kZstd) return Unsupported("codec " + CodecName(c) + " is host-only (EncodeCutTensorHost)");
  const size_t body = CodecBodyBytes(c.quant, t), need = CodecMaxEncodedBytes(c, t);
  if (capacity < need)
    return OutOfRange("codec " + CodecName(c) + ": output buffer of " + std::to_string(capacity) + " bytes, needs " +
                      std::to_string(need));
  out[0] = CodecId(c);
  out[1] = static_cast<uint8_t>(t.dtype);
  out[2] = static_cast<uint8_t>(t.channels);
  out[3] = static_cast<uint8_t>(t.channels >> 8);
  PutU32(out + 4, t.elements);
  PutU32(out + 8, static_cast<uint32_t>(body));
  if (c.entropy == CodecEntropy::kNone) {
    ES_RETURN_IF_ERROR(EncodeBody(c.quant, t, out + kCodecHeaderBytes));
    *written = kCodecHeaderBytes + body;
    return Status::Ok();
  }
  if (scratch_size < CodecScratchBytes(c, t) || reinterpret_cast<uintptr_t>(scratch) % 4 != 0)
    return InvalidArgument("codec " + CodecName(c) + ": scratch must be 4-byte aligned and hold " +
                           std::to_string(CodecScratchBytes(c, t)) + " bytes (has " + std::to_string(scratch_size) + ")");
  uint8_t* staged = static_cast<uint8_t*>(scratch) + kLz4HashBytes;
  ES_RETURN_IF_ERROR(EncodeBody(c.quant, t, staged));
  const size_t n = Lz4CompressBlock(staged, body, out + kCodecHeaderBytes, capacity - kCodecHeaderBytes, scratch);
  if (n == 0) return Internal("codec " + CodecName(c) + ": LZ4 block encoder failed");
  *written = kCodecHeaderBytes + n;
  return Status::Ok();
}

Status DecodeCodecBody(const CodecHeader& h, const uint8_t* body, size_t body_size, void* out) {
  if (body_size != h.body_bytes || BodyBytes64(h.codec.quant, h.dtype, h.elements, h.channels) != body_size)
    return InvalidArgument("codec payload: body of " + std::to_string(body_size) + " bytes, expected " +
                           std::to_string(h.body_bytes));
  switch (h.codec.quant) {
    case CodecQuant::kRaw:
      if (body_size) std::memcpy(out, body, body_size);
      return Status::Ok();
    case CodecQuant::kFp16:
      for (size_t i = 0; i < h.elements; ++i)
        static_cast<float*>(out)[i] = HalfToFloat(static_cast<uint16_t>(body[2 * i] | (body[2 * i + 1] << 8)));
      return Status::Ok();
    default:
      if (!IsAffine(h.codec.quant)) return Internal("codec: unknown quantizer");
      return DecodeAffine(h, body, out);
  }
}

}  // namespace edgesplit
