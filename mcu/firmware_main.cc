// Test firmware: runs the embedded segment file on the embedded input with the
// reference backend and prints, over the platform seam:
//   segment <model> cuts A..B nodes N arena BYTES heap BYTES
//   layer <i> <op> <name> ticks <T>          (one per node, T at ticks_hz)
//   ticks_hz <HZ> total_ticks <T>
//   cut_tensor <name> <dtype> <shape> <bytes> <hex...>
//   codec <name> <bytes> ticks <T> <hex...>  (the cut tensor encoded, codec.h; one per kCodecs)
//   wire message <bytes> fragments <n> datagram 250 radio_sent <k>
//   done
// The cut tensor is framed as the runtime frames it (wire.h: a tensor request
// split into 250-byte ESP-NOW datagrams) and handed to the radio seam.
// All allocation happens before LockHeap(): loading the segment (the Graph's
// metadata; weights stay in flash) and creating the executor (the arena).
#include <algorithm>
#include <cstring>

#include "edgesplit/codec.h"
#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "edgesplit/flat_segment.h"
#include "edgesplit/wire.h"
#include "output.h"
#include "platform.h"

extern "C" const uint8_t es_segment_blob[], es_segment_blob_end[];
extern "C" const uint8_t es_input_blob[], es_input_blob_end[];

namespace {

using edgesplit::mcu::Output;
using edgesplit::mcu::OutputNumber;

void OutputHex(const uint8_t* bytes, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  char chunk[128];
  size_t used = 0;
  for (size_t i = 0; i < size; ++i) {
    chunk[used++] = kDigits[bytes[i] >> 4];
    chunk[used++] = kDigits[bytes[i] & 15];
    if (used == sizeof(chunk)) {
      Output(chunk, used);
      used = 0;
    }
  }
  Output(chunk, used);
}

// The codecs the device encodes its cut tensor with (the host checks their bytes).
struct DeviceCodec {
  const char* name;
  edgesplit::Codec codec;
};
constexpr DeviceCodec kCodecs[] = {
    {"raw+lz4", {edgesplit::CodecQuant::kRaw, edgesplit::CodecEntropy::kLz4}},
    {"int4", {edgesplit::CodecQuant::kInt4, edgesplit::CodecEntropy::kNone}},
    {"int4+lz4", {edgesplit::CodecQuant::kInt4, edgesplit::CodecEntropy::kLz4}},
    {"int2+lz4", {edgesplit::CodecQuant::kInt2, edgesplit::CodecEntropy::kLz4}},
};

int Fail(const edgesplit::Status& s) {
  Output("edgesplit-mcu: error: ");
  Output(s.message().c_str());
  Output("\n");
  return 1;
}

}  // namespace

