// The secure-link flags of serve, device and loadgen (docs/security.md):
// `--key NAME` with `--allow FILE` (server) or `--server-key FILE.pub`
// (device, loadgen), or `--insecure` for plain frames. Secure is the default:
// a command given neither refuses to run.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "edgesplit/serve.h"

namespace edgesplit::cli {

struct SecureArgs {
  std::string key, allow, server_key;
  bool insecure = false;
};

inline void AddSecureOptions(CLI::App& app, SecureArgs* a, bool server) {
  app.add_option("--key", a->key, server ? "This server's secret key file (`edgesplit keygen -o NAME`)"
                                         : "This device's secret key file (`edgesplit keygen -o NAME`), enrolled at the server");
  if (server)
    app.add_option("--allow", a->allow, "Enrolled devices: one per line, NAME then the line of its .pub file (SIGHUP re-reads it)");
  else
    app.add_option("--server-key", a->server_key, "The server's public key file (SERVER.pub)");
  app.add_flag("--insecure", a->insecure, "Plain frames: no handshake, no sealing, no enrolment (trusted test networks only)");
}

// The LinkSecurity the flags ask for; nullopt with --insecure. A server's
// enrolled set is returned in `*enrolled` (SIGHUP replaces it).
inline Result<std::optional<net::LinkSecurity>> SecurityFromArgs(const SecureArgs& a, bool server, const char* command,
                                                                 std::shared_ptr<net::EnrolledKeys>* enrolled = nullptr) {
  const std::string needs = server ? "--key NAME --allow FILE" : "--key NAME --server-key SERVER.pub";
  const bool any = !a.key.empty() || !a.allow.empty() || !a.server_key.empty();
  if (a.insecure && any) return InvalidArgument(std::string("--insecure and ") + needs + " exclude each other");
  if (a.insecure) return std::optional<net::LinkSecurity>();
  if (a.key.empty() || (server ? a.allow.empty() : a.server_key.empty()))
    return InvalidArgument(std::string(command) + " is secure by default: give " + needs +
                           " (docs/security.md), or --insecure for plain frames");
  net::LinkSecurity s;
  ES_ASSIGN_OR_RETURN(s.identity, runtime::ReadIdentity(a.key));
  if (server) {
    ES_ASSIGN_OR_RETURN(std::vector<runtime::EnrolledDevice> devices, runtime::ReadAllowFile(a.allow));
    s.enrolled = std::make_shared<net::EnrolledKeys>(runtime::EnrolledKeysOf(devices));
    if (enrolled) *enrolled = s.enrolled;
  } else {
    ES_ASSIGN_OR_RETURN(s.server_public, runtime::ReadServerKey(a.server_key));
  }
  return std::optional<net::LinkSecurity>(std::move(s));
}

// A refused device/loadgen exits 3 with "refused: <reason>" on stderr.
inline Status ExitIfRefused(Status s) {
  if (!net::IsRefusal(s)) return s;
  std::fprintf(stderr, "refused: %s\n", net::RefusalReason(s).c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  std::exit(3);
}

}  // namespace edgesplit::cli
