// Graph -> ONNX model (opset 17, ir_version 8).
//
// The Graph's own forms are already opset-17 forms, so nodes map one to one,
// except a fused activation, which becomes its own node again: ONNX has no
// fused Conv+Relu, and runtimes fuse it back themselves. Aliases, which ONNX
// cannot express, go into metadata_props so that ImportOnnx* restores them.
#include <climits>
#include <cstring>
#include <fstream>
#include <new>
#include <unordered_set>

#include "onnx/checker.h"
#include "onnx_internal.h"

namespace edgesplit {
namespace {

using onnx_internal::OnnxFromDType;

class Exporter {
 public:
  explicit Exporter(const Graph& graph) : graph_(graph) {
    for (const Tensor& t : graph.tensors) tensor_names_.insert(t.name);
    for (const Node& n : graph.nodes) node_names_.insert(n.name);
  }

  Result<onnx::ModelProto> Build() {
    onnx::ModelProto model;
    model.set_ir_version(onnx_internal::kExportIrVersion);
    model.set_producer_name("edgesplit");
    model.set_producer_version("0.1.0");
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(onnx_internal::kExportOpset);
    onnx::GraphProto* g = model.mutable_graph();
    g_ = g;
    g->set_name(graph_.name.empty() ? "edgesplit" : graph_.name);

    std::vector<char> is_io(graph_.tensors.size(), 0), exported(graph_.tensors.size(), 0);
    for (int id : graph_.inputs) {
      is_io[id] = 1;
      ValueInfo(graph_.tensors[id], graph_.tensors[id].name, g->add_input());
    }
    for (int id : graph_.outputs) is_io[id] = 1;
    for (const Node& node : graph_.nodes) {
      for (int id : node.inputs) {
        if (id == kNoTensor || !graph_.tensors[id].is_constant || exported[id]) continue;
        exported[id] = 1;
        onnx_internal::TensorToProto(graph_.tensors[id], g->add_initializer());
      }
      for (int id : node.outputs)
        if (!is_io[id]) ValueInfo(graph_.tensors[id], graph_.tensors[id].name, g->add_value_info());
      ES_RETURN_IF_ERROR(AddNode(node));
      if (!node.aliases.empty() || node.activation.kind != ActivationKind::kNone) {
        auto* prop = model.add_metadata_props();
        prop->set_key(onnx_internal::kAliasKeyPrefix + node.name);
        prop->set_value(onnx_internal::EncodeAliases(node.aliases));
      }
    }
    for (int id : graph_.outputs) ValueInfo(graph_.tensors[id], graph_.tensors[id].name, g->add_output());
    return model;
  }

 private:
  // A name not yet in `names` (tensors and nodes have separate namespaces in ONNX).
  static std::string FreshName(std::unordered_set<std::string>& names, const std::string& base) {
    std::string name = base;
    for (int i = 1; names.count(name); ++i) name = base + "_" + std::to_string(i);
    names.insert(name);
    return name;
  }

  static void ValueInfo(const Tensor& t, const std::string& name, onnx::ValueInfoProto* vi) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(OnnxFromDType(t.dtype));
    auto* shape = tt->mutable_shape();
    for (int64_t d : t.shape) shape->add_dim()->set_dim_value(d);
  }

  const std::string& TensorName(int id) const { return graph_.tensors[id].name; }

  Status AddNode(const Node& node) {
    onnx::NodeProto* p = g_->add_node();
    p->set_op_type(OpTypeName(node.op));
    p->set_name(node.name);
    size_t present = node.inputs.size();
    while (present > 0 && node.inputs[present - 1] == kNoTensor) --present;  // trailing omitted inputs
    for (size_t i = 0; i < present; ++i) p->add_input(node.inputs[i] == kNoTensor ? "" : TensorName(node.inputs[i]));
    for (const Attribute& a : node.attrs) {
      // ONNX has no empty list attribute (its checker wants the field set). An
      // empty list (a rank-0 Transpose's perm, Reduce axes) means the op's
      // default, which leaving the attribute out also means.
      const bool empty_list = (a.kind == Attribute::Kind::kInts && a.ints.empty()) ||
                              (a.kind == Attribute::Kind::kFloats && a.floats.empty());
      if (!empty_list) onnx_internal::AttributeToProto(a, p->add_attribute());
    }
    if (node.activation.kind == ActivationKind::kNone) {
      for (int id : node.outputs) p->add_output(TensorName(id));
      return Status::Ok();
    }
    if (node.outputs.size() != 1)
      return Unsupported("node '" + node.name + "': a fused activation on a node with several outputs");
    const Tensor& out = graph_.tensors[node.outputs[0]];
    const std::string pre = FreshName(tensor_names_, out.name + "_preact");
    p->add_output(pre);
    ValueInfo(out, pre, g_->add_value_info());
    return AddActivation(node, pre, out);
  }

