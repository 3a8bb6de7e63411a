// Secure links' key files (docs/security.md): a device's or server's
// identity (`--key NAME`), the server's public key (`--server-key FILE.pub`)
// and the server's allow file of enrolled devices (`--allow FILE`).
#include <sstream>

#include "edgesplit/io.h"
#include "edgesplit/runtime_delivery.h"
#include "edgesplit/serve.h"

namespace edgesplit::runtime {

Result<secure::Identity> ReadIdentity(const std::string& key_path) {
  ES_ASSIGN_OR_RETURN(delivery::SecretKey sk, ReadSecretKeyFile(key_path));
  secure::Identity id;
  std::copy(sk.bytes.begin(), sk.bytes.end(), id.secret_key.begin());
  std::copy(sk.bytes.begin() + 32, sk.bytes.end(), id.public_key.begin());  // seed || public key
  crypto::SecureZero(sk.bytes.data(), sk.bytes.size());
  return id;
}

Result<crypto::Bytes32> ReadServerKey(const std::string& pub_path) {
  ES_ASSIGN_OR_RETURN(delivery::PublicKey pk, ReadPublicKeyFile(pub_path));
  return pk.bytes;
}

Result<std::vector<EnrolledDevice>> ReadAllowFile(const std::string& path) {
  ES_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(path, 4u << 20, "allow file"));
  std::vector<EnrolledDevice> devices;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const size_t name_end = line.find_first_of(" \t", start);
    const std::string where = path + ":" + std::to_string(number);
    if (name_end == std::string::npos)
      return InvalidArgument(where + ": expected NAME followed by the line of its .pub file");
    EnrolledDevice d;
    d.name = line.substr(start, name_end - start);
    const size_t key_start = line.find_first_not_of(" \t", name_end);
    auto key = delivery::ParsePublicKey(key_start == std::string::npos ? "" : line.substr(key_start));
    if (!key.ok()) return key.status().WithContext(where + " (" + d.name + ")");
    d.public_key = key->bytes;
    devices.push_back(std::move(d));
  }
  return devices;
}

std::vector<crypto::Bytes32> EnrolledKeysOf(const std::vector<EnrolledDevice>& devices) {
  std::vector<crypto::Bytes32> keys;
  for (const EnrolledDevice& d : devices) keys.push_back(d.public_key);
  return keys;
}

}  // namespace edgesplit::runtime
