// IDX files, plain or gzip (zlib), and Fashion-MNIST (include/edgesplit/idx.h).
#include "edgesplit/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace edgesplit {
namespace {

constexpr int kMaxRank = 4;

Status Bad(const std::string& what, const std::string& message) { return InvalidArgument(what + ": " + message); }

// A source of decompressed bytes: the input itself, or a zlib inflate stream.
class ByteSource {
 public:
  ByteSource(const unsigned char* p, size_t n, const std::string& what) : p_(p), n_(n), what_(what) {
    gzip_ = n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
    if (gzip_) {
      std::memset(&z_, 0, sizeof(z_));
      // 15 + 16: a gzip wrapper only (not raw zlib), the largest window.
      init_ = inflateInit2(&z_, 15 + 16) == Z_OK;
      z_.next_in = const_cast<unsigned char*>(p);
      z_.avail_in = static_cast<uInt>(std::min<size_t>(n, UINT32_MAX));
      fed_ = z_.avail_in;
    }
  }
  ~ByteSource() {
    if (gzip_ && init_) inflateEnd(&z_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  // Fills out[0, n) or fails naming what ran short.
  Status Read(unsigned char* out, size_t n, const char* part) {
    if (!gzip_) {
      if (n > n_ - pos_)
        return Bad(what_, std::string("truncated ") + part + ": needs " + std::to_string(n) + " bytes, " +
                              std::to_string(n_ - pos_) + " left");
      std::memcpy(out, p_ + pos_, n);
      pos_ += n;
      return Status::Ok();
    }
    if (!init_) return Internal(what_ + ": zlib inflateInit2 failed");
    size_t got = 0;
    while (got < n) {
      if (ended_)
        return Bad(what_, std::string("truncated ") + part + ": the gzip data ends " + std::to_string(n - got) +
                              " bytes short");
      Refill();
      const size_t chunk = std::min<size_t>(n - got, UINT32_MAX);
      z_.next_out = out + got;
      z_.avail_out = static_cast<uInt>(chunk);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      got += chunk - z_.avail_out;
      if (rc == Z_STREAM_END) ended_ = true;
      else if (rc == Z_BUF_ERROR && z_.avail_in == 0 && fed_ == n_)
        return Bad(what_, std::string("truncated gzip stream in ") + part);
      else if (rc != Z_OK && rc != Z_BUF_ERROR)
        return Bad(what_, std::string("corrupt gzip data (zlib: ") + (z_.msg ? z_.msg : "error") + ")");
    }
    return Status::Ok();
  }

  // After the last element: nothing may follow (data, or bytes after the gzip member).
  Status ExpectEnd() {
    if (!gzip_) {
      if (pos_ != n_) return Bad(what_, std::to_string(n_ - pos_) + " trailing bytes after the data");
      return Status::Ok();
    }
    unsigned char extra;
    while (!ended_) {
      Refill();
      z_.next_out = &extra;
      z_.avail_out = 1;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (z_.avail_out == 0) return Bad(what_, "trailing bytes after the data (inside the gzip stream)");
      if (rc == Z_STREAM_END) ended_ = true;
      else if (rc == Z_BUF_ERROR && z_.avail_in == 0 && fed_ == n_) return Bad(what_, "truncated gzip stream (no end)");
      else if (rc != Z_OK && rc != Z_BUF_ERROR)
        return Bad(what_, std::string("corrupt gzip data (zlib: ") + (z_.msg ? z_.msg : "error") + ")");
    }
    if (z_.avail_in != 0 || fed_ != n_) return Bad(what_, "trailing bytes after the gzip stream");
    return Status::Ok();
  }

 private:
  void Refill() {
    if (z_.avail_in == 0 && fed_ < n_) {
      z_.next_in = const_cast<unsigned char*>(p_ + fed_);
      z_.avail_in = static_cast<uInt>(std::min<size_t>(n_ - fed_, UINT32_MAX));
      fed_ += z_.avail_in;
    }
  }

  const unsigned char* p_;
  size_t n_, pos_ = 0, fed_ = 0;
  std::string what_;
  bool gzip_ = false, init_ = false, ended_ = false;
  z_stream z_;
};

uint32_t BigEndian32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

Result<IdxArray> ParseIdx(const void* bytes, size_t size, const std::string& what, uint64_t max_bytes) {
  ByteSource src(static_cast<const unsigned char*>(bytes), size, what);
  unsigned char magic[4];
  ES_RETURN_IF_ERROR(src.Read(magic, 4, "header"));
  if (magic[0] != 0 || magic[1] != 0) return Bad(what, "not an IDX file (the first two bytes must be zero)");
  if (magic[2] != 0x08)
    return Unsupported(what + ": IDX element type 0x" + std::to_string(magic[2] / 16) + std::to_string(magic[2] % 16) +
                       " is not supported; only 0x08 (unsigned byte)");
  const int rank = magic[3];
  if (rank < 1 || rank > kMaxRank)
    return Bad(what, "IDX rank " + std::to_string(rank) + " is outside 1.." + std::to_string(kMaxRank));
  unsigned char dims_raw[4 * kMaxRank];
  ES_RETURN_IF_ERROR(src.Read(dims_raw, 4 * static_cast<size_t>(rank), "dimensions"));
  IdxArray out;
  uint64_t elements = 1;
  for (int d = 0; d < rank; ++d) {
    const uint32_t v = BigEndian32(dims_raw + 4 * d);
    if (v == 0) return Bad(what, "dimension " + std::to_string(d) + " is zero");
    // Checked before multiplying: elements <= max_bytes <= 2^40 and v < 2^32 cannot overflow 64 bits.
    elements *= v;
    if (elements > max_bytes)
      return OutOfRange(what + ": the header claims more than " + std::to_string(max_bytes) +
                        " bytes of elements (dimension " + std::to_string(d) + " = " + std::to_string(v) + ")");
    out.dims.push_back(v);
  }
  out.data.resize(static_cast<size_t>(elements));
  ES_RETURN_IF_ERROR(src.Read(out.data.data(), out.data.size(), "elements"));
  ES_RETURN_IF_ERROR(src.ExpectEnd());
  return out;
}

Result<IdxArray> ReadIdx(const std::string& path, uint64_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return IoError("cannot open IDX file '" + path + "'");
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return IoError("cannot read IDX file '" + path + "'");
  return ParseIdx(bytes.data(), bytes.size(), path, max_bytes);
}

std::string FashionMnistDir() {
  const char* env = std::getenv("EDGESPLIT_FASHION_DIR");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

Result<LabelledImages> LoadFashionMnist(const std::string& dir, const std::string& split, int64_t limit) {
  if (split != "train" && split != "test")
    return InvalidArgument("Fashion-MNIST split '" + split + "' is neither 'train' nor 'test'");
  const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  ES_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(prefix + "-images-idx3-ubyte.gz"));
  ES_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(prefix + "-labels-idx1-ubyte.gz"));
  if (images.dims.size() != 3) return InvalidArgument(prefix + "-images-idx3-ubyte.gz: expected 3 dimensions (N, rows, cols)");
  if (labels.dims.size() != 1) return InvalidArgument(prefix + "-labels-idx1-ubyte.gz: expected 1 dimension (N)");
  if (images.dims[0] != labels.dims[0])
    return InvalidArgument("Fashion-MNIST " + split + ": " + std::to_string(images.dims[0]) + " images but " +
                           std::to_string(labels.dims[0]) + " labels");
  LabelledImages set;
  set.count = images.dims[0];
  set.rows = images.dims[1];
  set.cols = images.dims[2];
  for (int64_t i = 0; i < set.count; ++i)
    if (labels.data[i] >= set.classes)
      return InvalidArgument(prefix + "-labels-idx1-ubyte.gz: label " + std::to_string(labels.data[i]) + " of image " +
                             std::to_string(i) + " is not a class in 0..9");
  if (limit > 0 && limit < set.count) {
    set.count = limit;
    images.data.resize(static_cast<size_t>(limit * set.rows * set.cols));
    labels.data.resize(static_cast<size_t>(limit));
  }
  set.pixels = std::move(images.data);
  set.labels = std::move(labels.data);
  return set;
}

void ImageToFloat(const LabelledImages& set, int64_t index, float mean, float std_dev, float* out) {
  const size_t n = static_cast<size_t>(set.rows * set.cols);
  const uint8_t* p = set.pixels.data() + static_cast<size_t>(index) * n;
  for (size_t i = 0; i < n; ++i) out[i] = (static_cast<float>(p[i]) / 255.0f - mean) / std_dev;
}

}  // namespace edgesplit
