#include "builder.h"

#include <cmath>
#include <utility>

namespace edgesplit::models_internal {
namespace {

// FNV-1a: a stable (platform-independent) hash of a tensor name, mixed into
// the model seed so that each weight tensor has its own random stream.
uint64_t HashName(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

Status CheckNumClasses(const std::string& model, int num_classes) {
  constexpr int kMaxClasses = 100000;
  if (num_classes >= 1 && num_classes <= kMaxClasses) return Status::Ok();
  return InvalidArgument(model + ": classes=" + std::to_string(num_classes) +
                         " is outside the supported range [1, " + std::to_string(kMaxClasses) + "]");
}

ModelBuilder::ModelBuilder(std::string graph_name, uint64_t seed) : seed_(seed) {
  graph_.name = std::move(graph_name);
}

std::vector<float> ModelBuilder::Normal(const std::string& tensor_name, size_t count, float mean,
                                        float stddev) const {
  Rng rng(seed_ ^ HashName(tensor_name));
  std::vector<float> values(count);
  for (float& v : values) v = mean + stddev * rng.Normal();
  return values;
}

std::vector<float> ModelBuilder::Uniform(const std::string& tensor_name, size_t count, float lo,
                                         float hi) const {
  Rng rng(seed_ ^ HashName(tensor_name));
  std::vector<float> values(count);
  for (float& v : values) v = rng.Uniform(lo, hi);
  return values;
}

int ModelBuilder::NewActivation(const std::string& name, int64_t channels) {
  Tensor t;
  t.name = name;
  t.dtype = DType::kFloat32;
  int id = graph_.AddTensor(std::move(t));
  channels_.resize(graph_.tensors.size(), 0);
  channels_[static_cast<size_t>(id)] = channels;
  return id;
}

int ModelBuilder::AddFloatConstant(const std::string& name, Shape shape, const std::vector<float>& values) {
  int id = graph_.AddConstant(name, DType::kFloat32, std::move(shape), values.data());
  channels_.resize(graph_.tensors.size(), 0);
  return id;
}

void ModelBuilder::AddSimpleNode(OpType op, const std::string& name, std::vector<int> inputs, int output) {
  Node node;
  node.op = op;
  node.name = name;
  node.inputs = std::move(inputs);
  node.outputs = {output};
  graph_.AddNode(std::move(node));
}

int ModelBuilder::Input(const std::string& name, Shape nchw) {
  int id = NewActivation(name, nchw.size() > 1 ? nchw[1] : 0);
  graph_.tensors[static_cast<size_t>(id)].shape = std::move(nchw);
  graph_.inputs.push_back(id);
  return id;
}

int ModelBuilder::Conv(const std::string& name, int x, const ConvSpec& spec) {
  const int64_t in_per_group = channels(x) / spec.groups;
  const int64_t k = spec.kernel;
  const int64_t fan_in = in_per_group * k * k;
  const size_t count = static_cast<size_t>(spec.out_channels * fan_in);
  // He initialisation in its uniform form (variance 2/fan_in): the same scale as
  // He-normal, several times cheaper to draw for ResNet50's 25 M weights.
  const float bound = std::sqrt(6.0f / static_cast<float>(fan_in));
  int w = AddFloatConstant(name + ".weight", {spec.out_channels, in_per_group, k, k},
                           Uniform(name + ".weight", count, -bound, bound));
  int y = NewActivation(name, spec.out_channels);

  Node node;
  node.op = OpType::kConv;
  node.name = name;
  node.inputs = {x, w};
  node.outputs = {y};
  const int64_t pad = (k - 1) / 2;
  node.attrs = {Attribute::Ints("dilations", {1, 1}), Attribute::Int("group", spec.groups),
                Attribute::Ints("kernel_shape", {k, k}), Attribute::Ints("pads", {pad, pad, pad, pad}),
                Attribute::Ints("strides", {spec.stride, spec.stride})};
  graph_.AddNode(std::move(node));
  return y;
}

int ModelBuilder::BatchNorm(const std::string& name, int x, float gamma) {
  const int64_t c = channels(x);
  const size_t n = static_cast<size_t>(c);
  // Statistics close to identity keep the folded conv at He scale; a small
  // positive shift keeps most ReLU units alive rather than half of them dead.
  int scale =
      AddFloatConstant(name + ".weight", {c}, Uniform(name + ".weight", n, 0.9f * gamma, 1.1f * gamma));
  int bias = AddFloatConstant(name + ".bias", {c}, Uniform(name + ".bias", n, 0.0f, 0.1f));
  int mean = AddFloatConstant(name + ".running_mean", {c}, Normal(name + ".running_mean", n, 0.0f, 0.05f));
  int var = AddFloatConstant(name + ".running_var", {c}, Uniform(name + ".running_var", n, 0.8f, 1.2f));
  int y = NewActivation(name, c);

  Node node;
  node.op = OpType::kBatchNormalization;
  node.name = name;
  node.inputs = {x, scale, bias, mean, var};
  node.outputs = {y};
  node.attrs = {Attribute::Float("epsilon", 1e-5f), Attribute::Float("momentum", 0.9f)};  // torch's defaults
  graph_.AddNode(std::move(node));
  return y;
}

int ModelBuilder::Relu(const std::string& name, int x) {
  int y = NewActivation(name, channels(x));
  AddSimpleNode(OpType::kRelu, name, {x}, y);
  return y;
}

int ModelBuilder::Relu6(const std::string& name, int x) {
  if (relu6_min_ == kNoTensor) {
    relu6_min_ = AddFloatConstant("relu6.min", {}, {0.0f});
    relu6_max_ = AddFloatConstant("relu6.max", {}, {6.0f});
  }
  int y = NewActivation(name, channels(x));
  AddSimpleNode(OpType::kClip, name, {x, relu6_min_, relu6_max_}, y);
  return y;
}

int ModelBuilder::Activation(const std::string& name, int x, Act act) {
  switch (act) {
    case Act::kNone:
      return x;
    case Act::kRelu:
      return Relu(name, x);
    case Act::kRelu6:
      return Relu6(name, x);
  }
  return x;
}

int ModelBuilder::ConvBnAct(const ConvBnActNames& names, int x, const ConvSpec& spec, Act act, float gamma) {
  x = Conv(names.conv, x, spec);
  x = BatchNorm(names.bn, x, gamma);
  return Activation(names.act, x, act);
}

int ModelBuilder::Add(const std::string& name, int a, int b) {
  int y = NewActivation(name, channels(a));
  AddSimpleNode(OpType::kAdd, name, {a, b}, y);
  return y;
}

int ModelBuilder::MaxPool(const std::string& name, int x, int kernel, int stride, int pad) {
  int y = NewActivation(name, channels(x));
  Node node;
  node.op = OpType::kMaxPool;
  node.name = name;
  node.inputs = {x};
  node.outputs = {y};
  node.attrs = {Attribute::Int("ceil_mode", 0), Attribute::Ints("kernel_shape", {kernel, kernel}),
                Attribute::Ints("pads", {pad, pad, pad, pad}), Attribute::Ints("strides", {stride, stride})};
  graph_.AddNode(std::move(node));
  return y;
}

int ModelBuilder::GlobalAveragePool(const std::string& name, int x) {
  int y = NewActivation(name, channels(x));
  AddSimpleNode(OpType::kGlobalAveragePool, name, {x}, y);
  return y;
}

int ModelBuilder::Flatten(const std::string& name, int x) {
  int y = NewActivation(name, channels(x));
  Node node;
  node.op = OpType::kFlatten;
  node.name = name;
  node.inputs = {x};
  node.outputs = {y};
  node.attrs = {Attribute::Int("axis", 1)};
  graph_.AddNode(std::move(node));
  return y;
}

int ModelBuilder::Gemm(const std::string& name, int x, int64_t out_features, const std::string& output_name) {
  const int64_t in = channels(x);
  // Variance 1/fan_in (uniform form): no ReLU follows, so logits come out with unit-order variance.
  const float bound = std::sqrt(3.0f / static_cast<float>(in));
  int w = AddFloatConstant(name + ".weight", {out_features, in},
                           Uniform(name + ".weight", static_cast<size_t>(out_features * in), -bound, bound));
  int b = AddFloatConstant(name + ".bias", {out_features},
                           Normal(name + ".bias", static_cast<size_t>(out_features), 0.0f, 0.01f));
  int y = NewActivation(output_name, out_features);

  Node node;
  node.op = OpType::kGemm;
  node.name = name;
  node.inputs = {x, w, b};
  node.outputs = {y};
  node.attrs = {Attribute::Float("alpha", 1.0f), Attribute::Float("beta", 1.0f), Attribute::Int("transB", 1)};
  graph_.AddNode(std::move(node));
  return y;
}

Result<Graph> ModelBuilder::Finish(int output) {
  graph_.outputs = {output};
  Status status = Canonicalize(graph_);
  if (!status.ok()) return status.WithContext("building " + graph_.name);
  return std::move(graph_);
}

}  // namespace edgesplit::models_internal
