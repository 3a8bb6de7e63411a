// Security's costs in the model (docs/security.md "Costs in the model"): the
// sealed transfer (more frames at the smaller payload, 30 bytes each, the AEAD
// on both ends), the handshake as set-up only, the planner and the dynamic
// policy using the one TransferSeconds, and the CLI's secure default.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <nlohmann/json.hpp>

#include "edgesplit/cost.h"
#include "edgesplit/dynamic.h"
#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "edgesplit/secure_link.h"
#include "edgesplit/secure_transport.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using edgesplit::testing::MakeTempDir;
using edgesplit::testing::RunCli;
using edgesplit::testing::WriteFile;

const std::string kDir = EDGESPLIT_SOURCE_DIR "/profiles";

// The model's constants are the protocol's (cost does not include net).
static_assert(kSealedFrameOverheadBytes == static_cast<int64_t>(net::kSealedDatagramOverhead));
static_assert(kHandshakeEnvelopeBytes[0] == 2 + static_cast<int64_t>(secure::kHelloBytes));
static_assert(kHandshakeEnvelopeBytes[1] == 2 + static_cast<int64_t>(secure::kResponseBytes));
static_assert(kHandshakeEnvelopeBytes[2] == 2 + static_cast<int64_t>(secure::kAuthBytes));
static_assert(kHandshakeEnvelopeBytes[3] == 2 + static_cast<int64_t>(secure::kFinishedBytes));

LinkProfile Link(const std::string& name) {
  auto l = LoadLinkProfile(kDir, name);
  EXPECT_TRUE(l.ok()) << l.status().message();
  return *l;
}
DeviceProfile Device(const std::string& name) {
  auto d = LoadDeviceProfile(kDir, name);
  EXPECT_TRUE(d.ok()) << d.status().message();
  return *d;
}

// Sealed with no AEAD cost: only the envelopes and the extra frames.
const Sealing kFreeSeal = SealedBetween(SealCost{}, SealCost{});

TEST(SealedCost, EspNowTakesAFrameMoreExactlyWhereTheEnvelopesCrossAFrameBoundary) {
  const LinkProfile espnow = Link("espnow");
  ASSERT_EQ(espnow.payload_bytes, 250);
  for (int64_t b = 1; b <= 3000; ++b) {
    const LinkLoad plain = TransferLoad(espnow, b, Sealing{}), sealed = TransferLoad(espnow, b, kFreeSeal);
    // The fewest 250-byte frames that hold the message and one 30-byte envelope each.
    int64_t n = 1;
    while (b + 30 * n > 250 * n) ++n;
    ASSERT_EQ(sealed.frames, n) << b;
    ASSERT_EQ(sealed.sealed_frames, n) << b;
    ASSERT_EQ(sealed.wire_bytes, b + 30 * n) << b;
    ASSERT_EQ(plain.frames, (b + 249) / 250) << b;
    ASSERT_EQ(plain.wire_bytes, b) << b;
    // One frame more exactly when some multiple k of the sealed payload falls in [b, 250 k) ... i.e.
    // when b needs more 220-byte pieces than 250-byte ones.
    ASSERT_EQ(sealed.frames > plain.frames, (b + 219) / 220 > (b + 249) / 250) << b;
    // The time: the extra frames' per-frame cost and the envelopes' airtime, nothing else.
    const double extra = (static_cast<double>(sealed.frames - plain.frames) * espnow.per_frame_s + 30.0 * static_cast<double>(n) / espnow.bytes_per_s) /
                         (1 - espnow.loss);
    ASSERT_NEAR(TransferSeconds(espnow, b, kFreeSeal) - TransferSeconds(espnow, b), extra, 1e-12) << b;
  }
  // At the boundaries: 220 B fits one sealed frame, 221 B and a full plain frame (250 B) need two.
  EXPECT_EQ(TransferLoad(espnow, 220, kFreeSeal).frames, 1);
  EXPECT_EQ(TransferLoad(espnow, 221, kFreeSeal).frames, 2);
  EXPECT_EQ(TransferLoad(espnow, 250, Sealing{}).frames, 1);
  EXPECT_EQ(TransferLoad(espnow, 250, kFreeSeal).frames, 2);
  EXPECT_EQ(TransferLoad(espnow, 440, kFreeSeal).frames, TransferLoad(espnow, 440, Sealing{}).frames);  // both 2
  // The paper's int8 cut tensor (MobileNetV2-0.35 @224 after block_16_project_BN): 22 -> 25 frames.
  EXPECT_EQ(TransferLoad(espnow, 5488, Sealing{}).frames, 22);
  EXPECT_EQ(TransferLoad(espnow, 5488, kFreeSeal).frames, 25);
  EXPECT_EQ(TransferSeconds(espnow, 0, kFreeSeal), 0);
}

