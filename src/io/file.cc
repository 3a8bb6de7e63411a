// Reading whole input files with their size checked first.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "edgesplit/io.h"

namespace edgesplit {

Status CheckRegularFile(const std::string& path, int64_t max_bytes, const std::string& what, int64_t* size) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return IoError("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return InvalidArgument(what + " '" + path + "' is not a regular file (a device, pipe or folder cannot be read as one)");
  if (st.st_size > max_bytes)
    return InvalidArgument(what + " '" + path + "' is " + std::to_string(st.st_size) + " bytes, more than the " +
                           std::to_string(max_bytes) + " a " + what + " may have");
  if (size) *size = static_cast<int64_t>(st.st_size);
  return Status::Ok();
}

Result<std::string> ReadRegularFile(const std::string& path, int64_t max_bytes, const std::string& what) {
  int64_t size = 0;
  ES_RETURN_IF_ERROR(CheckRegularFile(path, max_bytes, what, &size));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) return IoError("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  // Read at most max_bytes + 1 even if the file grew since stat: the cap holds.
  std::string bytes;
  bytes.resize(static_cast<size_t>(size));
  size_t got = std::fread(bytes.data(), 1, bytes.size(), f.get());
  if (got != bytes.size()) return IoError("cannot read " + what + " '" + path + "': short read");
  char extra;
  if (std::fread(&extra, 1, 1, f.get()) == 1)
    return InvalidArgument(what + " '" + path + "' changed while it was read");
  return bytes;
}

Status WriteTextFile(const std::string& path, std::string_view text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return IoError("cannot open '" + path + "' for writing: " + std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) return IoError("writing '" + path + "' failed");
  return Status::Ok();
}

}  // namespace edgesplit
