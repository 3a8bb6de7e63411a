// Writes seeds for fuzz/serve_fuzz.cc into a folder: one valid request per
// served cut of the fuzz target's model, with and without a model hash.
// Usage: make_serve_seeds <folder>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../src/runtime/tail_set.h"
#include "edgesplit/analysis.h"

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
    for (uint32_t hash : {0u, (*tails)->model_hash()}) {
      h->model_hash = hash;
      h->request_id = static_cast<uint32_t>(++written);
      std::vector<uint8_t> m(wire::EncodedMessageBytes(*h, payload.size()));
      if (!wire::EncodeMessage(*h, payload, m).ok()) return 1;
      std::ofstream out(std::string(argv[1]) + "/request_" + std::to_string(written), std::ios::binary);
      out.write(reinterpret_cast<const char*>(m.data()), static_cast<std::streamsize>(m.size()));
    }
  }
  return 0;
}
