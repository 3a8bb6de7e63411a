// Ed25519 key files for over-the-air delivery (runtime_delivery.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edgesplit/io.h"
#include "edgesplit/runtime_delivery.h"

namespace edgesplit::runtime {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Creates/truncates `path` with `mode` (applied even to an existing file) and writes `text`.
Status WriteWithMode(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return IoError("cannot write '" + path + "': " + std::strerror(errno));
  bool ok = fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  const int saved = errno;
  if (close(fd) != 0) ok = false;
  if (!ok) return IoError("cannot write '" + path + "': " + std::strerror(saved ? saved : errno));
  return Status::Ok();
}

Result<std::string> ReadText(const std::string& path) {
  return ReadRegularFile(path, 4096, "key file");
}

}  // namespace

Status WriteKeyFiles(const std::string& path, bool force) {
  if (path.empty()) return InvalidArgument("-o KEYFILE is required");
  const std::string pub = path + ".pub";
  if (!force)
    for (const std::string& p : {path, pub})
      if (Exists(p)) return InvalidArgument("'" + p + "' exists; pass --force to overwrite it");
  delivery::PublicKey pk;
  delivery::SecretKey sk;
  ES_RETURN_IF_ERROR(delivery::GenerateKeyPair(&pk, &sk));
  ES_RETURN_IF_ERROR(WriteWithMode(path, delivery::FormatSecretKey(sk), 0600));
  return WriteWithMode(pub, delivery::FormatPublicKey(pk), 0644);
}

Result<delivery::PublicKey> ReadPublicKeyFile(const std::string& path) {
  ES_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  Result<delivery::PublicKey> key = delivery::ParsePublicKey(text);
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

Result<delivery::SecretKey> ReadSecretKeyFile(const std::string& path) {
  ES_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  Result<delivery::SecretKey> key = delivery::ParseSecretKey(text);
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

}  // namespace edgesplit::runtime
