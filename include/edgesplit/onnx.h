// ONNX import and export (libonnx + protobuf).
//
// Import reads opset 7-18 models of the default domain as torch.onnx.export
// writes them (initializers inline or as external data), folds constant-shape
// subgraphs (Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Slice
// and integer arithmetic over constants), normalises legacy attribute forms to
// the opset-17 forms, and returns a canonical Graph (see graph.h). Every error
// names the node or tensor and the reason; hostile files never crash it.
//
// Export writes a Graph (whole model or one segment) as an opset-17 ONNX model
// that passes onnx::checker and re-imports to the same nodes, weights and shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

struct OnnxImportOptions {
  // Symbolic dimensions (dim_param, e.g. a dynamic batch) are fixed to this value.
  int64_t symbolic_dim_value = 1;
  // Largest model file accepted, in bytes (protobuf's own limit is 2 GiB).
  int64_t max_file_bytes = int64_t{2} << 30;
  // Run Canonicalize() (fusions, identity removal). Off keeps the nodes as they
  // are in the file, which conformance tests of single ops want.
  bool canonicalize = true;
};

// Reads a model file. External-data paths are resolved against the model's
// folder and must stay inside it.
Result<Graph> ImportOnnxFile(const std::string& path, const OnnxImportOptions& options = {});
// Parses a model from memory; `base_dir` resolves external data ("" forbids it).
Result<Graph> ImportOnnxBytes(const void* data, size_t size, const std::string& base_dir,
                              const OnnxImportOptions& options = {});

// Serialises `graph` as an ONNX ModelProto (opset 17, ir_version 8) after
// checking it with onnx::checker. Fused BatchNorm stays folded; a fused
// activation becomes a separate node named by its alias. Node aliases are kept
// in the model's metadata_props so that a re-import restores them.
Result<std::string> ExportOnnxBytes(const Graph& graph);
Status ExportOnnxFile(const Graph& graph, const std::string& path);

// Reads one TensorProto file (as in ONNX's test data: input_0.pb ...).
Result<Tensor> ReadTensorProtoFile(const std::string& path);

}  // namespace edgesplit
