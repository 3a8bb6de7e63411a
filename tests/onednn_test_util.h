// Shared by the oneDNN tests (f32 and int8): the split-equivalence sweep.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"
#include "edgesplit/onednn.h"

namespace edgesplit::testing {

// A seeded random f32 input for `ex`, uniform in [-1, 1).
inline std::vector<float> RandomInput(const SegmentExecutor& ex, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(ex.input_bytes() / 4));
  for (float& x : v) x = rng.Uniform(-1.0f, 1.0f);
  return v;
}

// Head then tail on `input` (each tail input copied from the head output of
// the same name): the tail's output bytes; empty (with a test failure naming
// the step) when one fails.
inline std::vector<unsigned char> HeadThenTail(SegmentExecutor& head, SegmentExecutor& tail, const std::vector<float>& input) {
  std::memcpy(head.input(), input.data(), input.size() * 4);
  if (!head.Invoke().ok()) {
    ADD_FAILURE() << "the head failed";
    return {};
  }
  std::map<std::string, int> by_name;
  for (int o = 0; o < head.num_outputs(); ++o) by_name[head.output_tensor(o).name] = o;
  for (int t = 0; t < tail.num_inputs(); ++t) {
    auto it = by_name.find(tail.input_tensor(t).name);
    if (it == by_name.end()) {
      ADD_FAILURE() << "the head does not output " << tail.input_tensor(t).name;
      return {};
    }
    std::memcpy(tail.input(t), head.output(it->second), static_cast<size_t>(tail.input_bytes(t)));
  }
  if (!tail.Invoke().ok()) {
    ADD_FAILURE() << "the tail failed";
    return {};
  }
  const auto* o = static_cast<const unsigned char*>(tail.output());
  return std::vector<unsigned char>(o, o + tail.output_bytes());
}

// The whole model's output bytes on `backend` for RandomInput(seed); empty
// (with a test failure naming the step) when it cannot run.
inline std::vector<unsigned char> WholeModelOutput(const Graph& g, const Backend& backend, uint64_t seed) {
  auto ex = SegmentExecutor::Create(g, 0, static_cast<int>(g.nodes.size()), backend);
  if (!ex.ok()) {
    ADD_FAILURE() << ex.status().message();
    return {};
  }
  const std::vector<float> input = RandomInput(**ex, seed);
  std::memcpy((*ex)->input(), input.data(), input.size() * 4);
  if (const Status st = (*ex)->Invoke(); !st.ok()) {
    ADD_FAILURE() << st.message();
    return {};
  }
  const auto* o = static_cast<const unsigned char*>((*ex)->output());
  return std::vector<unsigned char>(o, o + (*ex)->output_bytes());
}

// The whole model's output on the oneDNN backend is within `tolerance` x
// max|output| of the reference backend's, for RandomInput(seed).
inline void ExpectNearReferenceBackend(const Graph& g, uint64_t seed, float tolerance) {
  const std::vector<unsigned char> dnn = WholeModelOutput(g, OneDnnBackend(), seed);
  const std::vector<unsigned char> ref = WholeModelOutput(g, ReferenceBackend(), seed);
  ASSERT_EQ(dnn.size(), ref.size());
  ASSERT_FALSE(ref.empty());
  const auto* a = reinterpret_cast<const float*>(dnn.data());
  const auto* r = reinterpret_cast<const float*>(ref.data());
  float err = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size() / 4; ++i) {
    err = std::max(err, std::fabs(a[i] - r[i]));
    max_ref = std::max(max_ref, std::fabs(r[i]));
  }
  EXPECT_GT(max_ref, 0.0f);
  EXPECT_LE(err, tolerance * max_ref);
}

