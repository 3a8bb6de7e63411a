// Over-the-air segment delivery (edgesplit/delivery.h, runtime_delivery.h):
// the byte level and the node's state machine in-process, then real node
// processes over espnow (shaped, emulated) and tcp receiving good, corrupted,
// truncated, replayed, unsigned and wrongly signed deliveries, and `run --deliver`;
// the node's --state record (the replay floor across a kill and restart).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "../src/runtime/hop.h"
#include "../src/runtime/process.h"
#include "edgesplit/analysis.h"
#include "edgesplit/crypto.h"
#include "edgesplit/delivery.h"
#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "edgesplit/runtime_delivery.h"
#include "edgesplit/flat_segment.h"
#include "test_util.h"

namespace edgesplit::runtime {
namespace {

using delivery::DeliveryReceiver;
using delivery::DeliveryStep;
using delivery::RejectReason;
using json = nlohmann::json;
using Chunks = std::vector<std::vector<uint8_t>>;

constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";
constexpr const char* kCut = "block_16_project_BN";

struct Keys {
  delivery::PublicKey pub;
  delivery::SecretKey secret;
};
Keys NewKeys() {
  Keys k;
  EXPECT_TRUE(delivery::GenerateKeyPair(&k.pub, &k.secret).ok());
  return k;
}

// The int8 execution graph and the two segments' files, built once.
class Fixture {
 public:
  static Fixture& Get() {
    static Fixture f;
    return f;
  }
  std::shared_ptr<const Graph> graph;
  SegmentPackage head, head15;  // input:block_16_project_BN, input:block_15_add

 private:
  Fixture() {
    Result<Graph> g = LoadExecutionGraph(kModel, "int8");
    EXPECT_TRUE(g.ok()) << g.status().message();
    graph = std::make_shared<const Graph>(std::move(g).value());
    head = Package("input", kCut);
    head15 = Package("input", "block_15_add");
  }
  SegmentPackage Package(const std::string& a, const std::string& b) {
    Result<SegmentPackage> p = PackageSegment(*graph, kModel, "int8", a, b, 0, 1);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? std::move(p).value() : SegmentPackage{};
  }
};

Chunks BuildFor(const SegmentPackage& p, uint32_t sequence, const delivery::SecretKey* key) {
  delivery::Manifest m = p.manifest;
  m.sequence = sequence;
  Result<Chunks> c = delivery::BuildChunks(m, p.file, key, 4096);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(c).value() : Chunks{};
}

// Feeds every chunk; returns the last step that was not kProgress/kNothing.
DeliveryStep Feed(DeliveryReceiver& r, const Chunks& chunks) {
  DeliveryStep last;
  for (const auto& c : chunks) {
    DeliveryStep s = r.OnChunk(c, 1);
    if (s.event == DeliveryStep::kRejected || s.event == DeliveryStep::kComplete) last = s;
  }
  return last;
}

// ---- The byte level ----------------------------------------------------------------

TEST(DeliveryCodec, ManifestAndAckRoundTripAndSignaturesCoverEveryField) {
  const Keys k = NewKeys();
  delivery::Manifest m;
  m.sequence = 7;
  m.model = kModel;
  m.cut_before = 0;
  m.cut_after = 17;
  m.final_segment = true;
  m.file_bytes = 1234;
  m.sha256 = delivery::Sha256(std::vector<uint8_t>{1, 2, 3});
  ASSERT_TRUE(delivery::SignManifest(&m, k.secret).ok());
  Result<std::vector<uint8_t>> bytes = delivery::EncodeManifestChunk(m);
  ASSERT_TRUE(bytes.ok());
  Result<delivery::DecodedChunk> chunk = delivery::DecodeChunk(*bytes);
  ASSERT_TRUE(chunk.ok()) << chunk.status().message();
  Result<delivery::Manifest> back = delivery::DecodeManifest(*chunk);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->model, m.model);
  EXPECT_EQ(back->cut_after, 17u);
  EXPECT_TRUE(back->final_segment);
  EXPECT_EQ(back->sha256, m.sha256);
  EXPECT_TRUE(delivery::VerifyManifest(*back, k.pub).ok());
  // Any signed byte changed (and the chunk still decodes): the signature fails.
  for (size_t i = 0; i + delivery::kSignatureBytes < bytes->size(); ++i) {
    std::vector<uint8_t> b = *bytes;
    b[i] ^= 0x01;
    Result<delivery::DecodedChunk> c = delivery::DecodeChunk(b);
    if (!c.ok()) continue;
    Result<delivery::Manifest> d = delivery::DecodeManifest(*c);
    if (!d.ok()) continue;
    EXPECT_FALSE(delivery::VerifyManifest(*d, k.pub).ok()) << "byte " << i << " is not covered by the signature";
  }
  EXPECT_FALSE(delivery::VerifyManifest(*back, NewKeys().pub).ok());

