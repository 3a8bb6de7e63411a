// The cut tensor through a codec on the device side of the runtime (device,
// loadgen): choosing a codec for a tensor, encoding it for the wire, and the
// reference decoding a device checks a lossy result against (docs/codecs.md).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "edgesplit/codec.h"
#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

// The codec view of tensor `t` (float32 or int8; channels by CodecChannels).
// InvalidArgument for another dtype.
Result<CutTensorView> CutView(const Tensor& t, const void* data = nullptr);
// `codec` applied to the tensor crossing at `where` (a cut name for messages):
// an error naming both when the codec does not apply to its dtype.
Status CheckCodecFor(Codec codec, const Tensor& t, const std::string& where);
// Whether the decoded tensor is the sent one bit for bit (raw, raw+lz4, raw+zstd).
inline bool IsLossless(Codec c) { return c.quant == CodecQuant::kRaw; }
// The payload for `bytes` (tensor t's values) under `codec`: the bytes as they
// are for raw, else EncodeCutTensorHost's (the portable encoder for all but +zstd).
Result<std::vector<uint8_t>> EncodeCut(Codec codec, const Tensor& t, std::span<const uint8_t> bytes);
// The reference decoder's output (DecodeCutTensor) of `payload` for tensor t.
Result<std::vector<uint8_t>> DecodeCut(const Tensor& t, std::span<const uint8_t> payload);

}  // namespace edgesplit::runtime
