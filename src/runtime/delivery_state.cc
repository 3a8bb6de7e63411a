// The node's --state file (runtime_delivery.h): delivery::NodeState on disk,
// replaced atomically so a crash leaves either the old record or the new one.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "edgesplit/runtime_delivery.h"

namespace edgesplit::runtime {
namespace {

std::string Errno() { return std::strerror(errno); }

// The folder holding `path` (for its fsync after the rename).
std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

Status WriteAll(int fd, std::span<const uint8_t> bytes) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(Errno());
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<std::optional<delivery::NodeState>> ReadNodeStateFile(const std::string& path, const delivery::Sha256Digest& key_id,
                                                             const delivery::StateKey& state_key) {
  const std::string what = "node state file '" + path + "'";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<delivery::NodeState>();  // a fresh node
    return IoError("cannot read " + what + ": " + Errno());
  }
  // One byte more than a record, so a longer file is seen as such.
  uint8_t buf[delivery::kNodeStateBytes + 1];
  size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string e = Errno();
      close(fd);
      return IoError("cannot read " + what + ": " + e);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  Result<delivery::NodeState> s = delivery::DecodeNodeState(std::span<const uint8_t>(buf, got), state_key);
  if (!s.ok())
    return InvalidArgument(what + ": " + s.status().message() +
                           " (the node refuses to start rather than forget its replay floor; remove the file only to reset the node)");
  if (s->key_id != key_id) {
    const delivery::Sha256Digest none{};
    auto name = [&](const delivery::Sha256Digest& id) { return id == none ? std::string("no verify key") : "verify key " + delivery::Hex(id).substr(0, 16); };
    return InvalidArgument(what + " belongs to a node with " + name(s->key_id) + ", this node has " + name(key_id) +
                           " (its replay floor counts another signer's sequences; remove the file to reset the node)");
  }
  return std::optional<delivery::NodeState>(*s);
}

Status WriteNodeStateFile(const std::string& path, const delivery::NodeState& state, const delivery::StateKey& state_key) {
  const std::array<uint8_t, delivery::kNodeStateBytes> bytes = delivery::EncodeNodeState(state, state_key);
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot write '" + tmp + "': " + Errno());
  Status st = WriteAll(fd, bytes);
  if (st.ok() && fsync(fd) != 0) st = IoError("fsync: " + Errno());
  if (close(fd) != 0 && st.ok()) st = IoError("close: " + Errno());
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st.WithContext("cannot write '" + tmp + "'");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = Errno();
    unlink(tmp.c_str());
    return IoError("cannot replace '" + path + "' with '" + tmp + "': " + e);
  }
  // The rename is durable only once the folder's entry is.
  const std::string dir = DirOf(path);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return IoError("cannot open folder '" + dir + "' to sync '" + path + "': " + Errno());
  const bool synced = fsync(dfd) == 0;
  const std::string e = Errno();
  close(dfd);
  if (!synced) return IoError("cannot sync folder '" + dir + "' after writing '" + path + "': " + e);
  return Status::Ok();
}

}  // namespace edgesplit::runtime
