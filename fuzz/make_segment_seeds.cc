// Writes seed segment files for segment_fuzz into the folder given as argv[1]:
// small int8 and f32 segments of zoo models.
#include <cstdio>
#include <fstream>
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "edgesplit/flat_segment.h"

int main(int argc, char** argv) {
  using namespace edgesplit;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_segment_seeds DIR\n");
    return 2;
  }
  int written = 0;
  for (const char* spec : {"resnet18:res=32", "mobilenet_v2:alpha=0.35,res=96"}) {
    Result<Graph> g = LoadModel(spec);
    if (!g.ok()) return 1;
    for (bool int8 : {false, true}) {
      Graph model = g.value();
      if (int8) {
        Result<Graph> q = Quantize(model, RandomCalibrationSamples(model.tensors[model.inputs[0]], 1, 1));
        if (!q.ok()) return 1;
        model = std::move(q).value();
      }
      Result<std::vector<CutPoint>> cuts = FindCutPoints(model);
      if (!cuts.ok()) return 1;
      // Short segments keep seeds small: a few layers at a time.
      for (size_t c = 0; c + 1 < cuts->size() && c < 6; c += 2) {
        Result<Graph> seg = ExtractSegment(model, (*cuts)[c].position, (*cuts)[c + 1].position);
        if (!seg.ok()) return 1;
        SegmentInfo info;
        info.model = spec;
        info.compute_dtype = DType::kFloat32;
        Result<std::vector<uint8_t>> bytes = WriteSegment(seg.value(), info);
        if (!bytes.ok()) return 1;
        if (bytes->size() > 65536) continue;  // scripts/fuzz.sh's -max_len
        std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(written++) + ".essg", std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
      }
    }
  }
  std::printf("wrote %d seeds\n", written);
  return 0;
}
