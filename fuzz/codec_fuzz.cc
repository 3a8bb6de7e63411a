// Cut-tensor codec payloads (include/edgesplit/codec.h): every decoder (header,
// quantizer bodies, LZ4 via liblz4, zstd via libzstd) either fails with a Status
// or fills the output; and any bytes read as a tensor survive an encode/decode
// round trip (lossless codecs bit-exact).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "edgesplit/codec.h"

using namespace edgesplit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 1. Decode as a payload, expecting what its own header claims (so bodies are reached).
  CodecHeader h;
  if (ParseCodecHeader(data, size, &h).ok() && h.elements <= (1u << 16)) {
    std::vector<uint8_t> out(size_t{h.elements} * (h.dtype == CodecDType::kFloat32 ? 4 : 1) + 1);
    const CutTensorView want{nullptr, h.dtype, h.elements, h.channels};
    (void)DecodeCutTensor(data, size, want, out.data());
  }
  // 2. Round trip: byte 0 picks the codec and dtype, the rest is the tensor.
  if (size < 2) return 0;
  Codec c;
  if (!CodecFromId(data[0] & 0x3f, &c)) return 0;
  const CodecDType dtype = (data[0] & 0x40) ? CodecDType::kInt8 : CodecDType::kFloat32;
  const size_t width = dtype == CodecDType::kFloat32 ? 4 : 1;
  const uint32_t elements = static_cast<uint32_t>((size - 2) / width);
  const uint32_t channels = 1 + data[1] % 8;
  if (elements % channels) return 0;
  std::vector<uint8_t> values(data + 2, data + 2 + size_t{elements} * width);
  const CutTensorView t{values.data(), dtype, elements, channels};
  auto payload = EncodeCutTensorHost(c, t);
  if (!payload.ok()) return 0;  // does not apply, non-finite values...
  std::vector<uint8_t> back(values.size() + 1);
  const CutTensorView want{nullptr, dtype, elements, channels};
  if (!DecodeCutTensor(payload->data(), payload->size(), want, back.data()).ok()) std::abort();
  if (c.quant == CodecQuant::kRaw && !values.empty() && std::memcmp(back.data(), values.data(), values.size()) != 0) std::abort();
  return 0;
}
