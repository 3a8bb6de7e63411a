// Small ONNX models and Graphs shared by the ONNX tests and the fuzzer's seed
// generator (fuzz/make_onnx_seeds.cc), so that the fuzzer starts from the same
// legacy forms, foldable subgraphs and edgesplit exports the tests check.
#pragma once

#include <string>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/onnx.h"
#include "graph_builder.h"
#include "onnx/onnx_pb.h"

namespace edgesplit::testing {

// Builds ModelProtos tersely.
class OnnxModelBuilder {
 public:
  explicit OnnxModelBuilder(int64_t opset = 17, int64_t ir_version = 8) {
    m.set_ir_version(ir_version);
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g()->set_name("test");
  }
  onnx::ValueInfoProto* Value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                              const std::vector<int64_t>& dims, int elem) {
    auto* vi = list->Add();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
    return vi;
  }
  onnx::ValueInfoProto* Input(const std::string& name, const std::vector<int64_t>& dims,
                              int elem = onnx::TensorProto::FLOAT) {
    return Value(g()->mutable_input(), name, dims, elem);
  }
  onnx::ValueInfoProto* Output(const std::string& name, const std::vector<int64_t>& dims,
                               int elem = onnx::TensorProto::FLOAT) {
    return Value(g()->mutable_output(), name, dims, elem);
  }
  onnx::TensorProto* Init(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(v.data(), v.size() * sizeof(float));
    return t;
  }
  onnx::TensorProto* Ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return t;
  }
  onnx::NodeProto* Node(const std::string& op, const std::string& name, const std::vector<std::string>& in,
                        const std::vector<std::string>& out) {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& s : in) n->add_input(s);
    for (const auto& s : out) n->add_output(s);
    return n;
  }
  static void Attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void Attr(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void Attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  std::string Bytes() const {
    std::string s;
    m.SerializeToString(&s);
    return s;
  }
  Result<Graph> Import(const std::string& base_dir = "", OnnxImportOptions options = {}) const {
    std::string s = Bytes();
    return ImportOnnxBytes(s.data(), s.size(), base_dir, options);
  }
  // The graph, looked up on each use so that copies of the builder stay valid.
  onnx::GraphProto* g() { return m.mutable_graph(); }
  onnx::ModelProto m;
};

// x[1,3,8,8] -> Conv "conv" (W[4,3,3,3], pads 1) -> Relu "relu" -> y[1,4,8,8]
inline OnnxModelBuilder ConvReluModel(int64_t opset = 17) {
  OnnxModelBuilder b(opset);
  b.Input("x", {1, 3, 8, 8});
  b.Init("W", {4, 3, 3, 3}, std::vector<float>(108, 0.25f));
  auto* conv = b.Node("Conv", "conv", {"x", "W"}, {"c"});
  b.Attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.Node("Relu", "relu", {"c"}, {"y"});
  b.Output("y", {1, 4, 8, 8});
  return b;
}

// y = Reshape(x, Cast(Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))): how torch
// writes x.view(x.size(0), -1); everything but the Reshape folds at import.
inline OnnxModelBuilder TorchFlattenModel() {
  OnnxModelBuilder b(13);
  b.Input("x", {2, 3, 4, 4});
  b.Node("Shape", "shape", {"x"}, {"s"});
  auto* c0 = b.Node("Constant", "zero", {}, {"zero"});
  auto* v = c0->add_attribute();
  v->set_name("value");
  v->set_type(onnx::AttributeProto::TENSOR);
  v->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  v->mutable_t()->add_int64_data(0);
  b.Node("Gather", "gather", {"s", "zero"}, {"n"});
  b.Ints("axes0", {0});
  b.Node("Unsqueeze", "unsqueeze", {"n", "axes0"}, {"n1"});
  auto* c1 = b.Node("Constant", "minus_one", {}, {"m1"});
  b.Attr(c1, "value_ints", std::vector<int64_t>{-1});
  b.Node("Concat", "concat", {"n1", "m1"}, {"target"});
  b.Attr(b.g()->mutable_node(b.g()->node_size() - 1), "axis", int64_t{0});
  b.Node("Cast", "cast", {"target"}, {"target64"});
  b.Attr(b.g()->mutable_node(b.g()->node_size() - 1), "to", int64_t{onnx::TensorProto::INT64});
  b.Node("Reshape", "view", {"x", "target64"}, {"y"});
  b.Output("y", {2, 48});
  return b;
}

// Opset 9: Slice, Pad, Split, Unsqueeze/Squeeze and Clip with the attributes
// that later opsets turned into inputs.
inline OnnxModelBuilder LegacyFormsModel() {
  OnnxModelBuilder b(9);
  b.Input("x", {1, 4, 6, 6});
  auto* slice = b.Node("Slice", "slice", {"x"}, {"s"});
  b.Attr(slice, "starts", std::vector<int64_t>{1});
  b.Attr(slice, "ends", std::vector<int64_t>{3});
  b.Attr(slice, "axes", std::vector<int64_t>{1});
  auto* pad = b.Node("Pad", "pad", {"s"}, {"p"});
  b.Attr(pad, "pads", std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1});
  b.Attr(pad, "value", 0.5f);
  auto* split = b.Node("Split", "split", {"p"}, {"p1", "p2"});
  b.Attr(split, "axis", int64_t{2});
  b.Attr(split, "split", std::vector<int64_t>{3, 5});
  auto* unsq = b.Node("Unsqueeze", "unsq", {"p1"}, {"u"});
  b.Attr(unsq, "axes", std::vector<int64_t>{0});
  auto* sq = b.Node("Squeeze", "sq", {"u"}, {"q"});
  b.Attr(sq, "axes", std::vector<int64_t>{0});
  auto* clip = b.Node("Clip", "clip", {"q"}, {"y"});
  b.Attr(clip, "min", 0.0f);
  b.Attr(clip, "max", 6.0f);
  b.Node("Relu", "relu2", {"p2"}, {"z"});
  b.Output("y", {1, 2, 3, 8});
  b.Output("z", {1, 2, 5, 8});
  return b;
}

// Opset 18: ReduceMean's axes input, Split's num_outputs, Pad's axes input.
inline OnnxModelBuilder Opset18FormsModel() {
  OnnxModelBuilder b(18);
  b.Input("x", {1, 4, 5, 6});
  b.Ints("axes", {2, 3});
  b.Node("ReduceMean", "mean", {"x", "axes"}, {"m"});
  auto* split = b.Node("Split", "split", {"m"}, {"a", "b"});
  b.Attr(split, "axis", int64_t{1});
  b.Attr(split, "num_outputs", int64_t{2});
  b.Ints("pads", {1, 1});
  b.Ints("pad_axes", {-1});
  b.Node("Pad", "pad", {"a", "pads", "", "pad_axes"}, {"y"});
  b.Output("y", {1, 2, 1, 3});
  b.Output("b", {1, 2, 1, 1});
  return b;
}

}  // namespace edgesplit::testing
