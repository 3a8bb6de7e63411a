// The Cortex-M4 firmware's per-layer trace as the library reads it
// (edgesplit/mcu_trace.h; `profile --from-mcu-trace` is mcu_test's).
#include <gtest/gtest.h>

#include "edgesplit/mcu_trace.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"

namespace edgesplit {
namespace {

const std::string kHeader = "segment mobilenet_v2:alpha=0.35,res=96 cuts 0..3\n";
const std::string kFooter = "ticks_hz 25000000\nicount_shift 1\ndone\n";

TEST(McuTraceFile, LayersAndTheClockAreReadAndTurnedIntoInstructions) {
  Result<McuTrace> t = ParseMcuTrace(kHeader + "layer 0 QLinearConv Conv1 ticks 100\nlayer 1 Add add_1 ticks 2.5\n" + kFooter, "q.out");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->model, "mobilenet_v2:alpha=0.35,res=96");
  ASSERT_EQ(t->layers.size(), 2u);
  EXPECT_EQ(t->layers[1].op, "Add");
  EXPECT_EQ(t->layers[1].name, "add_1");
  EXPECT_DOUBLE_EQ(t->layers[1].ticks, 2.5);
  // shift 1: 2 ns per instruction; 25 MHz ticks are 40 ns: 20 instructions a tick.
  EXPECT_DOUBLE_EQ(t->InstructionsPerTick(), 20.0);
}

TEST(McuTraceFile, MalformedTracesNameTheLine) {
  struct Case {
    std::string text, expected;
  };
  const Case cases[] = {
      {kHeader + "layer 0 Conv c ticks -1\n" + kFooter, "q.out:2: expected 'layer INDEX OP NAME ticks COUNT'"},
      {kHeader + "layer 0 Conv c tocks 5\n" + kFooter, "q.out:2: expected"},
      {kHeader + "layer 0 Conv c ticks nan\n" + kFooter, "q.out:2: expected"},
      {kHeader + "layer 1 Conv c ticks 5\n" + kFooter, "q.out:2: layer 1 out of order"},
      {kHeader + "layer 0 Conv c ticks 5\nticks_hz 0\n", "q.out:3: bad ticks_hz"},
      {kHeader + "layer 0 Conv c ticks 5\nicount_shift 11\n", "q.out:3: bad icount_shift"},
      {kHeader + "layer 0 Conv c ticks 5\nticks_hz 1000\n", "no 'icount_shift' line"},
      {kHeader + kFooter, "no 'layer' lines"},
      {"layer 0 Conv c ticks 5\n" + kFooter, "no 'segment MODEL ...' header"},
      {"", "no 'segment MODEL ...' header"},
  };
  for (const Case& c : cases) {
    Result<McuTrace> t = ParseMcuTrace(c.text, "q.out");
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_NE(t.status().message().find(c.expected), std::string::npos) << t.status().message();
  }
  Result<McuTrace> dev = ReadMcuTrace("/dev/zero");  // refused before reading, not read forever
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.status().message().find("not a regular file"), std::string::npos) << dev.status().message();
}

TEST(McuTraceFile, TimingsAreTheGraphsLayersAtTheClock) {
  Result<Graph> g = LoadModel("mobilenet_v2:alpha=0.35,res=96");
  ASSERT_TRUE(g.ok());
  Result<Graph> q = Quantize(*g, RandomCalibrationSamples(g->tensors[g->inputs[0]], 1, 1));
  ASSERT_TRUE(q.ok()) << q.status().message();
  const Node& first = q->nodes[1];  // node 0 quantizes the input
  Result<McuTrace> t = ParseMcuTrace(kHeader + "layer 0 X " + first.name + " ticks 50\n" + kFooter, "q.out");
  ASSERT_TRUE(t.ok()) << t.status().message();
  double instructions = 0;
  Result<std::vector<LayerTiming>> timings = McuTraceTimings(*t, *q, 1e8, &instructions);
  ASSERT_TRUE(timings.ok()) << timings.status().message();
  ASSERT_EQ(timings->size(), 1u);
  EXPECT_DOUBLE_EQ(instructions, 1000.0);                 // 50 ticks x 20
  EXPECT_DOUBLE_EQ((*timings)[0].seconds, 1000.0 / 1e8);  // one instruction a cycle at 100 MHz
  EXPECT_EQ((*timings)[0].op_class, ClassifyNode(*q, 1));
  EXPECT_DOUBLE_EQ((*timings)[0].work, static_cast<double>(NodeWork(*q, 1, ComputeLayerStats(*q, 1))));
  Result<McuTrace> unknown = ParseMcuTrace(kHeader + "layer 0 X no_such_layer ticks 5\n" + kFooter, "q.out");
  ASSERT_TRUE(unknown.ok());
  Result<std::vector<LayerTiming>> bad = McuTraceTimings(*unknown, *q, 1e8);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer 'no_such_layer' is not in mobilenet_v2:alpha=0.35,res=96 (int8)"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(McuTraceTimings(*t, *q, 0).ok());
}

}  // namespace
}  // namespace edgesplit
