// Over-the-air delivery in the runtime: the coordinator packages and sends a
// node's flat segment; the node verifies, loads, acknowledges (runtime_delivery.h).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "edgesplit/analysis.h"
#include "edgesplit/runtime_delivery.h"
#include "delivery_roles.h"
#include "edgesplit/flat_segment.h"

namespace edgesplit::runtime {
namespace {

using Json = nlohmann::ordered_json;
using net::Clock;

uint64_t NowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}

void EmitLine(std::FILE* events, const Json& j) {
  if (!events) return;
  std::fprintf(events, "%s\n", j.dump().c_str());
  std::fflush(events);
}

// Whether the graph computes in int8 (any int8 tensor), as the manifest's dtype says.
bool HasInt8(const Graph& g) {
  return std::any_of(g.tensors.begin(), g.tensors.end(), [](const Tensor& t) { return t.dtype == DType::kInt8; });
}

}  // namespace

Result<std::unique_ptr<SegmentRunner>> SegmentRunner::FromFlat(std::shared_ptr<const void> storage, Graph graph, int cut_before,
                                                               int cut_after, bool ends_at_output) {
  std::unique_ptr<SegmentRunner> r(new SegmentRunner());
  r->storage_ = std::move(storage);
  r->exec_graph_ = std::make_shared<const Graph>(std::move(graph));
  const int n = static_cast<int>(r->exec_graph_->nodes.size());
  r->first_cut_ = cut_before;
  r->last_cut_ = cut_after;
  r->ends_at_output_ = ends_at_output;
  r->begin_ = 0;
  r->end_ = n;
  ES_ASSIGN_OR_RETURN(r->executor_, SegmentExecutor::Create(*r->exec_graph_, 0, n, ReferenceBackend()));
  if (r->executor_->num_inputs() != 1 || r->executor_->num_outputs() != 1)
    return Unsupported("a delivered segment must have one input and one output tensor (it has " +
                       std::to_string(r->executor_->num_inputs()) + " and " + std::to_string(r->executor_->num_outputs()) + ")");
  return r;
}

Result<SegmentPackage> PackageSegment(const Graph& g, const std::string& model, const std::string& dtype,
                                      const std::string& first_cut, const std::string& last_cut, int index, uint32_t sequence) {
  if (dtype != "f32" && dtype != "int8") return InvalidArgument("a delivered segment runs in f32 or int8, not '" + dtype + "'");
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
  ES_ASSIGN_OR_RETURN(int a, ResolveCut(g, cuts, first_cut));
  ES_ASSIGN_OR_RETURN(int b, ResolveCut(g, cuts, last_cut));
  const CutPoint& from = cuts[static_cast<size_t>(a)];
  const CutPoint& to = cuts[static_cast<size_t>(b)];
  if (to.position <= from.position) return InvalidArgument("segment '" + first_cut + ":" + last_cut + "' is empty or reversed");
  ES_ASSIGN_OR_RETURN(Graph seg, ExtractSegment(g, from.position, to.position));
  SegmentInfo info;
  info.model = model;
  info.index = index;
  info.cut_before = from.index;
  info.cut_after = to.index;
  info.compute_dtype = DType::kFloat32;  // tensors take their own size: the executor's arena
  SegmentPackage p;
  ES_ASSIGN_OR_RETURN(p.file, WriteSegment(seg, info));
  p.manifest.sequence = sequence;
  p.manifest.model = model;
  p.manifest.segment_index = static_cast<uint32_t>(index);
  p.manifest.cut_before = static_cast<uint32_t>(from.index);
  p.manifest.cut_after = static_cast<uint32_t>(to.index);
  p.manifest.dtype = dtype == "int8" ? DType::kInt8 : DType::kFloat32;
  p.manifest.final_segment = to.position == static_cast<int>(g.nodes.size());
  return p;
}

