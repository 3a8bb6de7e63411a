// edgesplit keygen -o KEYFILE [--force]
//
// Writes an Ed25519 key pair for over-the-air delivery (docs/mcu.md): KEYFILE
// (the secret key, mode 0600; `run --deliver --sign-key KEYFILE`) and
// KEYFILE.pub (`node --verify-key KEYFILE.pub`).
#include <fmt/format.h>

#include "commands.h"
#include "edgesplit/runtime_delivery.h"
#include "render.h"

namespace edgesplit::cli {
namespace {

struct KeygenArgs {
  std::string output;
  bool force = false;
};

Status RunKeygen(const KeygenArgs& a) {
  ES_RETURN_IF_ERROR(runtime::WriteKeyFiles(a.output, a.force));
  ES_ASSIGN_OR_RETURN(delivery::PublicKey pk, runtime::ReadPublicKeyFile(a.output + ".pub"));
  return WriteOutput("", fmt::format("wrote {} (secret, keep it on the coordinator) and {}.pub (for the nodes)\npublic key {}\n",
                                     a.output, a.output, delivery::Hex(pk.bytes)));
}

}  // namespace

Runner RegisterKeygen(CLI::App& app) {
  auto a = std::make_shared<KeygenArgs>();
  app.add_option("-o,--output", a->output, "Secret key file to write (the public key goes to FILE.pub)")->required();
  app.add_flag("--force", a->force, "Overwrite existing key files");
  return [a] { return RunKeygen(*a); };
}

}  // namespace edgesplit::cli
