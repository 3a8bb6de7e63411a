#include "test_util.h"

#include "edgesplit/analysis.h"
#include "edgesplit/runtime.h"
#include "edgesplit/wire.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace edgesplit::testing {
namespace fs = std::filesystem;

std::string FixturesDir() {
  const char* env = std::getenv("EDGESPLIT_FIXTURES");
  return env && *env ? env : EDGESPLIT_DEFAULT_FIXTURES_DIR;
}

bool FixturesRequired() {
  const char* env = std::getenv("EDGESPLIT_REQUIRE_FIXTURES");
  return env && std::string(env) == "1";
}

std::string FixturePath(const std::string& name) {
  fs::path p = fs::path(FixturesDir()) / name;
  return fs::exists(p) ? p.string() : std::string();
}

namespace {
std::vector<fs::path>& TempDirs() {
  static std::vector<fs::path> dirs;
  static bool registered = false;
  if (!registered) {
    registered = true;
    std::atexit([] {
      std::error_code ec;
      for (auto& d : TempDirs()) fs::remove_all(d, ec);
    });
  }
  return dirs;
}
}  // namespace

std::string MakeTempDir() {
  std::string templ = (fs::temp_directory_path() / "edgesplit_test_XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) std::abort();
  TempDirs().push_back(buf.data());
  return buf.data();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void ExpectSameNode(const Graph& ga, const Node& a, const Graph& gb, const Node& b) {
  SCOPED_TRACE("node " + a.name);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.aliases, b.aliases);
  EXPECT_EQ(a.attrs, b.attrs);
  EXPECT_EQ(a.activation, b.activation);
  auto same_tensor = [&](int ta_id, int tb_id, const std::string& what) {
    const Tensor& ta = ga.tensors[ta_id];
    const Tensor& tb = gb.tensors[tb_id];
    EXPECT_EQ(ta.name, tb.name) << what;
    EXPECT_EQ(ta.dtype, tb.dtype) << what;
    EXPECT_EQ(ta.shape, tb.shape) << what;
    EXPECT_EQ(ta.is_constant, tb.is_constant) << what;
    if (ta.is_constant) {
      EXPECT_TRUE(ta.data == tb.data) << what << ": constant " << ta.name << " changed";
    }
  };
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (size_t k = 0; k < a.inputs.size(); ++k) {
    ASSERT_EQ(a.inputs[k] == kNoTensor, b.inputs[k] == kNoTensor);
    if (a.inputs[k] != kNoTensor) same_tensor(a.inputs[k], b.inputs[k], "input " + std::to_string(k));
  }
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t k = 0; k < a.outputs.size(); ++k) same_tensor(a.outputs[k], b.outputs[k], "output " + std::to_string(k));
}

int RunCli(const std::string& args, std::string* out, std::string* err) {
  std::string dir = MakeTempDir();
  std::string out_path = dir + "/stdout", err_path = dir + "/stderr";
  std::string cmd = std::string(EDGESPLIT_CLI_PATH) + " " + args + " >" + out_path + " 2>" + err_path;
  int rc = std::system(cmd.c_str());
  if (out) *out = ReadFile(out_path);
  if (err) *err = ReadFile(err_path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

nlohmann::json RunCliJson(const std::string& args) {
  std::string out, err;
  const int rc = RunCli(args, &out, &err);
  EXPECT_EQ(rc, 0) << args << "\n" << err;
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << args << " printed no JSON:\n" << out;
  return j;
}

std::vector<uint8_t> PongFor(const std::vector<uint8_t>& m) {
  auto d = wire::DecodeMessage(m);
  if (!d.ok()) return {};
  wire::MessageHeader h = d->header;
  h.type = wire::MessageType::kPong;
  std::vector<uint8_t> out(wire::EncodedMessageBytes(h, d->payload.size()));
  if (!wire::EncodeMessage(h, d->payload, out).ok()) return {};
  return out;
}

std::pair<std::string, std::string> WriteCheapInt4CodecTable(const std::string& model, const std::string& head,
                                                             const std::string& dir) {
  auto g = runtime::LoadExecutionGraph(model, "int8");
  EXPECT_TRUE(g.ok()) << g.status().message();
  auto cuts = g.ok() ? FindCutPoints(*g) : Result<std::vector<CutPoint>>(g.status());
  EXPECT_TRUE(cuts.ok());
  nlohmann::json table{{"schema_version", 1}, {"kind", "codec_table"}, {"model", model}, {"dtype", "int8"}};
  table["entries"] = nlohmann::json::array();
  for (const CutPoint& c : cuts.ok() ? *cuts : std::vector<CutPoint>{}) {
    if (!c.bottleneck_strict || c.index == 0) continue;
    for (const char* codec : {"raw", "int4+lz4"})
      table["entries"].push_back({{"cut_index", c.index}, {"after", c.after}, {"shape", c.shape}, {"codec", codec},
                                  {"cut_bytes", std::string(codec) == "raw" ? double(c.bytes_int8) : 10.0},
                                  {"accuracy_drop", std::string(codec) == "raw" ? 0.0 : 0.5}, {"agreement", 1.0}});
  }
  const std::string table_path = dir + "/codec_table.json", costs_path = dir + "/codec_costs.json";
  std::ofstream(table_path) << table.dump();
  std::ofstream(costs_path) << R"({"devices": {")" << head
                            << R"(": {"dtypes": {"int8": {"int4+lz4": {"encode_cycles_per_element": 80}}}},
                                      "edge-x86": {"dtypes": {"int8": {"int4+lz4": {"decode_s_per_element": 1e-9}}}}}})";
  return {table_path, costs_path};
}

}  // namespace edgesplit::testing