// For every inner cut of `g`: head [0, cut) then tail [cut, n) on `backend`
// gives the whole model's output bytes for `input`. `check` sees each cut's
// executors for extra expectations. Returns how many cuts were checked.
inline int ExpectEveryCutBitExact(
    const Graph& g, const Backend& backend, const std::vector<float>& input,
    const std::function<void(const CutPoint&, const SegmentExecutor&, const SegmentExecutor&)>& check) {
  const int n = static_cast<int>(g.nodes.size());
  auto whole = SegmentExecutor::Create(g, 0, n, backend);
  EXPECT_TRUE(whole.ok()) << whole.status().message();
  if (!whole.ok()) return 0;
  std::memcpy((*whole)->input(), input.data(), input.size() * 4);
  EXPECT_TRUE((*whole)->Invoke().ok());
  auto cuts = FindCutPoints(g);
  EXPECT_TRUE(cuts.ok());
  if (!cuts.ok()) return 0;
  int checked = 0;
  for (const CutPoint& c : *cuts) {
    if (c.position == 0 || c.position == n) continue;
    auto head = SegmentExecutor::Create(g, 0, c.position, backend);
    auto tail = SegmentExecutor::Create(g, c.position, n, backend);
    EXPECT_TRUE(head.ok() && tail.ok()) << "cut " << c.index;
    if (!head.ok() || !tail.ok()) continue;
    check(c, **head, **tail);
    std::memcpy((*head)->input(), input.data(), input.size() * 4);
    EXPECT_TRUE((*head)->Invoke().ok());
    EXPECT_EQ((*head)->output_bytes(), (*tail)->input_bytes());
    if ((*head)->output_bytes() != (*tail)->input_bytes()) continue;
    std::memcpy((*tail)->input(), (*head)->output(), static_cast<size_t>((*head)->output_bytes()));
    EXPECT_TRUE((*tail)->Invoke().ok());
    EXPECT_EQ(std::memcmp((*tail)->output(), (*whole)->output(), static_cast<size_t>((*whole)->output_bytes())), 0)
        << "cut " << c.index << " after " << c.after;
    ++checked;
  }
  return checked;
}

// Heads [0, p) on the reference and the oneDNN backend, for every position p
// (or every cut point's), fed the same seeded random input: a head outputs
// every tensor live at p, so together they cover every activation. `compare`
// gets each output o of both heads. Returns how many outputs were compared.
inline int CompareHeadsWithReference(
    const Graph& g, bool every_position, uint64_t seed,
    const std::function<void(const SegmentExecutor& dnn, const SegmentExecutor& ref, int o, int position)>& compare) {
  const int n = static_cast<int>(g.nodes.size());
  std::vector<int> positions;
  if (every_position) {
    for (int p = 1; p <= n; ++p) positions.push_back(p);
  } else {
    auto cuts = FindCutPoints(g);
    EXPECT_TRUE(cuts.ok());
    if (!cuts.ok()) return 0;
    for (const CutPoint& c : *cuts)
      if (c.position > 0) positions.push_back(c.position);
    if (positions.empty() || positions.back() != n) positions.push_back(n);
  }
  std::vector<float> input;
  int compared = 0;
  for (int p : positions) {
    auto ref = SegmentExecutor::Create(g, 0, p, ReferenceBackend());
    auto dnn = SegmentExecutor::Create(g, 0, p, OneDnnBackend());
    EXPECT_TRUE(ref.ok()) << ref.status().message();
    EXPECT_TRUE(dnn.ok()) << dnn.status().message();
    if (!ref.ok() || !dnn.ok()) return compared;
    if (input.empty()) input = RandomInput(**ref, seed);
    std::memcpy((*ref)->input(), input.data(), input.size() * 4);
    std::memcpy((*dnn)->input(), input.data(), input.size() * 4);
    EXPECT_TRUE((*ref)->Invoke().ok());
    Status s = (*dnn)->Invoke();
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_EQ((*ref)->num_outputs(), (*dnn)->num_outputs());
    if (!s.ok() || (*ref)->num_outputs() != (*dnn)->num_outputs()) return compared;
    for (int o = 0; o < (*ref)->num_outputs(); ++o) {
      EXPECT_EQ((*ref)->output_tensor(o).name, (*dnn)->output_tensor(o).name);
      compare(**dnn, **ref, o, p);
      ++compared;
    }
  }
  return compared;
}

}  // namespace edgesplit::testing
