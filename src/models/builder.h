// Internal to src/models: a small layer-by-layer graph builder shared by the
// zoo's model definitions, so each model file reads like its torchvision
// counterpart and none repeats the Conv/BatchNorm/activation plumbing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit::models_internal {

enum class Act : uint8_t { kNone, kRelu, kRelu6 };

struct ConvSpec {
  int64_t out_channels = 0;
  int kernel = 1;  // square; padding is symmetric (kernel-1)/2, as torchvision pads
  int stride = 1;
  int groups = 1;
};

// Fails unless 1 <= classes <= 100000: the classifier's weights are allocated
// up front, so an absurd count would exhaust memory rather than fail cleanly.
Status CheckNumClasses(const std::string& model, int num_classes);

// The node names of one Conv -> BatchNormalization -> activation chain.
// `act` is ignored (may be empty) when the chain has no activation.
struct ConvBnActNames {
  std::string conv;
  std::string bn;
  std::string act;
};

// Every method appends one node (or a short chain) in call order, so the
// graph's topological order is exactly the order a model's code calls them.
// Methods take and return activation tensor ids; an activation tensor has its
// producing node's name. Weights are drawn from an Rng seeded by the model
// seed and the tensor's name, so a layer's weights do not change when layers
// elsewhere are added or removed.
class ModelBuilder {
 public:
  ModelBuilder(std::string graph_name, uint64_t seed);

  int Input(const std::string& name, Shape nchw);

  // A bias-free Conv (torchvision's convs before a BatchNorm have none) with
  // He-normal weights: std = sqrt(2 / fan_in).
  int Conv(const std::string& name, int x, const ConvSpec& spec);
  // Inference-mode BatchNormalization with near-identity statistics. `gamma`
  // scales the learned scale: below 1 on a residual branch's last BN keeps the
  // residual sum from growing block after block (random weights have no
  // trained stats to do this).
  int BatchNorm(const std::string& name, int x, float gamma = 1.0f);
  int Relu(const std::string& name, int x);
  // ReLU6 as torch.onnx.export writes it from opset 11: Clip(x, min, max).
  int Relu6(const std::string& name, int x);
  int Activation(const std::string& name, int x, Act act);
  int ConvBnAct(const ConvBnActNames& names, int x, const ConvSpec& spec, Act act, float gamma = 1.0f);

  int Add(const std::string& name, int a, int b);
  int MaxPool(const std::string& name, int x, int kernel, int stride, int pad);
  int GlobalAveragePool(const std::string& name, int x);
  int Flatten(const std::string& name, int x);  // axis 1
  // Fully connected layer as torch exports nn.Linear: Gemm(x, W[out,in], b), transB=1.
  // The output tensor is called `output_name` (the node keeps `name`).
  int Gemm(const std::string& name, int x, int64_t out_features, const std::string& output_name);

  // Channel count of an activation tensor (shapes are only inferred at Finish).
  int64_t channels(int tensor) const { return channels_[static_cast<size_t>(tensor)]; }

  // Marks `output` as the graph output and canonicalises (folds BN, fuses
  // activations, infers shapes). The builder is spent afterwards.
  Result<Graph> Finish(int output);

 private:
  int NewActivation(const std::string& name, int64_t channels);
  int AddFloatConstant(const std::string& name, Shape shape, const std::vector<float>& values);
  std::vector<float> Normal(const std::string& tensor_name, size_t count, float mean, float stddev) const;
  std::vector<float> Uniform(const std::string& tensor_name, size_t count, float lo, float hi) const;
  void AddSimpleNode(OpType op, const std::string& name, std::vector<int> inputs, int output);

  Graph graph_;
  uint64_t seed_;
  std::vector<int64_t> channels_;  // per tensor id; 0 for constants
  int relu6_min_ = kNoTensor;      // Clip bounds, shared by every ReLU6
  int relu6_max_ = kNoTensor;
};

}  // namespace edgesplit::models_internal
