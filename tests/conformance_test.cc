// Execution conformance of the reference backend on ONNX's own node tests
// (Debian's libonnx-testdata): every single-op model over supported ops is
// imported as is (no canonicalisation), run on every test_data_set, and its
// outputs compared with the reference outputs. Cases in dtypes other than
// f32/int8/uint8/int32 (and int64 shape operands) are listed by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "edgesplit/exec.h"
#include "edgesplit/kernels.h"
#include "edgesplit/onnx.h"
#include "onnx/onnx_pb.h"
#include "onnx_case_util.h"
#include "test_util.h"

namespace edgesplit {
namespace {
namespace fs = std::filesystem;

const char* kTestData = "/usr/share/libonnx-testdata/data/node";

// Import rejects these on purpose (see onnx_conformance_test.cc).
const std::set<std::string> kRejectedAtImport = {
    "test_batchnorm_epsilon_training_mode", "test_batchnorm_example_training_mode",
    "test_maxpool_with_argmax_2d_precomputed_pads", "test_maxpool_with_argmax_2d_precomputed_strides"};

bool SupportedOp(const std::string& op) {
  OpType unused;
  return OpTypeFromName(op, &unused) || op == "Constant" || op == "Shape" || op == "Cast";
}

bool ExecDType(int t) {
  return t == onnx::TensorProto::FLOAT || t == onnx::TensorProto::INT8 || t == onnx::TensorProto::UINT8 ||
         t == onnx::TensorProto::INT32;
}

// "" when the model's runtime inputs and outputs are all in executable dtypes, else the reason.
std::string DTypeSkipReason(const onnx::ModelProto& model) {
  std::set<std::string> initializers;
  for (const auto& t : model.graph().initializer()) initializers.insert(t.name());
  for (const auto* list : {&model.graph().input(), &model.graph().output()})
    for (const auto& vi : *list) {
      if (initializers.count(vi.name())) continue;
      const int t = vi.type().has_tensor_type() ? vi.type().tensor_type().elem_type() : 0;
      if (!ExecDType(t))
        return "dtype " + (t ? onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t))
                             : std::string("non-tensor")) + " of '" + vi.name() + "'";
    }
  return "";
}

bool Close(const Tensor& got, const void* data, const Tensor& ref, std::string* why) {
  const int64_t n = ref.num_elements();
  if (ref.dtype != DType::kFloat32) {
    if (std::memcmp(data, ref.data.data(), ref.data.size()) != 0) {
      *why = "integer output differs";
      return false;
    }
    return true;
  }
  const float* a = static_cast<const float*>(data);
  const float* b = ref.data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(b[i]) && std::isnan(a[i])) continue;
    if (std::isinf(b[i]) && a[i] == b[i]) continue;
    if (!(std::fabs(a[i] - b[i]) <= 1e-5f + 1e-4f * std::fabs(b[i]))) {
      *why = "element " + std::to_string(i) + ": got " + std::to_string(a[i]) + ", expected " + std::to_string(b[i]);
      return false;
    }
  }
  return true;
}

// Runs one node test on every data set; "" on success, "skip" when listed in `skipped`, else the failure.
std::string RunCase(const fs::path& dir, onnx::ModelProto& model, int* data_sets, std::map<std::string, std::string>* skipped,
                    const Backend& backend = ReferenceBackend()) {
  const std::string name = dir.filename().string();
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return "cannot serialise";
  OnnxImportOptions options;
  options.canonicalize = false;
  Result<Graph> g = ImportOnnxBytes(bytes.data(), bytes.size(), dir.string(), options);
  if (!g.ok() && g.status().message().find("is a constant") != std::string::npos) {
    (*skipped)[name] = "folded to constants at import: nothing runs";
    return "skip";
  }
  if (!g.ok()) return "import: " + g.status().message();
  if (g->nodes.empty()) {
    (*skipped)[name] = "folded to constants at import";
    return "skip";
  }
  auto ex = SegmentExecutor::Create(*g, 0, static_cast<int>(g->nodes.size()), backend);
  if (!ex.ok()) return "create: " + ex.status().message();
  for (int set = 0;; ++set) {
    const fs::path data_dir = dir / ("test_data_set_" + std::to_string(set));
    if (!fs::exists(data_dir)) break;
    for (int i = 0; i < model.graph().input_size(); ++i) {
      const std::string& in_name = model.graph().input(i).name();
      int slot = -1;
      for (int k = 0; k < (*ex)->num_inputs(); ++k)
        if ((*ex)->input_tensor(k).name == in_name) slot = k;
      if (slot < 0) continue;  // bound as a constant
      Result<Tensor> t = ReadTensorProtoFile((data_dir / ("input_" + std::to_string(i) + ".pb")).string());
      if (!t.ok()) return t.status().message();
      if (static_cast<int64_t>(t->data.size()) != (*ex)->input_bytes(slot)) return "input size differs: " + in_name;
      if (!t->data.empty()) std::memcpy((*ex)->input(slot), t->data.data(), t->data.size());
    }
    Status st = (*ex)->Invoke();
    if (!st.ok()) return "invoke: " + st.message();
    for (int o = 0; o < (*ex)->num_outputs(); ++o) {
      Result<Tensor> ref = ReadTensorProtoFile((data_dir / ("output_" + std::to_string(o) + ".pb")).string());
      if (!ref.ok()) return ref.status().message();
      if (ref->shape != (*ex)->output_tensor(o).shape || ref->dtype != (*ex)->output_tensor(o).dtype)
        return "output " + std::to_string(o) + " shape/dtype differs";
      std::string why;
      if (!Close((*ex)->output_tensor(o), (*ex)->output(o), *ref, &why))
        return "data set " + std::to_string(set) + " output " + std::to_string(o) + ": " + why;
    }
    ++*data_sets;
  }
  return "";
}

