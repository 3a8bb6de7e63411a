// Writes the ONNX fuzzer's seed models into a folder: the crafted models of the
// ONNX tests (legacy attribute forms, foldable shape subgraphs, opset-18 forms)
// and edgesplit's own exports (fused activations, alias metadata), which the
// libonnx-testdata seeds do not reach. Usage: make_onnx_seeds <folder>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/onnx.h"
#include "onnx_test_models.h"

namespace {

bool Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <folder>\n", argv[0]);
    return 2;
  }
  using namespace edgesplit;
  const std::string dir = argv[1];
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"conv_relu_17", testing::ConvReluModel(17).Bytes()},
      {"conv_relu_9", testing::ConvReluModel(9).Bytes()},
      {"torch_flatten", testing::TorchFlattenModel().Bytes()},
      {"legacy_forms", testing::LegacyFormsModel().Bytes()},
      {"opset18_forms", testing::Opset18FormsModel().Bytes()},
  };
  const Graph net = testing::ResidualNet();
  Result<std::string> exported = ExportOnnxBytes(net);
  Result<std::vector<CutPoint>> cuts = FindCutPoints(net);
  if (!cuts.ok() || cuts->size() < 3) {
    std::fprintf(stderr, "the seed graph has no inner cut point\n");
    return 1;
  }
  Result<Graph> head = ExtractSegment(net, 0, (*cuts)[cuts->size() / 2].position);
  Result<std::string> head_bytes = head.ok() ? ExportOnnxBytes(*head) : Result<std::string>(head.status());
  if (!exported.ok() || !head_bytes.ok()) {
    std::fprintf(stderr, "exporting the seed graph failed: %s\n",
                 (exported.ok() ? head_bytes.status() : exported.status()).message().c_str());
    return 1;
  }
  seeds.emplace_back("residual_net_export", *exported);
  seeds.emplace_back("residual_net_head_export", *head_bytes);
  for (const auto& [name, bytes] : seeds) {
    if (!Write(dir + "/" + name + ".onnx", bytes)) {
      std::fprintf(stderr, "cannot write %s/%s.onnx\n", dir.c_str(), name.c_str());
      return 1;
    }
  }
  return 0;
}
