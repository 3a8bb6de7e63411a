// The tensor lists of a fused kernel (kernels.h), shared by the executor and
// the backends that fuse.
#include <algorithm>

#include "edgesplit/kernels.h"

namespace edgesplit {

void FusedTensors(const Graph& graph, int first, int count, std::vector<int>* inputs, std::vector<int>* outputs) {
  inputs->clear();
  outputs->clear();
  for (int n = first; n < first + count; ++n) {
    const Node& node = graph.nodes[n];
    for (int t : node.inputs) {
      bool inner = false;
      for (int m = first; m < n && !inner; ++m) {
        const std::vector<int>& produced = graph.nodes[m].outputs;
        inner = t != kNoTensor && std::find(produced.begin(), produced.end(), t) != produced.end();
      }
      if (!inner) inputs->push_back(t);
    }
  }
  *outputs = graph.nodes[first + count - 1].outputs;
}

}  // namespace edgesplit
