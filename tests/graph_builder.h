// A terse builder of small Graphs for tests (and the fuzzer's seeds), and a
// small residual network that exercises every canonical rewrite.
#pragma once

#include <string>
#include <vector>

#include "edgesplit/graph.h"

namespace edgesplit::testing {

// Builds small graphs tersely; weights are pseudo-random so folding is visible.
class GraphBuilder {
 public:
  int Input(const std::string& name, Shape shape) {
    Tensor t;
    t.name = name;
    t.shape = std::move(shape);
    int id = g.AddTensor(t);
    g.inputs.push_back(id);
    return id;
  }
  int Const(const std::string& name, Shape shape, float lo = -0.5f, float hi = 0.5f) {
    std::vector<float> v(static_cast<size_t>(NumElements(shape)));
    for (float& x : v) x = rng.Uniform(lo, hi);
    return g.AddConstant(name, DType::kFloat32, std::move(shape), v.data());
  }
  int Ints(const std::string& name, std::vector<int64_t> v) {
    return g.AddConstant(name, DType::kInt64, Shape{static_cast<int64_t>(v.size())}, v.data());
  }
  int Scalar(const std::string& name, float v) { return g.AddConstant(name, DType::kFloat32, Shape{}, &v); }
  int Op(OpType op, const std::string& name, std::vector<int> inputs, std::vector<Attribute> attrs = {},
         int num_outputs = 1) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    for (int i = 0; i < num_outputs; ++i) {
      Tensor t;
      t.name = name + "_out" + std::to_string(i);
      n.outputs.push_back(g.AddTensor(t));
    }
    int first = n.outputs[0];
    g.AddNode(std::move(n));
    return first;
  }
  int Conv(const std::string& name, int x, int64_t cin, int64_t cout, int64_t k, int64_t stride = 1, int64_t group = 1,
           bool bias = false) {
    std::vector<int> in = {x, Const(name + ".weight", Shape{cout, cin / group, k, k})};
    if (bias) in.push_back(Const(name + ".bias", Shape{cout}));
    return Op(OpType::kConv, name, in,
              {IntsAttr("strides", {stride, stride}), IntsAttr("pads", {k / 2, k / 2, k / 2, k / 2}),
               Int("group", group)});
  }
  int Bn(const std::string& name, int x, int64_t c) {
    return Op(OpType::kBatchNormalization, name,
              {x, Const(name + ".gamma", {c}, 0.5f, 1.5f), Const(name + ".beta", {c}), Const(name + ".mean", {c}),
               Const(name + ".var", {c}, 0.5f, 2.0f)},
              {Float("epsilon", 1e-5f)});
  }
  static Attribute Int(const std::string& n, int64_t v) { return Attribute::Int(n, v); }
  static Attribute Float(const std::string& n, float v) { return Attribute::Float(n, v); }
  static Attribute IntsAttr(const std::string& n, std::vector<int64_t> v) { return Attribute::Ints(n, std::move(v)); }
  static Attribute Str(const std::string& n, std::string v) { return Attribute::String(n, std::move(v)); }
  const Shape& ShapeOf(int tensor) const { return g.tensors[tensor].shape; }
  // Canonicalises; an empty graph when that fails (the caller's checks then fail).
  Graph Finish(int output) {
    g.outputs = {output};
    return Canonicalize(g).ok() ? std::move(g) : Graph{};
  }
  Graph g;
  Rng rng{42};
};

// A Conv+BN+ReLU stem, a residual block, max pooling, a ReLU6 branch
// concatenated with a LeakyReLU branch, and a classifier head.
inline Graph ResidualNet() {
  GraphBuilder b;
  int x = b.Input("image", {1, 3, 16, 16});
  x = b.Conv("conv1", x, 3, 8, 3, 2);
  x = b.Bn("bn1", x, 8);
  x = b.Op(OpType::kRelu, "relu1", {x});
  x = b.Op(OpType::kMaxPool, "pool1", {x}, {b.IntsAttr("kernel_shape", {2, 2}), b.IntsAttr("strides", {2, 2})});
  int y = b.Conv("block.conv", x, 8, 8, 3, 1, 1, true);
  y = b.Op(OpType::kRelu, "block.relu", {y});
  y = b.Conv("block.conv2", y, 8, 8, 1);
  y = b.Bn("block.bn2", y, 8);
  x = b.Op(OpType::kAdd, "block.add", {x, y});
  x = b.Op(OpType::kRelu, "block.relu_out", {x});
  int p = b.Conv("branch_a", x, 8, 4, 1);
  p = b.Op(OpType::kClip, "branch_a.relu6", {p, b.Scalar("six_min", 0.0f), b.Scalar("six_max", 6.0f)});
  int q = b.Conv("branch_b", x, 8, 4, 3);
  q = b.Op(OpType::kLeakyRelu, "branch_b.leaky", {q}, {b.Float("alpha", 0.2f)});
  x = b.Op(OpType::kConcat, "cat", {p, q}, {b.Int("axis", 1)});
  x = b.Op(OpType::kGlobalAveragePool, "gap", {x});
  x = b.Op(OpType::kReshape, "flatten", {x, b.Ints("flat_shape", {1, -1})});
  x = b.Op(OpType::kGemm, "fc", {x, b.Const("fc.weight", {10, 8}), b.Const("fc.bias", {10})},
           {b.Int("transB", 1)});
  x = b.Op(OpType::kRelu, "fc.relu", {x});
  x = b.Op(OpType::kSoftmax, "softmax", {x}, {b.Int("axis", -1)});
  return b.Finish(x);
}

}  // namespace edgesplit::testing
