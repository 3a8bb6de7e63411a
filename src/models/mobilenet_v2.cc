// MobileNetV2 (Sandler et al. 2018): torchvision's graph structure (symmetric
// conv padding, ReLU6 as Clip, adaptive average pool + flatten + linear) with
// Keras' layer names and Keras' channel rounding, so that cut names match what
// Keras users know and cut shapes match torchvision exports.
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "builder.h"
#include "edgesplit/models.h"

namespace edgesplit {
namespace {

using models_internal::Act;
using models_internal::ConvBnActNames;
using models_internal::ModelBuilder;

constexpr std::array<double, 6> kAlphas = {0.35, 0.5, 0.75, 1.0, 1.3, 1.4};
constexpr std::array<int, 5> kResolutions = {96, 128, 160, 192, 224};

// The inverted-residual table of the paper: expansion t, output channels c,
// repeats n, first stride s.
struct StageSpec {
  int t, c, n, s;
};
constexpr std::array<StageSpec, 7> kStages = {{
    {1, 16, 1, 1},
    {6, 24, 2, 2},
    {6, 32, 3, 2},
    {6, 64, 4, 2},
    {6, 96, 3, 1},
    {6, 160, 3, 2},
    {6, 320, 1, 1},
}};

// Keras' _make_divisible: round to the nearest multiple of 8, never below 8
// and never more than 10% below v.
int64_t MakeDivisible(double v, int64_t divisor = 8) {
  int64_t rounded = static_cast<int64_t>(v + static_cast<double>(divisor) / 2) / divisor * divisor;
  int64_t result = rounded > divisor ? rounded : divisor;
  if (static_cast<double>(result) < 0.9 * v) result += divisor;
  return result;
}

// "%g", but keeping a ".0" on whole numbers so that "1.0" reads as an alpha.
std::string FormatAlpha(double alpha) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", alpha);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string AcceptedAlphas() {
  std::string out;
  for (double a : kAlphas) out += (out.empty() ? "" : ", ") + FormatAlpha(a);
  return out;
}

std::string AcceptedResolutions() {
  std::string out;
  for (int r : kResolutions) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

Status ValidateOptions(const MobileNetV2Options& o) {
  bool alpha_ok = false;
  for (double a : kAlphas) alpha_ok |= std::fabs(a - o.alpha) < 1e-9;
  if (!alpha_ok) {
    return InvalidArgument("mobilenet_v2: alpha=" + FormatAlpha(o.alpha) +
                           " is not supported (accepted: " + AcceptedAlphas() + ")");
  }
  bool res_ok = false;
  for (int r : kResolutions) res_ok |= r == o.resolution;
  if (!res_ok) {
    return InvalidArgument("mobilenet_v2: res=" + std::to_string(o.resolution) +
                           " is not supported (accepted: " + AcceptedResolutions() + ")");
  }
  return models_internal::CheckNumClasses("mobilenet_v2", o.num_classes);
}

// One inverted-residual block: 1x1 expand (absent in block 0, t=1), 3x3
// depthwise with the stride, linear 1x1 project, and an Add when the block
// keeps the shape. Keras calls block 0 "expanded_conv" and the rest "block_i".
int InvertedResidual(ModelBuilder& b, int x, int expansion, int stride, int64_t filters, int block_id) {
  const std::string prefix = block_id == 0 ? "expanded_conv_" : "block_" + std::to_string(block_id) + "_";
  const int64_t in_channels = b.channels(x);
  int y = x;
  if (block_id != 0) {
    y = b.ConvBnAct({prefix + "expand", prefix + "expand_BN", prefix + "expand_relu"}, y,
                    {in_channels * expansion, 1, 1, 1}, Act::kRelu6);
  }
  const int64_t hidden = b.channels(y);
  y = b.ConvBnAct({prefix + "depthwise", prefix + "depthwise_BN", prefix + "depthwise_relu"}, y,
                  {hidden, 3, stride, static_cast<int>(hidden)}, Act::kRelu6);
  y = b.ConvBnAct({prefix + "project", prefix + "project_BN", ""}, y, {filters, 1, 1, 1}, Act::kNone);
  if (stride == 1 && in_channels == filters) y = b.Add(prefix + "add", x, y);
  return y;
}

}  // namespace

Result<Graph> BuildMobileNetV2(const MobileNetV2Options& options) {
  ES_RETURN_IF_ERROR(ValidateOptions(options));
  const double alpha = options.alpha;
  char name[64];
  std::snprintf(name, sizeof name, "mobilenetv2_%0.2f_%d", alpha, options.resolution);  // Keras' model name
  ModelBuilder b(name, options.seed);

  int x = b.Input("input", {1, 3, options.resolution, options.resolution});
  x = b.ConvBnAct({"Conv1", "bn_Conv1", "Conv1_relu"}, x, {MakeDivisible(32 * alpha), 3, 2, 1}, Act::kRelu6);

  int block_id = 0;
  for (const StageSpec& stage : kStages) {
    // Keras truncates filters * alpha before rounding; torchvision rounds the
    // product directly. They agree for every accepted alpha; Keras' rule is the spec.
    const int64_t filters = MakeDivisible(static_cast<double>(static_cast<int64_t>(stage.c * alpha)));
    for (int i = 0; i < stage.n; ++i) {
      x = InvertedResidual(b, x, stage.t, i == 0 ? stage.s : 1, filters, block_id++);
    }
  }

  const int64_t last_channels = alpha > 1.0 ? MakeDivisible(1280 * alpha) : 1280;
  x = b.ConvBnAct({"Conv_1", "Conv_1_bn", "out_relu"}, x, {last_channels, 1, 1, 1}, Act::kRelu6);
  x = b.GlobalAveragePool("global_average_pooling2d", x);
  x = b.Flatten("flatten", x);
  x = b.Gemm("predictions", x, options.num_classes, "logits");
  return b.Finish(x);
}

}  // namespace edgesplit