TEST(SealedCost, TcpSealsOneFramePerMessage) {
  const LinkProfile tcp = Link("tcp");
  ASSERT_EQ(tcp.transport, "tcp");
  for (int64_t b : {1, 1410, 1411, 1440, 5488, 100000}) {
    const LinkLoad sealed = TransferLoad(tcp, b, kFreeSeal);
    EXPECT_EQ(sealed.wire_bytes, b + 30) << b;
    EXPECT_EQ(sealed.sealed_frames, 1) << b;
    EXPECT_EQ(sealed.frames, (b + 30 + tcp.payload_bytes - 1) / tcp.payload_bytes) << b;
  }
  EXPECT_EQ(SealedLinkProblem(tcp), "");
  EXPECT_EQ(FramePayloadBytes(tcp, true), tcp.payload_bytes);
  EXPECT_EQ(FramePayloadBytes(Link("espnow"), true), 220);
  EXPECT_EQ(FramePayloadBytes(Link("espnow"), false), 250);
}

TEST(SealedCost, TheAeadCountsOnBothEndsPerByteAndPerSealedFrame) {
  const DeviceProfile esp = Device("esp32s3"), edge = Device("edge-x86");
  const SealCost s = DeviceSealCost(esp), r = DeviceSealCost(edge);
  ASSERT_TRUE(s.known);
  ASSERT_TRUE(r.known) << "edge-x86 carries measured host security costs";
  EXPECT_DOUBLE_EQ(s.aead_s_per_byte, esp.aead_cycles_per_byte / esp.clock_hz);
  EXPECT_DOUBLE_EQ(s.aead_s_per_frame, esp.aead_cycles_per_message / esp.clock_hz);
  EXPECT_DOUBLE_EQ(s.handshake_s, esp.handshake_s);
  const LinkProfile espnow = Link("espnow");
  const int64_t b = 5488;
  const double aead = (s.aead_s_per_byte + r.aead_s_per_byte) * b + (s.aead_s_per_frame + r.aead_s_per_frame) * 25;
  EXPECT_NEAR(TransferLoad(espnow, b, SealedBetween(s, r)).aead_s, aead, 1e-15);
  EXPECT_NEAR(TransferSeconds(espnow, b, SealedBetween(s, r)) - TransferSeconds(espnow, b, kFreeSeal), aead, 1e-12);
  // The ESP32-S3's seal of the cut tensor is about 2 ms (docs/security.md): within 1.5..3 ms.
  EXPECT_GT(s.aead_s_per_byte * b + s.aead_s_per_frame * 25, 1.5e-3);
  EXPECT_LT(s.aead_s_per_byte * b + s.aead_s_per_frame * 25, 3e-3);
  // A profile without "security" loads, and counts no compute (only the link's extra bytes).
  const DeviceProfile rpi = Device("rpi4");
  EXPECT_FALSE(rpi.has_security);
  const SealCost none = DeviceSealCost(rpi);
  EXPECT_FALSE(none.known);
  EXPECT_EQ(none.aead_s_per_byte + none.aead_s_per_frame + none.handshake_s, 0);
  EXPECT_DOUBLE_EQ(TransferSeconds(espnow, b, SealedBetween(none, none)), TransferSeconds(espnow, b, kFreeSeal));
  // A written profile (profile --measure's writer) keeps its security costs.
  auto back = ParseDeviceProfile(DeviceProfileToJson(edge, ""), "edge.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_TRUE(back->has_security);
  EXPECT_DOUBLE_EQ(back->aead_cycles_per_byte, edge.aead_cycles_per_byte);
  EXPECT_DOUBLE_EQ(back->handshake_s, edge.handshake_s);
}

TEST(SealedCost, TheHandshakeIsFourOneFrameMessagesAndBothSidesCompute) {
  const LinkProfile espnow = Link("espnow");
  const SealCost s = DeviceSealCost(Device("esp32s3")), r = DeviceSealCost(Device("edge-x86"));
  double messages = 0;
  for (int64_t b : {42, 126, 126, 30}) messages += espnow.per_message_s + espnow.per_frame_s + static_cast<double>(b) / espnow.bytes_per_s;
  EXPECT_NEAR(HandshakeSeconds(espnow, s, r), messages + s.handshake_s + r.handshake_s, 1e-12);
  EXPECT_GT(HandshakeSeconds(espnow, s, r), 0.24);  // the ESP32-S3's side alone is ~0.24 s
}

TEST(SealedCost, ALinkTooSmallForTheEnvelopeIsRefusedWhenSealed) {
  LinkProfile tiny = Link("ble");
  tiny.name = "ble-23";
  tiny.payload_bytes = 20;  // ATT MTU 23 without DLE
  EXPECT_NE(SealedLinkProblem(tiny).find("20-byte frames"), std::string::npos) << SealedLinkProblem(tiny);
  EXPECT_EQ(TransferLoad(tiny, 100, kFreeSeal).frames, -1);
  EXPECT_TRUE(std::isinf(TransferSeconds(tiny, 100, kFreeSeal)));
  auto g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  auto p = BuildProblem(*g, "m", {Device("esp32s3"), Device("edge-x86")}, tiny, DType::kInt8);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(ValidateProblem(*p).ok());  // plain: fine
  p->sealed = true;
  const Status st = ValidateProblem(*p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--insecure"), std::string::npos) << st.message();
  auto set = BuildCandidates(*g, "m", Device("esp32s3"), Device("edge-x86"), tiny, CandidateRule::kStrict, DType::kInt8, true);
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("ble-23"), std::string::npos) << set.status().message();
}

// Two hosts over ESP-NOW. Cutting after group 0 sends 500 B (2 frames plain,
// 3 sealed); after group 1, 440 B (2 frames either way) but group 1 costs the
// sensor 1 ms. Plain, the earlier cut wins by 0.52 ms; sealed, its extra frame
// (1.2 ms + airtime) makes the later cut win.
Problem ChoiceProblem() {
  Problem p;
  p.input_bytes = 1000000;  // server-only is out of the question
  LinkProfile espnow;
  espnow.name = "espnow";
  espnow.transport = "espnow";
  espnow.per_message_s = 0.004;
  espnow.per_frame_s = 0.0012;
  espnow.payload_bytes = 250;
  espnow.bytes_per_s = 125000;
  p.link = espnow;
  p.devices = {{"sensor", 1 << 20, 1 << 20}, {"server", 1 << 30, 1 << 30}};
  p.layers = {{"g0", 0, 500, 0, {0.0, 0.0}, {}}, {"g1", 0, 440, 0, {0.001, 0.0}, {}}, {"g2", 0, 10, 0, {10.0, 0.0}, {}}};
  return p;
}

TEST(SealedCost, ThePlannersChoiceChangesWhenSealingMakesAHopCostlier) {
  Problem p = ChoiceProblem();
  PlanOptions o;
  auto plain = SolvePlan(p, Algorithm::kDp, o);
  ASSERT_TRUE(plain.ok() && plain->feasible);
  ASSERT_EQ(plain->segments.size(), 2u);
  EXPECT_EQ(plain->segments[0].last_layer, 0);
  EXPECT_FALSE(plain->sealed);
  EXPECT_EQ(plain->security_overhead_s, 0);
  EXPECT_EQ(plain->handshake_s, 0);
  p.sealed = true;
  for (Algorithm a : {Algorithm::kDp, Algorithm::kBruteForce, Algorithm::kBeam}) {
    auto sealed = SolvePlan(p, a, o);
    ASSERT_TRUE(sealed.ok() && sealed->feasible) << AlgorithmName(a);
    ASSERT_EQ(sealed->segments.size(), 2u);
    EXPECT_EQ(sealed->segments[0].last_layer, 1) << AlgorithmName(a);
    EXPECT_TRUE(sealed->sealed);
  }
  // The sealed plan's latency from first principles (no planner code): compute,
  // the 440 B hop and the 10 B result, each sealed with no AEAD cost.
  auto sealed = EvaluatePlan(p, {{0, 0, 1}, {1, 2, 2}});
  ASSERT_TRUE(sealed.ok());
  auto t = [&](int64_t b, bool seal) { return TransferSeconds(p.link, b, seal ? kFreeSeal : Sealing{}); };
  EXPECT_NEAR(sealed->latency_s, 0.001 + t(440, true) + t(10, true), 1e-12);
  EXPECT_NEAR(sealed->security_overhead_s, t(440, true) + t(10, true) - t(440, false) - t(10, false), 1e-12);
  // One pair of hosts: one handshake, in set-up only.
  EXPECT_NEAR(sealed->handshake_s, HandshakeSeconds(p.link, {}, {}), 1e-12);
  for (const Transfer& x : sealed->transfers) EXPECT_NEAR(x.time_s, t(x.bytes, true), 1e-12) << x.kind;
}

TEST(SealedCost, HandshakesAreSetUpOnePerPairAndNeverInTheLatency) {
  auto g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  const DeviceProfile esp = Device("esp32s3"), edge = Device("edge-x86");
  const LinkProfile espnow = Link("espnow");
  auto p = BuildProblem(*g, "m", {esp, esp, edge}, espnow, DType::kInt8);
  ASSERT_TRUE(p.ok());
  const int L = static_cast<int>(p->layers.size());
  const std::vector<edgesplit::Run> runs = {{0, 0, 3}, {1, 4, 7}, {2, 8, L - 1}};
  auto plain = EvaluatePlan(*p, runs);
  p->sealed = true;
  auto sealed = EvaluatePlan(*p, runs);
  ASSERT_TRUE(plain.ok() && sealed.ok());
  // Steady state: each transfer sealed between its ends; compute unchanged; no handshake.
  double compute = 0, transfers = 0;
  for (const Segment& s : sealed->segments) compute += s.compute_s;
  const SealCost seal[3] = {DeviceSealCost(esp), DeviceSealCost(esp), DeviceSealCost(edge)};
  ASSERT_EQ(sealed->transfers.size(), 3u);  // hop, hop, result
  for (const Transfer& t : sealed->transfers) {
    const double expect = TransferSeconds(espnow, t.bytes, SealedBetween(seal[t.from], seal[t.to]));
    EXPECT_NEAR(t.time_s, expect, 1e-12) << t.kind;
    transfers += expect;
  }
  EXPECT_NEAR(sealed->latency_s, compute + transfers, 1e-9);
  EXPECT_NEAR(sealed->security_overhead_s, sealed->latency_s - plain->latency_s, 1e-9);
  EXPECT_GT(sealed->security_overhead_s, 0);
  // Set-up: pairs (0,1), (1,2) and (2,0), each one handshake initiated by its first sender.
  const double hs = HandshakeSeconds(espnow, seal[0], seal[1]) + HandshakeSeconds(espnow, seal[1], seal[2]) +
                    HandshakeSeconds(espnow, seal[2], seal[0]);
  EXPECT_NEAR(sealed->handshake_s, hs, 1e-12);
  EXPECT_GT(sealed->handshake_s, 3 * 0.24);
  EXPECT_LT(sealed->security_overhead_s, sealed->handshake_s);
}

TEST(SealedCost, ProblemFilesCarrySealedAndDeviceCostsAndLoadWithoutThem) {
  Problem p = ChoiceProblem();
  p.sealed = true;
  p.devices[0].seal = {1e-7, 4e-5, 0.25, true};
  auto back = ParseProblem(ProblemToJson(p), "p.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->sealed);
  EXPECT_TRUE(back->devices[0].seal.known);
  EXPECT_DOUBLE_EQ(back->devices[0].seal.aead_s_per_byte, 1e-7);
  EXPECT_DOUBLE_EQ(back->devices[0].seal.aead_s_per_frame, 4e-5);
  EXPECT_DOUBLE_EQ(back->devices[0].seal.handshake_s, 0.25);
  EXPECT_FALSE(back->devices[1].seal.known);
  EXPECT_EQ(back->link.transport, "espnow");  // sealed frames depend on it (tcp: once per message)
  // Older files (no "sealed", no "security") load plain with unknown costs.
  auto old = ParseProblem(R"({"schema_version":1,"input_bytes":10,"devices":[{"name":"a","weight_capacity_bytes":9,"ram_bytes":9}],
      "layers":[{"name":"g","weight_bytes":1,"out_bytes":1,"arena_bytes":1,"compute_s":[1]}],
      "link":{"per_message_s":0,"per_frame_s":0,"payload_bytes":250,"bytes_per_s":1}})", "old.json");
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_FALSE(old->sealed);
  EXPECT_FALSE(old->devices[0].seal.known);
  auto bad = ParseProblem(R"({"schema_version":1,"input_bytes":10,"devices":[{"name":"a","weight_capacity_bytes":9,"ram_bytes":9,
      "security":{"aead_s_per_byte":-1,"aead_s_per_frame":0,"handshake_s":0}}],
      "layers":[{"name":"g","weight_bytes":1,"out_bytes":1,"arena_bytes":1,"compute_s":[1]}],
      "link":{"per_message_s":0,"per_frame_s":0,"payload_bytes":250,"bytes_per_s":1}})", "bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("devices[0].security.aead_s_per_byte"), std::string::npos) << bad.status().message();
}

