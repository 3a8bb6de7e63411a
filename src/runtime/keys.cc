// Ed25519 key files for over-the-air delivery and the node's state key (runtime_delivery.h).
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edgesplit/io.h"
#include "edgesplit/runtime_delivery.h"

namespace edgesplit::runtime {
namespace {

// lstat, not stat: a dangling symlink exists too (and must not be written through).
bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// Creates `path` exclusively with exactly `mode` and writes `text`. O_EXCL with
// O_CREAT never follows a symlink (not even a dangling one) and fails on any
// existing entry, so a key is never written into a file someone else prepared.
Status WriteWithMode(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return InvalidArgument("'" + path + "' exists (a file or a symlink); it is never written through");
    return IoError("cannot write '" + path + "': " + std::strerror(errno));
  }
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
  if (force)  // remove the old entries themselves (a symlink, not what it points to)
    for (const std::string& p : {path, pub})
      if (unlink(p.c_str()) != 0 && errno != ENOENT) return IoError("cannot replace '" + p + "': " + std::strerror(errno));
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

namespace {
constexpr std::string_view kStateKeyTag = "edgesplit-state-key ";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Result<delivery::StateKey> ReadStateKey(const std::string& path, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return IoError("cannot read state key '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument("state key '" + path + "' is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return InvalidArgument("state key '" + path + "' is readable by group or others (mode " + mode + "); chmod 600 it");
  }
  char buf[128];
  size_t got = 0;
  for (ssize_t n; got < sizeof buf && (n = read(fd, buf + got, sizeof buf - got)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read state key '" + path + "': " + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  std::string_view text(buf, got);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.substr(0, kStateKeyTag.size()) != kStateKeyTag || text.size() != kStateKeyTag.size() + 64)
    return InvalidArgument("state key '" + path + "' is not a line \"edgesplit-state-key <64 hex digits>\"");
  delivery::StateKey key;
  for (size_t i = 0; i < key.size(); ++i) {
    const int hi = HexValue(text[kStateKeyTag.size() + 2 * i]), lo = HexValue(text[kStateKeyTag.size() + 2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument("state key '" + path + "' has a character that is not lower-case hex");
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return key;
}
}  // namespace

Result<delivery::StateKey> LoadOrCreateStateKey(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    Result<delivery::StateKey> key = ReadStateKey(path, fd);
    close(fd);
    return key;
  }
  if (errno == ELOOP) return InvalidArgument("state key '" + path + "' is a symlink; it is never followed");
  if (errno != ENOENT) return IoError("cannot read state key '" + path + "': " + std::strerror(errno));
  delivery::StateKey key;
  for (size_t done = 0; done < key.size();) {
    const ssize_t n = getrandom(key.data() + done, key.size() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(std::string("getrandom: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  ES_RETURN_IF_ERROR(WriteWithMode(path, std::string(kStateKeyTag) + delivery::Hex(key) + "\n", 0600));
  return key;
}

}  // namespace edgesplit::runtime
