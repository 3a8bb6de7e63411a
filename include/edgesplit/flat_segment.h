// Flat segment files: one segment of a split model as a single FlatBuffers
// binary (schema/segment.fbs) that a microcontroller reads in place, without
// protobuf and without copying weights.
//
// Two halves:
//   * Reader + verifier (module es_segment, portable: no exceptions, no RTTI, no
//     OS calls; it allocates only while building the Graph, i.e. at start-up).
//     VerifySegment() checks every byte of an untrusted file before use:
//     the size prefix (the file is a size-prefixed FlatBuffer: truncation and
//     trailing bytes are caught), FlatBuffers structure (offsets in bounds, strings terminated, tables
//     well-formed), identifier "ESSG", format version, dtypes and ops known,
//     tensor indices in range, constant sizes and alignment, quantization
//     parameter counts, shapes consistent with shape inference, and the stored
//     arena plan equal to the planner's. ReadSegment() verifies, then returns a
//     Graph whose constants point into `bytes` (Tensor::external_data).
//   * Writer and file helpers (module es_segment_file, host only).
//
// Ownership: the Graph of a LoadedSegment borrows the file's bytes; keep them
// alive and unchanged for as long as the graph (or an executor over it) is used.
// `bytes` must be 16-byte aligned (an embedded array with alignas(16), or
// SegmentFile below) so int32/f32 weights are read in place.
//
// Errors: every failure is a Status whose message names the field, tensor or
// node and what is wrong (kInvalidArgument for a malformed file, kUnsupported for
// another format version or an op this build does not know).
//
// Thread-safety: every function is reentrant; none keeps state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

// Bumped on any change an older reader would misread (docs/mcu.md).
inline constexpr uint32_t kSegmentFormatVersion = 1;
// Where constant data is aligned in the file (and the file in memory).
inline constexpr size_t kSegmentAlignment = 16;

// What a segment file says about itself besides its graph.
struct SegmentInfo {
  uint32_t format_version = kSegmentFormatVersion;
  std::string model;   // the model spec it was cut from
  int index = 0;       // segment k of the split
  int cut_before = 0;  // the model's cut index at the segment's input
  int cut_after = 0;   // ... and at its output
  DType compute_dtype = DType::kInt8;  // the arena plan's dtype (PlanSegmentMemory)
  int64_t arena_bytes = 0;
};

struct LoadedSegment {
  Graph graph;  // standalone (ExtractSegment's form), shapes inferred; borrows the file's bytes
  SegmentInfo info;
};

// Checks a whole file as described above. It builds the Graph internally (shape
// inference and planning need one), then drops it: use ReadSegment to keep it.
Status VerifySegment(const void* bytes, size_t size);

// VerifySegment, then the segment's Graph (constants read in place).
Result<LoadedSegment> ReadSegment(const void* bytes, size_t size);

// ---- Host side (module es_segment_file) ------------------------------------

// The flat file of a standalone segment graph (ExtractSegment's output, shapes
// inferred). info.arena_bytes is ignored: the plan is computed here over all
// nodes in info.compute_dtype. Errors: a graph that fails Validate or planning.
Result<std::vector<uint8_t>> WriteSegment(const Graph& segment, const SegmentInfo& info);

// A file's bytes in a 16-byte aligned buffer that owns them.
class SegmentFile {
 public:
  // Reads `path` whole. Errors: kIoError naming the path.
  static Result<std::unique_ptr<SegmentFile>> Read(const std::string& path);
  // Copies `size` bytes from `data` (tests, fuzzing).
  static std::unique_ptr<SegmentFile> FromBytes(const void* data, size_t size);
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  SegmentFile() = default;
  std::unique_ptr<uint8_t[]> storage_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace edgesplit