Result<DeliveryReport> DeliverSegment(const std::vector<std::vector<uint8_t>>& chunks, net::RequestClient& node,
                                      uint32_t* next_request_id, net::Deadline deadline, double time_unit) {
  if (chunks.size() < 2) return InvalidArgument("a delivery needs its manifest and end chunks");
  Result<delivery::DecodedChunk> head = delivery::DecodeChunk(chunks.front());
  if (!head.ok()) return head.status().WithContext("delivery manifest");
  DeliveryReport r;
  Result<delivery::Manifest> manifest = delivery::DecodeManifest(*head);
  if (manifest.ok()) {  // a test may send a damaged manifest on purpose
    r.bytes = manifest->file_bytes;
    r.sha256 = delivery::Hex(manifest->sha256);
  }
  const std::string where = "delivering to " + node.server().ToString();
  std::vector<uint8_t> message;
  std::optional<delivery::Ack> ack;
  const auto t0 = Clock::now();
  for (const std::vector<uint8_t>& chunk : chunks) {
    const uint32_t id = (*next_request_id)++;
    wire::MessageHeader h;
    h.type = wire::MessageType::kSegmentChunk;
    h.request_id = id;
    h.dtype = DType::kUInt8;
    message.resize(wire::EncodedMessageBytes(0, chunk.size()));
    ES_ASSIGN_OR_RETURN(size_t n, wire::EncodeMessage(h, chunk, message));
    net::CallReport sent;
    Result<std::vector<uint8_t>> reply = node.Call(std::span<const uint8_t>(message.data(), n), id, deadline, &sent);
    if (!reply.ok()) return reply.status().WithContext(where);
    ++r.chunks;
    r.wire_bytes += sent.request.message_bytes;
    r.fragments += sent.request.fragments;
    r.retransmissions += sent.request.retransmissions;
    Result<wire::DecodedMessage> m = wire::DecodeMessage(*reply);
    if (!m.ok()) return m.status().WithContext(where + ": the node's answer");
    if (m->header.type == wire::MessageType::kError)
      return IoError(where + ": " + std::string(m->payload.begin(), m->payload.end()));
    if (m->header.type != wire::MessageType::kSegmentAck) continue;  // "go on"
    ES_ASSIGN_OR_RETURN(ack, delivery::DecodeAck(m->payload));
    break;  // accepted, or refused early: stop sending
  }
  if (!ack) return DeadlineExceeded("node " + node.server().ToString() + " took every chunk but sent no verdict");
  r.delivery_s = net::SecondsSince(t0) / time_unit;
  r.accepted = ack->accepted;
  r.reason = ack->accepted ? "" : delivery::RejectReasonName(ack->reason);
  r.detail = ack->detail;
  return r;
}

Json DeliveryJson(const DeliveryReport& d) {
  Json j{{"node", d.node}, {"bytes", d.bytes}, {"chunks", d.chunks}, {"delivery_s", d.delivery_s}, {"sha256", d.sha256},
         {"wire_bytes", d.wire_bytes}, {"fragments", d.fragments}, {"retransmissions", d.retransmissions},
         {"accepted", d.accepted}};
  if (!d.accepted) j["reason"] = d.reason, j["message"] = d.detail;
  return j;
}

// ---- run --deliver ------------------------------------------------------------------

Result<std::unique_ptr<ChainDelivery>> ChainDelivery::Create(const ChainOptions& o) {
  std::unique_ptr<ChainDelivery> d(new ChainDelivery());
  d->options_ = o;
  if (o.sign_key.empty()) return InvalidArgument("a delivery is always signed: give its key (run makes a temporary one)");
  ES_ASSIGN_OR_RETURN(d->key_, ReadSecretKeyFile(o.sign_key));
  Result<delivery::PublicKey> pub = ReadPublicKeyFile(o.sign_key + ".pub");
  if (!pub.ok())
    return pub.status().WithContext("--sign-key " + o.sign_key + " needs " + o.sign_key + ".pub beside it for the nodes (edgesplit keygen writes both)");
  if (pub->bytes != delivery::PublicKeyOf(d->key_).bytes)
    return InvalidArgument(o.sign_key + ".pub is not the public half of " + o.sign_key);
  return d;
}

void ChainDelivery::AdjustNode(NodeOptions* node) const {
  node->segment = SegmentSpec{};
  node->segment.model.clear();
  node->verify_key = options_.sign_key + ".pub";
}

