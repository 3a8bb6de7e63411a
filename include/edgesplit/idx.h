// IDX files (the MNIST / Fashion-MNIST format) and the Fashion-MNIST data set.
//
// An IDX file is big-endian: bytes 0-1 zero, byte 2 the element type (only
// 0x08, unsigned byte, is accepted: every MNIST-family file uses it), byte 3
// the number of dimensions (1..4 here), then one uint32 per dimension, then the
// elements in C order. Files may be gzip-compressed (decompressed with zlib).
//
// Contract:
//   * The header is read and checked first (type, rank, every dimension >= 1,
//     the element count within `max_bytes`) before any buffer for the elements
//     is allocated, so a hostile header cannot make the reader allocate
//     gigabytes. The data must then be exactly that long: a short file and
//     trailing bytes (after the data, or after the gzip member) are errors.
//   * Every error is a Status naming the source (`what` or the path) and the
//     problem (bad magic, truncated data, corrupt gzip stream...).
//   * Functions are reentrant and keep no state. Host only (zlib, heap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgesplit/status.h"

namespace edgesplit {

// 1 GiB: more than any MNIST-family file (47 MiB), far less than a hostile header may claim.
inline constexpr uint64_t kIdxMaxBytes = uint64_t{1} << 30;

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {10000, 28, 28} for images, {10000} for labels
  std::vector<uint8_t> data;  // C order, product(dims) elements
};

// Parses IDX bytes; gzip-compressed input (magic 1f 8b) is decompressed first.
Result<IdxArray> ParseIdx(const void* bytes, size_t size, const std::string& what = "IDX data",
                          uint64_t max_bytes = kIdxMaxBytes);
// Reads and parses the file at `path` (gzip or plain).
Result<IdxArray> ReadIdx(const std::string& path, uint64_t max_bytes = kIdxMaxBytes);

// A labelled image set: `count` grey images of rows x cols, labels in [0, classes).
struct LabelledImages {
  int64_t count = 0, rows = 0, cols = 0;
  int classes = 10;
  std::vector<uint8_t> pixels;  // count * rows * cols, C order
  std::vector<uint8_t> labels;  // count
};

// Fashion-MNIST's folder: $EDGESPLIT_FASHION_DIR, else Debian's
// /usr/share/datasets/fashion-mnist (package dataset-fashion-mnist).
std::string FashionMnistDir();

// Loads the `split` ("train": 60,000 images, or "test": 10,000) of Fashion-MNIST
// from `dir` (train-/t10k-images-idx3-ubyte.gz and -labels-idx1-ubyte.gz).
// `limit` > 0 keeps the first `limit` images. Errors: missing files, image and
// label counts that differ, a label >= 10.
Result<LabelledImages> LoadFashionMnist(const std::string& dir, const std::string& split, int64_t limit = 0);

// Writes image `index` as float32 (pixel / 255 - mean) / std_dev into
// out[0 .. rows*cols): the [1, 1, rows, cols] NCHW input of a model.
void ImageToFloat(const LabelledImages& set, int64_t index, float mean, float std_dev, float* out);

}  // namespace edgesplit
