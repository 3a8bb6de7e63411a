// Fresh names for the tensors and nodes a graph pass adds (the quantizer, the
// QDQ exporter): `base` if unused, else base_1, base_2, ... Names must stay
// unique because ONNX and cut resolution look tensors and layers up by name.
#pragma once

#include <string>
#include <unordered_set>

namespace edgesplit {

class UniqueNames {
 public:
  // Marks a name as taken (e.g. every name already in the graph).
  void Reserve(const std::string& name) { used_.insert(name); }
  // Returns an unused name derived from `base` and marks it taken.
  std::string Take(const std::string& base) {
    std::string name = base;
    for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
    used_.insert(name);
    return name;
  }

 private:
  std::unordered_set<std::string> used_;
};

}  // namespace edgesplit
