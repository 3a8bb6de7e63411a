// The secure-link handshake and sealed frames (edgesplit/secure_link.h):
// a full handshake, loss and retransmission, wrong keys, unenrolled devices,
// every tampered byte, malformed messages, and the replay window against a
// reference model on random counters.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "edgesplit/secure_link.h"

namespace edgesplit::secure {
namespace {

using crypto::Bytes32;

Identity MakeIdentity(uint8_t seed_byte) {
  Bytes32 seed;
  seed.fill(seed_byte);
  const crypto::Ed25519KeyPair kp = crypto::Ed25519FromSeed(seed);
  return Identity{kp.public_key, kp.secret_key};
}
Bytes32 Filled(uint8_t b) {
  Bytes32 x;
  x.fill(b);
  return x;
}

struct Enrolled {
  std::vector<Bytes32> keys;
  static bool Allow(const Bytes32& k, void* self) {
    for (const Bytes32& e : static_cast<Enrolled*>(self)->keys)
      if (e == k) return true;
    return false;
  }
};

using Msg = std::vector<uint8_t>;

// Drives one handshake; returns the four messages.
struct Handshake {
  Identity device = MakeIdentity(1), server = MakeIdentity(2);
  Enrolled enrolled{{device.public_key}};
  Initiator ini;
  Responder res;
  Msg m1, m2, m3, m4;

  Status Step1(uint64_t t = 0) {
    Msg out(kMaxHandshakeBytes);
    size_t n = 0;
    Status s = ini.Start(device, server.public_key, Filled(0x11), 7, t, out, &n);
    m1.assign(out.begin(), out.begin() + n);
    return s;
  }
  Status Step2(uint64_t t = 1) {
    Msg out(kMaxHandshakeBytes);
    size_t n = 0;
    Status s = res.OnHello(m1, server, Filled(0x22), 9, t, out, &n);
    m2.assign(out.begin(), out.begin() + n);
    return s;
  }
  Status Step3(uint64_t t = 2) {
    Msg out(kMaxHandshakeBytes);
    size_t n = 0;
    Status s = ini.OnResponse(m2, t, out, &n);
    m3.assign(out.begin(), out.begin() + n);
    return s;
  }
  Status Step4(uint64_t t = 3) {
    Msg out(kMaxHandshakeBytes);
    size_t n = 0;
    Status s = res.OnAuth(m3, &Enrolled::Allow, &enrolled, t, out, &n);
    m4.assign(out.begin(), out.begin() + n);
    return s;
  }
  void All() {
    ASSERT_TRUE(Step1().ok());
    ASSERT_TRUE(Step2().ok());
    ASSERT_TRUE(Step3().ok());
    ASSERT_TRUE(Step4().ok());
    ASSERT_TRUE(ini.OnFinished(m4, 4).ok());
  }
};

TEST(SecureLink, HandshakeGivesMatchingKeysInFourSmallMessages) {
  Handshake r;
  r.All();
  EXPECT_EQ(r.m1.size(), kHelloBytes);
  EXPECT_EQ(r.m2.size(), kResponseBytes);
  EXPECT_EQ(r.m3.size(), kAuthBytes);
  EXPECT_EQ(r.m4.size(), kFinishedBytes);
  EXPECT_LE(kMaxHandshakeBytes, 250u);  // one ESP-NOW frame each
  EXPECT_EQ(r.ini.state(), Initiator::State::kEstablished);
  EXPECT_EQ(r.res.state(), Responder::State::kEstablished);
  const SessionKeys &i = r.ini.keys(), &s = r.res.keys();
  EXPECT_EQ(i.send_key, s.receive_key);
  EXPECT_EQ(i.receive_key, s.send_key);
  EXPECT_NE(i.send_key, i.receive_key);
  EXPECT_EQ(i.peer_identity, r.server.public_key);
  EXPECT_EQ(s.peer_identity, r.device.public_key);
  EXPECT_EQ(i.local_session, 7u);
  EXPECT_EQ(i.peer_session, 9u);
  EXPECT_EQ(s.peer_session, 7u);

  // Sealed traffic both ways.
  Sealer up(i.send_key), down(s.send_key);
  Opener up_open(s.receive_key), down_open(i.receive_key);
  const Msg hello = {1, 2, 3, 4, 5};
  const Msg aad = {0xAA};
  Msg sealed(hello.size() + kSealOverhead), back(hello.size());
  ASSERT_TRUE(up.Seal(aad, hello, sealed).ok());
  ASSERT_TRUE(up_open.Open(aad, sealed, back).ok());
  EXPECT_EQ(back, hello);
  ASSERT_TRUE(down.Seal(aad, hello, sealed).ok());
  EXPECT_FALSE(up_open.Open(aad, sealed, back).ok());  // the other direction's key
  ASSERT_TRUE(down_open.Open(aad, sealed, back).ok());
}

TEST(SecureLink, FreshEphemeralsGiveFreshKeys) {
  Handshake a, b;
  a.All();
  ASSERT_TRUE(b.Step1().ok());
  Msg out(kMaxHandshakeBytes);
  size_t n = 0;
  ASSERT_TRUE(b.res.OnHello(b.m1, b.server, Filled(0x23), 9, 1, out, &n).ok());  // another responder ephemeral
  b.m2.assign(out.begin(), out.begin() + n);
  ASSERT_TRUE(b.Step3().ok());
  ASSERT_TRUE(b.Step4().ok());
  EXPECT_NE(a.ini.keys().send_key, b.ini.keys().send_key);
}

TEST(SecureLink, WrongServerKeyIsRefusedByTheDevice) {
  Handshake r;
  r.server = MakeIdentity(3);  // the server answering is not the one the device expects
  Msg out(kMaxHandshakeBytes);
  size_t n = 0;
  ASSERT_TRUE(r.ini.Start(r.device, MakeIdentity(2).public_key, Filled(0x11), 7, 0, out, &n).ok());
  r.m1.assign(out.begin(), out.begin() + n);
  ASSERT_TRUE(r.Step2().ok());
  const Status s = r.Step3();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("signature"), std::string::npos) << s.message();
  EXPECT_EQ(r.ini.state(), Initiator::State::kFailed);
}

TEST(SecureLink, UnenrolledDeviceIsRefused) {
  Handshake r;
  r.enrolled.keys = {MakeIdentity(5).public_key};
  ASSERT_TRUE(r.Step1().ok());
  ASSERT_TRUE(r.Step2().ok());
  ASSERT_TRUE(r.Step3().ok());
  const Status s = r.Step4();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("refused"), std::string::npos) << s.message();
  EXPECT_EQ(r.res.state(), Responder::State::kFailed);
  EXPECT_TRUE(r.m4.empty());
}

