// Codecs for the cut tensor: how the activation that crosses the link is
// encoded per request (docs/codecs.md has the byte layouts).
//
// A codec is a quantizer (raw, int8, int4, int2, fp16) plus an optional
// lossless entropy stage over its output (+lz4, +zstd). Each combination has a
// one-byte id (the wire v2 header carries it) and a name ("int4+lz4").
//   raw   the tensor's bytes as they are (float32 or int8), little-endian
//   int8  float32 only: per-tensor affine uint8 codes, min/scale per request
//   int4  per-channel affine 4-bit codes, packed two per byte
//   int2  per-channel affine 2-bit codes, packed four per byte
//   fp16  float32 only: IEEE binary16, round to nearest even
//   +lz4  LZ4 block format (our encoder, portable; decodes with liblz4)
//   +zstd Zstandard frame (host only: libzstd)
// int4/int2 on an int8 tensor quantize its integer values and decode to the
// nearest int8 (round half away from zero, clamped), so an int8 tail runs on it.
//
// Contract:
//   * Encoding (portable core): no heap, no OS, no exceptions. The caller owns
//     every buffer: the output (CodecMaxEncodedBytes) and a scratch area
//     (CodecScratchBytes, 4-byte aligned) for the entropy stage. Deterministic:
//     the same tensor gives the same bytes on every platform (IEEE float32
//     arithmetic without contraction; no platform-dependent rounding calls).
//   * Decoding checks the 12-byte header against what the caller expects
//     (dtype, elements, channels) before touching the body, and every malformed
//     payload (unknown id, wrong sizes, non-finite scales, a corrupt entropy
//     stream) is a Status naming the problem, never a crash.
//   * Lossy codecs reject non-finite input values (InvalidArgument).
//   * Everything is reentrant; nothing keeps state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgesplit/status.h"

namespace edgesplit {

enum class CodecQuant : uint8_t { kRaw = 0, kInt8 = 1, kInt4 = 2, kInt2 = 3, kFp16 = 4 };
enum class CodecEntropy : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };
// Element type of the cut tensor (the values are the header's dtype byte).
enum class CodecDType : uint8_t { kFloat32 = 1, kInt8 = 2 };

struct Codec {
  CodecQuant quant = CodecQuant::kRaw;
  CodecEntropy entropy = CodecEntropy::kNone;
  bool operator==(const Codec&) const = default;
};

// id = quant | entropy << 4: raw 0x00, int8 0x01, int4 0x02, int2 0x03, fp16 0x04,
// +lz4 0x10..0x14, +zstd 0x20..0x24. Ids are a wire contract: never renumber.
uint8_t CodecId(Codec c);
// The codec with this id; false for an unknown id.
bool CodecFromId(uint8_t id, Codec* out);
// "int4+lz4" etc. (lower case, as CodecName writes); errors name the bad part.
Result<Codec> ParseCodecName(std::string_view name);
std::string CodecName(Codec c);
// All 15 codecs, in id order within each entropy stage.
std::vector<Codec> AllCodecs();
// Whether the codec can encode a tensor of `dtype` (int8 and fp16 need float32).
bool CodecApplies(Codec c, CodecDType dtype);

// The tensor to encode, or the one a decoder expects. `channels` splits the
// `elements` into equal contiguous runs (NCHW batch 1: the channel planes);
// per-channel codecs keep one range per run. Use 1 for flat tensors.
struct CutTensorView {
  const void* data = nullptr;  // elements values of dtype (encoders read it)
  CodecDType dtype = CodecDType::kFloat32;
  uint32_t elements = 0;
  uint32_t channels = 1;
};

// The channel count a sender uses for a cut tensor of `shape` (NCHW): shape[1]
// for rank >= 3 when each channel plane has at least 16 elements (an 8-byte
// range per channel pays off only over a plane of some size), else 1 (a
// pooled [1, C, 1, 1] vector or a flat tensor: one range). Device and host use
// this one rule, so both ends agree on the payload.
uint32_t CodecChannels(const int64_t* shape, size_t rank);

inline constexpr size_t kCodecHeaderBytes = 12;
// The payload header, little-endian:
//   0 u8 codec id   1 u8 dtype   2 u16 channels   4 u32 elements
//   8 u32 body bytes (the quantizer's output, before the entropy stage)
struct CodecHeader {
  Codec codec;
  CodecDType dtype = CodecDType::kFloat32;
  uint32_t channels = 1;
  uint32_t elements = 0;
  uint32_t body_bytes = 0;
};
// Parses and checks the header alone (id, dtype, channels dividing elements,
// channels <= 65535, body_bytes equal to what the quantizer writes).
Status ParseCodecHeader(const uint8_t* payload, size_t size, CodecHeader* out);

// Bytes of the quantizer's output (the body before entropy coding).
// 0 when the codec does not apply or the view is invalid.
size_t CodecBodyBytes(CodecQuant q, const CutTensorView& t);
// Output capacity EncodeCutTensor needs (header + worst-case entropy output).
size_t CodecMaxEncodedBytes(Codec c, const CutTensorView& t);
// Scratch EncodeCutTensor needs: 0 without an entropy stage; with +lz4 the
// body plus LZ4's 16 KiB hash table (kLz4HashBytes).
size_t CodecScratchBytes(Codec c, const CutTensorView& t);

// Encodes `t` into out[0, capacity); *written is the payload size. Portable:
// raw/int8/int4/int2/fp16 with or without +lz4; +zstd is Unsupported here
// (EncodeCutTensorHost). Errors: the codec does not apply to the dtype, a bad
// view (channels 0 or not dividing elements), too small a buffer, misaligned
// scratch, non-finite values for a lossy codec.
Status EncodeCutTensor(Codec c, const CutTensorView& t, void* scratch, size_t scratch_size, uint8_t* out,
                       size_t capacity, size_t* written);

// Decodes a body (no entropy stage) described by `h` into out (h.elements values
// of h.dtype). Portable; EncodeCutTensor's inverse for the quantizer.
Status DecodeCodecBody(const CodecHeader& h, const uint8_t* body, size_t body_size, void* out);

// ---- LZ4 block format, portable encoder ---------------------------------------
inline constexpr size_t kLz4HashBytes = size_t{4} << 12;  // 4096 uint32 positions
// Worst case of Lz4CompressBlock for n input bytes.
inline constexpr size_t Lz4CompressBound(size_t n) { return n + n / 255 + 16; }
// Compresses in[0, n) as one LZ4 block (greedy, hash of 4 bytes, the format's
// end-of-block rules) into out; returns the bytes written, or 0 if capacity is
// below Lz4CompressBound(n) or n >= 2^31. `hash` must hold kLz4HashBytes (4-byte aligned).
size_t Lz4CompressBlock(const uint8_t* in, size_t n, uint8_t* out, size_t capacity, void* hash);

// ---- Host only (es_codec_host: liblz4, libzstd, heap) -------------------------
// Encodes with any codec, +zstd included (zstd level 3).
Result<std::vector<uint8_t>> EncodeCutTensorHost(Codec c, const CutTensorView& t);
// Decodes `payload` into out, which must hold expected.elements values of
// expected.dtype; the header must match `expected` (dtype, elements, channels;
// expected.data is ignored). Entropy stages are undone with liblz4 / libzstd.
Status DecodeCutTensor(const uint8_t* payload, size_t size, const CutTensorView& expected, void* out);

}  // namespace edgesplit
