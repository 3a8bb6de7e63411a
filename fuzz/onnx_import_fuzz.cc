// Fuzzes ONNX import with arbitrary bytes. Besides "no crash, no sanitizer
// report, no hang", it checks the import/export contract: whatever imports must
// export (passing onnx::checker) and re-import to the same number of nodes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "edgesplit/onnx.h"

namespace {

[[noreturn]] void Fail(const char* what, const edgesplit::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.message().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgesplit::OnnxImportOptions options;
  options.max_file_bytes = int64_t{1} << 20;
  edgesplit::Result<edgesplit::Graph> graph = edgesplit::ImportOnnxBytes(data, size, "", options);
  if (!graph.ok()) return 0;
  edgesplit::Result<std::string> bytes = edgesplit::ExportOnnxBytes(*graph);
  if (!bytes.ok()) Fail("an imported graph does not export", bytes.status());
  edgesplit::Result<edgesplit::Graph> again = edgesplit::ImportOnnxBytes(bytes->data(), bytes->size(), "", options);
  if (!again.ok()) Fail("an exported graph does not re-import", again.status());
  if (again->nodes.size() != graph->nodes.size())
    Fail("re-import changed the node count", edgesplit::Internal(std::to_string(graph->nodes.size()) + " -> " +
                                                                 std::to_string(again->nodes.size())));
  return 0;
}