TEST(SecureLink, ImpostorWithEnrolledPublicKeyButOtherSecretIsRefused) {
  Handshake r;
  Identity impostor = MakeIdentity(6);
  impostor.public_key = r.device.public_key;  // claims the enrolled key, signs with its own secret
  r.device = impostor;
  ASSERT_TRUE(r.Step1().ok());
  ASSERT_TRUE(r.Step2().ok());
  ASSERT_TRUE(r.Step3().ok());
  EXPECT_FALSE(r.Step4().ok());
}

TEST(SecureLink, EveryTamperedByteOfEveryMessageIsRejected) {
  Handshake clean;
  clean.All();
  for (int which = 2; which <= 4; ++which) {
    const Msg& original = which == 2 ? clean.m2 : which == 3 ? clean.m3 : clean.m4;
    for (size_t i = 0; i < original.size(); ++i) {
      Handshake r;
      ASSERT_TRUE(r.Step1().ok());
      ASSERT_TRUE(r.Step2().ok());
      if (which == 2) r.m2[i] ^= 0x01;
      Status s = r.Step3();
      if (which == 2) {
        EXPECT_FALSE(s.ok()) << "M2 byte " << i;
        continue;
      }
      ASSERT_TRUE(s.ok());
      if (which == 3) r.m3[i] ^= 0x01;
      s = r.Step4();
      if (which == 3) {
        EXPECT_FALSE(s.ok()) << "M3 byte " << i;
        continue;
      }
      ASSERT_TRUE(s.ok());
      r.m4[i] ^= 0x01;
      EXPECT_FALSE(r.ini.OnFinished(r.m4, 4).ok()) << "M4 byte " << i;
      EXPECT_NE(r.ini.state(), Initiator::State::kEstablished);
    }
  }
}