int main() {
  using namespace edgesplit;
  const size_t segment_size = static_cast<size_t>(es_segment_blob_end - es_segment_blob);
  Result<LoadedSegment> seg = ReadSegment(es_segment_blob, segment_size);
  if (!seg.ok()) return Fail(seg.status());
  const Graph& g = seg->graph;
  const int n = static_cast<int>(g.nodes.size());
  Result<std::unique_ptr<SegmentExecutor>> made =
      SegmentExecutor::Create(g, 0, n, ReferenceBackend(), seg->info.compute_dtype);
  if (!made.ok()) return Fail(made.status());
  SegmentExecutor& ex = **made;
  const size_t input_size = static_cast<size_t>(es_input_blob_end - es_input_blob);
  if (static_cast<int64_t>(input_size) != ex.input_bytes())
    return Fail(InvalidArgument("embedded input has " + std::to_string(input_size) + " bytes, the segment wants " +
                                std::to_string(ex.input_bytes())));
  // The wire frame of the cut tensor and one datagram, both sized at start-up.
  const Tensor& cut = ex.output_tensor();
  wire::MessageHeader frame;
  frame.type = wire::MessageType::kTensorRequest;
  frame.request_id = 1;
  frame.cut_id = static_cast<uint16_t>(seg->info.cut_after);
  frame.dtype = cut.dtype;
  frame.rank = static_cast<uint8_t>(cut.shape.size());
  for (size_t d = 0; d < cut.shape.size() && d < wire::kMaxRank; ++d) frame.dims[d] = static_cast<uint32_t>(cut.shape[d]);
  if (!cut.quant.empty()) {
    frame.quant_scale = cut.quant.scales[0];
    frame.quant_zero_point = cut.quant.zero_points[0];
  }
  constexpr size_t kDatagramBytes = 250;  // ESP-NOW's payload
  const size_t message_bytes = wire::EncodedMessageBytes(frame.rank, static_cast<size_t>(ex.output_bytes()));
  std::unique_ptr<uint8_t[]> message(new uint8_t[message_bytes]);
  std::unique_ptr<uint8_t[]> datagram(new uint8_t[kDatagramBytes]);
  // Codec buffers for the largest of kCodecs (the scratch 4-byte aligned).
  CutTensorView view;
  view.dtype = cut.dtype == DType::kInt8 ? CodecDType::kInt8 : CodecDType::kFloat32;
  view.elements = static_cast<uint32_t>(ex.output_bytes() / static_cast<int64_t>(DTypeSize(cut.dtype)));
  view.channels = CodecChannels(cut.shape.data(), cut.shape.size());
  size_t codec_out_bytes = 0, codec_scratch_bytes = 0;
  for (const DeviceCodec& c : kCodecs) {
    codec_out_bytes = std::max(codec_out_bytes, CodecMaxEncodedBytes(c.codec, view));
    codec_scratch_bytes = std::max(codec_scratch_bytes, CodecScratchBytes(c.codec, view));
  }
  std::unique_ptr<uint8_t[]> codec_out(new uint8_t[codec_out_bytes]);
  std::unique_ptr<uint32_t[]> codec_scratch(new uint32_t[codec_scratch_bytes / 4 + 1]);
  mcu::LockHeap();

  Output("segment ");
  Output(seg->info.model.c_str());
  Output(" cuts ");
  OutputNumber(static_cast<uint64_t>(seg->info.cut_before));
  Output("..");
  OutputNumber(static_cast<uint64_t>(seg->info.cut_after));
  Output(" nodes ");
  OutputNumber(static_cast<uint64_t>(n));
  Output(" arena ");
  OutputNumber(static_cast<uint64_t>(ex.arena_bytes()));
  Output(" heap ");
  OutputNumber(mcu::HeapBytes());
  Output(" segment_bytes ");
  OutputNumber(segment_size);
  Output("\n");

  std::memcpy(ex.input(), es_input_blob, input_size);
  const uint64_t start = mcu::Ticks();
  for (int i = 0; i < n; ++i) {
    const uint64_t t0 = mcu::Ticks();
    Status s = ex.InvokeNodes(i, i + 1);
    const uint64_t t1 = mcu::Ticks();
    if (!s.ok()) return Fail(s);
    Output("layer ");
    OutputNumber(static_cast<uint64_t>(i));
    Output(" ");
    Output(OpTypeName(ex.node(i).op));
    Output(" ");
    Output(ex.node(i).name.c_str());
    Output(" ticks ");
    OutputNumber(t1 - t0);
    Output("\n");
  }
  const uint64_t total = mcu::Ticks() - start;
  Output("ticks_hz ");
  OutputNumber(mcu::TicksPerSecond());
  Output(" total_ticks ");
  OutputNumber(total);
  Output("\n");

  const Tensor& out = ex.output_tensor();
  Output("cut_tensor ");
  Output(out.name.c_str());
  Output(" ");
  Output(DTypeName(out.dtype));
  Output(" ");
  Output(ShapeToString(out.shape).c_str());
  Output(" ");
  OutputNumber(static_cast<uint64_t>(ex.output_bytes()));
  Output(" ");
  OutputHex(static_cast<const uint8_t*>(ex.output()), static_cast<size_t>(ex.output_bytes()));
  Output("\n");

  view.data = ex.output();
  for (const DeviceCodec& c : kCodecs) {
    size_t written = 0;
    const uint64_t t0 = mcu::Ticks();
    Status s = EncodeCutTensor(c.codec, view, codec_scratch.get(), (codec_scratch_bytes / 4 + 1) * 4, codec_out.get(),
                               codec_out_bytes, &written);
    const uint64_t t1 = mcu::Ticks();
    if (!s.ok()) return Fail(s);
    Output("codec ");
    Output(c.name);
    Output(" ");
    OutputNumber(written);
    Output(" ticks ");
    OutputNumber(t1 - t0);
    Output(" ");
    OutputHex(codec_out.get(), written);
    Output("\n");
  }

  Result<size_t> framed = wire::EncodeMessage(
      frame, {static_cast<const uint8_t*>(ex.output()), static_cast<size_t>(ex.output_bytes())}, {message.get(), message_bytes});
  if (!framed.ok()) return Fail(framed.status());
  const size_t count = wire::FragmentCount(*framed, kDatagramBytes);
  const size_t chunk = wire::FragmentPayloadBytes(kDatagramBytes);
  size_t sent = 0;
  for (size_t i = 0; i < count; ++i) {
    wire::FragmentHeader fh;
    fh.request_id = frame.request_id;
    fh.index = static_cast<uint16_t>(i);
    fh.count = static_cast<uint16_t>(count);
    fh.total_length = static_cast<uint32_t>(*framed);
    const size_t begin = i * chunk, len = std::min(chunk, *framed - begin);
    Result<size_t> d = wire::EncodeFragment(fh, {message.get() + begin, len}, {datagram.get(), kDatagramBytes});
    if (!d.ok()) return Fail(d.status());
    sent += mcu::RadioSend(datagram.get(), *d) ? 1 : 0;  // QEMU has no radio: 0
  }
  Output("wire message ");
  OutputNumber(*framed);
  Output(" fragments ");
  OutputNumber(count);
  Output(" datagram 250 radio_sent ");
  OutputNumber(sent);
  Output("\ndone\n");
  return 0;
}
