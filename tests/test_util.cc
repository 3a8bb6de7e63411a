#include "test_util.h"

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

int RunCli(const std::string& args, std::string* out, std::string* err) {
  std::string dir = MakeTempDir();
  std::string out_path = dir + "/stdout", err_path = dir + "/stderr";
  std::string cmd = std::string(EDGESPLIT_CLI_PATH) + " " + args + " >" + out_path + " 2>" + err_path;
  int rc = std::system(cmd.c_str());
  if (out) *out = ReadFile(out_path);
  if (err) *err = ReadFile(err_path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace edgesplit::testing
