// The codec sweep and the evaluation data through the library (eval.h):
// what `eval --sweep` renders, on a tiny residual network and seeded inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "edgesplit/eval.h"
#include "edgesplit/kernels.h"
#include "edgesplit/plan.h"
#include "graph_builder.h"

namespace edgesplit {
namespace {

constexpr const char* kModel = "residual_net";  // testing::ResidualNet(), named in the table
constexpr int64_t kInputs = 3;

struct Fixture {
  Graph f32;
  EvalData data;
};

Fixture Tiny() {
  Fixture f;
  f.f32 = testing::ResidualNet();
  EXPECT_FALSE(f.f32.nodes.empty());
  Result<EvalData> d = LoadEvalData("random", f.f32.tensors[f.f32.inputs[0]], kInputs);
  EXPECT_TRUE(d.ok()) << d.status().message();
  f.data = std::move(*d);
  return f;
}

TEST(EvalData, RandomInputsAreSeededPerIndexAndUnlabelled) {
  Fixture f = Tiny();
  EXPECT_FALSE(f.data.labelled);
  EXPECT_EQ(f.data.count, kInputs);
  EXPECT_EQ(f.data.elements, 3u * 16 * 16);
  EXPECT_TRUE(f.data.Labels().empty());
  std::vector<float> a(f.data.elements), b(f.data.elements), c(f.data.elements);
  f.data.Fill(1, a.data());
  f.data.Input()(1, b.data());
  f.data.Fill(2, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (float v : a) EXPECT_TRUE(v >= -1.0f && v < 1.0f);
  Result<EvalData> dflt = LoadEvalData("random", f.f32.tensors[f.f32.inputs[0]], 0);
  ASSERT_TRUE(dflt.ok());
  EXPECT_EQ(dflt->count, 100);
}

TEST(EvalData, BadChoicesAreClearErrors) {
  Fixture f = Tiny();
  const Tensor& in = f.f32.tensors[f.f32.inputs[0]];
  EXPECT_NE(LoadEvalData("imagenet", in, 1).status().message().find("--data imagenet"), std::string::npos);
  EXPECT_NE(LoadEvalData("random", in, 1, 0, 0).status().message().find("--std"), std::string::npos);
  EXPECT_NE(LoadEvalData("random", in, -1).status().message().find("--limit"), std::string::npos);
}

TEST(CodecSweep, EveryNaturalBottleneckTimesEveryCodecThatApplies) {
  Fixture f = Tiny();
  const Backend& backend = *FindBackend("reference");
  std::vector<std::pair<int, int>> calls;
  Result<CodecSweep> s = SweepCodecs(f.f32, f.f32, backend, kInputs, f.data.Input(), {},
                                     [&](int done, int total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->samples, kInputs);
  EXPECT_FALSE(s->labelled);
  EXPECT_TRUE(std::isnan(s->accuracy) && std::isnan(s->f32_accuracy));

  // The cuts swept are exactly the interior natural bottlenecks, each with every f32 codec in order.
  Result<std::vector<CutPoint>> cuts = FindCutPoints(f.f32);
  ASSERT_TRUE(cuts.ok());
  std::vector<int> bottlenecks;
  for (const CutPoint& c : *cuts)
    if (c.position > 0 && c.position < static_cast<int>(f.f32.nodes.size()) && (c.bottleneck_loose || c.bottleneck_strict))
      bottlenecks.push_back(c.index);
  ASSERT_FALSE(bottlenecks.empty());
  ASSERT_EQ(calls.size(), bottlenecks.size());  // progress once per cut swept
  EXPECT_EQ(calls.back(), std::make_pair(static_cast<int>(bottlenecks.size()), static_cast<int>(bottlenecks.size())));
  std::vector<std::string> f32_codecs;
  for (const Codec& c : AllCodecs())
    if (CodecApplies(c, CodecDType::kFloat32)) f32_codecs.push_back(CodecName(c));
  ASSERT_EQ(s->entries.size(), bottlenecks.size() * f32_codecs.size());
  std::map<int, double> raw_bytes;  // cut -> raw's bytes
  for (size_t i = 0; i < s->entries.size(); ++i) {
    const CodecSweepEntry& e = s->entries[i];
    EXPECT_EQ(e.cut.index, bottlenecks[i / f32_codecs.size()]);
    EXPECT_EQ(CodecName(e.codec), f32_codecs[i % f32_codecs.size()]);
    EXPECT_EQ(e.cut_dtype, DType::kFloat32);
    EXPECT_TRUE(std::isnan(e.accuracy) && std::isnan(e.accuracy_drop));
    EXPECT_GE(e.agreement, 0.0);
    EXPECT_LE(e.agreement, 1.0);
    // Lossless codecs carry the cut tensor exactly: the split model predicts what the whole one does.
    if (CodecName(e.codec).rfind("raw", 0) == 0) {
      EXPECT_EQ(e.agreement, 1.0) << CodecName(e.codec);
    }
    if (CodecName(e.codec) == "raw") {
      EXPECT_GE(e.cut_bytes, 4.0 * static_cast<double>(e.cut.elements));
    }
    if (CodecName(e.codec) == "raw") raw_bytes[e.cut.index] = e.cut_bytes;
    if (CodecName(e.codec) == "int2") {
      EXPECT_LT(e.cut_bytes, raw_bytes.at(e.cut.index));  // raw comes first at each cut
    }
  }
}

TEST(CodecSweep, LabelledAccuracyAndTheTableThePlannerReads) {
  Fixture f = Tiny();
  const Backend& backend = *FindBackend("reference");
  // Labels equal to the f32 model's own predictions: f32 accuracy 1, raw drops nothing.
  Result<std::vector<int>> own = PredictWhole(f.f32, backend, kInputs, f.data.Input());
  ASSERT_TRUE(own.ok());
  Result<CodecSweep> s = SweepCodecs(f.f32, f.f32, backend, kInputs, f.data.Input(), *own);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->labelled);
  EXPECT_DOUBLE_EQ(s->f32_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(s->accuracy, 1.0);
  for (const CodecSweepEntry& e : s->entries) {
    EXPECT_NEAR(e.accuracy_drop, (1.0 - e.accuracy) * 100, 1e-9);
    if (CodecName(e.codec) == "raw") {
      EXPECT_DOUBLE_EQ(e.accuracy_drop, 0.0);
    }
  }

  // The file eval --sweep writes is what the planner's ParseCodecTable reads, row for row.
  const std::string json = CodecTableJson(*s, kModel, "f32", "labels");
  Result<CodecTable> t = ParseCodecTable(json, "sweep.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->model, kModel);
  EXPECT_EQ(t->dtype, "f32");
  ASSERT_EQ(t->entries.size(), s->entries.size());
  for (size_t i = 0; i < t->entries.size(); ++i) {
    EXPECT_EQ(t->entries[i].cut_index, s->entries[i].cut.index);
    EXPECT_EQ(t->entries[i].after, s->entries[i].cut.after);
    EXPECT_EQ(t->entries[i].codec, CodecName(s->entries[i].codec));
    EXPECT_EQ(t->entries[i].elements, s->entries[i].cut.elements);
    EXPECT_DOUBLE_EQ(t->entries[i].cut_bytes, s->entries[i].cut_bytes);
    EXPECT_NEAR(t->entries[i].accuracy_drop, s->entries[i].accuracy_drop, 1e-9);
  }

  // Unlabelled: null accuracies, and the planner measures each codec against raw at its cut.
  Result<CodecSweep> u = SweepCodecs(f.f32, f.f32, backend, kInputs, f.data.Input(), {});
  ASSERT_TRUE(u.ok());
  const std::string ujson = CodecTableJson(*u, kModel, "f32", "random");
  EXPECT_NE(ujson.find("\"accuracy\": null"), std::string::npos);
  Result<CodecTable> ut = ParseCodecTable(ujson, "random.json");
  ASSERT_TRUE(ut.ok()) << ut.status().message();
  for (const CodecTableEntry& e : ut->entries)
    if (e.codec == "raw") {
      EXPECT_DOUBLE_EQ(e.accuracy_drop, 0.0);
    }
}

TEST(CodecSweep, BadInputsAreClearErrors) {
  Fixture f = Tiny();
  const Backend& backend = *FindBackend("reference");
  EXPECT_NE(SweepCodecs(f.f32, f.f32, backend, 0, f.data.Input(), {}).status().message().find("at least one input"),
            std::string::npos);
  EXPECT_NE(SweepCodecs(f.f32, f.f32, backend, kInputs, f.data.Input(), {1}).status().message().find("1 labels for 3 inputs"),
            std::string::npos);
}

}  // namespace
}  // namespace edgesplit
