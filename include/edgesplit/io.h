// Model inputs and outputs on disk: .npy arrays and PNG/JPEG images.
//
// .npy files hold float32 C-order little-endian arrays (NCHW for images), as
// numpy.save writes them. Every malformed file gets an error naming the file and
// what is wrong (truncated data, wrong dtype, Fortran order, bad header...).
// Images are decoded (stb_image), resized bilinearly to the model's H x W and
// normalised per channel: x = (pixel/255 - mean) / std.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/models.h"
#include "edgesplit/status.h"

namespace edgesplit {

// Files named on the command line are checked before they are read: a device
// (/dev/zero), pipe or folder is refused, and so is a file over `max_bytes`.
// `what` ("key file", ".npy input") names the file in errors.
Status CheckRegularFile(const std::string& path, int64_t max_bytes, const std::string& what, int64_t* size = nullptr);
Result<std::string> ReadRegularFile(const std::string& path, int64_t max_bytes, const std::string& what);
// Writes `text` to `path` (created or truncated); errors name the path.
Status WriteTextFile(const std::string& path, std::string_view text);

// Caps on what inputs may be: a .npy input (1 GiB) and a decoded image (64
// megapixels, 192 MiB of RGB), checked from the file size and image header.
inline constexpr int64_t kMaxNpyBytes = int64_t{1} << 30;
inline constexpr int64_t kMaxImagePixels = int64_t{64} << 20;

struct FloatArray {
  Shape shape;
  std::vector<float> data;  // C order
};

// Parses .npy bytes (format 1.0/2.0/3.0, dtype '<f4', fortran_order False).
// `what` names the source in errors.
Result<FloatArray> ParseNpy(const void* bytes, size_t size, const std::string& what = "npy data");
Result<FloatArray> ReadNpy(const std::string& path);
// Serialises a float32 C-order array as .npy (format 1.0).
std::string EncodeNpy(const Shape& shape, const float* data);
Status WriteNpy(const std::string& path, const Shape& shape, const float* data);

// Checks `array` against a model input: float32, same element count and the
// same shape (a missing leading batch dimension of 1 is accepted), all values
// finite. Errors name the expected and actual shapes or the first bad value.
Status CheckModelInput(const Tensor& model_input, const FloatArray& array, const std::string& what);

// Decodes a PNG or JPEG file into [1, 3, height, width] (grey images are
// replicated, alpha dropped), bilinear resize (half-pixel centres), normalised.
Result<FloatArray> LoadImage(const std::string& path, int64_t height, int64_t width, const Preprocessing& pre);

// An input for `model_input` from a .npy, .png, .jpg or .jpeg file (by
// extension), checked with CheckModelInput and shaped as the model input.
Result<FloatArray> LoadModelInput(const std::string& path, const Tensor& model_input, const Preprocessing& pre);

}  // namespace edgesplit
