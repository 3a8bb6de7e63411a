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
  for (int n = first; n < first + count - 1; ++n)
    for (int t : graph.nodes[n].outputs) {
      bool read_later = false;
      for (int m = n + 1; m < first + count && !read_later; ++m) {
        const std::vector<int>& read = graph.nodes[m].inputs;
        read_later = std::find(read.begin(), read.end(), t) != read.end();
      }
      if (!read_later) outputs->push_back(t);
    }
  const std::vector<int>& last = graph.nodes[first + count - 1].outputs;
  outputs->insert(outputs->end(), last.begin(), last.end());
}

}  // namespace edgesplit
