// libFuzzer target for secure links at the transport (edgesplit/secure_transport.h,
// src/net/secure_session.h): the envelopes a sealed server and device take
// from the network. A real session is made once (in-process handshake)
// between a ServerSessions (peer 1) and a ClientSession. The input is cut
// into envelopes (2-byte length prefix); each is fed, by its first byte, to
//  * the server as coming from peer 1 (which has the session) or from peer
//    2 (which has none), with the session id patched in when asked, or
//  * the device, or
//  * as plaintext that the device seals genuinely and the server opens after
//    one byte (chosen by the input) is flipped, or not, or
//  * (first byte >= 0xF0) to the MQTT one-shot openers of request and reply.
// Properties: nothing crashes or grows without bound; the server delivers a
// sealed envelope only if it is byte for byte one the device sealed (never a
// flipped or outside one) and then its plaintext unchanged; a device never
// delivers outside bytes (the server never sealed any).
// Seeds: fuzz/seeds/secure_transport/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../src/net/secure_session.h"

namespace {

using namespace edgesplit;
using net::detail::ClientSession;
using net::detail::ServerSessions;

void Require(bool property) {
  if (!property) std::abort();
}

secure::Identity MakeIdentity(uint8_t seed_byte) {
  crypto::Bytes32 seed;
  seed.fill(seed_byte);
  const crypto::Ed25519KeyPair kp = crypto::Ed25519FromSeed(seed);
  return secure::Identity{kp.public_key, kp.secret_key};
}

struct World {
  net::LinkSecurity server_side, device_side;
  std::unique_ptr<ServerSessions> server;
  std::unique_ptr<ClientSession> device;
  World() {
    server_side.identity = MakeIdentity(1);
    server_side.enrolled = std::make_shared<net::EnrolledKeys>(std::vector<crypto::Bytes32>{MakeIdentity(2).public_key});
    device_side.identity = MakeIdentity(2);
    device_side.server_public = server_side.identity.public_key;
  }
  // Once: a handshake costs milliseconds under the sanitizers. Later inputs
  // cannot end the session (outside bytes never replace or revoke it), and
  // the device's counter only grows, so the properties hold across inputs.
  void Establish() {
    server = std::make_unique<ServerSessions>(server_side, 8, 3600);
    device = std::make_unique<ClientSession>(device_side);
    std::vector<uint8_t> to_server = device->Start(), to_device;
    for (int i = 0; i < 4 && !device->established(); ++i) {
      auto o = server->OnEnvelope(1, 1, to_server, &to_device);
      Require(o.action == ServerSessions::Action::kReply);
      auto e = device->OnEnvelope(to_device, &to_server);
      Require(e.ok());
    }
    Require(device->established() && server->Established(1));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world = [] {
    World w;
    w.Establish();
    return w;
  }();
  std::vector<uint8_t> out, sealed;
  size_t at = 0;
  while (at + 3 <= size) {
    const uint8_t how = data[at];
    const size_t n = std::min<size_t>(size - at - 3, size_t{data[at + 1]} | size_t{data[at + 2]} << 8);
    std::vector<uint8_t> e(data + at + 3, data + at + 3 + n);
    at += 3 + n;
    if (how >= 0xF0) {  // MQTT one-shot: outside bytes open as no request and no reply
      net::detail::OneShotKeys keys;
      Require(!net::detail::OpenOneShot(world.server_side, e, &out, &keys).ok());
      Require(!net::detail::OpenOneShotReply(keys, e, &out).ok());
      continue;
    }
    switch (how % 4) {
      case 0:
      case 1: {  // outside bytes at the server, from the peer with the session or another
        if ((how & 0x10) && e.size() >= net::kSealedHeaderBytes) {
          // A live-looking header: the real session id (no secret; it travels in clear).
          std::vector<uint8_t> probe;
          Require(world.device->Seal({}, &probe).ok());
          std::memcpy(e.data(), probe.data(), net::kSealedHeaderBytes);
        }
        auto o = world.server->OnEnvelope(how % 4 == 0 ? 1 : 2, 7, e, &out);
        Require(o.action != ServerSessions::Action::kDeliver);  // the device sealed none of these bytes
        Require(o.action == ServerSessions::Action::kNone || !out.empty());
        break;
      }
      case 2: {  // outside bytes at the device
        auto ev = world.device->OnEnvelope(e, &out);
        Require(!ev.ok() || *ev != ClientSession::Event::kDeliver);
        break;
      }
      case 3: {  // a genuine sealed frame, flipped at one byte or not
        Require(world.device->Seal(e, &sealed).ok());
        const bool flip = (how & 0x80) != 0;
        if (flip) sealed[(size_t{how} * 31 + n) % sealed.size()] ^= static_cast<uint8_t>(1u << (how & 7));
        auto o = world.server->OnEnvelope(1, 7, sealed, &out);
        if (flip) {
          Require(o.action != ServerSessions::Action::kDeliver);
        } else {
          Require(o.action == ServerSessions::Action::kDeliver && out == e);
        }
        break;
      }
    }
  }
  return 0;
}