TEST(SealedCost, TheDynamicPolicyPredictsSealedTransfers) {
  auto g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  const DeviceProfile esp = Device("esp32s3"), edge = Device("edge-x86");
  const LinkProfile espnow = Link("espnow");
  auto plain = BuildCandidates(*g, "m", esp, edge, espnow, CandidateRule::kAll, DType::kInt8);
  auto sealed = BuildCandidates(*g, "m", esp, edge, espnow, CandidateRule::kAll, DType::kInt8, true);
  ASSERT_TRUE(plain.ok() && sealed.ok());
  EXPECT_FALSE(plain->sealing.sealed);
  EXPECT_EQ(plain->handshake_s, 0);
  ASSERT_TRUE(sealed->sealing.sealed);
  EXPECT_NEAR(sealed->handshake_s, HandshakeSeconds(espnow, DeviceSealCost(esp), DeviceSealCost(edge)), 1e-12);
  const Sealing seal = SealedBetween(DeviceSealCost(esp), DeviceSealCost(edge));
  ASSERT_EQ(plain->candidates.size(), sealed->candidates.size());
  for (double rate : {5e3, 125000.0, 2.5e6})
    for (size_t k = 0; k < sealed->candidates.size(); ++k) {
      const SplitCandidate &c = sealed->candidates[k], &q = plain->candidates[k];
      LinkProfile at_rate = espnow;
      at_rate.bytes_per_s = rate;
      // Head, tail at load 2, and both transfers sealed at this rate; the handshake in none of it.
      const double expect = c.kind == CandidateKind::kDeviceOnly
                                ? c.head_s
                                : c.head_s + 2 * c.tail_s + TransferSeconds(at_rate, c.bytes, seal) + TransferSeconds(at_rate, c.result_bytes, seal);
      EXPECT_NEAR(CandidateLatency(c, espnow, rate, 2), expect, 1e-9 * expect) << c.name << " at " << rate;
      EXPECT_NEAR(LinkSeconds(espnow, c.bytes, rate, seal), TransferSeconds(at_rate, c.bytes, seal), 1e-12);
      if (c.kind != CandidateKind::kDeviceOnly) {
        EXPECT_GT(CandidateLatency(c, espnow, rate, 2), CandidateLatency(q, espnow, rate, 2)) << c.name;
      }
    }
}

