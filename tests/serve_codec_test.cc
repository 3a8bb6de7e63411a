// Cut-tensor codecs on the wire (docs/codecs.md): the message layer's codec
// byte, the edge server decoding encoded requests before batching, loadgen and
// device encoding with --codec and checking lossy results against the tail on
// the reference decoder's output, and malformed codec payloads answered with
// an error naming the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/codec.h"
#include "edgesplit/net_server.h"
#include "edgesplit/serve.h"
#include "edgesplit/wire.h"
#include "test_util.h"

namespace edgesplit {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr const char* kModel = "mobilenet_v2:alpha=0.35,res=96";

wire::MessageHeader TensorRequest(uint8_t codec, std::vector<uint32_t> dims, DType dtype = DType::kFloat32) {
  wire::MessageHeader h;
  h.dtype = dtype;
  h.codec = codec;
  h.rank = static_cast<uint8_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) h.dims[i] = dims[i];
  return h;
}

TEST(WireCodec, KnownCodecIdsCarryTheirPayloadOthersAreRefused) {
  // A [1,4,4,4] float32 tensor as int4+lz4: the payload is the codec's, not 256 bytes.
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  CutTensorView v{x.data(), CodecDType::kFloat32, 64, 4};
  const Codec c{CodecQuant::kInt4, CodecEntropy::kLz4};
  auto payload = EncodeCutTensorHost(c, v);
  ASSERT_TRUE(payload.ok()) << payload.status().message();
  wire::MessageHeader h = TensorRequest(CodecId(c), {1, 4, 4, 4});
  Bytes m(wire::EncodedMessageBytes(h, payload->size()));
  ASSERT_TRUE(wire::EncodeMessage(h, *payload, m).ok());
  auto d = wire::DecodeMessage(m);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->header.codec, CodecId(c));
  EXPECT_EQ(Bytes(d->payload.begin(), d->payload.end()), *payload);

  // Shorter than the codec header, a codec on a ping, an unknown id.
  Bytes out(1024);
  Bytes tiny(5, 0);
  auto short_payload = wire::EncodeMessage(h, tiny, out);
  ASSERT_FALSE(short_payload.ok());
  EXPECT_NE(short_payload.status().message().find("12-byte header"), std::string::npos) << short_payload.status().message();
  wire::MessageHeader ping;
  ping.type = wire::MessageType::kPing;
  ping.dtype = DType::kUInt8;
  ping.codec = 0x12;
  auto coded_ping = wire::EncodeMessage(ping, {}, out);
  ASSERT_FALSE(coded_ping.ok());
  EXPECT_NE(coded_ping.status().message().find("only tensor messages carry a codec"), std::string::npos);
  for (uint8_t id : {0x05, 0x30, 0xff}) {
    wire::MessageHeader bad = TensorRequest(id, {1, 4, 4, 4});
    auto r = wire::EncodeMessage(bad, *payload, out);
    ASSERT_FALSE(r.ok()) << int{id};
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  }
}

// The exec graph of kModel in `dtype` and the cut tensor named `name`.
struct CutOf {
  bool ok = false;
  std::string error;
  Graph graph;
  int cut = 0, tensor_id = 0;
  const Tensor& tensor() const { return graph.tensors[static_cast<size_t>(tensor_id)]; }
};
CutOf LoadCut(const std::string& dtype, const std::string& name) {
  CutOf c;
  auto g = runtime::LoadExecutionGraph(kModel, dtype);
  auto cuts = g.ok() ? FindCutPoints(*g) : Result<std::vector<CutPoint>>(g.status());
  auto cut = cuts.ok() ? ResolveCut(*g, *cuts, name) : Result<int>(cuts.status());
  if (!cut.ok()) {
    c.error = cut.status().message();
    return c;
  }
  c.graph = std::move(*g);
  c.cut = *cut;
  c.tensor_id = (*cuts)[static_cast<size_t>(*cut)].tensor;
  c.ok = true;
  return c;
}

runtime::ServeOptions Serve(const std::string& dtype) {
  runtime::ServeOptions o;
  o.model = kModel;
  o.dtype = dtype;
  o.link.link = "udp";
  o.link.shaped = false;
  o.id = "codec-server";
  o.max_wait_s = 0.01;  // let concurrent clients' encoded requests batch together
  return o;
}

runtime::LoadgenOptions Load(const runtime::EdgeServer& server, const std::string& dtype, const std::string& codec) {
  runtime::LoadgenOptions o;
  o.model = kModel;
  o.dtype = dtype;
  o.server = server.endpoint();
  o.link.link = "udp";
  o.link.shaped = false;
  o.clients = 4;
  o.requests = 4;
  o.precompute = true;
  o.timeout_s = 60;
  o.codec = codec;
  return o;
}