  delivery::Ack ack;
  ack.reason = RejectReason::kCorrupted;
  ack.sequence = 9;
  ack.detail = "SHA-256 differs";
  Result<delivery::Ack> a = delivery::DecodeAck(delivery::EncodeAck(ack));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_FALSE(a->accepted);
  EXPECT_EQ(a->reason, RejectReason::kCorrupted);
  EXPECT_EQ(a->detail, "SHA-256 differs");
  std::vector<uint8_t> bad = delivery::EncodeAck(ack);
  bad[6] = 0;  // rejected without a reason
  EXPECT_FALSE(delivery::DecodeAck(bad).ok());
  bad.pop_back();
  EXPECT_FALSE(delivery::DecodeAck(bad).ok());
}

TEST(DeliveryCodec, KeyFilesSayWhatIsWrong) {
  const Keys k = NewKeys();
  Result<delivery::PublicKey> pub = delivery::ParsePublicKey(delivery::FormatPublicKey(k.pub));
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->bytes, k.pub.bytes);
  Result<delivery::SecretKey> sec = delivery::ParseSecretKey(delivery::FormatSecretKey(k.secret));
  ASSERT_TRUE(sec.ok()) << sec.status().message();
  EXPECT_EQ(delivery::PublicKeyOf(*sec).bytes, k.pub.bytes);
  Result<delivery::PublicKey> swapped = delivery::ParsePublicKey(delivery::FormatSecretKey(k.secret));
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.status().message().find("secret key; a public key is needed"), std::string::npos) << swapped.status().message();
  EXPECT_NE(delivery::ParsePublicKey("hello").status().message().find("not an edgesplit key file"), std::string::npos);
  std::string text = delivery::FormatPublicKey(k.pub);
  text[30] = 'z';
  EXPECT_NE(delivery::ParsePublicKey(text).status().message().find("is not hex"), std::string::npos);
  std::string secret = delivery::FormatSecretKey(k.secret);
  secret[secret.size() - 3] = secret[secret.size() - 3] == '0' ? '1' : '0';  // damage the public half
  EXPECT_NE(delivery::ParseSecretKey(secret).status().message().find("damaged"), std::string::npos);
}

TEST(DeliveryReceiverTest, EachBadDeliveryIsRefusedWithItsReasonAndTheFloorHolds) {
  const Keys k = NewKeys(), other = NewKeys();
  const SegmentPackage& p = Fixture::Get().head;
  delivery::ReceiverConfig config;
  config.verify_key = k.pub;
  DeliveryReceiver r(config);

  DeliveryStep s = Feed(r, BuildFor(p, 3, &k.secret));
  ASSERT_EQ(s.event, DeliveryStep::kComplete) << s.detail;
  EXPECT_TRUE(std::equal(r.file().begin(), r.file().end(), p.file.begin(), p.file.end()));
  r.Accept();
  EXPECT_EQ(r.newest_accepted(), 3u);

  auto expect_refused = [&](const Chunks& chunks, RejectReason reason, const std::string& words) {
    const DeliveryStep st = Feed(r, chunks);
    EXPECT_EQ(st.event, DeliveryStep::kRejected) << delivery::RejectReasonName(reason);
    EXPECT_EQ(st.reason, reason) << st.detail;
    EXPECT_NE(st.detail.find(words), std::string::npos) << st.detail;
    EXPECT_EQ(r.newest_accepted(), 3u);
  };
  Chunks c = BuildFor(p, 4, &k.secret);
  c[2][delivery::kChunkHeaderBytes + 10] ^= 0x40;
  expect_refused(c, RejectReason::kCorrupted, "SHA-256 of the received file");
  c = BuildFor(p, 4, &k.secret);
  c.erase(c.end() - 2);
  expect_refused(c, RejectReason::kTruncated, "ended after");
  expect_refused(BuildFor(p, 3, &k.secret), RejectReason::kReplayed, "not above the newest accepted one (3)");
  expect_refused(BuildFor(p, 2, &k.secret), RejectReason::kReplayed, "sequence 2");
  expect_refused(BuildFor(p, 4, &other.secret), RejectReason::kBadSignature, "does not verify");
  expect_refused(BuildFor(p, 4, nullptr), RejectReason::kUnsigned, "not signed");
  c = BuildFor(p, 4, &k.secret);
  std::swap(c[1], c[2]);
  expect_refused(c, RejectReason::kOutOfOrder, "offset 4096, expected 0");
  // A data chunk with no manifest, and an undecodable chunk.
  c = BuildFor(p, 5, &k.secret);
  EXPECT_EQ(r.OnChunk(c[1], 1).reason, RejectReason::kMalformed);
  EXPECT_EQ(r.OnChunk(std::vector<uint8_t>{1, 2, 3}, 1).reason, RejectReason::kMalformed);
  // Stalled: refused as truncated once idle too long.
  c = BuildFor(p, 5, &k.secret);
  EXPECT_EQ(r.OnChunk(c[0], 1000).event, DeliveryStep::kProgress);
  EXPECT_EQ(r.Expire(1001).event, DeliveryStep::kNothing);
  EXPECT_EQ(r.Expire(1000 + config.idle_timeout_us).reason, RejectReason::kTruncated);
  // Too large for the node.
  delivery::ReceiverConfig small;
  small.max_file_bytes = 1000;
  DeliveryReceiver tiny(small);
  EXPECT_EQ(Feed(tiny, BuildFor(p, 1, nullptr)).reason, RejectReason::kTooLarge);
  // And a good one still goes through after all that.
  ASSERT_EQ(Feed(r, BuildFor(p, 9, &k.secret)).event, DeliveryStep::kComplete);
  r.Accept();
  EXPECT_EQ(r.newest_accepted(), 9u);
}

