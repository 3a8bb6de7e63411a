// Flat segment files (include/edgesplit/flat_segment.h): arbitrary bytes ->
// VerifySegment / ReadSegment. A file that is accepted must also build an
// executor or fail with a Status, and re-writing it must give a file that is
// accepted again. Seeds: segment files written by make_segment_seeds.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "edgesplit/exec.h"
#include "edgesplit/flat_segment.h"

namespace {

void FuzzOne(const uint8_t* data, size_t size) {
  using namespace edgesplit;
  std::unique_ptr<SegmentFile> file = SegmentFile::FromBytes(data, size);
  Result<LoadedSegment> seg = ReadSegment(file->data(), file->size());
  if (!seg.ok()) {
    if (seg.status().message().empty()) __builtin_trap();
    return;
  }
  if (!VerifySegment(file->data(), file->size()).ok()) __builtin_trap();  // the two must agree
  Result<std::vector<uint8_t>> again = WriteSegment(seg->graph, seg->info);
  if (!again.ok()) __builtin_trap();
  std::unique_ptr<SegmentFile> copy = SegmentFile::FromBytes(again->data(), again->size());
  if (!ReadSegment(copy->data(), copy->size()).ok()) __builtin_trap();
  // Kernels' Prepare must reject what they cannot run, never crash; the arena
  // is bounded by the element limits the verifier enforces.
  const int n = static_cast<int>(seg->graph.nodes.size());
  if (seg->info.arena_bytes < (int64_t{64} << 20)) {
    Result<std::unique_ptr<SegmentExecutor>> ex =
        SegmentExecutor::Create(seg->graph, 0, n, ReferenceBackend(), seg->info.compute_dtype);
    (void)ex;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzOne(data, size);
  // Most mutations change the length and stop at the size prefix; a copy with
  // the prefix fixed up lets them reach the FlatBuffers and semantic checks.
  if (size >= 8) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint32_t body = static_cast<uint32_t>(size - 4);
    std::memcpy(fixed.data(), &body, 4);
    FuzzOne(fixed.data(), fixed.size());
  }
  return 0;
}
