// Writer of flat segment files and the aligned file buffer (include/edgesplit/flat_segment.h).
#include <flatbuffers/flatbuffers.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "edgesplit/analysis.h"
#include "edgesplit/flat_segment.h"
#include "segment_generated.h"

namespace edgesplit {
namespace {

using Builder = flatbuffers::FlatBufferBuilder;

flatbuffers::Offset<fb::Tensor> WriteTensor(Builder& b, const Tensor& t) {
  auto name = b.CreateString(t.name);
  auto shape = b.CreateVector(t.shape);
  flatbuffers::Offset<fb::Quant> quant;
  if (!t.quant.empty())
    quant = fb::CreateQuant(b, b.CreateVector(t.quant.scales), b.CreateVector(t.quant.zero_points), t.quant.axis);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data;
  if (t.is_constant) {
    // Aligned so the reader can hand int32/f32 weights to kernels in place.
    b.ForceVectorAlignment(t.byte_size(), 1, kSegmentAlignment);
    data = b.CreateVector(t.bytes(), t.byte_size());
  }
  fb::TensorBuilder tb(b);
  tb.add_name(name);
  tb.add_dtype(static_cast<fb::DType>(t.dtype));
  tb.add_shape(shape);
  if (!t.quant.empty()) tb.add_quant(quant);
  tb.add_is_constant(t.is_constant);
  if (t.is_constant) tb.add_data(data);
  return tb.Finish();
}

flatbuffers::Offset<fb::Node> WriteNode(Builder& b, const Node& n) {
  std::vector<flatbuffers::Offset<fb::Attr>> attrs;
  for (const Attribute& a : n.attrs)
    attrs.push_back(fb::CreateAttr(b, b.CreateString(a.name), static_cast<fb::AttrKind>(a.kind), a.i, a.f,
                                   b.CreateVector(a.ints), b.CreateVector(a.floats), b.CreateString(a.s)));
  return fb::CreateNode(b, b.CreateString(OpTypeName(n.op)), b.CreateString(n.name), b.CreateVectorOfStrings(n.aliases),
                        b.CreateVector(n.inputs), b.CreateVector(n.outputs), b.CreateVector(attrs),
                        static_cast<fb::Activation>(n.activation.kind), n.activation.min, n.activation.max,
                        n.activation.alpha);
}

}  // namespace

Result<std::vector<uint8_t>> WriteSegment(const Graph& segment, const SegmentInfo& info) {
  ES_RETURN_IF_ERROR(segment.Validate().WithContext("writing a segment file"));
  const int num_nodes = static_cast<int>(segment.nodes.size());
  ES_ASSIGN_OR_RETURN(SegmentMemory mem, PlanSegmentMemory(segment, 0, num_nodes, info.compute_dtype));
  std::vector<int64_t> offsets(segment.tensors.size(), -1);
  for (size_t i = 0; i < mem.tensor_ids.size(); ++i) offsets[mem.tensor_ids[i]] = mem.offsets[i];

  Builder b(1 << 16);
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const Tensor& t : segment.tensors) tensors.push_back(WriteTensor(b, t));
  std::vector<flatbuffers::Offset<fb::Node>> nodes;
  for (const Node& n : segment.nodes) nodes.push_back(WriteNode(b, n));
  auto root = fb::CreateSegment(b, kSegmentFormatVersion, b.CreateString(info.model), info.index, info.cut_before,
                                info.cut_after, b.CreateVector(tensors), b.CreateVector(nodes),
                                b.CreateVector(segment.inputs), b.CreateVector(segment.outputs),
                                static_cast<fb::DType>(info.compute_dtype), mem.arena_bytes, b.CreateVector(offsets));
  fb::FinishSizePrefixedSegmentBuffer(b, root);  // the prefix lets the reader catch truncation
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

std::unique_ptr<SegmentFile> SegmentFile::FromBytes(const void* data, size_t size) {
  std::unique_ptr<SegmentFile> file(new SegmentFile());
  // Over-allocate and round up: new[] only promises alignof(max_align_t).
  file->storage_.reset(new uint8_t[size + kSegmentAlignment]);
  const uintptr_t raw = reinterpret_cast<uintptr_t>(file->storage_.get());
  file->data_ = file->storage_.get() + (kSegmentAlignment - raw % kSegmentAlignment) % kSegmentAlignment;
  if (size) std::memcpy(file->data_, data, size);
  file->size_ = size;
  return file;
}

Result<std::unique_ptr<SegmentFile>> SegmentFile::Read(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > (uintmax_t{1} << 30))
    return IoError("segment file '" + path + "' is missing, not a regular file, or over 1 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open segment file '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return IoError("cannot read segment file '" + path + "'");
  return FromBytes(bytes.data(), bytes.size());
}

}  // namespace edgesplit