// ---- The node's persistent state ----------------------------------------------------------

delivery::NodeState SampleState() {
  delivery::NodeState st;
  st.replay_floor = 7;
  st.file_bytes = 4242;
  st.sha256 = delivery::Sha256(std::vector<uint8_t>{9, 8, 7});
  st.key_id = delivery::VerifyKeyId(NewKeys().pub);
  return st;
}

const delivery::StateKey kStateKey = [] {
  delivery::StateKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x40 + i);
  return k;
}();

std::string DecodeError(std::span<const uint8_t> bytes) {
  Result<delivery::NodeState> s = delivery::DecodeNodeState(bytes, kStateKey);
  return s.ok() ? std::string("accepted") : s.status().message();
}

// Bytes 0..79 changed by `edit`, then the MAC made right again (with the key).
std::array<uint8_t, delivery::kNodeStateBytes> Resealed(const delivery::NodeState& st, size_t at, uint8_t value) {
  std::array<uint8_t, delivery::kNodeStateBytes> b = delivery::EncodeNodeState(st, kStateKey);
  b[at] = value;
  const crypto::Bytes32 mac = crypto::HmacSha256(kStateKey, std::span<const uint8_t>(b.data(), 80));
  std::copy(mac.begin(), mac.end(), b.begin() + 80);
  return b;
}

TEST(DeliveryState, RoundTripsAndEveryDamagedOrTruncatedRecordIsRefusedWithItsReason) {
  const delivery::NodeState st = SampleState();
  const std::array<uint8_t, delivery::kNodeStateBytes> bytes = delivery::EncodeNodeState(st, kStateKey);
  Result<delivery::NodeState> back = delivery::DecodeNodeState(bytes, kStateKey);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->replay_floor, 7u);
  EXPECT_EQ(back->file_bytes, 4242u);
  EXPECT_EQ(back->sha256, st.sha256);
  EXPECT_EQ(back->key_id, st.key_id);
  EXPECT_EQ(delivery::VerifyKeyId(std::nullopt), delivery::Sha256Digest{});

  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_NE(DecodeError(std::span<const uint8_t>(bytes.data(), n)).find("truncated: " + std::to_string(n) + " of the 112"), std::string::npos) << n;
  std::vector<uint8_t> longer(bytes.begin(), bytes.end());
  longer.push_back(0);
  EXPECT_NE(DecodeError(longer).find("trailing bytes: 113"), std::string::npos);
  // Every bit of every byte: refused, by the magic, the version or the MAC.
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::array<uint8_t, delivery::kNodeStateBytes> b = bytes;
      b[i] ^= static_cast<uint8_t>(1 << bit);
      const std::string e = DecodeError(b);
      const char* want = i < 4 ? "bad magic" : i == 4 ? "node state version" : "authentication failed";
      EXPECT_NE(e.find(want), std::string::npos) << "byte " << i << " bit " << bit << ": " << e;
    }
  }
  // Whole (checksum right) but not canonical or not meaningful.
  EXPECT_NE(DecodeError(Resealed(st, 6, 1)).find("reserved bytes are not zero"), std::string::npos);
  delivery::NodeState zero = st;
  zero.replay_floor = 0;
  EXPECT_NE(DecodeError(delivery::EncodeNodeState(zero, kStateKey)).find("replay floor 0"), std::string::npos);
  zero = st;
  zero.file_bytes = 0;
  EXPECT_NE(DecodeError(delivery::EncodeNodeState(zero, kStateKey)).find("empty segment file"), std::string::npos);
  EXPECT_NE(DecodeError(Resealed(st, 4, 1)).find("node state version 1"), std::string::npos);
}

TEST(DeliveryState, AForgedRecordWithARecomputedChecksumIsRefused) {
  // Issue 13: version 1 ended in a bare SHA-256 of bytes 0..79, so anyone who
  // could write the file could lower the replay floor and fix the checksum.
  const delivery::NodeState st = SampleState();
  std::array<uint8_t, delivery::kNodeStateBytes> forged = delivery::EncodeNodeState(st, kStateKey);
  forged[8] = 1;  // the floor, lowered from 7
  const delivery::Sha256Digest check = delivery::Sha256(std::span<const uint8_t>(forged.data(), 80));
  std::copy(check.begin(), check.end(), forged.begin() + 80);
  EXPECT_NE(DecodeError(forged).find("authentication failed"), std::string::npos) << DecodeError(forged);
  // Nor does a record MACed under another node's key pass.
  delivery::StateKey other = kStateKey;
  other[0] ^= 1;
  EXPECT_FALSE(delivery::DecodeNodeState(delivery::EncodeNodeState(st, other), kStateKey).ok());
  // The key derived from an identity key is stable and separates identities.
  const Keys a = NewKeys(), b = NewKeys();
  EXPECT_EQ(delivery::NodeStateKey(a.secret), delivery::NodeStateKey(a.secret));
  EXPECT_NE(delivery::NodeStateKey(a.secret), delivery::NodeStateKey(b.secret));
}