  // The node after `node` applying its fused activation: `pre` -> `out`.
  Status AddActivation(const Node& node, const std::string& pre, const Tensor& out) {
    // The activation's original name when fusion kept it, so that a re-import
    // (which fuses it again) finds the same alias.
    std::string act_name;
    if (!node.aliases.empty() && node_names_.insert(node.aliases.back()).second) {
      act_name = node.aliases.back();
    } else {
      act_name = FreshName(node_names_, node.name + "_act");
    }
    onnx::NodeProto* p = g_->add_node();
    p->set_name(act_name);
    p->add_input(pre);
    const FusedActivation& act = node.activation;
    switch (act.kind) {
      case ActivationKind::kRelu: p->set_op_type("Relu"); break;
      case ActivationKind::kLeakyRelu: {
        p->set_op_type("LeakyRelu");
        Attribute alpha;
        alpha.name = "alpha";
        alpha.kind = Attribute::Kind::kFloat;
        alpha.f = act.alpha;
        onnx_internal::AttributeToProto(alpha, p->add_attribute());
        break;
      }
      case ActivationKind::kClip: {
        if (out.dtype != DType::kFloat32)
          return Unsupported("node '" + node.name + "': a fused Clip on a " + DTypeName(out.dtype) + " output");
        p->set_op_type("Clip");
        const std::pair<const char*, float> bounds[] = {{"_min", act.min}, {"_max", act.max}};
        for (const auto& [suffix, bound] : bounds) {
          Tensor t;
          t.name = FreshName(tensor_names_, act_name + suffix);
          t.dtype = DType::kFloat32;
          t.is_constant = true;
          t.data.resize(sizeof(float));
          std::memcpy(t.data.data(), &bound, sizeof(float));
          onnx_internal::TensorToProto(t, g_->add_initializer());
          p->add_input(t.name);
        }
        break;
      }
      case ActivationKind::kNone: break;
    }
    p->add_output(out.name);
    return Status::Ok();
  }

  const Graph& graph_;
  onnx::GraphProto* g_ = nullptr;
  std::unordered_set<std::string> tensor_names_, node_names_;
};

}  // namespace

Result<std::string> ExportOnnxBytes(const Graph& graph) {
  ES_RETURN_IF_ERROR(graph.Validate());
  if (onnx_internal::HasInt8Ops(graph)) {  // int8 ops are written in QDQ form (qdq.cc)
    ES_ASSIGN_OR_RETURN(Graph qdq, onnx_internal::ExpandQdq(graph));
    return ExportOnnxBytes(qdq);
  }
  try {
    ES_ASSIGN_OR_RETURN(onnx::ModelProto model, Exporter(graph).Build());
    try {
      onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      return Internal(std::string("the exported model fails onnx::checker: ") + e.what());
    }
    if (model.ByteSizeLong() > static_cast<size_t>(INT_MAX))
      return OutOfRange("the model is " + std::to_string(model.ByteSizeLong()) +
                        " bytes; protobuf cannot write models over 2 GiB");
    std::string bytes;
    if (!model.SerializeToString(&bytes)) return Internal("protobuf failed to serialise the model");
    return bytes;
  } catch (const std::bad_alloc&) {
    return OutOfRange("out of memory while exporting the model");
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while exporting the model: ") + e.what());
  }
}

Status ExportOnnxFile(const Graph& graph, const std::string& path) {
  ES_ASSIGN_OR_RETURN(std::string bytes, ExportOnnxBytes(graph));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError("cannot create '" + path + "'");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return IoError("cannot write '" + path + "'");
  return Status::Ok();
}

}  // namespace edgesplit
