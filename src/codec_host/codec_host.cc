// Cut-tensor codecs on the host: +zstd encoding (libzstd) and decoding of every
// codec, the entropy stages undone by liblz4 / libzstd (include/edgesplit/codec.h).
#include <lz4.h>
#include <zstd.h>

#include <climits>

#include "edgesplit/codec.h"

namespace edgesplit {
namespace {

constexpr int kZstdLevel = 3;

std::string DTypeName(CodecDType d) { return d == CodecDType::kFloat32 ? "float32" : "int8"; }

}  // namespace

Result<std::vector<uint8_t>> EncodeCutTensorHost(Codec c, const CutTensorView& t) {
  if (c.entropy != CodecEntropy::kZstd) {
    std::vector<uint8_t> out(CodecMaxEncodedBytes(c, t) + 1);  // +1: 0 (an invalid view) still gets a buffer
    std::vector<uint32_t> scratch((CodecScratchBytes(c, t) + 3) / 4);
    size_t written = 0;
    ES_RETURN_IF_ERROR(
        EncodeCutTensor(c, t, scratch.data(), scratch.size() * 4, out.data(), out.size(), &written));
    out.resize(written);
    return out;
  }
  // zstd: the body with no entropy stage first, then one zstd frame over it.
  ES_ASSIGN_OR_RETURN(std::vector<uint8_t> plain, EncodeCutTensorHost(Codec{c.quant, CodecEntropy::kNone}, t));
  const size_t body = plain.size() - kCodecHeaderBytes;
  std::vector<uint8_t> out(kCodecHeaderBytes + ZSTD_compressBound(body));
  std::copy(plain.begin(), plain.begin() + kCodecHeaderBytes, out.begin());
  out[0] = CodecId(c);
  const size_t n = ZSTD_compress(out.data() + kCodecHeaderBytes, out.size() - kCodecHeaderBytes,
                                 plain.data() + kCodecHeaderBytes, body, kZstdLevel);
  if (ZSTD_isError(n)) return Internal(std::string("codec ") + CodecName(c) + ": zstd: " + ZSTD_getErrorName(n));
  out.resize(kCodecHeaderBytes + n);
  return out;
}

Status DecodeCutTensor(const uint8_t* payload, size_t size, const CutTensorView& expected, void* out) {
  CodecHeader h;
  ES_RETURN_IF_ERROR(ParseCodecHeader(payload, size, &h));
  if (h.dtype != expected.dtype || h.elements != expected.elements || h.channels != expected.channels)
    return InvalidArgument("codec payload: carries " + std::to_string(h.elements) + " " + DTypeName(h.dtype) +
                           " elements in " + std::to_string(h.channels) + " channels; expected " +
                           std::to_string(expected.elements) + " " + DTypeName(expected.dtype) + " in " +
                           std::to_string(expected.channels));
  const uint8_t* stream = payload + kCodecHeaderBytes;
  const size_t stream_size = size - kCodecHeaderBytes;
  if (h.codec.entropy == CodecEntropy::kNone) return DecodeCodecBody(h, stream, stream_size, out);
  // The body size is bounded by the expected tensor (checked above), so this allocation is too.
  std::vector<uint8_t> body(h.body_bytes);
  if (h.codec.entropy == CodecEntropy::kLz4) {
    if (stream_size > INT_MAX || h.body_bytes > INT_MAX) return InvalidArgument("codec payload: too large for LZ4");
    const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(stream), reinterpret_cast<char*>(body.data()),
                                      static_cast<int>(stream_size), static_cast<int>(body.size()));
    if (n < 0) return InvalidArgument("codec payload: corrupt LZ4 block (" + CodecName(h.codec) + ")");
    if (static_cast<size_t>(n) != body.size())
      return InvalidArgument("codec payload: the LZ4 block holds " + std::to_string(n) + " bytes, the header says " +
                             std::to_string(body.size()));
  } else {
    const unsigned long long content = ZSTD_getFrameContentSize(stream, stream_size);
    if (content == ZSTD_CONTENTSIZE_ERROR) return InvalidArgument("codec payload: not a zstd frame (" + CodecName(h.codec) + ")");
    if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != body.size())
      return InvalidArgument("codec payload: the zstd frame holds " + std::to_string(content) + " bytes, the header says " +
                             std::to_string(body.size()));
    const size_t n = ZSTD_decompress(body.data(), body.size(), stream, stream_size);
    if (ZSTD_isError(n)) return InvalidArgument(std::string("codec payload: corrupt zstd frame: ") + ZSTD_getErrorName(n));
    if (n != body.size())
      return InvalidArgument("codec payload: the zstd frame holds " + std::to_string(n) + " bytes, the header says " +
                             std::to_string(body.size()));
  }
  return DecodeCodecBody(h, body.data(), body.size(), out);
}

}  // namespace edgesplit
