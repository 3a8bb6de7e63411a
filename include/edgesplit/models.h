// The model zoo and model naming.
//
// Builders create graphs with deterministic seeded weights, torchvision's
// structure and Keras' layer names, then canonicalise them (BatchNorm folded
// into the preceding Conv, activations fused: the absorbed names stay aliases).
// Outputs are logits (no Softmax), as torchvision's are.
#pragma once

#include <cstdint>
#include <string>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

struct MobileNetV2Options {
  double alpha = 1.0;      // width multiplier: 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4
  int resolution = 224;    // 96, 128, 160, 192 or 224
  int num_classes = 1000;
  uint64_t seed = 1;
};
Result<Graph> BuildMobileNetV2(const MobileNetV2Options& options);

struct ResNetOptions {
  int depth = 50;          // 18 or 50 (v1.5: the stride is on the 3x3 conv)
  int resolution = 224;
  int num_classes = 1000;
  uint64_t seed = 1;
};
Result<Graph> BuildResNet(const ResNetOptions& options);

// A model named on the command line: a zoo spec such as
// "mobilenet_v2:alpha=0.35,res=224", "resnet50", "resnet18:res=160,seed=3",
// or a path to an .onnx file. Unknown names or keys get an error listing the
// accepted ones.
Result<Graph> LoadModel(const std::string& spec);

// The input normalisation a model expects: x = (pixel/255 - mean) / std per channel.
struct Preprocessing {
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
};
// Zoo MobileNetV2 uses [-1, 1] (mean 0.5, std 0.5); everything else ImageNet's mean/std.
Preprocessing DefaultPreprocessing(const std::string& spec);

}  // namespace edgesplit
