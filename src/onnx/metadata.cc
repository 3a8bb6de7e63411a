// The alias list format of metadata_props "edgesplit.aliases.<node>": each alias
// followed by ';', with '\' escaping '\' and ';'. Terminators rather than
// separators keep [] ("") and [""] (";") apart, so a re-import is exact.
#include "onnx_internal.h"

namespace edgesplit::onnx_internal {

std::string EncodeAliases(const std::vector<std::string>& aliases) {
  std::string out;
  for (const std::string& alias : aliases) {
    for (char c : alias) {
      if (c == '\\' || c == ';') out += '\\';
      out += c;
    }
    out += ';';
  }
  return out;
}

bool DecodeAliases(const std::string& value, std::vector<std::string>* aliases) {
  aliases->clear();
  std::string current;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\') {
      if (++i == value.size()) return false;
      current += value[i];
    } else if (c == ';') {
      aliases->push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  return current.empty();  // an unterminated last alias means a damaged value
}

}  // namespace edgesplit::onnx_internal
