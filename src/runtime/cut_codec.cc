// The device side of cut-tensor codecs in the runtime (cut_codec.h).
#include "cut_codec.h"

namespace edgesplit::runtime {

Result<CutTensorView> CutView(const Tensor& t, const void* data) {
  if (t.dtype != DType::kFloat32 && t.dtype != DType::kInt8)
    return InvalidArgument(std::string("codecs carry float32 or int8 tensors, not ") + DTypeName(t.dtype));
  const int64_t n = t.num_elements();
  if (n <= 0 || n > 0xFFFFFFFFll) return InvalidArgument("a cut tensor of " + std::to_string(n) + " elements");
  CutTensorView v;
  v.data = data;
  v.dtype = t.dtype == DType::kInt8 ? CodecDType::kInt8 : CodecDType::kFloat32;
  v.elements = static_cast<uint32_t>(n);
  v.channels = CodecChannels(t.shape.data(), t.shape.size());
  return v;
}

Status CheckCodecFor(Codec codec, const Tensor& t, const std::string& where) {
  if (codec == Codec{}) return Status::Ok();
  ES_ASSIGN_OR_RETURN(CutTensorView v, CutView(t));
  if (!CodecApplies(codec, v.dtype))
    return InvalidArgument("--codec " + CodecName(codec) + " does not apply to the " + DTypeName(t.dtype) + " tensor at " +
                           where + " (int8 and fp16 encode float32 tensors only)");
  return Status::Ok();
}

Result<std::vector<uint8_t>> EncodeCut(Codec codec, const Tensor& t, std::span<const uint8_t> bytes) {
  if (codec == Codec{}) return std::vector<uint8_t>(bytes.begin(), bytes.end());
  ES_ASSIGN_OR_RETURN(CutTensorView v, CutView(t, bytes.data()));
  return EncodeCutTensorHost(codec, v);
}

Result<std::vector<uint8_t>> DecodeCut(const Tensor& t, std::span<const uint8_t> payload) {
  ES_ASSIGN_OR_RETURN(CutTensorView v, CutView(t));
  std::vector<uint8_t> out(static_cast<size_t>(v.elements) * (v.dtype == CodecDType::kInt8 ? 1 : 4));
  ES_RETURN_IF_ERROR(DecodeCutTensor(payload.data(), payload.size(), v, out.data()));
  return out;
}

}  // namespace edgesplit::runtime
