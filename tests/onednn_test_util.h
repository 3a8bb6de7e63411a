// Shared by the oneDNN tests (f32 and int8): the split-equivalence sweep.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/exec.h"

namespace edgesplit::testing {

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

}  // namespace edgesplit::testing
