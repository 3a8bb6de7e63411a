// The candidate set both nodes of a live dynamic run (and its client) build
// from the same flags, so that cut ids and candidate indices agree, and the
// rest of what both nodes load at start.
#include <csignal>

#include <atomic>

#include "dynamic_internal.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/models.h"

namespace edgesplit::runtime {

Result<SplitPolicy> BuildLivePolicy(const LivePolicySpec& s) {
  if (s.dtype != "f32" && s.dtype != "int8") return InvalidArgument("--dtype must be f32 or int8, not '" + s.dtype + "'");
  if (s.head_device.empty() || s.server_device.empty())
    return InvalidArgument("--dynamic needs two device profiles, --devices HEAD,SERVER (e.g. esp32s3-espnn,edge-x86)");
  const std::string dir = ProfilesDir(s.profiles_dir);
  ES_ASSIGN_OR_RETURN(CandidateRule rule, ParseCandidateRule(s.rule));
  ES_ASSIGN_OR_RETURN(DeviceProfile head, LoadDeviceProfile(dir, s.head_device));
  ES_ASSIGN_OR_RETURN(DeviceProfile server, LoadDeviceProfile(dir, s.server_device));
  ES_ASSIGN_OR_RETURN(LinkProfile link, LoadLinkProfile(dir, s.link));
  ES_ASSIGN_OR_RETURN(Graph graph, LoadModel(s.model));
  ES_ASSIGN_OR_RETURN(CandidateSet set, BuildCandidates(graph, s.model, head, server, link, rule,
                                                        s.dtype == "f32" ? DType::kFloat32 : DType::kInt8));
  PolicyOptions options;
  options.rule = rule;
  options.dtype = s.dtype == "f32" ? DType::kFloat32 : DType::kInt8;
  return SplitPolicy::Build(std::move(set), options);
}

namespace detail {
namespace {
std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop = true; }
}  // namespace

void InstallStopSignals() {
  struct sigaction sa{};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}
bool StopRequested() { return g_stop; }

Result<LiveNode> LoadLiveNode(const DynamicNodeOptions& o, const std::string& device) {
  LiveNode n;
  ES_ASSIGN_OR_RETURN(SplitPolicy policy, BuildLivePolicy(o.policy));
  n.policy.emplace(std::move(policy));
  LinkSettings link = o.link;
  link.shaped = true;
  ES_ASSIGN_OR_RETURN(n.link, ResolveLink(link));
  ES_ASSIGN_OR_RETURN(n.device, LoadDeviceProfile(ProfilesDir(o.link.profiles_dir), device));
  n.rate = o.initial_rate_bytes_per_s > 0 ? o.initial_rate_bytes_per_s : n.link.profile.bytes_per_s;
  n.load = o.initial_load;
  ES_ASSIGN_OR_RETURN(Graph exec, LoadExecutionGraph(o.policy.model, o.policy.dtype));
  n.exec_graph = std::make_shared<const Graph>(std::move(exec));
  return n;
}

Result<std::unique_ptr<SegmentRunner>> LiveNode::Segment(const LivePolicySpec& spec, const std::string& first_cut,
                                                         const std::string& last_cut) const {
  auto r = SegmentRunner::FromGraph(exec_graph, {spec.model, first_cut, last_cut, spec.dtype});
  if (!r.ok()) return r.status().WithContext("segment " + first_cut + ":" + last_cut);
  return r;
}

}  // namespace detail
}  // namespace edgesplit::runtime
