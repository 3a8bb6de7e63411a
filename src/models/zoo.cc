// LoadModel: turns a command-line model spec into a Graph, either from the zoo
// ("resnet18:res=160,seed=3") or from an ONNX file.
#include <charconv>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "edgesplit/suggest.h"

namespace edgesplit {
namespace {

constexpr const char* kZooModels = "mobilenet_v2, resnet18, resnet50";

struct ParsedSpec {
  std::string model;
  std::vector<std::pair<std::string, std::string>> params;  // key=value, in spec order
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsZooModel(std::string_view name) {
  return name == "mobilenet_v2" || name == "resnet18" || name == "resnet50";
}

// "name" or "name:key=value,key=value". Only the syntax is checked here; the
// model's own parser judges the keys and values.
Result<ParsedSpec> ParseSpec(const std::string& spec) {
  ParsedSpec parsed;
  const size_t colon = spec.find(':');
  parsed.model = spec.substr(0, colon);
  if (colon == std::string::npos) return parsed;
  std::string_view rest(spec);
  rest.remove_prefix(colon + 1);
  while (true) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return InvalidArgument("model spec \"" + spec + "\": expected key=value after ':' but got \"" +
                             std::string(item) + "\"");
    }
    std::string key(item.substr(0, eq));
    for (const auto& [seen, unused] : parsed.params) {
      if (seen == key) return InvalidArgument("model spec \"" + spec + "\": key " + key + " given twice");
    }
    parsed.params.emplace_back(std::move(key), std::string(item.substr(eq + 1)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return parsed;
}

// One accepted key of a model spec and how to store its value.
struct KeySetter {
  const char* key;
  std::function<Status(const std::string& value)> set;
};

template <typename T>
KeySetter NumberKey(const std::string& model, const char* key, T* out) {
  return {key, [model, key, out](const std::string& value) -> Status {
            T parsed{};
            const char* end = value.data() + value.size();
            auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
            if (ec != std::errc() || ptr != end) {
              const char* expected = std::is_floating_point_v<T> ? "a number"
                                     : std::is_signed_v<T>       ? "an integer"
                                                                 : "a non-negative integer";
              return InvalidArgument(model + ": " + key + "=" + value + " is not " + expected);
            }
            *out = parsed;
            return Status::Ok();
          }};
}

Status ApplyParams(const ParsedSpec& spec, const std::vector<KeySetter>& keys) {
  for (const auto& [key, value] : spec.params) {
    const KeySetter* match = nullptr;
    for (const KeySetter& k : keys) {
      if (key == k.key) match = &k;
    }
    if (!match) {
      std::string accepted;
      for (const KeySetter& k : keys) accepted += std::string(accepted.empty() ? "" : ", ") + k.key;
      return InvalidArgument(spec.model + ": unknown key \"" + key + "\" (accepted keys: " + accepted + ")");
    }
    ES_RETURN_IF_ERROR(match->set(value));
  }
  return Status::Ok();
}

Result<Graph> LoadZooModel(const ParsedSpec& spec) {
  if (spec.model == "mobilenet_v2") {
    MobileNetV2Options o;
    ES_RETURN_IF_ERROR(ApplyParams(
        spec, {NumberKey(spec.model, "alpha", &o.alpha), NumberKey(spec.model, "res", &o.resolution),
               NumberKey(spec.model, "classes", &o.num_classes), NumberKey(spec.model, "seed", &o.seed)}));
    return BuildMobileNetV2(o);
  }
  ResNetOptions o;
  o.depth = spec.model == "resnet18" ? 18 : 50;
  ES_RETURN_IF_ERROR(ApplyParams(
      spec, {NumberKey(spec.model, "res", &o.resolution), NumberKey(spec.model, "classes", &o.num_classes),
             NumberKey(spec.model, "seed", &o.seed)}));
  return BuildResNet(o);
}

bool IsExistingFile(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

Result<Graph> LoadModel(const std::string& spec) {
  if (spec.empty()) {
    return InvalidArgument(std::string("empty model spec: expected one of ") + kZooModels +
                           " or a path to an .onnx file");
  }
  // A zoo name wins over a same-named file in the working directory; anything
  // ending in .onnx is a file even when it does not exist, so that the error
  // is the importer's "cannot open" rather than "unknown model".
  if (!EndsWith(spec, ".onnx")) {
    ES_ASSIGN_OR_RETURN(ParsedSpec parsed, ParseSpec(spec));
    if (IsZooModel(parsed.model)) return LoadZooModel(parsed);
    if (!IsExistingFile(spec)) {
      return InvalidArgument("unknown model \"" + parsed.model + "\": expected one of " + kZooModels +
                             " (with optional :key=value,... settings) or a path to an .onnx file." +
                             DidYouMean(parsed.model, {"mobilenet_v2", "resnet18", "resnet50"}));
    }
  }
  return ImportOnnxFile(spec);
}

Preprocessing DefaultPreprocessing(const std::string& spec) {
  Preprocessing p;  // ImageNet mean/std: torchvision's models and most ONNX files
  if (EndsWith(spec, ".onnx")) return p;
  const std::string model = spec.substr(0, spec.find(':'));
  if (model == "mobilenet_v2") {
    // Keras' MobileNetV2 preprocess_input maps pixels to [-1, 1].
    for (int c = 0; c < 3; ++c) {
      p.mean[c] = 0.5f;
      p.std[c] = 0.5f;
    }
  }
  return p;
}

}  // namespace edgesplit
