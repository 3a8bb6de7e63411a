// Hostile inputs (issue 15): wrong JSON types, devices and pipes where a file
// is expected, images whose header declares more pixels than an input may
// have. Each must give an error naming what is wrong, never an abort, a hang
// or a read of the whole device.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "edgesplit/dynamic.h"
#include "edgesplit/io.h"
#include "edgesplit/plan.h"
#include "edgesplit/runtime_delivery.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using testing::MakeTempDir;
using testing::RunCli;
using testing::WriteFile;

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";

std::string Plan(const std::string& latency, const std::string& device) {
  return R"({"schema_version":1,"feasible":true,"link":"udp","dtype":"f32","latency_s":)" + latency +
         R"(,"segments":[{"cut_before":"input","cut_after":"output","device":)" + device + R"(,"compute_s":0.01}]})";
}

TEST(HostileInputs, PlanFieldOfTheWrongTypeIsAnErrorNamingIt) {
  // The plan module reads plan files (plan.h); `run --plan` exits 1 with its message.
  struct Case {
    std::string latency, device, field;
  };
  for (const Case& c : {Case{"\"fast\"", "\"x86\"", "latency_s"}, Case{"0.1", "5", "segments[0].device"}}) {
    Result<PlanFile> plan = ParsePlanFile(Plan(c.latency, c.device), "plan.json");  // an error, not an uncaught json type_error
    ASSERT_FALSE(plan.ok());
    EXPECT_NE(plan.status().message().find("'" + c.field + "'"), std::string::npos) << plan.status().message();
  }
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/plan.json", Plan("\"fast\"", "\"x86\""));
  std::string out, err;
  EXPECT_EQ(RunCli(std::string("run ") + kModel + " --plan " + dir + "/plan.json", &out, &err), 1) << err;
  EXPECT_NE(err.find("'latency_s'"), std::string::npos) << err;
}

TEST(HostileInputs, PlanFileThatIsADeviceIsRefusedBeforeReading) {
  Result<PlanFile> plan = ReadPlanFile("/dev/zero");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("not a regular file"), std::string::npos) << plan.status().message();
}

TEST(HostileInputs, NpyKeyTraceProblemThatAreNotRegularFilesAreRefused) {
  const std::string dir = MakeTempDir();
  auto npy = ReadNpy("/dev/null");
  ASSERT_FALSE(npy.ok());
  EXPECT_NE(npy.status().message().find("not a regular file"), std::string::npos) << npy.status().message();
  auto key = runtime::ReadPublicKeyFile(dir);  // a folder
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("not a regular file"), std::string::npos) << key.status().message();
  auto trace = LoadTraceCsv("/dev/null");
  ASSERT_FALSE(trace.ok());
  EXPECT_NE(trace.status().message().find("not a regular file"), std::string::npos) << trace.status().message();
  auto problem = LoadProblem("/dev/null");
  ASSERT_FALSE(problem.ok());
  EXPECT_NE(problem.status().message().find("not a regular file"), std::string::npos) << problem.status().message();
}

TEST(HostileInputs, OversizedNpyIsRefusedFromItsSize) {
  const std::string path = MakeTempDir() + "/big.npy";
  WriteFile(path, "");
  std::filesystem::resize_file(path, static_cast<uintmax_t>(kMaxNpyBytes) + 1);  // sparse: no disk used
  auto npy = ReadNpy(path);
  ASSERT_FALSE(npy.ok());
  EXPECT_NE(npy.status().message().find("more than"), std::string::npos) << npy.status().message();
}

// A PNG of a signature and an IHDR chunk declaring width x height (no pixel data).
std::string PngHeader(uint32_t width, uint32_t height) {
  std::string s = "\x89PNG\r\n\x1a\n";
  auto be32 = [&](uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  be32(13);
  s += "IHDR";
  be32(width);
  be32(height);
  s += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  be32(0);                                       // CRC (stb_image does not check it)
  return s;
}

TEST(HostileInputs, ImageDeclaringTooManyPixelsIsRefusedBeforeDecoding) {
  const std::string path = MakeTempDir() + "/huge.png";
  WriteFile(path, PngHeader(12000, 12000));
  Preprocessing pre;
  auto img = LoadImage(path, 96, 96, pre);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.status().message().find("12000x12000"), std::string::npos) << img.status().message();
}

}  // namespace
}  // namespace edgesplit