TEST(SecureLink, LostMessagesAreRetransmittedAndAnsweredFromState) {
  Handshake r;
  ASSERT_TRUE(r.Step1(0).ok());
  ASSERT_TRUE(r.Step2(1).ok());  // M2 lost on the way back
  Msg out(kMaxHandshakeBytes);
  size_t n = 0;
  ASSERT_TRUE(r.ini.Poll(100, out, &n).ok());
  EXPECT_EQ(n, 0u);  // not due yet
  ASSERT_TRUE(r.ini.Poll(300, out, &n).ok());
  ASSERT_EQ(Msg(out.begin(), out.begin() + n), r.m1);  // M1 again
  const Msg first_m2 = r.m2;
  ASSERT_TRUE(r.Step2(301).ok());
  EXPECT_EQ(r.m2, first_m2);  // the same answer
  ASSERT_TRUE(r.Step3(302).ok());
  ASSERT_TRUE(r.Step4(303).ok());  // M4 lost
  ASSERT_TRUE(r.ini.Poll(700, out, &n).ok());
  ASSERT_EQ(Msg(out.begin(), out.begin() + n), r.m3);
  const Msg first_m4 = r.m4;
  ASSERT_TRUE(r.Step4(701).ok());
  EXPECT_EQ(r.m4, first_m4);
  ASSERT_TRUE(r.ini.OnFinished(r.m4, 702).ok());
  EXPECT_EQ(r.ini.state(), Initiator::State::kEstablished);
}

TEST(SecureLink, HandshakeExpires) {
  Handshake r;
  ASSERT_TRUE(r.Step1(1000).ok());
  Msg out(kMaxHandshakeBytes);
  size_t n = 0;
  ASSERT_TRUE(r.ini.Poll(10999, out, &n).ok());
  const Status s = r.ini.Poll(11000, out, &n);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.message();
  ASSERT_TRUE(r.Step2(20000).ok());
  EXPECT_TRUE(r.res.Expired(30000));
}

TEST(SecureLink, DecodersRejectMalformedMessages) {
  Handshake r;
  r.All();
  EXPECT_FALSE(DecodeHello({}).ok());
  EXPECT_FALSE(DecodeHello(std::span(r.m1).first(39)).ok());
  Msg longer = r.m1;
  longer.push_back(0);
  EXPECT_NE(DecodeHello(longer).status().message().find("41 bytes"), std::string::npos);
  EXPECT_FALSE(DecodeHello(r.m2).ok());  // right bytes, wrong type
  EXPECT_FALSE(DecodeResponse(r.m1).ok());
  EXPECT_FALSE(DecodeAuth(r.m4).ok());
  EXPECT_FALSE(DecodeFinished(r.m3).ok());
  for (int field = 0; field < 4; ++field) {
    Msg bad = r.m1;
    bad[field] = field == 0 ? 9 : 2;
    const Status s = DecodeHello(bad).status();
    EXPECT_FALSE(s.ok()) << field;
    EXPECT_FALSE(s.message().empty());
  }
  EXPECT_TRUE(DecodeHello(r.m1).ok());
  EXPECT_TRUE(DecodeResponse(r.m2).ok());
  EXPECT_TRUE(DecodeAuth(r.m3).ok());
  EXPECT_TRUE(DecodeFinished(r.m4).ok());
  // A low-order ephemeral in M1: refused, no response written.
  Msg zero_eph = r.m1;
  std::fill(zero_eph.begin() + 8, zero_eph.end(), 0);
  Responder res;
  Msg out(kMaxHandshakeBytes);
  size_t n = 0;
  EXPECT_FALSE(res.OnHello(zero_eph, r.server, Filled(0x22), 1, 0, out, &n).ok());
  EXPECT_EQ(n, 0u);
}

// ---- Sealed frames and the replay window ----

