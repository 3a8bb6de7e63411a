// Planning instances from a model and profile names (edgesplit/instances.h):
// the one place `plan`, `compare`, `policy` and `simulate` build them.
#include "edgesplit/instances.h"

#include <algorithm>
#include <cmath>

#include "edgesplit/codec.h"
#include "edgesplit/cost.h"
#include "edgesplit/io.h"
#include "edgesplit/models.h"

namespace edgesplit::runtime {
namespace {

std::string NoSecurityCostsNote(const std::string& device) {
  return "device '" + device + "' has no \"security\" costs in its profile: its AEAD and handshake compute count 0 "
         "(docs/security.md \"Costs in the model\"; --insecure for plain links)";
}

// Secure by default: the plan is costed over sealed links unless --insecure. A
// device whose profile has no "security" costs is costed with none (the link's
// extra bytes still count), and a note says so.
Status SetSealed(bool sealed, Problem* p, std::vector<std::string>* notes) {
  p->sealed = sealed;
  if (!sealed) return Status::Ok();
  for (const PlanDevice& d : p->devices)
    if (!d.seal.known) notes->push_back(NoSecurityCostsNote(d.name));
  return ValidateProblem(*p);
}

}  // namespace

Result<PlanInput> LoadPlanInput(const PlanSource& s) {
  PlanInput in;
  if (!s.problem_file.empty()) {
    if (!s.model.empty()) return InvalidArgument("give either MODEL or --problem, not both");
    if (!s.links_file.empty()) return InvalidArgument("--links is for a MODEL; a problem file carries its own \"links\"");
    if (!s.codec_table.empty()) return InvalidArgument("--codec-table is for a MODEL; a problem file carries its layers' \"codecs\"");
    ES_ASSIGN_OR_RETURN(in.problem, LoadProblem(s.problem_file, s.profiles_dir));
    if (!std::isnan(s.max_accuracy_drop)) in.problem.max_accuracy_drop = s.max_accuracy_drop;
    ES_RETURN_IF_ERROR(SetSealed(!s.insecure, &in.problem, &in.notes));
    return in;
  }
  if (s.codec_table.empty() != std::isnan(s.max_accuracy_drop))
    return InvalidArgument("--codec-table FILE and --max-accuracy-drop P go together (the cut x codec choice)");
  if (s.model.empty()) return InvalidArgument("give a MODEL with --devices and --link, or --problem FILE");
  if (s.devices.empty()) return InvalidArgument("--devices is required with a MODEL (e.g. --devices esp32s3,esp32s3)");
  if (s.link.empty() && s.links_file.empty()) return InvalidArgument("--link (or --links FILE) is required with a MODEL (e.g. --link espnow)");
  if (s.dtype != "int8" && s.dtype != "f32") return InvalidArgument("--dtype must be int8 or f32, not '" + s.dtype + "'");
  const std::string dir = ProfilesDir(s.profiles_dir);
  std::vector<DeviceProfile> devices;
  for (const std::string& name : s.devices) {
    ES_ASSIGN_OR_RETURN(DeviceProfile d, LoadDeviceProfile(dir, name));
    // A profile's rates were measured or calibrated for one dtype; say so when
    // the plan uses the other, rather than silently mixing them.
    if (DTypeName(d.dtype) != s.dtype && std::find(s.devices.begin(), s.devices.end(), name) - s.devices.begin() ==
                                             static_cast<std::ptrdiff_t>(devices.size()))  // once per device name
      in.notes.push_back("device '" + d.name + "' is profiled for " + DTypeName(d.dtype) + "; its " + DTypeName(d.dtype) +
                         " rates are used for this " + s.dtype + " plan");
    devices.push_back(std::move(d));
  }
  LinkProfile link;  // with --links and no --link, replaced by the first listed link below
  if (!s.link.empty()) {
    ES_ASSIGN_OR_RETURN(link, LoadLinkProfile(dir, s.link));
  }
  ES_ASSIGN_OR_RETURN(Graph g, LoadModel(s.model));
  ES_ASSIGN_OR_RETURN(in.problem, BuildProblem(g, s.model, devices, link, s.dtype == "f32" ? DType::kFloat32 : DType::kInt8));
  if (!s.links_file.empty()) {
    ES_RETURN_IF_ERROR(LoadLinks(s.links_file, s.profiles_dir, &in.problem));
    if (s.link.empty()) in.problem.link = in.problem.links[0].link;
  }
  if (!s.codec_table.empty()) {
    ES_ASSIGN_OR_RETURN(CodecTable table, LoadCodecTable(s.codec_table));
    const std::string costs_path = s.codec_costs.empty() ? dir + "/codecs/codec_costs.json" : s.codec_costs;
    ES_ASSIGN_OR_RETURN(CodecCosts costs, LoadCodecCosts(costs_path, devices));
    ES_RETURN_IF_ERROR(AttachCodecs(table, costs, s.max_accuracy_drop, &in.problem));
  }
  ES_RETURN_IF_ERROR(SetSealed(!s.insecure, &in.problem, &in.notes));
  ES_ASSIGN_OR_RETURN(in.cuts, FindCutPoints(g));
  in.graph = std::move(g);
  if (!s.dump_problem.empty()) ES_RETURN_IF_ERROR(WriteTextFile(s.dump_problem, ProblemToJson(in.problem)));
  return in;
}

Result<SplitPolicy> LoadSplitPolicy(const DynamicSource& s, std::vector<std::string>* notes) {
  if (s.dtype != "int8" && s.dtype != "f32") return InvalidArgument("--dtype must be int8 or f32, not '" + s.dtype + "'");
  ES_ASSIGN_OR_RETURN(CandidateRule rule, ParseCandidateRule(s.candidates));
  const std::string dir = ProfilesDir(s.profiles_dir);
  ES_ASSIGN_OR_RETURN(DeviceProfile device, LoadDeviceProfile(dir, s.device));
  ES_ASSIGN_OR_RETURN(DeviceProfile server, LoadDeviceProfile(dir, s.server));
  ES_ASSIGN_OR_RETURN(LinkProfile link, LoadLinkProfile(dir, s.link));
  ES_ASSIGN_OR_RETURN(Graph graph, LoadModel(s.model));
  const DType dtype = s.dtype == "f32" ? DType::kFloat32 : DType::kInt8;
  for (const DeviceProfile* d : {&device, &server})
    if (!s.insecure && !d->has_security && notes) notes->push_back(NoSecurityCostsNote(d->name));
  ES_ASSIGN_OR_RETURN(CandidateSet set, BuildCandidates(graph, s.model, device, server, link, rule, dtype, !s.insecure));
  if (s.codec_table.empty() != std::isnan(s.max_accuracy_drop))
    return InvalidArgument("--codec-table FILE and --max-accuracy-drop P go together (the cut x codec choice)");
  if (!s.codec_table.empty()) {
    ES_ASSIGN_OR_RETURN(CodecTable table, LoadCodecTable(s.codec_table));
    ES_ASSIGN_OR_RETURN(CodecCosts costs,
                        LoadCodecCosts(s.codec_costs.empty() ? dir + "/codecs/codec_costs.json" : s.codec_costs, {device, server}));
    ES_RETURN_IF_ERROR(AddCodecCandidates(table, costs, s.dtype, s.max_accuracy_drop, &set));
  }
  PolicyOptions options;
  options.rule = rule;
  options.dtype = dtype;
  options.load_levels = s.load_levels;
  return SplitPolicy::Build(std::move(set), options);
}

}  // namespace edgesplit::runtime
