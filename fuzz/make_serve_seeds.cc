// Writes seeds for fuzz/serve_fuzz.cc into a folder: one valid request per
// served cut of the fuzz target's model, with and without a model hash, and
// per cut the same tensor encoded with a few codecs (docs/codecs.md).
// Usage: make_serve_seeds <folder>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../src/runtime/tail_set.h"
#include "edgesplit/analysis.h"
#include "edgesplit/codec.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_serve_seeds <folder>\n");
    return 2;
  }
  using namespace edgesplit;
  auto tails = runtime::TailSet::Load("mobilenet_v2:alpha=0.35,res=96,classes=10", "int8", "all", "reference", 1);
  if (!tails.ok()) {
    std::fprintf(stderr, "%s\n", tails.status().message().c_str());
    return 1;
  }
  auto cuts = FindCutPoints((*tails)->graph());
  if (!cuts.ok()) return 1;
  int written = 0;
  for (int c : (*tails)->cuts()) {
    const CutPoint& cut = (*cuts)[static_cast<size_t>(c)];
    const Tensor& t = (*tails)->graph().tensors[static_cast<size_t>(cut.tensor)];
    auto h = runtime::TensorHeader(wire::MessageType::kTensorRequest, t);
    if (!h.ok()) return 1;
    h->cut_id = static_cast<uint16_t>(c);
    std::vector<uint8_t> payload(static_cast<size_t>(t.num_elements()) * DTypeSize(t.dtype), 3);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>((i * 37) % 11);  // some structure to compress
    auto write = [&](const wire::MessageHeader& hdr, const std::vector<uint8_t>& body) {
      std::vector<uint8_t> m(wire::EncodedMessageBytes(hdr, body.size()));
      if (!wire::EncodeMessage(hdr, body, m).ok()) return false;
      std::ofstream out(std::string(argv[1]) + "/request_" + std::to_string(written), std::ios::binary);
      out.write(reinterpret_cast<const char*>(m.data()), static_cast<std::streamsize>(m.size()));
      return true;
    };
    for (uint32_t hash : {0u, (*tails)->model_hash()}) {
      h->model_hash = hash;
      h->request_id = static_cast<uint32_t>(++written);
      if (!write(*h, payload)) return 1;
    }
    // The same tensor through codecs that apply to it (the model's cuts are int8,
    // its input float32: the bytes above are small finite floats there).
    CutTensorView v;
    v.data = payload.data();
    v.dtype = t.dtype == DType::kInt8 ? CodecDType::kInt8 : CodecDType::kFloat32;
    v.elements = static_cast<uint32_t>(t.num_elements());
    v.channels = CodecChannels(t.shape.data(), t.shape.size());
    for (const char* name : {"raw+lz4", "int4", "int2+lz4", "raw+zstd", "int4+zstd"}) {
      auto c = ParseCodecName(name);
      if (!c.ok() || !CodecApplies(*c, v.dtype)) continue;
      auto encoded = EncodeCutTensorHost(*c, v);
      if (!encoded.ok()) return 1;
      wire::MessageHeader ch = *h;
      ch.codec = CodecId(*c);
      ch.request_id = static_cast<uint32_t>(++written);
      if (!write(ch, *encoded)) return 1;
    }
  }
  return 0;
}