Status ChainDelivery::Deliver(int k, const Graph& exec_graph, net::RequestClient& node, uint32_t* next_request_id,
                              double time_unit) {
  const std::string who = "node " + std::to_string(k);
  const ChainNodeSpec& n = options_.nodes[static_cast<size_t>(k)];
  Result<SegmentPackage> p =
      PackageSegment(exec_graph, options_.model, options_.dtype, n.first_cut, n.last_cut, k, options_.delivery_sequence);
  if (!p.ok()) return p.status().WithContext(who + " segment");
  ES_ASSIGN_OR_RETURN(std::vector<std::vector<uint8_t>> chunks, delivery::BuildChunks(p->manifest, p->file, &key_));
  Result<DeliveryReport> r = DeliverSegment(chunks, node, next_request_id, net::DeadlineIn(options_.request_timeout_s), time_unit);
  if (!r.ok()) return r.status().WithContext(who);
  r->node = k;
  reports_.push_back(*r);
  if (!r->accepted) return IoError(who + " refused its segment delivery (" + r->reason + "): " + r->detail);
  return Status::Ok();
}

// ---- Node ----------------------------------------------------------------------

Result<std::unique_ptr<NodeDelivery>> NodeDelivery::Create(const NodeOptions& o) {
  delivery::ReceiverConfig config;
  if (!o.verify_key.empty()) {
    ES_ASSIGN_OR_RETURN(config.verify_key, ReadPublicKeyFile(o.verify_key));
  }
  ES_RETURN_IF_ERROR(delivery::InitCrypto());
  const delivery::Sha256Digest key_id = delivery::VerifyKeyId(config.verify_key);
  delivery::StateKey state_key{};
  if (!o.state_file.empty()) {
    ES_ASSIGN_OR_RETURN(state_key, LoadOrCreateStateKey(o.state_file + ".key"));
    ES_ASSIGN_OR_RETURN(std::optional<delivery::NodeState> state, ReadNodeStateFile(o.state_file, key_id, state_key));
    if (state) config.replay_floor = state->replay_floor;
  }
  std::unique_ptr<NodeDelivery> d(new NodeDelivery(config));
  d->state_key_ = state_key;
  d->state_path_ = o.state_file;
  d->key_id_ = key_id;
  d->verifying_ = config.verify_key.has_value();
  return d;
}

std::unique_ptr<SegmentRunner> NodeDelivery::OnChunk(const wire::DecodedMessage& message, const SegmentRunner* current,
                                                     std::FILE* events) {
  last_request_id_ = message.header.request_id;
  // A verdict waits for the next manifest or end chunk's answer; a new delivery starts afresh.
  Result<delivery::DecodedChunk> chunk = delivery::DecodeChunk(message.payload);
  if (!chunk.ok() || chunk->header.kind == delivery::ChunkKind::kManifest) ack_.reset();
  if (!verifying_) {  // over-the-air updates are authenticated always
    delivery::DeliveryStep step;
    step.event = delivery::DeliveryStep::kRejected;
    step.reason = delivery::RejectReason::kUnsigned;
    step.detail = "this node has no --verify-key: it takes no segment deliveries";
    Refused(message.header.request_id, step, current != nullptr, events);
    return nullptr;
  }
  const delivery::DeliveryStep step = receiver_.OnChunk(message.payload, NowUs());
  if (step.event == delivery::DeliveryStep::kRejected) Refused(message.header.request_id, step, current != nullptr, events);
  if (step.event != delivery::DeliveryStep::kComplete) return nullptr;
  return Load(message.header.request_id, current, events);
}

std::optional<std::vector<uint8_t>> NodeDelivery::TakeAck(uint32_t request_id) {
  if (!ack_) return std::nullopt;
  const std::vector<uint8_t> payload = delivery::EncodeAck(*ack_);
  ack_.reset();
  wire::MessageHeader h;
  h.type = wire::MessageType::kSegmentAck;
  h.request_id = request_id;
  h.dtype = DType::kUInt8;
  std::vector<uint8_t> message(wire::EncodedMessageBytes(0, payload.size()));
  if (!wire::EncodeMessage(h, payload, message).ok()) return std::nullopt;
  return message;
}

void NodeDelivery::Poll(bool serving, std::FILE* events) {
  const delivery::DeliveryStep step = receiver_.Expire(NowUs());
  if (step.event == delivery::DeliveryStep::kRejected) Refused(last_request_id_, step, serving, events);
  ack_.reset();  // its sender stopped: nobody waits for this verdict
}