// A command's JSON by default and with --insecure.
std::pair<nlohmann::json, nlohmann::json> DefaultAndInsecure(const std::string& args) {
  std::string out, err;
  EXPECT_EQ(RunCli(args, &out, &err), 0) << err;
  const auto by_default = nlohmann::json::parse(out);
  EXPECT_EQ(RunCli(args + " --insecure", &out, &err), 0) << err;
  return {by_default, nlohmann::json::parse(out)};
}

TEST(SealedCost, TheCliIsSealedByDefaultAndPlainWithInsecure) {
  const auto [sealed, plain] =
      DefaultAndInsecure("plan mobilenet_v2:alpha=0.35,res=96 --devices esp32s3,edge-x86 --link espnow --split block_13_expand_relu --format json");
  EXPECT_TRUE(sealed["sealed"].get<bool>());
  EXPECT_FALSE(plain["sealed"].get<bool>());
  EXPECT_EQ(plain["security_overhead_s"].get<double>(), 0);
  EXPECT_EQ(plain["handshake_s"].get<double>(), 0);
  EXPECT_NEAR(sealed["latency_s"].get<double>() - plain["latency_s"].get<double>(), sealed["security_overhead_s"].get<double>(), 1e-9);
  EXPECT_GT(sealed["security_overhead_s"].get<double>(), 0);
  // Set-up: the link's own plus the handshake; the plain plan's is the link's alone.
  EXPECT_NEAR(sealed["setup_s"].get<double>(), plain["setup_s"].get<double>() + sealed["handshake_s"].get<double>(), 1e-12);
  EXPECT_NEAR(sealed["handshake_s"].get<double>(),
              HandshakeSeconds(Link("espnow"), DeviceSealCost(Device("esp32s3")), DeviceSealCost(Device("edge-x86"))), 1e-12);
  const auto& hop = sealed["transfers"][0];
  EXPECT_NEAR(hop["time_s"].get<double>(),
              TransferSeconds(Link("espnow"), hop["bytes"].get<int64_t>(),
                              SealedBetween(DeviceSealCost(Device("esp32s3")), DeviceSealCost(Device("edge-x86")))),
              1e-12);
  // A device with no security costs: a note, and the plan still comes out.
  std::string out, err;
  ASSERT_EQ(RunCli("plan mobilenet_v2:alpha=0.35,res=96 --devices esp32s3,rpi4 --link espnow --format json", &out, &err), 0) << err;
  EXPECT_NE(err.find("'rpi4' has no \"security\" costs"), std::string::npos) << err;
  // policy and simulate: sealed by default, plain with --insecure.
  const auto [ps, pp] = DefaultAndInsecure("policy mobilenet_v2:alpha=0.35,res=96 --device esp32s3 --server edge-x86 --link udp --format json");
  EXPECT_TRUE(ps["sealed"].get<bool>());
  EXPECT_GT(ps["handshake_s"].get<double>(), 0.24);
  EXPECT_FALSE(pp["sealed"].get<bool>());
  EXPECT_EQ(pp["handshake_s"].get<double>(), 0);
  const auto [ss, sp] = DefaultAndInsecure("simulate mobilenet_v2:alpha=0.35,res=96 --device esp32s3 --server edge-x86 --link udp "
                                           "--generate constant --steps 20 --policy server-only --format json");
  EXPECT_TRUE(ss["sealed"].get<bool>());
  EXPECT_FALSE(sp["sealed"].get<bool>());
  ASSERT_TRUE(ss.contains("policies")) << ss.dump();
  EXPECT_GT(ss["policies"][0]["mean_s"].get<double>(), sp["policies"][0]["mean_s"].get<double>());
}

}  // namespace
}  // namespace edgesplit
