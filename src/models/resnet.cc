// ResNet-18 and ResNet-50 (He et al. 2016) in torchvision's v1.5 form: the
// bottleneck's stride sits on its 3x3 conv, and a 1x1 conv + BN shortcut
// appears on the first block of a stage whenever the shape changes. Layer
// names follow Keras' ResNet50 (conv{stage}_block{j}_{k}_conv ...), and nodes
// are added in the order torchvision's forward() runs them, which is the
// order torch.onnx.export writes: branch convs, then the shortcut, Add, Relu.
#include <array>
#include <string>

#include "builder.h"
#include "edgesplit/models.h"

namespace edgesplit {
namespace {

using models_internal::Act;
using models_internal::ModelBuilder;

constexpr int kMinResolution = 32;  // the stem and four stages downsample 32x
constexpr int kMaxResolution = 1024;

// Scales the last BN of each residual branch so that the residual sums stay
// near unit scale across 8-16 blocks instead of doubling block after block.
constexpr float kResidualBranchGamma = 0.5f;

struct Architecture {
  bool bottleneck;
  std::array<int, 4> blocks;  // per stage conv2..conv5
};

Result<Architecture> ArchitectureFor(int depth) {
  switch (depth) {
    case 18:
      return Architecture{false, {2, 2, 2, 2}};
    case 50:
      return Architecture{true, {3, 4, 6, 3}};
    default:
      return InvalidArgument("resnet: depth " + std::to_string(depth) +
                             " is not supported (accepted: 18, 50)");
  }
}

// One residual block named `prefix` (e.g. conv3_block1); `stride` is 2 on the
// first block of stages conv3..conv5 and 1 elsewhere.
int ResidualBlock(ModelBuilder& b, int x, const std::string& prefix, bool bottleneck, int64_t width,
                  int stride) {
  const int64_t out_channels = bottleneck ? width * 4 : width;
  const auto names = [&prefix](int k) -> models_internal::ConvBnActNames {
    const std::string p = prefix + "_" + std::to_string(k) + "_";
    return {p + "conv", p + "bn", p + "relu"};
  };
  int y = x;
  if (bottleneck) {
    y = b.ConvBnAct(names(1), y, {width, 1, 1, 1}, Act::kRelu);
    y = b.ConvBnAct(names(2), y, {width, 3, stride, 1}, Act::kRelu);
    y = b.ConvBnAct(names(3), y, {out_channels, 1, 1, 1}, Act::kNone, kResidualBranchGamma);
  } else {
    y = b.ConvBnAct(names(1), y, {width, 3, stride, 1}, Act::kRelu);
    y = b.ConvBnAct(names(2), y, {out_channels, 3, 1, 1}, Act::kNone, kResidualBranchGamma);
  }
  int shortcut = x;
  if (stride != 1 || b.channels(x) != out_channels) {
    shortcut = b.ConvBnAct(names(0), x, {out_channels, 1, stride, 1}, Act::kNone);
  }
  y = b.Add(prefix + "_add", y, shortcut);
  return b.Relu(prefix + "_out", y);
}

}  // namespace

Result<Graph> BuildResNet(const ResNetOptions& options) {
  ES_ASSIGN_OR_RETURN(Architecture arch, ArchitectureFor(options.depth));
  const std::string model = "resnet" + std::to_string(options.depth);
  if (options.resolution < kMinResolution || options.resolution > kMaxResolution) {
    return InvalidArgument(model + ": res=" + std::to_string(options.resolution) +
                           " is outside the supported range [" + std::to_string(kMinResolution) + ", " +
                           std::to_string(kMaxResolution) + "]");
  }
  ES_RETURN_IF_ERROR(models_internal::CheckNumClasses(model, options.num_classes));

  ModelBuilder b(model, options.seed);
  int x = b.Input("input", {1, 3, options.resolution, options.resolution});
  x = b.ConvBnAct({"conv1_conv", "conv1_bn", "conv1_relu"}, x, {64, 7, 2, 1}, Act::kRelu);
  x = b.MaxPool("pool1_pool", x, 3, 2, 1);

  for (int s = 0; s < 4; ++s) {
    const int64_t width = int64_t{64} << s;
    for (int j = 0; j < arch.blocks[static_cast<size_t>(s)]; ++j) {
      const std::string prefix = "conv" + std::to_string(s + 2) + "_block" + std::to_string(j + 1);
      const int stride = (j == 0 && s > 0) ? 2 : 1;
      x = ResidualBlock(b, x, prefix, arch.bottleneck, width, stride);
    }
  }

  x = b.GlobalAveragePool("avg_pool", x);
  x = b.Flatten("flatten", x);
  x = b.Gemm("predictions", x, options.num_classes, "logits");
  return b.Finish(x);
}

}  // namespace edgesplit