struct Pair {
  Bytes32 key = Filled(0x5a);
  Sealer sealer{key};
  Opener opener{key};
  std::vector<Msg> frames;
  void SealN(int n) {
    for (int i = 0; i < n; ++i) {
      const Msg p = {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)};
      Msg f(p.size() + kSealOverhead);
      ASSERT_TRUE(sealer.Seal({}, p, f).ok());
      frames.push_back(f);
    }
  }
  bool Open(const Msg& f) {
    Msg p(f.size() - kSealOverhead);
    return opener.Open({}, f, p).ok();
  }
};

TEST(SealedFrames, ReplayedReorderedTooOldTamperedTruncated) {
  Pair p;
  p.SealN(600);
  EXPECT_TRUE(p.Open(p.frames[0]));
  EXPECT_FALSE(p.Open(p.frames[0]));  // replay
  EXPECT_TRUE(p.Open(p.frames[5]));
  EXPECT_TRUE(p.Open(p.frames[3]));  // reordered inside the window
  EXPECT_FALSE(p.Open(p.frames[3]));
  EXPECT_TRUE(p.Open(p.frames[300]));
  EXPECT_FALSE(p.Open(p.frames[4]));  // 296 behind: too old
  EXPECT_TRUE(p.Open(p.frames[45]));  // 255 behind: still inside
  Msg plain(2);
  const Status old = p.opener.Open({}, p.frames[10], plain);
  EXPECT_NE(old.message().find("too old"), std::string::npos) << old.message();
  for (size_t i = 0; i < p.frames[301].size(); ++i) {
    Msg bad = p.frames[301];
    bad[i] ^= 0x80;
    EXPECT_FALSE(p.Open(bad)) << i;
  }
  for (size_t n = 0; n < p.frames[301].size(); ++n) {
    Msg cut(p.frames[301].begin(), p.frames[301].begin() + n);
    Msg out(n >= kSealOverhead ? n - kSealOverhead : 0);
    EXPECT_FALSE(p.opener.Open({}, cut, out).ok()) << n;
  }
  EXPECT_TRUE(p.Open(p.frames[301]));  // untouched by the failures above
  Msg wrong_aad(2);
  EXPECT_FALSE(p.opener.Open(Msg{1}, p.frames[302], wrong_aad).ok());
}

TEST(SealedFrames, ForgedHighCounterDoesNotMoveTheWindow) {
  // The finding: one frame with a huge id locked a node out. A forged
  // counter fails authentication and leaves the window where it was.
  Pair p;
  p.SealN(3);
  ASSERT_TRUE(p.Open(p.frames[0]));
  Msg forged = p.frames[1];
  for (int i = 0; i < 8; ++i) forged[i] = 0xff;
  EXPECT_FALSE(p.Open(forged));
  EXPECT_EQ(p.opener.highest(), 0u);
  EXPECT_TRUE(p.Open(p.frames[1]));
  EXPECT_TRUE(p.Open(p.frames[2]));
}

TEST(SealedFrames, WindowMatchesAReferenceModelOnRandomCounters) {
  std::mt19937_64 rng(11);
  Opener o(Filled(1));
  std::set<uint64_t> seen;
  uint64_t highest = 0;
  bool any = false;
  for (int i = 0; i < 10000; ++i) {
    // Mostly near the top, sometimes far ahead or far behind.
    const uint64_t jump = rng() % 10 == 0 ? rng() % 2000 : rng() % 40;
    uint64_t c = rng() % 2 ? highest + jump : (highest >= jump ? highest - jump : 0);
    const bool want = !seen.count(c) && (!any || c > highest || highest - c < kReplayWindow);
    ASSERT_EQ(o.Fresh(c), want) << "step " << i << " counter " << c << " highest " << highest;
    // A genuine frame carrying counter c under the opener's key: accepted exactly when the model says so.
    Msg frame(kSealOverhead);
    std::array<uint8_t, 12> nonce{};
    for (int b = 0; b < 8; ++b) nonce[4 + b] = frame[b] = static_cast<uint8_t>(c >> (8 * b));
    ASSERT_TRUE(crypto::AeadSeal(Filled(1), nonce, {}, {}, std::span(frame).subspan(8)));
    ASSERT_EQ(o.Open({}, frame, {}).ok(), want) << c;
    if (want) {
      seen.insert(c);
      if (!any || c > highest) highest = c;
      any = true;
    }
  }
}

}  // namespace
}  // namespace edgesplit::secure
