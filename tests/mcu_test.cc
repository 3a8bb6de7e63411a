// The device core on a Cortex-M4F: tools/build-mcu.sh cross-builds the test
// firmware with the MobileNetV2-0.35 int8 head segment (at res 96 to keep the
// QEMU run short; docs/mcu.md has the 224 command), runs it under
// qemu-system-arm -M mps2-an386, and the cut tensor it prints must equal the
// host reference backend's bytes for the same segment file and input, and so
// must its codec payloads (int4, int2, +lz4: the portable encoders) the host's;
// the secure-link crypto firmware's sealed frame must open on the host.
// Skips without the toolchain or QEMU, unless EDGESPLIT_REQUIRE_FIXTURES=1.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "edgesplit/analysis.h"
#include "edgesplit/codec.h"
#include "edgesplit/cost.h"
#include "edgesplit/exec.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "edgesplit/flat_segment.h"
#include "test_util.h"

namespace edgesplit {
namespace {

bool OnPath(const std::string& tool) { return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0; }

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(McuFirmware, QemuCutTensorEqualsTheHostReferenceByteForByte) {
  for (const char* tool : {"arm-none-eabi-g++", "qemu-system-arm", "flatc"})
    if (!OnPath(tool)) {
      if (testing::FixturesRequired()) FAIL() << tool << " not installed (scripts/install-deps.sh)";
      GTEST_SKIP() << tool << " not installed: the Cortex-M4 run needs gcc-arm-none-eabi and qemu-system-arm";
    }
  const std::filesystem::path cli(EDGESPLIT_CLI_PATH);
  // Inside the host build tree so that reruns rebuild incrementally.
  const std::string build = (cli.parent_path() / "mcu-firmware").string();
  const std::string out = testing::MakeTempDir();
  // EDGESPLIT_MCU_RES=224 runs the full-size head (about 10 s of QEMU).
  const char* res_env = std::getenv("EDGESPLIT_MCU_RES");
  const int res = res_env ? std::atoi(res_env) : 96;
  const std::string cmd = std::string(EDGESPLIT_SOURCE_DIR) + "/tools/build-mcu.sh --res " + std::to_string(res) +
                          " --run --out " + out +
                          " --build " + build + " --edgesplit " + cli.string() + " > " + out + "/build.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFile(out + "/build.log");

  std::istringstream lines(testing::ReadFile(out + "/qemu.out"));
  std::string line, hex, header;
  std::vector<std::pair<std::string, std::string>> codecs;  // name, hex
  int layers = 0;
  bool done = false;
  while (std::getline(lines, line)) {
    if (line.rfind("layer ", 0) == 0) ++layers;
    if (line.rfind("segment ", 0) == 0) header = line;
    if (line == "done") done = true;
    if (line.rfind("cut_tensor ", 0) == 0) hex = line.substr(line.rfind(' ') + 1);
    if (line.rfind("codec ", 0) == 0) codecs.emplace_back(line.substr(6, line.find(' ', 6) - 6), line.substr(line.rfind(' ') + 1));
  }
  ASSERT_TRUE(done) << testing::ReadFile(out + "/qemu.out");
  const std::vector<uint8_t> device = FromHex(hex);

  Result<std::unique_ptr<SegmentFile>> file = SegmentFile::Read(out + "/segment/segment_0.essg");
  ASSERT_TRUE(file.ok()) << file.status().message();
  Result<LoadedSegment> seg = ReadSegment((*file)->data(), (*file)->size());
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  const int n = static_cast<int>(seg->graph.nodes.size());
  EXPECT_EQ(layers, n);
  EXPECT_NE(header.find(" nodes " + std::to_string(n) + " "), std::string::npos) << header;
  Result<std::unique_ptr<SegmentExecutor>> ex = SegmentExecutor::Create(seg->graph, 0, n, ReferenceBackend());
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  const std::string input = testing::ReadFile(out + "/input.bin");
  ASSERT_EQ(static_cast<int64_t>(input.size()), (*ex)->input_bytes());
  std::memcpy((*ex)->input(), input.data(), input.size());
  ASSERT_TRUE((*ex)->Invoke().ok());
  const auto* host = static_cast<const uint8_t*>((*ex)->output());
  ASSERT_EQ(static_cast<int64_t>(device.size()), (*ex)->output_bytes());
  EXPECT_EQ(device.size(), 112u * (res / 32) * (res / 32));  // block_16_project_BN, int8: 5,488 bytes at 224
  EXPECT_EQ(device, std::vector<uint8_t>(host, host + (*ex)->output_bytes()));
  // The device's codec payloads: the host encoder's bytes for the same tensor.
  EXPECT_EQ(codecs.size(), 4u);
  const Tensor& cut = (*ex)->output_tensor();
  const CutTensorView view{host, CodecDType::kInt8, static_cast<uint32_t>((*ex)->output_bytes()),
                           CodecChannels(cut.shape.data(), cut.shape.size())};
  for (const auto& [name, payload_hex] : codecs) {
    Result<Codec> c = ParseCodecName(name);
    ASSERT_TRUE(c.ok()) << name;
    Result<std::vector<uint8_t>> mine = EncodeCutTensorHost(*c, view);
    ASSERT_TRUE(mine.ok()) << mine.status().message();
    EXPECT_EQ(FromHex(payload_hex), *mine) << "codec " << name << ": the Cortex-M4 bytes differ from the host's";
  }
  EXPECT_NE(header.find(" arena " + std::to_string((*ex)->arena_bytes()) + " "), std::string::npos) << header;

  // The secure-link crypto firmware ran next (mcu/crypto_main.cc): its sealed
  // frame (counter || ciphertext || tag) opens on the host with libsodium, and
  // the plaintext is the firmware's test pattern byte for byte.
  std::istringstream crypto_lines(testing::ReadFile(out + "/crypto.out"));
  std::string sealed_hex;
  bool crypto_done = false;
  while (std::getline(crypto_lines, line)) {
    if (line.rfind("sealed_frame ", 0) == 0) sealed_hex = line.substr(13);
    if (line == "done") crypto_done = true;
  }
  ASSERT_TRUE(crypto_done) << testing::ReadFile(out + "/crypto.out");
  const std::vector<uint8_t> frame = FromHex(sealed_hex);
  ASSERT_EQ(frame.size(), 5488u + 24u);
  ASSERT_GE(sodium_init(), 0);
  uint8_t key[32], nonce[12] = {};
  std::memset(key, 0x42, sizeof key);
  std::memcpy(nonce + 4, frame.data(), 8);  // the counter, little-endian
  const std::string aad = "edgesplit-mcu";
  std::vector<uint8_t> plain(5488);
  unsigned long long plain_bytes = 0;
  ASSERT_EQ(crypto_aead_chacha20poly1305_ietf_decrypt(plain.data(), &plain_bytes, nullptr, frame.data() + 8, frame.size() - 8,
                                                      reinterpret_cast<const uint8_t*>(aad.data()), aad.size(), nonce, key),
            0);
  for (size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(plain[i], static_cast<uint8_t>(i * 131 + 7)) << i;
}

// A crafted trace in the firmware's format, with the ticks of every MAC layer
// proportional to its MACs: the fitted profile must recover that rate.
TEST(McuTrace, ProfileFromMcuTraceRecoversTheRateOfASyntheticTrace) {
  const std::string spec = "mobilenet_v2:alpha=0.35,res=96";
  Result<Graph> g = LoadModel(spec);
  ASSERT_TRUE(g.ok());
  Result<Graph> q = Quantize(*g, RandomCalibrationSamples(g->tensors[g->inputs[0]], 1, 1));
  ASSERT_TRUE(q.ok());
  Result<std::vector<CutPoint>> cuts = FindCutPoints(*q);
  ASSERT_TRUE(cuts.ok());
  Result<int> cut = ResolveCut(*q, *cuts, "block_16_project_BN");
  ASSERT_TRUE(cut.ok());
  // 25 MHz ticks under -icount shift=0: 40 instructions per tick. 2 MACs per
  // instruction = 80 MACs per tick; elementwise 100 instructions per element.
  std::string trace = "segment " + spec + " cuts 0..32 nodes 0 arena 0 heap 0 segment_bytes 0\n";
  for (int i = 0; i < (*cuts)[*cut].position; ++i) {
    const LayerStats stats = ComputeLayerStats(*q, i);
    const double work = static_cast<double>(NodeWork(*q, i, stats));
    const bool macs = ClassifyNode(*q, i) <= OpClass::kFc;
    const double ticks = macs ? work / 80 : work * 100 / 40;
    trace += "layer " + std::to_string(i) + " " + OpTypeName(q->nodes[i].op) + " " + q->nodes[i].name + " ticks " +
             std::to_string(static_cast<int64_t>(ticks)) + "\n";
  }
  trace += "ticks_hz 25000000 total_ticks 1\ndone\n";
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/no_icount.out", trace);
  testing::WriteFile(dir + "/qemu.out", trace + "icount_shift 0\n");
  std::string out, err;
  EXPECT_NE(testing::RunCli("profile --from-mcu-trace " + dir + "/no_icount.out -o " + dir + "/p.json", &out, &err), 0);
  EXPECT_NE(err.find("icount"), std::string::npos) << err;
  ASSERT_EQ(testing::RunCli("profile --from-mcu-trace " + dir + "/qemu.out -o " + dir + "/p.json --mcu-clock-hz 1e8",
                            &out, &err), 0) << err;
  EXPECT_NE(out.find("esp32s3"), std::string::npos) << out;
  Result<DeviceProfile> p = ParseDeviceProfile(testing::ReadFile(dir + "/p.json"), "p.json");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_DOUBLE_EQ(p->clock_hz, 1e8);
  for (OpClass c : {OpClass::kDepthwise, OpClass::kPointwise})
    EXPECT_NEAR(p->work_per_cycle[static_cast<int>(c)], 2.0, 0.05) << OpClassName(c);
  EXPECT_NEAR(1 / p->work_per_cycle[static_cast<int>(OpClass::kElementwise)], 100.0, 2.0);
}

}  // namespace
}  // namespace edgesplit
