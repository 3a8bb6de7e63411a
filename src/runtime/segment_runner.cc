// One node's segment: the execution graph (f32 or int8), the executor between
// two cuts, and the planner's predicted time for it.
#include <algorithm>
#include <cstring>

#include "edgesplit/analysis.h"
#include "edgesplit/models.h"
#include "edgesplit/runtime.h"
#ifdef EDGESPLIT_HAVE_QUANT
#include "edgesplit/quant.h"
#endif

namespace edgesplit::runtime {

Result<Graph> LoadExecutionGraph(const std::string& model, const std::string& dtype) {
  if (dtype != "f32" && dtype != "int8") return InvalidArgument("--dtype must be f32 or int8, not '" + dtype + "'");
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(model));
  if (dtype == "f32") return g;
#ifdef EDGESPLIT_HAVE_QUANT
  if (g.inputs.size() != 1) return Unsupported("int8 needs a model with one input");
  // Seeded samples: every process of a chain builds the same int8 graph.
  const std::vector<CalibrationSample> samples = RandomCalibrationSamples(g.tensors[g.inputs[0]], 4, 1);
  return Quantize(g, samples);
#else
  return Unsupported("--dtype int8 needs the quant module, which this build lacks");
#endif
}

namespace {

Result<int> CutPosition(const Graph& g, const std::vector<CutPoint>& cuts, const std::string& spec, int* index) {
  ES_ASSIGN_OR_RETURN(int i, ResolveCut(g, cuts, spec));
  *index = i;
  return cuts[static_cast<size_t>(i)].position;
}

}  // namespace

Result<std::unique_ptr<SegmentRunner>> SegmentRunner::Load(const SegmentSpec& spec) {
  ES_ASSIGN_OR_RETURN(Graph exec, LoadExecutionGraph(spec.model, spec.dtype));
  return FromGraph(std::make_shared<const Graph>(std::move(exec)), spec);
}

Result<std::unique_ptr<SegmentRunner>> SegmentRunner::FromGraph(std::shared_ptr<const Graph> exec_graph, const SegmentSpec& spec) {
  std::unique_ptr<SegmentRunner> r(new SegmentRunner());
  r->exec_graph_ = std::move(exec_graph);
  const Graph& g = *r->exec_graph_;
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
  int begin = 0, end = 0;
  ES_ASSIGN_OR_RETURN(begin, CutPosition(g, cuts, spec.first_cut, &r->first_cut_));
  ES_ASSIGN_OR_RETURN(end, CutPosition(g, cuts, spec.last_cut, &r->last_cut_));
  if (end <= begin)
    return InvalidArgument("segment '" + spec.first_cut + ":" + spec.last_cut + "' is empty or reversed (cut " +
                           std::to_string(r->first_cut_) + " to cut " + std::to_string(r->last_cut_) + ")");
  r->ends_at_output_ = end == static_cast<int>(g.nodes.size());
  ES_ASSIGN_OR_RETURN(r->executor_, SegmentExecutor::Create(g, begin, end, ReferenceBackend()));
  if (r->executor_->num_inputs() != 1 || r->executor_->num_outputs() != 1)
    return Unsupported("segment " + spec.first_cut + ":" + spec.last_cut + " must have one input and one output tensor");
  r->begin_ = begin;
  r->end_ = end;
  return r;
}

Status SegmentRunner::Run(std::span<const uint8_t> payload, DType dtype) {
  const Tensor& in = executor_->input_tensor();
  if (dtype != in.dtype || static_cast<int64_t>(payload.size()) != executor_->input_bytes())
    return InvalidArgument("tensor of " + std::to_string(payload.size()) + " bytes (" + DTypeName(dtype) +
                           ") does not fit segment input '" + in.name + "' " + ShapeToString(in.shape) + " (" +
                           std::to_string(executor_->input_bytes()) + " bytes, " + DTypeName(in.dtype) + ")");
  std::memcpy(executor_->input(), payload.data(), payload.size());
  return executor_->Invoke();
}

std::span<const uint8_t> SegmentRunner::output() const {
  return {static_cast<const uint8_t*>(executor_->output()), static_cast<size_t>(executor_->output_bytes())};
}

double SegmentRunner::PredictedSeconds(const DeviceProfile& device) const {
  return RangeSeconds(device, *exec_graph_, begin_, end_);
}

Result<ResolvedLink> ResolveLink(const LinkSettings& s) {
  ResolvedLink r;
  const std::string dir = ProfilesDir(s.profiles_dir);
  ES_ASSIGN_OR_RETURN(r.profile, LoadLinkProfile(dir, s.link));
  ES_ASSIGN_OR_RETURN(r.kind, net::ParseTransportKind(r.profile.transport));
  if (s.loss >= 1) return InvalidArgument("--loss must be in [0, 1)");
  if (s.time_scale <= 0) return InvalidArgument("--time-scale must be > 0");
  if (r.kind == net::TransportKind::kTcp && s.loss > 0)
    return InvalidArgument(
        "--loss is emulated on datagram links only; TCP loss is real: make it in a network namespace (scripts/netns.sh)");
  r.channel.kind = r.kind;
  r.channel.datagram_bytes = net::FramePayloadBytes(r.profile, r.kind);
  r.channel.shaper = net::ShaperForLink(r.profile, s.time_scale, s.loss, s.seed);
  ES_ASSIGN_OR_RETURN(net::LinkExtras extras, net::LoadLinkExtras(dir, s.link));
  net::ApplyLinkExtras(extras, &r.channel.shaper);
  if (!s.shaped) {
    // Unshaped: frames leave at host speed; an explicit --loss still applies.
    net::ShaperConfig& c = r.channel.shaper;
    c.per_message_s = c.per_frame_s = c.bytes_per_s = c.interval_s = 0;
    c.frames_per_interval = 0;
    c.enabled = c.loss > 0;
  }
  r.channel.rto_s = RetransmitTimeoutSeconds(r, r.profile.bytes_per_s, s.time_scale);
  if (s.loss > 0) r.profile.loss = s.loss;  // predictions use the loss that is applied
  return r;
}

double RetransmitTimeoutSeconds(const ResolvedLink& link, double bytes_per_s, double time_scale) {
  return std::max(0.02, 8 * (link.profile.per_frame_s + static_cast<double>(link.channel.datagram_bytes) / bytes_per_s) * time_scale);
}

net::ChannelOptions ChannelAtRate(const ResolvedLink& link, double bytes_per_s, double time_scale) {
  net::ChannelOptions c = link.channel;
  if (!link.channel.shaper.enabled || !(bytes_per_s > 0)) return c;
  c.shaper.bytes_per_s = bytes_per_s;
  c.rto_s = RetransmitTimeoutSeconds(link, bytes_per_s, time_scale);
  return c;
}

Result<bool> DecideShaping(const std::string& mode, const std::string& link_name, const std::string& profiles_dir,
                           bool emulating) {
  if (mode == "on") return true;
  if (mode == "off") return false;
  if (mode != "auto") return InvalidArgument("--shape must be auto, on or off, not '" + mode + "'");
  ES_ASSIGN_OR_RETURN(LinkProfile link, LoadLinkProfile(ProfilesDir(profiles_dir), link_name));
  return emulating || link.transport == "espnow" || link.transport == "ble";
}

}  // namespace edgesplit::runtime