// Every runnable node test on `backend` (onednn runs the ops it implements on
// oneDNN, in plain layouts since each model is one node, and defers the rest).
void RunOnnxNodeTests(const Backend& backend) {
  if (!fs::exists(kTestData)) GTEST_SKIP() << "libonnx-testdata is not installed";
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(kTestData)) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  int passed = 0, data_sets = 0, other_ops = 0;
  std::map<std::string, std::string> skipped;  // case -> reason
  std::map<std::string, std::string> failures;
  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    onnx::ModelProto model;
    if (!model.ParseFromString(testing::ReadFile((dir / "model.onnx").string()))) continue;
    bool ops_ok = true;
    for (const auto& n : model.graph().node())
      ops_ok &= SupportedOp(n.op_type()) && (n.domain().empty() || n.domain() == "ai.onnx");
    if (!ops_ok) {
      ++other_ops;
      continue;
    }
    SCOPED_TRACE(name);
    if (kRejectedAtImport.count(name)) {
      skipped[name] = "rejected at import (unsupported feature)";
      continue;
    }
    testing::MakeParameterInputsConstant(dir, &model);
    if (std::string why = DTypeSkipReason(model); !why.empty()) {
      skipped[name] = why;
      continue;
    }
    // Ops unchanged since opset 1 or 6 declare that opset, below the importer's range.
    for (auto& opset : *model.mutable_opset_import())
      if (opset.version() < 7) opset.set_version(7);
    std::string failure = RunCase(dir, model, &data_sets, &skipped, backend);
    if (failure == "skip") continue;
    if (!failure.empty()) {
      failures[name] = failure;
      continue;
    }
    ++passed;
  }
  std::printf("[ conformance ] %s backend: %d node tests passed (%d data sets), %zu skipped, %d use other ops\n",
              backend.name(), passed, data_sets, skipped.size(), other_ops);
  for (const auto& [name, reason] : skipped) std::printf("[ conformance ]   skipped %s: %s\n", name.c_str(), reason.c_str());
  for (const auto& [name, why] : failures) ADD_FAILURE() << name << ": " << why;
  EXPECT_GT(passed, 150);
}

TEST(ConformanceTest, ReferenceBackendRunsOnnxNodeTests) { RunOnnxNodeTests(ReferenceBackend()); }
TEST(ConformanceTest, OneDnnBackendRunsOnnxNodeTests) {
  const Backend* onednn = FindBackend("onednn");
  ASSERT_NE(onednn, nullptr);
  RunOnnxNodeTests(*onednn);
}

// PyTorch's old exports (pytorch-converted, pytorch-operator): small real
// models. Opset-6 models whose attributes changed meaning at 7 are skipped;
// others are declared opset 7, as onnx_conformance_test.cc does.
TEST(ConformanceTest, ReferenceBackendRunsLegacyPytorchModels) {
  int passed = 0, data_sets = 0;
  std::map<std::string, std::string> skipped, failures;
  for (const char* sub : {"pytorch-converted", "pytorch-operator"}) {
    const fs::path root = fs::path(kTestData).parent_path() / sub;
    if (!fs::exists(root)) GTEST_SKIP() << "libonnx-testdata is not installed";
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(root)) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& dir : dirs) {
      const std::string name = dir.filename().string();
      onnx::ModelProto model;
      if (!model.ParseFromString(testing::ReadFile((dir / "model.onnx").string()))) continue;
      bool ops_ok = true, changed_at_7 = false;
      for (const auto& n : model.graph().node()) {
        ops_ok &= SupportedOp(n.op_type()) && (n.domain().empty() || n.domain() == "ai.onnx");
        for (const auto& a : n.attribute())
          changed_at_7 |= a.name() == "broadcast" || a.name() == "is_test" || a.name() == "consumed_inputs";
      }
      if (!ops_ok) continue;
      if (changed_at_7) {
        skipped[name] = "opset-6 attribute semantics";
        continue;
      }
      if (std::string why = DTypeSkipReason(model); !why.empty()) {
        skipped[name] = why;
        continue;
      }
      for (auto& opset : *model.mutable_opset_import())
        if (opset.version() < 7) opset.set_version(7);
      std::string failure = RunCase(dir, model, &data_sets, &skipped);
      if (failure == "skip") continue;
      if (!failure.empty()) failures[name] = failure;
      else ++passed;
    }
  }
  std::printf("[ conformance ] legacy pytorch models: %d passed (%d data sets), %zu skipped\n", passed, data_sets,
              skipped.size());
  for (const auto& [name, reason] : skipped) std::printf("[ conformance ]   skipped %s: %s\n", name.c_str(), reason.c_str());
  for (const auto& [name, why] : failures) ADD_FAILURE() << name << ": " << why;
  EXPECT_GT(passed, 30);
}

}  // namespace
}  // namespace edgesplit
