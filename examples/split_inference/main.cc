// A consumer of the installed edgesplit library: load a model, list its cut
// points, run it split at a natural bottleneck and check the result equals the
// whole model's. Usage: split_inference [MODEL]
#include <edgesplit/edgesplit.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const std::string spec = argc > 1 ? argv[1] : "mobilenet_v2:alpha=0.35,res=96";
  auto graph = edgesplit::LoadModel(spec);
  if (!graph.ok()) return std::fprintf(stderr, "%s\n", graph.status().message().c_str()), 1;
  auto cuts = edgesplit::FindCutPoints(*graph);
  if (!cuts.ok()) return std::fprintf(stderr, "%s\n", cuts.status().message().c_str()), 1;
  int cut = -1;
  for (const edgesplit::CutPoint& c : *cuts) {
    std::printf("cut %2d after %-28s %8lld bytes int8%s\n", c.index, c.after.c_str(), static_cast<long long>(c.bytes_int8),
                c.bottleneck_strict ? "  bottleneck" : "");
    if (c.bottleneck_strict) cut = c.index;
  }
  if (cut < 0) return std::fprintf(stderr, "no natural bottleneck\n"), 1;
  // Head [0, position) then tail [position, end), the cut tensor copied between them.
  const int position = (*cuts)[cut].position, end = static_cast<int>(graph->nodes.size());
  const edgesplit::Backend* backend = edgesplit::FindBackend("reference");
  auto whole = edgesplit::SegmentExecutor::Create(*graph, 0, end, *backend);
  auto head = edgesplit::SegmentExecutor::Create(*graph, 0, position, *backend);
  auto tail = edgesplit::SegmentExecutor::Create(*graph, position, end, *backend);
  if (!whole.ok() || !head.ok() || !tail.ok()) return std::fprintf(stderr, "cannot compile the segments\n"), 1;
  float* in = static_cast<float*>((*whole)->input());
  const int64_t n = (*whole)->input_bytes() / 4;
  for (int64_t i = 0; i < n; ++i) in[i] = static_cast<float>(i % 255) / 255.0f;
  std::memcpy((*head)->input(), in, (*whole)->input_bytes());
  if (!(*whole)->Invoke().ok() || !(*head)->Invoke().ok()) return 1;
  std::memcpy((*tail)->input(), (*head)->output(), (*head)->output_bytes());
  if (!(*tail)->Invoke().ok()) return 1;
  const bool same = std::memcmp((*whole)->output(), (*tail)->output(), (*whole)->output_bytes()) == 0;
  std::printf("split after '%s' (cut %d): %lld bytes cross the link; split output %s the whole model's\n",
              (*cuts)[cut].after.c_str(), cut, static_cast<long long>((*head)->output_bytes()),
              same ? "equals" : "DIFFERS from");
  return same ? 0 : 1;
}