// Every codec that applies, lossless and lossy, on every strict cut (and the
// input): each result equals the reference (whole model for lossless codecs,
// the tail on the reference decoder's output for lossy ones).
TEST(EdgeServerCodec, LoadgenWithEveryCodecIsVerified) {
  for (const char* dtype : {"int8", "f32"}) {
    SCOPED_TRACE(dtype);
    auto server = runtime::EdgeServer::Start(Serve(dtype));
    ASSERT_TRUE(server.ok()) << server.status().message();
    const bool f32 = std::string(dtype) == "f32";
    // On the int8 model the input (cut 0) is float32 and the cuts int8: only codecs for both.
    std::vector<std::string> codecs = {"raw+lz4", "raw+zstd", "int4", "int2+lz4", "int4+zstd"};
    if (f32) codecs.insert(codecs.end(), {"int8", "fp16+lz4", "int8+zstd"});
    for (const std::string& codec : codecs) {
      SCOPED_TRACE(codec);
      auto r = runtime::RunLoadgen(Load(**server, dtype, codec));
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_EQ(r->completed, 16) << (r->first_errors.empty() ? "" : r->first_errors[0]);
      EXPECT_EQ(r->corrupted, 0);
      EXPECT_EQ(r->lost, 0);
    }
    EXPECT_EQ((*server)->counters().errors, 0);
    // A codec that does not apply to a cut's dtype is refused up front.
    if (!f32) {
      auto r = runtime::RunLoadgen(Load(**server, dtype, "fp16"));
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("does not apply"), std::string::npos) << r.status().message();
    }
  }
}

