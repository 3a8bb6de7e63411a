// PNG/JPEG input through stb_image (Debian libstb-dev, header-only use).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "edgesplit/io.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO_DEPRECATION
#include <stb/stb_image.h>

namespace edgesplit {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<FloatArray> LoadImage(const std::string& path, int64_t height, int64_t width, const Preprocessing& pre) {
  if (height < 1 || width < 1 || height > 16384 || width > 16384)
    return InvalidArgument("cannot resize an image to " + std::to_string(height) + "x" + std::to_string(width));
  int w = 0, h = 0, channels = 0;
  ES_RETURN_IF_ERROR(CheckRegularFile(path, int64_t{1} << 30, "image"));
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return IoError("cannot open image '" + path + "': " + std::strerror(errno));
  // The header's dimensions first: a small file can declare a huge image.
  if (stbi_info_from_file(file, &w, &h, &channels) &&
      static_cast<int64_t>(w) * static_cast<int64_t>(h) > kMaxImagePixels) {
    std::fclose(file);
    return InvalidArgument("image '" + path + "' declares " + std::to_string(w) + "x" + std::to_string(h) +
                           " pixels, more than the " + std::to_string(kMaxImagePixels) + " an input may have");
  }
  unsigned char* pixels = stbi_load_from_file(file, &w, &h, &channels, 3);
  std::fclose(file);
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    return InvalidArgument("cannot read image '" + path + "': " + (reason ? reason : "unknown error"));
  }
  FloatArray out;
  out.shape = {1, 3, height, width};
  out.data.resize(static_cast<size_t>(3 * height * width));
  const float sy = static_cast<float>(h) / static_cast<float>(height);
  const float sx = static_cast<float>(w) / static_cast<float>(width);
  for (int64_t y = 0; y < height; ++y) {
    const float fy = std::clamp((static_cast<float>(y) + 0.5f) * sy - 0.5f, 0.0f, static_cast<float>(h - 1));
    const int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, h - 1);
    const float wy = fy - static_cast<float>(y0);
    for (int64_t x = 0; x < width; ++x) {
      const float fx = std::clamp((static_cast<float>(x) + 0.5f) * sx - 0.5f, 0.0f, static_cast<float>(w - 1));
      const int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, w - 1);
      const float wx = fx - static_cast<float>(x0);
      for (int c = 0; c < 3; ++c) {
        auto px = [&](int yy, int xx) { return static_cast<float>(pixels[(static_cast<size_t>(yy) * w + xx) * 3 + c]); };
        const float top = px(y0, x0) * (1 - wx) + px(y0, x1) * wx;
        const float bottom = px(y1, x0) * (1 - wx) + px(y1, x1) * wx;
        const float v = (top * (1 - wy) + bottom * wy) / 255.0f;
        out.data[static_cast<size_t>((c * height + y) * width + x)] = (v - pre.mean[c]) / pre.std[c];
      }
    }
  }
  stbi_image_free(pixels);
  return out;
}

Result<FloatArray> LoadModelInput(const std::string& path, const Tensor& model_input, const Preprocessing& pre) {
  const std::string lower = Lower(path);
  FloatArray array;
  if (EndsWith(lower, ".npy")) {
    ES_ASSIGN_OR_RETURN(array, ReadNpy(path));
  } else if (EndsWith(lower, ".png") || EndsWith(lower, ".jpg") || EndsWith(lower, ".jpeg")) {
    if (model_input.shape.size() != 4 || model_input.shape[1] != 3)
      return InvalidArgument("an image input needs a model input of shape [N,3,H,W]; '" + model_input.name + "' is " +
                             ShapeToString(model_input.shape));
    ES_ASSIGN_OR_RETURN(array, LoadImage(path, model_input.shape[2], model_input.shape[3], pre));
  } else {
    return InvalidArgument("input '" + path + "': unknown file type (expected .npy, .png, .jpg or .jpeg)");
  }
  ES_RETURN_IF_ERROR(CheckModelInput(model_input, array, "input '" + path + "'"));
  array.shape = model_input.shape;
  return array;
}

}  // namespace edgesplit
