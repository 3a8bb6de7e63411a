// Host encode/decode time of every cut-tensor codec (edgesplit/codec.h) per
// element, on a [1,112,7,7] tensor (the paper's MobileNetV2-0.35 cut shape):
// float32 with a post-ReLU value mix (about half zeros, the rest uniform in
// [0, 6)) and its int8 image. Prints, per dtype and codec, the median over
// kRounds rounds of seconds per element (each round times kReps encodes, then
// kReps decodes), with the min..max over rounds, and the same figures as the
// "dtypes" object of profiles/codecs/codec_costs.json (what the planner reads).
// Usage: codec_bench [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edgesplit/codec.h"

namespace {

using namespace edgesplit;
using Clock = std::chrono::steady_clock;

constexpr int kRounds = 7, kReps = 200;
constexpr uint32_t kChannels = 112, kPlane = 49, kElements = kChannels * kPlane;

struct Figure {
  double encode_med = 0, encode_min = 0, encode_max = 0, decode_med = 0, decode_min = 0, decode_max = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Figure Measure(Codec c, const CutTensorView& t) {
  std::vector<double> enc, dec;
  std::vector<uint8_t> out(t.elements * 4);
  for (int r = 0; r < kRounds; ++r) {
    std::vector<uint8_t> payload;
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < kReps; ++i) {
      auto p = EncodeCutTensorHost(c, t);
      if (!p.ok()) {
        std::fprintf(stderr, "%s: %s\n", CodecName(c).c_str(), p.status().message().c_str());
        std::exit(1);
      }
      payload = std::move(p).value();
    }
    const Clock::time_point t1 = Clock::now();
    for (int i = 0; i < kReps; ++i)
      if (!DecodeCutTensor(payload.data(), payload.size(), t, out.data()).ok()) std::exit(1);
    const Clock::time_point t2 = Clock::now();
    enc.push_back(std::chrono::duration<double>(t1 - t0).count() / kReps / t.elements);
    dec.push_back(std::chrono::duration<double>(t2 - t1).count() / kReps / t.elements);
  }
  Figure f;
  f.encode_med = Median(enc);
  f.decode_med = Median(dec);
  f.encode_min = *std::min_element(enc.begin(), enc.end());
  f.encode_max = *std::max_element(enc.begin(), enc.end());
  f.decode_min = *std::min_element(dec.begin(), dec.end());
  f.decode_max = *std::max_element(dec.begin(), dec.end());
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  std::vector<float> f32(kElements);
  std::vector<int8_t> i8(kElements);
  uint32_t s = 12345;
  for (uint32_t i = 0; i < kElements; ++i) {
    s = s * 1664525u + 1013904223u;
    const float u = static_cast<float>(s >> 8) / 16777216.0f;  // [0, 1)
    f32[i] = u < 0.5f ? 0.0f : (u - 0.5f) * 12.0f;
    i8[i] = static_cast<int8_t>(std::min(127.0f, f32[i] * 21.0f));  // the int8 image: scale 1/21
  }
  std::string out = "{\n";
  for (CodecDType dt : {CodecDType::kFloat32, CodecDType::kInt8}) {
    const CutTensorView t{dt == CodecDType::kFloat32 ? static_cast<const void*>(f32.data()) : i8.data(), dt, kElements, kChannels};
    const char* name = dt == CodecDType::kFloat32 ? "f32" : "int8";
    if (!json) std::printf("%s [1,112,7,7]: ns per element, median of %d rounds (min..max)\n", name, kRounds);
    out += std::string("  \"") + name + "\": {\n";
    bool first = true;
    for (Codec c : AllCodecs()) {
      if (c == Codec{} || !CodecApplies(c, dt)) continue;
      const Figure f = Measure(c, t);
      if (!json)
        std::printf("  %-10s encode %7.3f (%.3f..%.3f)  decode %7.3f (%.3f..%.3f)\n", CodecName(c).c_str(), f.encode_med * 1e9,
                    f.encode_min * 1e9, f.encode_max * 1e9, f.decode_med * 1e9, f.decode_min * 1e9, f.decode_max * 1e9);
      char line[256];
      std::snprintf(line, sizeof line, "%s    \"%s\": {\"encode_s_per_element\": %.4g, \"decode_s_per_element\": %.4g}",
                    first ? "" : ",\n", CodecName(c).c_str(), f.encode_med, f.decode_med);
      out += line;
      first = false;
    }
    out += dt == CodecDType::kFloat32 ? "\n  },\n" : "\n  }\n";
  }
  out += "}\n";
  if (json) std::printf("%s", out.c_str());
  return 0;
}