std::unique_ptr<SegmentRunner> NodeDelivery::Load(uint32_t id, const SegmentRunner* current, std::FILE* events) {
  const bool serving = current != nullptr;
  const auto t0 = Clock::now();
  const delivery::Manifest m = receiver_.manifest();
  std::shared_ptr<const SegmentFile> file = SegmentFile::FromBytes(receiver_.file().data(), receiver_.file().size());
  Result<LoadedSegment> seg = ReadSegment(file->data(), file->size());  // the segment verifier
  if (!seg.ok()) {
    Refused(id, receiver_.Reject(delivery::RejectReason::kInvalidSegment, seg.status().message()), serving, events);
    return nullptr;
  }
  const SegmentInfo& info = seg->info;
  if (info.cut_before != static_cast<int>(m.cut_before) || info.cut_after != static_cast<int>(m.cut_after) ||
      HasInt8(seg->graph) != (m.dtype == DType::kInt8)) {
    const std::string what = "the file holds cuts " + std::to_string(info.cut_before) + ".." + std::to_string(info.cut_after) +
                             (HasInt8(seg->graph) ? " in int8" : " in f32") + ", the manifest says " + std::to_string(m.cut_before) +
                             ".." + std::to_string(m.cut_after) + " in " + DTypeName(m.dtype);
    Refused(id, receiver_.Reject(delivery::RejectReason::kMismatch, what), serving, events);
    return nullptr;
  }
  if (current && info.cut_before != current->first_cut_index()) {  // e.g. a head segment sent to a tail node
    Refused(id,
            receiver_.Reject(delivery::RejectReason::kMismatch,
                             "the segment starts at cut " + std::to_string(info.cut_before) + ", and this node's input is cut " +
                                 std::to_string(current->first_cut_index())),
            serving, events);
    return nullptr;
  }
  Result<std::unique_ptr<SegmentRunner>> runner =
      SegmentRunner::FromFlat(file, std::move(seg->graph), info.cut_before, info.cut_after, m.final_segment);
  if (!runner.ok()) {
    Refused(id, receiver_.Reject(delivery::RejectReason::kLoadFailed, runner.status().message()), serving, events);
    return nullptr;
  }
  // The floor reaches the disk before the ack, so no acknowledged delivery can
  // be replayed to a restarted node; a floor that cannot be saved refuses it.
  if (!state_path_.empty()) {
    const Status saved = WriteNodeStateFile(state_path_, {m.sequence, m.file_bytes, m.sha256, key_id_}, state_key_);
    if (!saved.ok()) {
      Refused(id, receiver_.Reject(delivery::RejectReason::kLoadFailed, "cannot save the replay floor: " + saved.message()), serving, events);
      return nullptr;
    }
  }
  receiver_.Accept();
  EmitLine(events, Json{{"event", "delivery"},
                        {"request_id", id},
                        {"sequence", m.sequence},
                        {"bytes", m.file_bytes},
                        {"sha256", delivery::Hex(m.sha256)},
                        {"model", m.model},
                        {"segment", m.segment_index},
                        {"cut_before", m.cut_before},
                        {"cut_after", m.cut_after},
                        {"dtype", DTypeName(m.dtype)},
                        {"signed", m.has_signature},
                        {"verified", verifying_},
                        {"replaced", serving},
                        {"persisted", !state_path_.empty()},
                        {"load_s", net::SecondsSince(t0)}});
  delivery::Ack ack;
  ack.accepted = true;
  ack.sequence = m.sequence;
  ack.sha256 = m.sha256;
  ack_ = ack;
  return std::move(runner).value();
}

void NodeDelivery::Refused(uint32_t id, const delivery::DeliveryStep& step, bool serving, std::FILE* events) {
  EmitLine(events, Json{{"event", "delivery_rejected"},
                        {"request_id", id},
                        {"sequence", step.sequence},
                        {"reason", delivery::RejectReasonName(step.reason)},
                        {"message", step.detail},
                        {"serving", serving}});
  delivery::Ack ack;
  ack.reason = step.reason;
  ack.sequence = step.sequence;
  ack.detail = step.detail;
  ack_ = ack;
}

}  // namespace edgesplit::runtime
