// Flat segment files (include/edgesplit/flat_segment.h): a segment read from its
// file runs to the same bytes as the in-memory segment, weights are read in
// place, and malformed files are rejected with a message naming the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/models.h"
#include "edgesplit/onnx.h"
#include "edgesplit/quant.h"
#include "edgesplit/flat_segment.h"
#include "segment_generated.h"
#include "test_util.h"

namespace edgesplit {
namespace {

struct SplitModel {
  Graph graph;                // the whole model (int8 or f32)
  std::vector<CutPoint> cuts;
};

SplitModel Load(const std::string& spec, bool int8) {
  SplitModel m;
  Result<Graph> g = LoadModel(spec);
  EXPECT_TRUE(g.ok()) << g.status().message();
  m.graph = std::move(g).value();
  if (int8) {
    Result<Graph> q = Quantize(m.graph, RandomCalibrationSamples(m.graph.tensors[m.graph.inputs[0]], 2, 7));
    EXPECT_TRUE(q.ok()) << q.status().message();
    m.graph = std::move(q).value();
  }
  Result<std::vector<CutPoint>> cuts = FindCutPoints(m.graph);
  EXPECT_TRUE(cuts.ok()) << cuts.status().message();
  m.cuts = std::move(cuts).value();
  return m;
}

// The flat file of nodes [cut a, cut b) of `m`.
std::vector<uint8_t> FileOf(const SplitModel& m, int cut_a, int cut_b, Graph* segment = nullptr) {
  Result<Graph> seg = ExtractSegment(m.graph, m.cuts[cut_a].position, m.cuts[cut_b].position);
  EXPECT_TRUE(seg.ok()) << seg.status().message();
  SegmentInfo info;
  info.model = "test";
  info.cut_before = cut_a;
  info.cut_after = cut_b;
  info.compute_dtype = DType::kFloat32;
  Result<std::vector<uint8_t>> bytes = WriteSegment(seg.value(), info);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  if (segment) *segment = std::move(seg).value();
  return bytes.ok() ? bytes.value() : std::vector<uint8_t>();
}

// Output bytes of nodes [begin, end) of `g` on a seeded input.
std::vector<uint8_t> RunSegment(const Graph& g, int begin, int end, uint64_t seed) {
  Result<std::unique_ptr<SegmentExecutor>> ex = SegmentExecutor::Create(g, begin, end, ReferenceBackend());
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return {};
  SegmentExecutor& e = **ex;
  Rng rng(seed);
  auto* in = static_cast<uint8_t*>(e.input());
  if (e.input_tensor().dtype == DType::kFloat32)
    for (int64_t i = 0; i < e.input_bytes() / 4; ++i) reinterpret_cast<float*>(in)[i] = rng.Uniform(-1.0f, 1.0f);
  else
    for (int64_t i = 0; i < e.input_bytes(); ++i) in[i] = static_cast<uint8_t>(rng.Next());
  Status s = e.Invoke();
  EXPECT_TRUE(s.ok()) << s.message();
  const auto* out = static_cast<const uint8_t*>(e.output());
  return std::vector<uint8_t>(out, out + e.output_bytes());
}

TEST(SegmentFile, Int8HeadAndTailFromFilesMatchTheInMemoryGraphByteForByte) {
  SplitModel m = Load("mobilenet_v2:alpha=0.35,res=96", /*int8=*/true);
  Result<int> cut = ResolveCut(m.graph, m.cuts, "block_16_project_BN");
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  const int last = static_cast<int>(m.cuts.size()) - 1;
  for (auto [a, b] : {std::pair{0, *cut}, std::pair{*cut, last}}) {
    Graph seg;
    std::vector<uint8_t> bytes = FileOf(m, a, b, &seg);
    std::unique_ptr<SegmentFile> file = SegmentFile::FromBytes(bytes.data(), bytes.size());
    Result<LoadedSegment> loaded = ReadSegment(file->data(), file->size());
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    const Graph& lg = loaded->graph;
    ASSERT_EQ(lg.nodes.size(), seg.nodes.size());
    EXPECT_EQ(loaded->info.cut_before, a);
    EXPECT_EQ(loaded->info.cut_after, b);
    // Weights are read in place: every int8/int32 constant points into the file.
    int in_place = 0, weights = 0;
    for (size_t t = 0; t < lg.tensors.size(); ++t) {
      const Tensor& lt = lg.tensors[t];
      EXPECT_EQ(lt.quant, seg.tensors[t].quant) << lt.name;
      if (!lt.is_constant) continue;
      weights += lt.dtype != DType::kInt64;
      ASSERT_EQ(lt.byte_size(), seg.tensors[t].byte_size()) << lt.name;
      EXPECT_EQ(std::memcmp(lt.bytes(), seg.tensors[t].bytes(), lt.byte_size()), 0) << lt.name;
      if (lt.external_data) {
        EXPECT_GE(lt.external_data, file->data());
        EXPECT_LE(lt.external_data + lt.byte_size(), file->data() + file->size());
        ++in_place;
      }
    }
    EXPECT_GT(in_place, 0);
    EXPECT_EQ(in_place, weights);  // only int64 shape operands are copied
    const int n = static_cast<int>(seg.nodes.size());
    Result<std::unique_ptr<SegmentExecutor>> ex = SegmentExecutor::Create(lg, 0, n, ReferenceBackend());
    ASSERT_TRUE(ex.ok()) << ex.status().message();
    EXPECT_EQ((*ex)->arena_bytes(), loaded->info.arena_bytes);
    // Same segment of the whole in-memory graph, same input: same bytes.
    std::vector<uint8_t> from_file = RunSegment(lg, 0, n, 3);
    std::vector<uint8_t> in_memory = RunSegment(m.graph, m.cuts[a].position, m.cuts[b].position, 3);
    ASSERT_FALSE(from_file.empty());
    EXPECT_EQ(from_file, in_memory) << "cuts " << a << ".." << b;
  }
}

TEST(SegmentFile, Float32SegmentRoundTrips) {
  SplitModel m = Load("resnet18:res=32", /*int8=*/false);
  std::vector<uint8_t> bytes = FileOf(m, 2, 5);
  std::unique_ptr<SegmentFile> file = SegmentFile::FromBytes(bytes.data(), bytes.size());
  Result<LoadedSegment> loaded = ReadSegment(file->data(), file->size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const int n = static_cast<int>(loaded->graph.nodes.size());
  EXPECT_EQ(RunSegment(loaded->graph, 0, n, 5), RunSegment(m.graph, m.cuts[2].position, m.cuts[5].position, 5));
}

TEST(SegmentFile, ALoadedSegmentExportsToOnnxWithItsInPlaceWeights) {
  SplitModel m = Load("resnet18:res=32", /*int8=*/false);
  std::vector<uint8_t> bytes = FileOf(m, 0, 2);
  std::unique_ptr<SegmentFile> file = SegmentFile::FromBytes(bytes.data(), bytes.size());
  Result<LoadedSegment> loaded = ReadSegment(file->data(), file->size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  Result<std::string> onnx = ExportOnnxBytes(loaded->graph);
  ASSERT_TRUE(onnx.ok()) << onnx.status().message();
  Result<Graph> back = ImportOnnxBytes(onnx->data(), onnx->size(), "");
  ASSERT_TRUE(back.ok()) << back.status().message();
  const int n = static_cast<int>(back->nodes.size());
  EXPECT_EQ(RunSegment(*back, 0, n, 9), RunSegment(loaded->graph, 0, n, 9));
}

// ---- Rejected files ----------------------------------------------------------

class BadSegmentFile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SplitModel m = Load("mobilenet_v2:alpha=0.35,res=96", /*int8=*/true);
    good_ = new std::vector<uint8_t>(FileOf(m, 0, 6));
  }
  static void TearDownTestSuite() { delete good_; }

  // A copy of the good file after `edit` mutated it in place, then read.
  static Status ReadEdited(const std::function<void(fb::Segment*)>& edit) {
    std::unique_ptr<SegmentFile> f = SegmentFile::FromBytes(good_->data(), good_->size());
    edit(flatbuffers::GetMutableSizePrefixedRoot<fb::Segment>(const_cast<uint8_t*>(f->data())));
    Status verified = VerifySegment(f->data(), f->size());
    Result<LoadedSegment> read = ReadSegment(f->data(), f->size());
    EXPECT_EQ(verified.ok(), read.ok());
    return read.ok() ? Status::Ok() : read.status();
  }
  static fb::Tensor* FirstActivation(fb::Segment* s) {
    // The first non-constant tensor after the segment input (a node output).
    for (flatbuffers::uoffset_t t = 0; t < s->tensors()->size(); ++t) {
      fb::Tensor* x = s->mutable_tensors()->GetMutableObject(t);
      if (!x->is_constant() && static_cast<int>(t) != s->inputs()->Get(0)) return x;
    }
    return nullptr;
  }
  static std::vector<uint8_t>* good_;
};
std::vector<uint8_t>* BadSegmentFile::good_ = nullptr;

TEST_F(BadSegmentFile, TheUneditedFileIsAccepted) { EXPECT_TRUE(ReadEdited([](fb::Segment*) {}).ok()); }

TEST_F(BadSegmentFile, EveryTruncationIsRejected) {
  const size_t size = good_->size();
  for (size_t len = 0; len < size; len += (len < 256 ? 1 : 997)) {
    std::unique_ptr<SegmentFile> f = SegmentFile::FromBytes(good_->data(), len);
    Status s = VerifySegment(f->data(), f->size());
    ASSERT_FALSE(s.ok()) << "prefix of " << len << " bytes accepted";
  }
  std::unique_ptr<SegmentFile> f = SegmentFile::FromBytes(good_->data(), size - 1);
  const Status last_byte_missing = VerifySegment(f->data(), f->size());
  EXPECT_NE(last_byte_missing.message().find("truncated"), std::string::npos) << last_byte_missing.message();
}

TEST_F(BadSegmentFile, WrongVersionIsUnsupported) {
  Status s = ReadEdited([](fb::Segment* seg) { seg->mutate_format_version(kSegmentFormatVersion + 1); });
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("format version 2"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, WrongIdentifierIsRejected) {
  std::unique_ptr<SegmentFile> f = SegmentFile::FromBytes(good_->data(), good_->size());
  const_cast<uint8_t*>(f->data())[8] = 'X';  // after the size prefix and root offset
  Status s = VerifySegment(f->data(), f->size());
  EXPECT_NE(s.message().find("ESSG"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, RootOffsetOutOfBoundsIsRejected) {
  std::unique_ptr<SegmentFile> f = SegmentFile::FromBytes(good_->data(), good_->size());
  const uint32_t huge = 0x7ffffff0;
  std::memcpy(const_cast<uint8_t*>(f->data()) + 4, &huge, 4);  // the root offset, after the size prefix
  Status s = VerifySegment(f->data(), f->size());
  EXPECT_NE(s.message().find("out of bounds"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, TensorIndexOutOfRangeIsRejected) {
  Status s = ReadEdited([](fb::Segment* seg) {
    seg->mutable_nodes()->GetMutableObject(1)->mutable_inputs()->Mutate(0, 100000);
  });
  EXPECT_NE(s.message().find("refers to tensor 100000"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, ConstantOfTheWrongSizeIsRejected) {
  Status s = ReadEdited([](fb::Segment* seg) {
    for (flatbuffers::uoffset_t t = 0; t < seg->tensors()->size(); ++t) {
      fb::Tensor* x = seg->mutable_tensors()->GetMutableObject(t);
      if (x->is_constant() && x->shape()->size() == 4) {
        x->mutable_shape()->Mutate(0, x->shape()->Get(0) + 1);
        return;
      }
    }
  });
  EXPECT_NE(s.message().find("bytes but its shape and dtype need"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, InconsistentActivationShapeIsRejected) {
  Status s = ReadEdited([&](fb::Segment* seg) {
    fb::Tensor* x = FirstActivation(seg);
    x->mutable_shape()->Mutate(1, x->shape()->Get(1) + 3);
  });
  EXPECT_NE(s.message().find("but its producer gives"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, WrongDtypeIsRejected) {
  Status unknown = ReadEdited([&](fb::Segment* seg) { FirstActivation(seg)->mutate_dtype(static_cast<fb::DType>(9)); });
  EXPECT_NE(unknown.message().find("unknown dtype 9"), std::string::npos) << unknown.message();
  Status changed = ReadEdited([&](fb::Segment* seg) { FirstActivation(seg)->mutate_dtype(fb::DType_UInt8); });
  EXPECT_FALSE(changed.ok());
}

TEST_F(BadSegmentFile, ArenaPlanThatDisagreesWithThePlannerIsRejected) {
  Status size = ReadEdited([](fb::Segment* seg) { seg->mutate_arena_bytes(seg->arena_bytes() / 2); });
  EXPECT_NE(size.message().find("arena plan says"), std::string::npos) << size.message();
  Status slot = ReadEdited([](fb::Segment* seg) {
    for (flatbuffers::uoffset_t t = 0; t < seg->arena_offsets()->size(); ++t)
      if (seg->arena_offsets()->Get(t) >= 0) {
        seg->mutable_arena_offsets()->Mutate(t, seg->arena_offsets()->Get(t) + 16);
        return;
      }
  });
  EXPECT_NE(slot.message().find("arena plan puts tensor"), std::string::npos) << slot.message();
}

TEST_F(BadSegmentFile, QuantParamCountMismatchIsRejected) {
  // Shortening a vector in place is not possible; point a per-channel
  // tensor's axis elsewhere so its scale count no longer matches.
  Status s = ReadEdited([](fb::Segment* seg) {
    for (flatbuffers::uoffset_t t = 0; t < seg->tensors()->size(); ++t) {
      fb::Tensor* x = seg->mutable_tensors()->GetMutableObject(t);
      if (x->quant() && x->quant()->scales()->size() > 1 && x->shape()->Get(1) != x->shape()->Get(0)) {
        x->mutable_quant()->mutate_axis(1);
        return;
      }
    }
  });
  EXPECT_NE(s.message().find("scales for dimension"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, MisalignedBufferIsRejected) {
  std::vector<uint8_t> buf(good_->size() + 16);
  uint8_t* p = buf.data() + ((16 - reinterpret_cast<uintptr_t>(buf.data()) % 16) % 16) + 4;
  std::memcpy(p, good_->data(), good_->size());
  Status s = VerifySegment(p, good_->size());
  EXPECT_NE(s.message().find("aligned"), std::string::npos) << s.message();
}

TEST_F(BadSegmentFile, SeededBitFlipsNeverCrash) {
  Rng rng(42);
  int rejected = 0;
  for (int i = 0; i < 300; ++i) {
    std::unique_ptr<SegmentFile> f = SegmentFile::FromBytes(good_->data(), good_->size());
    auto* p = const_cast<uint8_t*>(f->data());
    for (int k = 0; k < 4; ++k) p[rng.Next() % f->size()] ^= static_cast<uint8_t>(1u << (rng.Next() % 8));
    Result<LoadedSegment> r = ReadSegment(f->data(), f->size());
    if (!r.ok()) {
      ++rejected;
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_GT(rejected, 0);
}

// ---- CLI ------------------------------------------------------------------

TEST(SegmentCli, SplitFormatFlatWritesFilesThatLoad) {
  const std::string dir = testing::MakeTempDir();
  std::string out, err;
  ASSERT_EQ(testing::RunCli("split mobilenet_v2:alpha=0.35,res=96 --split block_16_project_BN --format flat "
                            "--dtype int8 -o " + dir, &out, &err), 0) << err;
  EXPECT_NE(out.find("segment_0.essg"), std::string::npos) << out;
  const std::string manifest = testing::ReadFile(dir + "/manifest.json");
  EXPECT_NE(manifest.find("\"format\": \"flat\""), std::string::npos);
  EXPECT_NE(manifest.find("\"dtype\": \"int8\""), std::string::npos);
  for (const char* name : {"segment_0.essg", "segment_1.essg"}) {
    Result<std::unique_ptr<SegmentFile>> f = SegmentFile::Read(dir + "/" + name);
    ASSERT_TRUE(f.ok()) << f.status().message();
    Result<LoadedSegment> loaded = ReadSegment((*f)->data(), (*f)->size());
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status().message();
    EXPECT_EQ(loaded->info.model, "mobilenet_v2:alpha=0.35,res=96");
  }
  Result<std::unique_ptr<SegmentFile>> head = SegmentFile::Read(dir + "/segment_0.essg");
  Result<LoadedSegment> loaded = ReadSegment((*head)->data(), (*head)->size());
  ASSERT_TRUE(loaded.ok());
  const Tensor& cut = loaded->graph.tensors[loaded->graph.outputs[0]];
  EXPECT_EQ(cut.dtype, DType::kInt8);
  EXPECT_EQ(cut.shape, (Shape{1, 112, 3, 3}));
  EXPECT_EQ(testing::RunCli("split resnet18:res=32 --split 3 --format tflite -o " + dir, &out, &err) == 0, false);
  EXPECT_FALSE(SegmentFile::Read(dir + "/missing.essg").ok());
}

}  // namespace
}  // namespace edgesplit
