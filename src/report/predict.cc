// PredictReport: every section from the cost models alone (no runs).
#include <string>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/models.h"
#include "edgesplit/plan.h"
#include "edgesplit/report.h"
#include "report_internal.h"

namespace edgesplit::report {
namespace {

Result<DType> ParseDtype(const std::string& name) {
  if (name == "int8") return DType::kInt8;
  if (name == "f32") return DType::kFloat32;
  return InvalidArgument("dtype must be int8 or f32, not '" + name + "'");
}

Status AddCuts(const std::vector<CutPoint>& cuts, const std::string& model, ReportData* data) {
  for (const CutPoint& c : cuts) data->cuts.rows.push_back(CutRow(c.index, c.after, c.bytes_int8, c.bytes_f32, c.head_macs,
                                                                   c.bottleneck_strict, c.bottleneck_loose));
  data->cuts.sources.push_back("predicted: cut points of " + model);
  return Status::Ok();
}

Status AddPlanners(const Graph& graph, const ReportOptions& o, const std::string& dir, DType dtype, ReportData* data) {
  std::vector<DeviceProfile> devices;
  for (const std::string& name : o.compare_devices) {
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(dir, name));
    devices.push_back(std::move(d));
  }
  ES_ASSIGN_OR_RETURN(LinkProfile link, LoadLinkProfile(dir, o.compare_link));
  ES_ASSIGN_OR_RETURN(Problem problem, BuildProblem(graph, o.model, devices, link, dtype));
  PlanOptions options;
  options.use_all = true;  // as the paper: every board gets a segment
  ES_ASSIGN_OR_RETURN(std::vector<ComparisonRow> rows, ComparePlanners(problem, options));
  for (const ComparisonRow& r : rows) {
    if (!r.ran) continue;
    data->planners.rows.push_back(PlannerRow(r.devices, r.algorithm, r.feasible, r.value, r.latency_s, r.gap_pct, r.solve_time_s,
                                             r.segments));
  }
  data->planners.meta = {{"model", o.model}, {"link", o.compare_link}, {"objective", "latency"}, {"use_all", true}};
  data->planners.sources.push_back("predicted: every algorithm on 1.." + std::to_string(o.compare_devices.size()) + " x " +
                                   o.compare_devices.front() + " over " + o.compare_link + " (use-all)");
  return Status::Ok();
}

// Two node devices split at the cut, per protocol: what `bench-protocols`
// measures, from the profiles (set-up is the link's setup_s, paid cold).
Status AddRoundTrip(const Graph& graph, const std::vector<CutPoint>& cuts, const ReportOptions& o, const std::string& dir, DType dtype,
                    ReportData* data) {
  Result<std::vector<int>> interior = ResolveInteriorCuts(graph, cuts, {o.cut});
  if (!interior.ok()) return interior.status().WithContext("the round trip's cut");
  const int cut = interior->front();
  const int groups = static_cast<int>(cuts.size()) - 1;
  ES_ASSIGN_OR_RETURN(DeviceProfile device, LoadDeviceProfile(dir, o.node_device));
  for (const std::string& protocol : o.protocols) {
    ES_ASSIGN_OR_RETURN(LinkProfile link, LoadLinkProfile(dir, protocol));
    ES_ASSIGN_OR_RETURN(Problem problem, BuildProblem(graph, o.model, {device, device}, link, dtype));
    ES_ASSIGN_OR_RETURN(Plan plan, EvaluatePlan(problem, {{0, 0, cut - 1}, {1, cut, groups - 1}}));
    if (!plan.feasible) return InvalidArgument(protocol + ": the split does not fit " + o.node_device + ": " + plan.reason);
    std::vector<double> compute;
    for (const Segment& s : plan.segments) compute.push_back(s.compute_s);
    double transfer = 0, reply = 0;
    for (const Transfer& t : plan.transfers) (t.kind == "result" ? reply : transfer) += t.time_s;
    AddRoundTripRows(protocol, "predicted", link.setup_s, compute, transfer, reply, data);
  }
  data->round_trip.meta["cut"] = o.cut;
  data->round_trip.meta["devices"] = {o.node_device, o.node_device};
  data->round_trip.sources.push_back("predicted: " + o.model + " " + o.dtype + " split after " + o.cut + ", 2 x " + o.node_device +
                                     ", cold (link set-up included, as the paper timed it)");
  return Status::Ok();
}

Status AddTrace(const Graph& graph, const ReportOptions& o, const std::string& dir, DType dtype, ReportData* data) {
  ES_ASSIGN_OR_RETURN(DeviceProfile head, LoadDeviceProfile(dir, o.head));
  ES_ASSIGN_OR_RETURN(DeviceProfile server, LoadDeviceProfile(dir, o.server));
  ES_ASSIGN_OR_RETURN(LinkProfile link, LoadLinkProfile(dir, o.dynamic_link));
  ES_ASSIGN_OR_RETURN(CandidateSet set, BuildCandidates(graph, o.model, head, server, link, CandidateRule::kStrict, dtype));
  PolicyOptions po;
  po.dtype = dtype;
  ES_ASSIGN_OR_RETURN(SplitPolicy policy, SplitPolicy::Build(std::move(set), po));
  ES_ASSIGN_OR_RETURN(TraceGenerator generator, ParseTraceGenerator(o.generator));
  TraceOptions to;
  to.seed = o.seed;
  to.steps = o.steps;
  ES_ASSIGN_OR_RETURN(std::vector<TraceRow> trace, GenerateTrace(generator, to));
  ES_ASSIGN_OR_RETURN(std::vector<PolicySpec> specs, ParsePolicySpecs(policy, "dynamic"));
  ES_ASSIGN_OR_RETURN(std::vector<PolicyResult> results, Simulate(policy, trace, specs, ControllerOptions{}));
  data->trace.rows = TimelineJson(policy, trace, results.front());
  data->trace.meta = {{"policy", "dynamic"}, {"model", o.model}, {"device", o.head}, {"server", o.server}, {"link", o.dynamic_link}};
  data->trace.sources.push_back("predicted: the dynamic policy (" + o.head + " head, " + o.server + " server, " + o.dynamic_link +
                                ") simulated over a generated '" + o.generator + "' trace, seed " + std::to_string(o.seed) + ", " +
                                std::to_string(o.steps) + " requests");
  return Status::Ok();
}

}  // namespace

Result<ReportData> PredictReport(const ReportOptions& o) {
  ES_ASSIGN_OR_RETURN(DType dtype, ParseDtype(o.dtype));
  if (o.protocols.empty() || o.compare_devices.empty()) return InvalidArgument("the report needs at least one protocol and one device");
  if (o.steps < 1) return InvalidArgument("the trace needs at least one request");
  const std::string dir = ProfilesDir(o.profiles_dir);
  ES_ASSIGN_OR_RETURN(Graph graph, LoadModel(o.model));
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(graph));
  ReportData data;
  data.title = o.model;
  data.origin = "predicted from the cost models (profiles in " + dir + "); nothing was run";
  ES_RETURN_IF_ERROR(AddCuts(cuts, o.model, &data));
  ES_RETURN_IF_ERROR(AddPlanners(graph, o, dir, dtype, &data).WithContext("planner comparison"));
  ES_RETURN_IF_ERROR(AddRoundTrip(graph, cuts, o, dir, dtype, &data).WithContext("round trip"));
  ES_RETURN_IF_ERROR(AddTrace(graph, o, dir, dtype, &data).WithContext("dynamic trace"));
  AddPaperFigures(o.protocols, o.model, o.cut, &data);
  return data;
}

}  // namespace edgesplit::report
