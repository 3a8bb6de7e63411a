// Temporary key pairs for the processes a run starts and for its own client
// (docs/security.md): `run`, `run --dynamic` and `bench-protocols` are sealed
// like any deployment with no flag. The keys live in a private folder
// (mkdtemp, mode 0700) that goes with the object.
// Thread-safety: none needed (read-only after Make).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edgesplit/secure_transport.h"
#include "edgesplit/status.h"

namespace edgesplit::runtime {

class TemporaryKeys {
 public:
  // One pair NAME / NAME.pub (`edgesplit keygen`'s files) per name.
  static Result<std::unique_ptr<TemporaryKeys>> Make(const std::string& purpose, const std::vector<std::string>& names);
  ~TemporaryKeys();
  TemporaryKeys(const TemporaryKeys&) = delete;
  TemporaryKeys& operator=(const TemporaryKeys&) = delete;

  std::string Key(const std::string& name) const { return dir_ + "/" + name; }  // NAME.pub beside it
  // Writes the allow file `file` (serve's --allow format) enrolling `senders`; returns its path.
  Result<std::string> Allow(const std::string& file, const std::vector<std::string>& senders) const;

 private:
  TemporaryKeys() = default;
  std::string dir_;
};

}  // namespace edgesplit::runtime