// A lossy result is NOT the whole model's (so the loadgen/device check against
// the decoded reference is not vacuous), and the device reports it verified.
TEST(EdgeServerCodec, DeviceLossyResultsEqualTheTailOnTheDecodedTensor) {
  auto server = runtime::EdgeServer::Start(Serve("f32"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  runtime::DeviceOptions o;
  o.model = kModel;
  o.server = (*server)->endpoint();
  o.link.link = "udp";
  o.link.shaped = false;
  o.split = "block_6_project_BN";
  o.requests = 3;
  o.timeout_s = 60;
  for (const char* codec : {"raw", "raw+zstd", "int2", "int4+lz4", "fp16"}) {
    SCOPED_TRACE(codec);
    o.codec = codec;
    auto r = runtime::RunDevice(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    for (const runtime::DeviceRequest& q : r->requests) {
      EXPECT_EQ(q.outcome, "server") << q.error;
      EXPECT_EQ(q.codec, codec);
      EXPECT_TRUE(q.verified);
    }
    EXPECT_NE(runtime::DeviceJson(*r).find("\"codec\": \"" + std::string(codec) + "\""), std::string::npos);
  }
  // int2 at this cut changes the f32 logits beyond SameResult's tolerance:
  // the served result is the decoded reference's, not the whole model's.
  CutOf at = LoadCut("f32", "block_6_project_BN");
  ASSERT_TRUE(at.ok) << at.error;
  const Tensor& t = at.tensor();
  std::vector<float> x(static_cast<size_t>(t.num_elements()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  CutTensorView v{x.data(), CodecDType::kFloat32, static_cast<uint32_t>(x.size()), CodecChannels(t.shape.data(), t.shape.size())};
  auto p = EncodeCutTensorHost(Codec{CodecQuant::kInt2, CodecEntropy::kNone}, v);
  ASSERT_TRUE(p.ok());
  std::vector<float> back(x.size());
  ASSERT_TRUE(DecodeCutTensor(p->data(), p->size(), v, back.data()).ok());
  EXPECT_NE(std::memcmp(back.data(), x.data(), 4 * x.size()), 0);  // int2 is lossy

  o.split = "block_6_project_BN";
  o.codec = "int8";
  o.dtype = "int8";  // the int8 model's cut is int8: int8/fp16 do not apply
  auto refused = runtime::RunDevice(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("does not apply"), std::string::npos) << refused.status().message();
}

// Malformed codec payloads: an error reply naming the problem, counted as an
// error; the server goes on serving encoded requests.
TEST(EdgeServerCodec, MalformedCodecPayloadsGetErrorRepliesNamingTheProblem) {
  runtime::ServeOptions so = Serve("int8");
  so.cuts = "block_6_project_BN";
  auto server = runtime::EdgeServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status().message();
  CutOf at = LoadCut("int8", "block_6_project_BN");
  ASSERT_TRUE(at.ok) << at.error;
  const Tensor& t = at.tensor();
  std::vector<int8_t> x(static_cast<size_t>(t.num_elements()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>((i * 13) % 41 - 20);
  CutTensorView v{x.data(), CodecDType::kInt8, static_cast<uint32_t>(x.size()), CodecChannels(t.shape.data(), t.shape.size())};

  net::ChannelOptions channel;
  channel.kind = net::TransportKind::kUdp;
  channel.max_message_bytes = 1 << 20;
  auto client = net::RequestClient::Create(channel, (*server)->endpoint());
  ASSERT_TRUE(client.ok());
  uint32_t id = 0;
  auto call = [&](Codec c, const Bytes& payload) {
    wire::MessageHeader h;
    h.type = wire::MessageType::kTensorRequest;
    h.dtype = DType::kInt8;
    h.rank = static_cast<uint8_t>(t.shape.size());
    for (size_t i = 0; i < t.shape.size(); ++i) h.dims[i] = static_cast<uint32_t>(t.shape[i]);
    h.quant_scale = t.quant.scales[0];
    h.quant_zero_point = t.quant.zero_points.empty() ? 0 : t.quant.zero_points[0];
    h.cut_id = static_cast<uint16_t>(at.cut);
    h.model_hash = (*server)->model_hash();
    h.codec = CodecId(c);
    h.request_id = ++id;
    Bytes m(wire::EncodedMessageBytes(h, payload.size()));
    EXPECT_TRUE(wire::EncodeMessage(h, payload, m).ok());
    auto reply = (*client)->Call(m, h.request_id, net::DeadlineIn(30), nullptr);
    EXPECT_TRUE(reply.ok()) << reply.status().message();
    auto d = reply.ok() ? wire::DecodeMessage(*reply) : Result<wire::DecodedMessage>(reply.status());
    EXPECT_TRUE(d.ok());
    return d.ok() ? std::make_pair(d->header.type, std::string(d->payload.begin(), d->payload.end()))
                  : std::make_pair(wire::MessageType::kError, std::string());
  };
  auto expect_error = [&](Codec c, const Bytes& payload, const std::string& needle) {
    auto [type, text] = call(c, payload);
    EXPECT_EQ(type, wire::MessageType::kError) << needle;
    EXPECT_NE(text.find(needle), std::string::npos) << text;
  };
  const Codec lz4{CodecQuant::kInt4, CodecEntropy::kLz4}, zstd{CodecQuant::kRaw, CodecEntropy::kZstd};
  auto good_lz4 = EncodeCutTensorHost(lz4, v);
  auto good_zstd = EncodeCutTensorHost(zstd, v);
  ASSERT_TRUE(good_lz4.ok() && good_zstd.ok());

  Bytes p = *good_lz4;
  p[0] = CodecId(zstd);  // the payload's header names another codec than the message
  expect_error(lz4, p, "names codec raw+zstd");
  p = *good_lz4;
  p.resize(p.size() - 3);  // a truncated LZ4 block
  expect_error(lz4, p, "LZ4");
  p = *good_zstd;
  p.resize(p.size() - 4);  // a truncated zstd frame (bit flips inside one are the message CRC's job)
  expect_error(zstd, p, "zstd");
  p = *good_lz4;
  p[4] ^= 1;  // elements: not this cut's tensor
  expect_error(lz4, p, "codec payload");
  const Codec int2{CodecQuant::kInt2, CodecEntropy::kNone};
  auto good_int2 = EncodeCutTensorHost(int2, v);
  ASSERT_TRUE(good_int2.ok());
  p = *good_int2;
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(p.data() + kCodecHeaderBytes + 4, &inf, 4);  // channel 0's scale
  expect_error(int2, p, "scale");
  // A well-formed encoded request after all that is served.
  auto [type, text] = call(lz4, *good_lz4);
  EXPECT_EQ(type, wire::MessageType::kTensorResult) << text;
  EXPECT_EQ((*server)->counters().errors, 5);
  EXPECT_EQ((*server)->counters().served, 1);
}

// device --dynamic with a codec table: the policy's cut x codec candidates are
// sent with their codec over a shaped ESP-NOW link whose rate follows a
// schedule, and every result is verified (lossy: against the decoded reference).
TEST(EdgeServerCodec, DynamicDeviceSendsThePolicysCodecAndVerifiesIt) {
  runtime::ServeOptions so = Serve("int8");
  so.link.link = "espnow";
  so.link.shaped = true;
  so.link.time_scale = 0.02;
  auto server = runtime::EdgeServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status().message();
  // A table that makes int4+lz4 look cheap at every strict cut, and costs for both ends.
  const auto [table_path, costs_path] = testing::WriteCheapInt4CodecTable(kModel, "esp32s3", ::testing::TempDir());
  runtime::DeviceOptions o;
  o.model = kModel;
  o.dtype = "int8";
  o.server = (*server)->endpoint();
  o.link.link = "espnow";
  o.link.shaped = true;
  o.link.time_scale = 0.02;
  o.dynamic = true;
  o.emulate = "esp32s3";
  o.requests = 6;
  o.timeout_s = 60;
  o.codec_table = table_path;
  o.codec_costs = costs_path;
  o.max_accuracy_drop = 1;
  o.rate_schedule = {{1, 125000}, {4, 60000}};
  auto r = runtime::RunDevice(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  int coded = 0;
  for (const runtime::DeviceRequest& q : r->requests) {
    EXPECT_TRUE(q.verified) << q.index << " " << q.split << " " << q.codec << " " << q.error;
    EXPECT_GT(q.link_rate_bytes_per_s, 0);
    coded += q.outcome == "server" && q.codec == "int4+lz4";
  }
  EXPECT_GT(coded, 0) << runtime::DeviceJson(*r);
  EXPECT_EQ(r->requests[4].link_rate_bytes_per_s, 60000);
  // Over the budget, the codec candidates are gone: nothing is sent encoded.
  o.max_accuracy_drop = 0.25;
  auto raw = runtime::RunDevice(o);
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  for (const runtime::DeviceRequest& q : raw->requests) EXPECT_EQ(q.codec, "raw");
}

}  // namespace
}  // namespace edgesplit
