// The server's tails, the served-cut selection and the model fingerprint.
#include "tail_set.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "edgesplit/analysis.h"
#include "edgesplit/codec.h"
#include "edgesplit/serve.h"

namespace edgesplit::runtime {
namespace {

void Mix(uint32_t* crc, const void* p, size_t n) {
  *crc = wire::Crc32(std::span<const uint8_t>(static_cast<const uint8_t*>(p), n), *crc);
}
template <typename T>
void MixValue(uint32_t* crc, const T& v) {
  Mix(crc, &v, sizeof v);
}
void MixString(uint32_t* crc, const std::string& s) {
  MixValue(crc, s.size());
  Mix(crc, s.data(), s.size());
}

std::string CodecIdName(uint8_t id) {
  Codec c;
  return CodecFromId(id, &c) ? CodecName(c) : "id " + std::to_string(id);
}

}  // namespace

uint32_t ModelHash(const Graph& g) {
  uint32_t crc = 0;
  MixValue(&crc, g.nodes.size());
  for (const Node& n : g.nodes) {
    MixValue(&crc, static_cast<int>(n.op));
    for (int t : n.inputs) MixValue(&crc, t);
    for (int t : n.outputs) MixValue(&crc, t);
    for (const Attribute& a : n.attrs) {
      MixString(&crc, a.name);
      MixValue(&crc, a.i);
      MixValue(&crc, a.f);
      for (int64_t v : a.ints) MixValue(&crc, v);
      for (float v : a.floats) MixValue(&crc, v);
      MixString(&crc, a.s);
    }
  }
  for (const Tensor& t : g.tensors) {
    MixValue(&crc, static_cast<int>(t.dtype));
    for (int64_t d : t.shape) MixValue(&crc, d);
    for (float s : t.quant.scales) MixValue(&crc, s);
    for (int32_t z : t.quant.zero_points) MixValue(&crc, z);
    if (t.is_constant) Mix(&crc, t.bytes(), t.byte_size());
  }
  return crc == 0 ? 1 : crc;  // 0 means "not checked" on the wire
}

Result<std::vector<int>> SelectServedCuts(const Graph& g, const std::string& spec) {
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
  const int last = static_cast<int>(cuts.size()) - 1;
  std::vector<int> out{0};
  auto add = [&](int c) {
    if (c > 0 && c < last && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  if (spec == "strict" || spec == "loose" || spec == "all") {
    for (const CutPoint& c : cuts)
      if (spec == "all" || (spec == "strict" ? c.bottleneck_strict : c.bottleneck_loose)) add(c.index);
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t begin = 0;
  while (begin <= spec.size()) {
    const size_t comma = std::min(spec.find(',', begin), spec.size());
    const std::string name = spec.substr(begin, comma - begin);
    if (name.empty()) return InvalidArgument("--cuts '" + spec + "' has an empty entry");
    ES_ASSIGN_OR_RETURN(int c, ResolveCut(g, cuts, name));
    if (c == last) return InvalidArgument("--cuts: '" + name + "' is the output: no tail starts there");
    add(c);
    begin = comma + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::unique_ptr<TailSet>> TailSet::Load(const std::string& model, const std::string& dtype,
                                               const std::string& cut_spec, const std::string& backend_name,
                                               int max_batch) {
  const Backend* backend = FindBackend(backend_name);
  if (!backend) return InvalidArgument("unknown backend '" + backend_name + "' (onednn or reference)");
  auto set = std::unique_ptr<TailSet>(new TailSet());
  set->max_batch_ = max_batch;
  set->backend_ = backend;
  ES_ASSIGN_OR_RETURN(Graph g, LoadExecutionGraph(model, dtype));
  set->graph_ = std::make_shared<const Graph>(std::move(g));
  set->model_hash_ = ModelHash(*set->graph_);
  ES_ASSIGN_OR_RETURN(set->cuts_, SelectServedCuts(*set->graph_, cut_spec));
  if (set->graph_->outputs.size() != 1) return Unsupported("serving needs a model with one output");
  ES_RETURN_IF_ERROR(set->PrepareTails());
  return set;
}

Result<std::unique_ptr<TailSet>> TailSet::Replica() const {
  auto set = std::unique_ptr<TailSet>(new TailSet());
  set->max_batch_ = max_batch_;
  set->backend_ = backend_;
  set->graph_ = graph_;
  set->model_hash_ = model_hash_;
  set->cuts_ = cuts_;
  ES_RETURN_IF_ERROR(set->PrepareTails());
  return set;
}

Status TailSet::PrepareTails() {
  const Graph& graph = *graph_;
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(graph));
  const int end = static_cast<int>(graph.nodes.size());
  output_cut_ = static_cast<int>(cuts.size()) - 1;
  for (int c : cuts_) {
    Tail t;
    t.cut = c;
    const CutPoint& cut = cuts[static_cast<size_t>(c)];
    t.begin = cut.position;
    t.input = &graph.tensors[static_cast<size_t>(cut.tensor)];
    t.output = &graph.tensors[static_cast<size_t>(graph.outputs[0])];
    ES_ASSIGN_OR_RETURN(t.segment, BatchedSegment::Create(graph, cut.position, end, *backend_, max_batch_));
    t.input_bytes = static_cast<size_t>(t.segment->input_bytes());
    t.output_bytes = static_cast<size_t>(t.segment->output_bytes());
    t.outputs.resize(t.output_bytes * static_cast<size_t>(max_batch_));
    t.in_ptrs.resize(static_cast<size_t>(max_batch_));
    t.out_ptrs.resize(static_cast<size_t>(max_batch_));
    for (int i = 0; i < max_batch_; ++i) t.out_ptrs[static_cast<size_t>(i)] = t.outputs.data() + static_cast<size_t>(i) * t.output_bytes;
    ES_ASSIGN_OR_RETURN(wire::MessageHeader h, TensorHeader(wire::MessageType::kTensorRequest, *t.input));
    // An encoded payload may exceed the raw tensor a little (an incompressible
    // tensor under +lz4 or +zstd, plus the codec header): n + n/64 + 128 bounds both.
    const size_t payload_bound = t.input_bytes + t.input_bytes / 64 + 128;
    max_request_bytes_ = std::max(max_request_bytes_, wire::EncodedMessageBytes(h.rank, payload_bound, wire::kMaxSenderIdBytes));
    max_input_bytes_ = std::max(max_input_bytes_, t.input_bytes);
    tails_.push_back(std::move(t));
  }
  return Status::Ok();
}

double TailSet::PredictedSeconds(int t, const DeviceProfile& device) const {
  return RangeSeconds(device, *graph_, tails_[static_cast<size_t>(t)].begin, static_cast<int>(graph_->nodes.size()));
}

Result<int> TailSet::Find(uint32_t cut_id) const {
  for (size_t i = 0; i < tails_.size(); ++i)
    if (static_cast<uint32_t>(tails_[i].cut) == cut_id) return static_cast<int>(i);
  std::string served;
  for (int c : cuts_) served += (served.empty() ? "" : ",") + std::to_string(c);
  return NotFound("no tail starts at cut " + std::to_string(cut_id) + " (this server serves cuts " + served + ")");
}

Status TailSet::CheckInput(int t, const wire::MessageHeader& h, size_t payload_bytes) const {
  const Tail& tail = tails_[static_cast<size_t>(t)];
  const Tensor& in = *tail.input;
  if (h.dtype != in.dtype)
    return InvalidArgument(std::string("cut ") + std::to_string(h.cut_id) + " takes " + DTypeName(in.dtype) +
                           ", the request carries " + DTypeName(h.dtype));
  bool same_shape = h.rank == in.shape.size();
  for (size_t i = 0; same_shape && i < in.shape.size(); ++i) same_shape = h.dims[i] == static_cast<uint32_t>(in.shape[i]);
  if (!same_shape || (h.codec == wire::kCodecRaw && payload_bytes != tail.input_bytes))
    return InvalidArgument("cut " + std::to_string(h.cut_id) + " takes a tensor of " + ShapeToString(in.shape) + " (" +
                           std::to_string(tail.input_bytes) + " bytes); the request's shape or size differs");
  if (!in.quant.empty() && (h.quant_scale != in.quant.scales[0] ||
                            h.quant_zero_point != (in.quant.zero_points.empty() ? 0 : in.quant.zero_points[0])))
    return InvalidArgument("cut " + std::to_string(h.cut_id) + ": the request's quantization (scale, zero point) is not the model's");
  return Status::Ok();
}

Status TailSet::DecodeInput(int t, const wire::MessageHeader& h, std::span<const uint8_t> payload,
                            std::vector<uint8_t>* out) const {
  const Tail& tail = tails_[static_cast<size_t>(t)];
  const Tensor& in = *tail.input;
  const std::string what = "cut " + std::to_string(h.cut_id) + ", codec " + CodecIdName(h.codec);
  if (in.dtype != DType::kFloat32 && in.dtype != DType::kInt8)
    return InvalidArgument(what + ": codecs carry float32 or int8 tensors, this cut takes " + DTypeName(in.dtype));
  if (payload.empty() || payload[0] != h.codec)
    return InvalidArgument(what + ": the payload's codec header names " +
                           (payload.empty() ? std::string("nothing (empty payload)") : "codec " + CodecIdName(payload[0])));
  CutTensorView expected;
  expected.dtype = in.dtype == DType::kInt8 ? CodecDType::kInt8 : CodecDType::kFloat32;
  expected.elements = static_cast<uint32_t>(tail.input_bytes / (in.dtype == DType::kInt8 ? 1 : 4));
  expected.channels = CodecChannels(in.shape.data(), in.shape.size());
  out->resize(tail.input_bytes);
  const Status s = DecodeCutTensor(payload.data(), payload.size(), expected, out->data());
  if (!s.ok()) return s.WithContext(what);
  return Status::Ok();
}

Result<int> TailSet::CheckRequest(const wire::MessageHeader& h, size_t payload_bytes) const {
  if (h.type != wire::MessageType::kTensorRequest)
    return InvalidArgument(std::string("unexpected message type ") + wire::MessageTypeName(h.type));
  if (h.model_hash != 0 && h.model_hash != model_hash_)
    return InvalidArgument("model hash " + std::to_string(h.model_hash) + " is not this server's (" +
                           std::to_string(model_hash_) + ")");
  ES_ASSIGN_OR_RETURN(int t, Find(h.cut_id));
  ES_RETURN_IF_ERROR(CheckInput(t, h, payload_bytes));
  return t;
}

Status TailSet::Run(int t, std::span<const std::span<const uint8_t>> inputs) {
  Tail& tail = tails_[static_cast<size_t>(t)];
  if (inputs.empty() || static_cast<int>(inputs.size()) > max_batch_)
    return InvalidArgument("a batch of " + std::to_string(inputs.size()) + " requests (1.." + std::to_string(max_batch_) + ")");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].size() != tail.input_bytes) return InvalidArgument("request " + std::to_string(i) + " has the wrong size");
    tail.in_ptrs[i] = inputs[i].data();
  }
  const size_t k = inputs.size();
  return tail.segment->Run(std::span<const void* const>(tail.in_ptrs.data(), k), std::span<void* const>(tail.out_ptrs.data(), k));
}

std::span<const uint8_t> TailSet::Output(int t, int i) const {
  const Tail& tail = tails_[static_cast<size_t>(t)];
  return std::span<const uint8_t>(tail.outputs.data() + static_cast<size_t>(i) * tail.output_bytes, tail.output_bytes);
}

wire::MessageHeader TailSet::OutputHeader(int t) const {
  const Tail& tail = tails_[static_cast<size_t>(t)];
  auto h = TensorHeader(wire::MessageType::kTensorResult, *tail.output);
  wire::MessageHeader out = h.ok() ? *h : wire::MessageHeader{};
  out.cut_id = static_cast<uint16_t>(output_cut_);
  return out;
}

int64_t TailSet::arena_bytes() const {
  int64_t total = 0;
  for (const Tail& t : tails_) total += t.segment->arena_bytes() + static_cast<int64_t>(t.outputs.size());
  return total;
}

bool SameResult(std::span<const uint8_t> result, std::span<const uint8_t> reference, DType dtype) {
  if (result.size() != reference.size()) return false;
  if (std::equal(result.begin(), result.end(), reference.begin())) return true;
  if (dtype != DType::kFloat32) return false;
  const size_t n = reference.size() / 4;
  auto at = [](std::span<const uint8_t> bytes, size_t i) {
    float v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);  // the payload need not be float-aligned
    return v;
  };
  float scale = 0;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(at(reference, i)));
  for (size_t i = 0; i < n; ++i)
    if (!(std::fabs(at(result, i) - at(reference, i)) <= 1e-5f * std::max(scale, 1e-30f))) return false;
  return true;
}

double SortedPercentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(q * static_cast<double>(sorted.size()));
  const size_t i = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace edgesplit::runtime
