// Temporary key pairs for a run's processes (temporary_keys.h).
#include "temporary_keys.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "edgesplit/runtime_delivery.h"

namespace edgesplit::runtime {

Result<std::unique_ptr<TemporaryKeys>> TemporaryKeys::Make(const std::string& purpose, const std::vector<std::string>& names) {
  std::unique_ptr<TemporaryKeys> k(new TemporaryKeys());
  std::string pattern = (std::filesystem::temp_directory_path() / ("edgesplit-" + purpose + "-XXXXXX")).string();
  if (!mkdtemp(pattern.data())) return IoError("cannot make a folder for the run's temporary keys under " + pattern);
  k->dir_ = pattern;
  for (const std::string& name : names) ES_RETURN_IF_ERROR(WriteKeyFiles(k->Key(name), false));
  return k;
}

TemporaryKeys::~TemporaryKeys() {
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

Result<std::string> TemporaryKeys::Allow(const std::string& file, const std::vector<std::string>& senders) const {
  const std::string path = dir_ + "/" + file;
  std::ofstream out(path);
  for (const std::string& name : senders) {
    std::ifstream pub(Key(name) + ".pub");
    std::string line;
    if (!std::getline(pub, line)) return IoError("cannot read " + Key(name) + ".pub");
    out << name << " " << line << "\n";
  }
  if (!out.flush()) return IoError("cannot write " + path);
  return path;
}

}  // namespace edgesplit::runtime