TEST(DeliveryState, TheStateKeyFileIsCreatedPrivateAndNeverThroughASymlink) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/node.state.key";
  Result<delivery::StateKey> k1 = LoadOrCreateStateKey(path);
  ASSERT_TRUE(k1.ok()) << k1.status().message();
  struct stat sb;
  ASSERT_EQ(lstat(path.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  Result<delivery::StateKey> k2 = LoadOrCreateStateKey(path);
  ASSERT_TRUE(k2.ok()) << k2.status().message();
  EXPECT_EQ(*k1, *k2) << "read back, not replaced";
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  Result<delivery::StateKey> open_to_all = LoadOrCreateStateKey(path);
  ASSERT_FALSE(open_to_all.ok());
  EXPECT_NE(open_to_all.status().message().find("chmod 600"), std::string::npos) << open_to_all.status().message();
  const std::string link = dir + "/link.key";
  ASSERT_EQ(symlink((dir + "/elsewhere").c_str(), link.c_str()), 0);  // dangling
  EXPECT_FALSE(LoadOrCreateStateKey(link).ok());
  EXPECT_NE(lstat((dir + "/elsewhere").c_str(), &sb), 0) << "nothing written through the link";
  testing::WriteFile(dir + "/bad.key", "edgesplit-state-key 12\n");
  ASSERT_EQ(chmod((dir + "/bad.key").c_str(), 0600), 0);
  EXPECT_FALSE(LoadOrCreateStateKey(dir + "/bad.key").ok());
}

TEST(DeliveryState, TheFileIsReplacedWholeAndABadOneNamesItselfAndItsProblem) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/node.state";
  const delivery::NodeState st = SampleState();
  Result<std::optional<delivery::NodeState>> none = ReadNodeStateFile(path, st.key_id, kStateKey);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE(none->has_value()) << "a missing file is a fresh node";
  ASSERT_TRUE(WriteNodeStateFile(path, st, kStateKey).ok());
  delivery::NodeState newer = st;
  newer.replay_floor = 8;
  ASSERT_TRUE(WriteNodeStateFile(path, newer, kStateKey).ok());
  Result<std::optional<delivery::NodeState>> got = ReadNodeStateFile(path, st.key_id, kStateKey);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().message();
  EXPECT_EQ((*got)->replay_floor, 8u);
  struct stat sb;
  EXPECT_NE(stat((path + ".tmp").c_str(), &sb), 0) << "the temporary file is renamed, not left behind";

  auto expect_error = [&](const std::string& contents, const delivery::Sha256Digest& key, const std::string& words) {
    testing::WriteFile(path, contents);
    Result<std::optional<delivery::NodeState>> r = ReadNodeStateFile(path, key, kStateKey);
    ASSERT_FALSE(r.ok()) << words;
    EXPECT_NE(r.status().message().find("'" + path + "'"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  const std::array<uint8_t, delivery::kNodeStateBytes> b = delivery::EncodeNodeState(st, kStateKey);
  const std::string whole(b.begin(), b.end());
  expect_error(whole.substr(0, 50), st.key_id, "truncated: 50 of the 112");
  expect_error("", st.key_id, "truncated: 0 of the 112");
  std::string damaged = whole;
  damaged[20] ^= 0x10;
  expect_error(damaged, st.key_id, "authentication failed");
  expect_error(std::string(200, 'x'), st.key_id, "trailing bytes");
  expect_error(std::string(112, 'x'), st.key_id, "bad magic");
  expect_error(whole, delivery::Sha256Digest{}, "belongs to a node with verify key");
  expect_error(whole, delivery::VerifyKeyId(NewKeys().pub), "this node has verify key");
  // A path that is not a file.
  Result<std::optional<delivery::NodeState>> folder = ReadNodeStateFile(dir, st.key_id, kStateKey);
  EXPECT_FALSE(folder.ok());
  EXPECT_FALSE(WriteNodeStateFile(dir + "/no/such/dir/state", st, kStateKey).ok());

  // A restarted receiver starts at its floor.
  delivery::ReceiverConfig config;
  config.replay_floor = 3;
  DeliveryReceiver r(config);
  EXPECT_EQ(Feed(r, BuildFor(Fixture::Get().head, 3, nullptr)).reason, RejectReason::kReplayed);
  EXPECT_EQ(Feed(r, BuildFor(Fixture::Get().head, 4, nullptr)).event, DeliveryStep::kComplete);
}

// ---- Predictions ------------------------------------------------------------------------

// The planner's compute of the layer groups between float cuts a and b on `device`.
double PlannerSeconds(const DeviceProfile& device, const std::string& a, const std::string& b) {
  Result<Graph> f = LoadModel(kModel);
  EXPECT_TRUE(f.ok()) << f.status().message();
  Result<Problem> p = BuildProblem(*f, kModel, {device}, LinkProfile{}, DType::kInt8);
  Result<std::vector<CutPoint>> cuts = FindCutPoints(*f);
  EXPECT_TRUE(p.ok() && cuts.ok());
  Result<int> from = ResolveCut(*cuts, a), to = ResolveCut(*cuts, b);
  EXPECT_TRUE(from.ok() && to.ok()) << a << ":" << b;
  double t = 0;
  for (int g = *from; g < *to; ++g) t += p->layers[static_cast<size_t>(g)].compute_s[0];
  return t;
}

TEST(DeliveryPrediction, ADeliveredSegmentPredictsWhatTheModelsSegmentAndThePlannerPredict) {
  Result<DeviceProfile> esp = LoadDeviceProfile(ProfilesDir(""), "esp32s3");
  ASSERT_TRUE(esp.ok()) << esp.status().message();
  const Fixture& fx = Fixture::Get();
  Result<Graph> f32 = LoadExecutionGraph(kModel, "f32");
  ASSERT_TRUE(f32.ok());
  const std::pair<const char*, const char*> segments[] = {{"input", kCut}, {kCut, "output"}, {"block_3_project_BN", "block_15_add"}};
  for (const char* dtype : {"int8", "f32"}) {
    const Graph& g = std::string(dtype) == "int8" ? *fx.graph : *f32;
    for (const auto& [a, b] : segments) {
      SCOPED_TRACE(std::string(dtype) + " " + a + ":" + b);
      Result<std::unique_ptr<SegmentRunner>> loaded = SegmentRunner::Load({kModel, a, b, dtype});
      ASSERT_TRUE(loaded.ok()) << loaded.status().message();
      Result<SegmentPackage> pkg = PackageSegment(g, kModel, dtype, a, b, 0, 1);
      ASSERT_TRUE(pkg.ok()) << pkg.status().message();
      std::shared_ptr<const SegmentFile> file = SegmentFile::FromBytes(pkg->file.data(), pkg->file.size());
      Result<LoadedSegment> seg = ReadSegment(file->data(), file->size());
      ASSERT_TRUE(seg.ok()) << seg.status().message();
      const int before = seg->info.cut_before, after = seg->info.cut_after;
      Result<std::unique_ptr<SegmentRunner>> flat =
          SegmentRunner::FromFlat(file, std::move(seg->graph), before, after, pkg->manifest.final_segment);
      ASSERT_TRUE(flat.ok()) << flat.status().message();
      const double planner = PlannerSeconds(*esp, a, b);
      EXPECT_GT(planner, 0.01);
      // The int8 graphs hold QuantizeLinear/DequantizeLinear nodes the float graph
      // lacks (the head's input quantization costs esp32s3 ~0.1 s at res 224).
      EXPECT_NEAR((*loaded)->PredictedSeconds(*esp), planner, 1e-9 * planner);
      EXPECT_NEAR((*flat)->PredictedSeconds(*esp), planner, 1e-9 * planner);
    }
  }
}

// ---- Real node processes ---------------------------------------------------------------

class NodeUnderDelivery {
 public:
  NodeUnderDelivery(const std::string& link_name, const std::string& pub_path, const std::vector<std::string>& extra = {}) {
    LinkSettings s;
    s.link = link_name;
    s.shaped = link_name != "tcp";
    s.time_scale = 0.01;
    Result<ResolvedLink> link = ResolveLink(s);
    EXPECT_TRUE(link.ok()) << link.status().message();
    link_ = *link;
    results_ = std::move(HopReceiver::Create(link_.channel, {"127.0.0.1", 0}, std::nullopt, 30)).value();
    std::vector<std::string> args = {"node", "--listen", "127.0.0.1:0", "--next", results_->local_endpoint().ToString(),
                                     "--link", link_name, "--time-scale", "0.01", "--shape", s.shaped ? "on" : "off",
                                     "--insecure", "--verify-key", pub_path};
    args.insert(args.end(), extra.begin(), extra.end());
    Result<std::unique_ptr<detail::NodeProcess>> p = detail::NodeProcess::Spawn(EDGESPLIT_CLI_PATH, args);
    EXPECT_TRUE(p.ok()) << p.status().message();
    process_ = std::move(p).value();
    Result<std::string> address = process_->WaitListening(net::DeadlineIn(30));
    EXPECT_TRUE(address.ok()) << address.status().message();
    node_ = std::move(net::ParseEndpoint(*address)).value();
    deliveries_ = std::move(net::RequestClient::Create(link_.channel, node_)).value();
    inputs_ = std::move(HopSender::Create(link_.channel, node_, std::nullopt)).value();
  }

  // Delivers `chunks`; checks the node's event line agrees with the ack.
  DeliveryReport Deliver(const Chunks& chunks) {
    const uint32_t first = next_id_;
    Result<DeliveryReport> r = DeliverSegment(chunks, *deliveries_, &next_id_, net::DeadlineIn(60), 0.01);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return {};
    // The event carries the id of the chunk that decided (the manifest when refused early, else the end).
    bool found = false;
    for (const net::Deadline until = net::DeadlineIn(5); !found && net::SecondsUntil(until) > 0;) {
      for (uint32_t id = first; id < next_id_ && !found; ++id) {
        std::optional<json> ev = process_->WaitEvent(id, net::DeadlineIn(0));
        if (!ev) continue;
        found = true;
        EXPECT_EQ((*ev)["event"], r->accepted ? "delivery" : "delivery_rejected") << ev->dump();
        if (!r->accepted) {
          EXPECT_EQ((*ev)["reason"], r->reason) << ev->dump();
        }
      }
      if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(found) << "the node printed no delivery event";
    return *r;
  }

  // One inference through the node: its output bytes, or the error it sent.
  Result<std::vector<uint8_t>> Infer(SegmentRunner& local, uint32_t seed, std::vector<uint8_t>* expected) {
    const Tensor& in = local.input_tensor();
    std::vector<uint8_t> payload(static_cast<size_t>(in.num_elements()) * sizeof(float));
    Rng rng(seed);
    for (size_t e = 0; e < payload.size() / 4; ++e) {
      const float v = rng.Uniform(-1.0f, 1.0f);
      std::memcpy(payload.data() + 4 * e, &v, 4);
    }
    EXPECT_TRUE(local.Run(payload, in.dtype).ok());
    expected->assign(local.output().begin(), local.output().end());
    wire::MessageHeader h;
    h.type = wire::MessageType::kTensorRequest;
    h.request_id = next_id_++;
    h.dtype = in.dtype;
    h.rank = static_cast<uint8_t>(in.shape.size());
    for (size_t i = 0; i < in.shape.size(); ++i) h.dims[i] = static_cast<uint32_t>(in.shape[i]);
    std::vector<uint8_t> msg(wire::EncodedMessageBytes(h.rank, payload.size()));
    ES_ASSIGN_OR_RETURN(size_t n, wire::EncodeMessage(h, payload, msg));
    ES_RETURN_IF_ERROR(inputs_->Send(std::span<const uint8_t>(msg.data(), n), h.request_id, net::DeadlineIn(30), nullptr));
    std::optional<HopMessage> got = results_->Pop(net::DeadlineIn(30));
    if (!got) return DeadlineExceeded("no result");
    (void)process_->WaitEvent(h.request_id, net::DeadlineIn(5));
    ES_ASSIGN_OR_RETURN(wire::DecodedMessage m, wire::DecodeMessage(got->bytes));
    if (m.header.type == wire::MessageType::kError) return Internal(std::string(m.payload.begin(), m.payload.end()));
    return std::vector<uint8_t>(m.payload.begin(), m.payload.end());
  }

  bool alive() { return process_->ExitReason().empty(); }
  void Kill() { process_->Kill(); }

 private:
  ResolvedLink link_;
  std::unique_ptr<HopReceiver> results_;
  std::unique_ptr<net::RequestClient> deliveries_;  // the coordinator's client to the node
  std::unique_ptr<HopSender> inputs_;
  std::unique_ptr<detail::NodeProcess> process_;
  net::Endpoint node_;
  uint32_t next_id_ = 1;
};

std::unique_ptr<SegmentRunner> LocalRunner(const std::string& last_cut) {
  auto g = Fixture::Get().graph;
  Result<std::unique_ptr<SegmentRunner>> r = SegmentRunner::FromGraph(g, {kModel, "input", last_cut, "int8"});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

void ExpectServes(NodeUnderDelivery& node, SegmentRunner& local, uint32_t seed, const std::string& what) {
  std::vector<uint8_t> expected;
  Result<std::vector<uint8_t>> got = node.Infer(local, seed, &expected);
  ASSERT_TRUE(got.ok()) << what << ": " << got.status().message();
  EXPECT_EQ(*got, expected) << what << ": the node's result differs from the local run";
}

TEST(DeliveryOverTheAir, GoodBadAndUpdatedDeliveriesOverEspNowAndTcp) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_TRUE(WriteKeyFiles(dir + "/key", false).ok());
  Result<delivery::SecretKey> key = ReadSecretKeyFile(dir + "/key");
  ASSERT_TRUE(key.ok()) << key.status().message();
  const Keys stranger = NewKeys();
  const Fixture& f = Fixture::Get();
  std::unique_ptr<SegmentRunner> head = LocalRunner(kCut), head15 = LocalRunner("block_15_add");

  for (const char* link : {"espnow", "tcp"}) {
    SCOPED_TRACE(link);
    NodeUnderDelivery node(link, dir + "/key.pub");
    // Empty: a tensor is refused with a reason, the node stays up.
    std::vector<uint8_t> unused;
    Result<std::vector<uint8_t>> early = node.Infer(*head, 1, &unused);
    ASSERT_FALSE(early.ok());
    EXPECT_NE(early.status().message().find("no segment loaded yet"), std::string::npos) << early.status().message();

    const Chunks good = BuildFor(f.head, 1, &*key);
    DeliveryReport r = node.Deliver(good);
    ASSERT_TRUE(r.accepted) << r.reason << ": " << r.detail;
    EXPECT_EQ(r.bytes, static_cast<int64_t>(f.head.file.size()));
    EXPECT_EQ(r.chunks, static_cast<int64_t>(good.size()));
    EXPECT_EQ(r.sha256, delivery::Hex(delivery::Sha256(f.head.file)));
    EXPECT_GT(r.delivery_s, 0);
    if (std::string(link) == "espnow") {
      EXPECT_GE(r.fragments, r.wire_bytes / 232);  // 250-byte frames
    }
    ExpectServes(node, *head, 2, "after the first delivery");

    // Each bad delivery is refused with its reason; the node keeps serving the old segment.
    Chunks corrupted = BuildFor(f.head15, 2, &*key);
    corrupted[3][delivery::kChunkHeaderBytes + 7] ^= 0x01;
    Chunks truncated = BuildFor(f.head15, 2, &*key);
    truncated.erase(truncated.end() - 3, truncated.end() - 1);
    const std::pair<Chunks, std::string> bad[] = {
        {corrupted, "corrupted"},
        {truncated, "truncated"},
        {good, "replayed"},
        {BuildFor(f.head15, 2, &stranger.secret), "bad_signature"},
        {BuildFor(f.head15, 2, nullptr), "unsigned"},
    };
    for (const auto& [chunks, reason] : bad) {
      r = node.Deliver(chunks);
      EXPECT_FALSE(r.accepted) << reason;
      EXPECT_EQ(r.reason, reason) << r.detail;
      ExpectServes(node, *head, 3, "after a " + reason + " delivery");
    }
    // An update replaces the segment; then its own replay is refused.
    const Chunks update = BuildFor(f.head15, 2, &*key);
    r = node.Deliver(update);
    ASSERT_TRUE(r.accepted) << r.reason << ": " << r.detail;
    ExpectServes(node, *head15, 4, "after the update");
    EXPECT_EQ(node.Deliver(update).reason, "replayed");
    ExpectServes(node, *head15, 5, "after the update's replay");
    EXPECT_TRUE(node.alive());
  }
}

TEST(DeliveryOverTheAir, WithStateARestartedNodeRefusesTheReplayAndAcceptsANewerSequence) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_TRUE(WriteKeyFiles(dir + "/key", false).ok());
  Result<delivery::SecretKey> key = ReadSecretKeyFile(dir + "/key");
  ASSERT_TRUE(key.ok()) << key.status().message();
  const Fixture& f = Fixture::Get();
  std::unique_ptr<SegmentRunner> head15 = LocalRunner("block_15_add");
  const std::string state = dir + "/node.state";
  const Chunks first = BuildFor(f.head, 1, &*key);
  {
    NodeUnderDelivery node("tcp", dir + "/key.pub", {"--state", state});
    const DeliveryReport r = node.Deliver(first);
    ASSERT_TRUE(r.accepted) << r.reason << ": " << r.detail;
    node.Kill();  // no clean shutdown: the floor was on disk before the ack
  }
  Result<std::optional<delivery::NodeState>> saved = ReadNodeStateFile(state, delivery::VerifyKeyId(ReadPublicKeyFile(dir + "/key.pub").value()),
                            LoadOrCreateStateKey(state + ".key").value());
  ASSERT_TRUE(saved.ok() && saved->has_value()) << saved.status().message();
  EXPECT_EQ((*saved)->replay_floor, 1u);
  EXPECT_EQ((*saved)->sha256, delivery::Sha256(f.head.file));
  {
    NodeUnderDelivery node("tcp", dir + "/key.pub", {"--state", state});
    DeliveryReport r = node.Deliver(first);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, "replayed") << r.detail;
    EXPECT_NE(r.detail.find("newest accepted one (1)"), std::string::npos) << r.detail;
    r = node.Deliver(BuildFor(f.head15, 2, &*key));
    ASSERT_TRUE(r.accepted) << r.reason << ": " << r.detail;
    ExpectServes(node, *head15, 6, "after the update to a restarted node");
  }
  saved = ReadNodeStateFile(state, delivery::VerifyKeyId(ReadPublicKeyFile(dir + "/key.pub").value()),
                            LoadOrCreateStateKey(state + ".key").value());
  ASSERT_TRUE(saved.ok() && saved->has_value()) << saved.status().message();
  EXPECT_EQ((*saved)->replay_floor, 2u);
  // Without --state the floor lives in RAM: a restarted node takes sequence 1 again.
  for (int round = 0; round < 2; ++round) {
    NodeUnderDelivery node("tcp", dir + "/key.pub");
    const DeliveryReport r = node.Deliver(first);
    EXPECT_TRUE(r.accepted) << round << ": " << r.reason << ": " << r.detail;
  }
  // A floor that cannot be saved refuses the delivery (no ack without it on disk).
  const std::string blocked = dir + "/blocked.state";
  ASSERT_EQ(mkdir((blocked + ".tmp").c_str(), 0755), 0);  // the temporary file cannot be created, even by root
  {
    NodeUnderDelivery node("tcp", dir + "/key.pub", {"--state", blocked});
    const DeliveryReport r = node.Deliver(first);
    EXPECT_FALSE(r.accepted);
    EXPECT_EQ(r.reason, "load_failed") << r.detail;
    EXPECT_NE(r.detail.find("cannot save the replay floor"), std::string::npos) << r.detail;
    EXPECT_TRUE(node.alive());
  }
  // A damaged state file stops the node at start, naming the file and the problem.
  std::string bytes = testing::ReadFile(state);
  bytes[10] ^= 0x01;
  testing::WriteFile(state, bytes);
  std::string out, err;
  EXPECT_NE(testing::RunCli("node --insecure --listen 127.0.0.1:0 --link tcp --verify-key " + dir + "/key.pub --state " + state, &out, &err), 0);
  EXPECT_NE(err.find(state), std::string::npos) << err;
  EXPECT_NE(err.find("authentication failed"), std::string::npos) << err;
  EXPECT_EQ(out.find("listening"), std::string::npos) << out;
}

// ---- The CLI ------------------------------------------------------------------------------

TEST(DeliveryCli, RunDeliverGivesIdenticalResultsAndReportsEachDelivery) {
  const std::string dir = testing::MakeTempDir();
  std::string out, err;
  ASSERT_EQ(testing::RunCli("keygen -o " + dir + "/k", &out, &err), 0) << err;
  for (const char* link : {"espnow", "tcp"}) {
    const json j = testing::RunCliJson(std::string("run ") + kModel + " --split " + kCut + " --link " + link +
                           " --dtype int8 --repeat 2 --time-scale 0.01 --deliver --sign-key " + dir + "/k --format json");
    EXPECT_TRUE(j["results_identical"].get<bool>()) << link;
    ASSERT_EQ(j["deliveries"].size(), 2u) << link;
    for (const json& d : j["deliveries"]) {
      for (const char* key : {"node", "bytes", "chunks", "delivery_s", "sha256"}) EXPECT_TRUE(d.contains(key)) << key;
      EXPECT_GT(d["bytes"].get<int64_t>(), 10000);
      EXPECT_GT(d["chunks"].get<int64_t>(), 2);
      EXPECT_GT(d["delivery_s"].get<double>(), 0);
      EXPECT_EQ(d["sha256"].get<std::string>().size(), 64u);
    }
  }
  // f32 segments are delivered too (no key given: run signs with a temporary one, nodes verify it).
  const json f = testing::RunCliJson(std::string("run ") + kModel + " --split " + kCut + " --link tcp --repeat 1 --deliver --format json");
  EXPECT_TRUE(f["results_identical"].get<bool>());
}

TEST(DeliveryCli, InferencesKeepTheirRequestIdsAfterDeliveries) {
  // The delivery chunks travel under wire ids of their own (hundreds of them
  // here); the inferences are numbered as in a run without --deliver.
  const std::string run = std::string("run ") + kModel + " --split " + kCut + " --link tcp --repeat 3 --format json";
  const json plain = testing::RunCliJson(run), delivered = testing::RunCliJson(run + " --deliver");
  ASSERT_EQ(delivered["deliveries"].size(), 2u);
  EXPECT_GT(delivered["deliveries"][0]["chunks"].get<int64_t>(), 3);
  ASSERT_EQ(plain["inferences"].size(), 3u);
  ASSERT_EQ(delivered["inferences"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plain["inferences"][i]["request_id"].get<uint32_t>(), i + 1);
    EXPECT_EQ(delivered["inferences"][i]["request_id"], plain["inferences"][i]["request_id"]) << i;
  }
  EXPECT_TRUE(delivered["results_identical"].get<bool>());
}

TEST(DeliveryCli, KeygenAndItsErrorsAreClear) {
  const std::string dir = testing::MakeTempDir();
  std::string out, err;
  ASSERT_EQ(testing::RunCli("keygen -o " + dir + "/k", &out, &err), 0) << err;
  struct stat st;
  ASSERT_EQ(stat((dir + "/k").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(ReadPublicKeyFile(dir + "/k.pub").ok());
  const std::string before = testing::ReadFile(dir + "/k");
  EXPECT_NE(testing::RunCli("keygen -o " + dir + "/k", &out, &err), 0);
  EXPECT_NE(err.find("exists; pass --force"), std::string::npos) << err;
  EXPECT_EQ(testing::ReadFile(dir + "/k"), before);
  ASSERT_EQ(testing::RunCli("keygen -o " + dir + "/k --force", &out, &err), 0) << err;
  EXPECT_NE(testing::ReadFile(dir + "/k"), before);
  EXPECT_NE(testing::RunCli("keygen -o " + dir + "/no/such/dir/k", &out, &err), 0);
  EXPECT_NE(err.find("cannot write"), std::string::npos) << err;
  // Issue 13: a dangling symlink at the key's path. Without --force it is an
  // existing entry; with --force the link itself is replaced. Never is the
  // secret written to the link's target.
  const std::string target = dir + "/victim", link = dir + "/linked";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_NE(testing::RunCli("keygen -o " + link, &out, &err), 0);
  EXPECT_NE(err.find("exists"), std::string::npos) << err;
  EXPECT_NE(lstat(target.c_str(), &st), 0) << "the secret key went through the symlink";
  ASSERT_EQ(symlink(target.c_str(), (link + "2.pub").c_str()), 0);  // and at the .pub path
  ASSERT_EQ(testing::RunCli("keygen -o " + link + "2 --force", &out, &err), 0) << err;
  EXPECT_NE(lstat(target.c_str(), &st), 0) << "a key file went through the symlink";
  ASSERT_EQ(lstat((link + "2.pub").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  ASSERT_EQ(testing::RunCli("keygen -o " + link + " --force", &out, &err), 0) << err;
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(lstat(target.c_str(), &st), 0);
  // A secret key where the node wants the public one.
  EXPECT_NE(testing::RunCli("node --insecure --listen 0 --link udp --verify-key " + dir + "/k", &out, &err), 0);
  EXPECT_NE(err.find("a public key is needed"), std::string::npos) << err;
  EXPECT_NE(testing::RunCli(std::string("run ") + kModel + " --split " + kCut + " --link tcp --sign-key " + dir + "/k", &out, &err), 0);
  EXPECT_NE(err.find("give --deliver too"), std::string::npos) << err;
  EXPECT_NE(testing::RunCli("node --model " + std::string(kModel) + " --listen 0 --link udp", &out, &err), 0);
  EXPECT_NE(err.find("both --model and --segment, or neither"), std::string::npos) << err;
}

}  // namespace
}  // namespace edgesplit::runtime
