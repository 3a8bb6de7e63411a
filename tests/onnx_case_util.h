// Helpers for running ONNX's own node test cases (libonnx-testdata), shared by
// the importer's and the engine's conformance tests.
#pragma once

#include <filesystem>
#include <set>
#include <string>

#include "onnx/onnx_pb.h"
#include "test_util.h"

namespace edgesplit::testing {

// Node tests feed shape-like parameters (Reshape's shape, Slice's starts...) as
// graph inputs; real models hold them as constants. Turns such int64 inputs into
// initializers from the test's own input data (a graph input that is also an
// initializer is a constant for the importer).
inline void MakeParameterInputsConstant(const std::filesystem::path& dir, onnx::ModelProto* model) {
  static const std::set<std::string> kParamOps = {"Reshape", "Slice", "Split", "Squeeze", "Unsqueeze",
                                                  "Gather", "Pad", "ReduceMean", "Clip", "Dropout"};
  auto* g = model->mutable_graph();
  for (int i = 0; i < g->input_size(); ++i) {
    const auto& vi = g->input(i);
    if (vi.type().tensor_type().elem_type() != onnx::TensorProto::INT64) continue;
    bool param = false, data = false;
    for (const auto& n : g->node())
      for (int k = 0; k < n.input_size(); ++k)
        if (n.input(k) == vi.name()) (k > 0 && kParamOps.count(n.op_type()) ? param : data) = true;
    if (!param || data) continue;
    onnx::TensorProto t;
    std::string bytes = testing::ReadFile((dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")).string());
    if (!t.ParseFromString(bytes)) continue;
    t.set_name(vi.name());
    *g->add_initializer() = t;
  }
}

}  // namespace edgesplit::testing
