// A chain of `nodes` ReLUs on [1, 8, 16, 16] f32 tensors: every position is a
// cut point and every tensor has the same size (the greedy memory planner's
// worst case for ties). Shared by cut_arenas_test and analysis_bench.
#pragma once

#include <string>

#include "edgesplit/graph.h"

namespace edgesplit::testing {

inline Graph ReluChain(int nodes) {
  Graph g;
  Tensor t;
  t.shape = {1, 8, 16, 16};
  t.name = "x";
  int x = g.AddTensor(t);
  g.inputs.push_back(x);
  for (int i = 0; i < nodes; ++i) {
    Node n;
    n.op = OpType::kRelu;
    n.name = "relu" + std::to_string(i);
    n.inputs = {x};
    t.name = "t" + std::to_string(i);
    x = g.AddTensor(t);
    n.outputs = {x};
    g.AddNode(std::move(n));
  }
  g.outputs.push_back(x);
  return g;
}

}  // namespace edgesplit::testing
