// The split planner: assign contiguous runs of layer groups to an ordered
// subsequence of devices, minimising latency, the throughput bottleneck or the
// sensor's energy, under per-device weight and arena limits.
//
// Model: L layer groups (group k = the nodes between cut k and cut k+1) and
// hosts h1..hK: each device entry stands for `count` identical hosts (named
// "name#k", 1-based, when count > 1); h1 (the first entry's first host) is the
// sensor: it holds the input and gets the result. A plan gives each used host
// one non-empty run of consecutive groups. Order::kFixed: used hosts keep
// their order, so the sensor runs the first stage or none. Order::kFree: any
// order and any subset; the sensor runs any one stage or none. The sensor
// sends the input to the first stage unless it runs it; each hop carries the
// cut tensor; the last stage returns the output to the sensor unless the
// sensor ran it. A transfer from host a to b costs TransferSeconds(link(a, b),
// bytes, sealing) (edgesplit/cost.h): `link` joins every pair, or, when `links`
// is given, the listed pair's link (a pair not listed is unreachable). When
// Problem::sealed, every transfer is sealed between its two hosts (their
// PlanDevice::seal; docs/security.md "Costs in the model"). setup_s and the
// handshakes are never counted: they are set-up (Plan::handshake_s).
//   latency    = sum of compute + sum of transfers.
//   throughput = the longest stage: one host's compute, or one transfer; the
//                transfers over shared_medium links together are one stage.
//   energy     = the sensor's energy: its compute x active_w, its sending x
//                tx_w, its receiving x rx_w, idle_w for the rest of the latency.
// Feasible iff every used device holds the weights of its run (sum of the
// groups' weight_bytes <= weight_capacity_bytes) and its peak arena (max of the
// groups' arena_bytes <= ram_bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

// A codec for the tensor after a layer group (docs/codecs.md): another way to
// send it than its out_bytes raw. A hop from host a to host b after this
// group may use it when its accuracy_drop <= Problem::max_accuracy_drop, a's
// encode_s and b's decode_s are >= 0 (< 0: not measured on that device, so
// not available there), and it is lossless or a is the sensor (so a plan in
// fixed order sends at most one lossy tensor: the table measures one lossy cut
// at a time). Its time is encode_s[a] + the link's time for `bytes` +
// decode_s[b]; every solver takes the fastest admissible choice per hop
// (raw included), which is optimal for every objective (each is
// non-decreasing in every transfer's time). The input and the result are sent raw.
struct PlanCodec {
  std::string name;           // "int4+lz4"
  int64_t bytes = 0;          // mean encoded bytes per request (the accuracy table's)
  double accuracy_drop = 0;   // percentage points of top-1 accuracy against f32
  bool lossless = false;      // decodes to the sent tensor bit for bit (raw+lz4, raw+zstd)
  std::vector<double> encode_s, decode_s;  // one per device entry; < 0: unavailable there
};

struct PlanLayer {  // one layer group
  std::string name;  // the cut after it (node name, as `inspect` prints it)
  int64_t weight_bytes = 0;
  int64_t out_bytes = 0;  // the tensor after the group
  int64_t arena_bytes = 0;
  std::vector<double> compute_s;  // one per device
  std::vector<PlanCodec> codecs;  // optional: codecs for the tensor after the group
};

struct PlanDevice {
  std::string name;
  int64_t weight_capacity_bytes = 0;
  int64_t ram_bytes = 0;
  double active_w = 0, idle_w = 0, tx_w = 0, rx_w = 0;  // optional in problem files
  int count = 1;  // identical hosts of this entry; compute_s and the limits apply to each
  SealCost seal{};  // its share of sealed links (optional "security" in problem files; from the profile's)
};

// A link between two device entries (by name; "from" == "to" joins two hosts of
// one entry). It serves both directions unless the reverse pair has its own entry.
struct PlanLink {
  std::string from, to;
  LinkProfile link;
};

struct Problem {
  std::string model;  // "" for problem files without one
  std::string dtype = "int8";
  int64_t input_bytes = 0;
  std::vector<PlanLayer> layers;
  std::vector<PlanDevice> devices;
  LinkProfile link;  // joins every pair when `links` is empty; name, transport, setup_s informative
  std::vector<PlanLink> links;  // per pair; when non-empty, a pair not listed is unreachable
  // Codecs whose accuracy_drop exceeds this are not used (percentage points;
  // infinity: no limit, the default).
  double max_accuracy_drop = std::numeric_limits<double>::infinity();
  // Sealed links (secure by default in the CLI, which sets it unless
  // --insecure): every transfer is costed sealed. Plain when false.
  bool sealed = false;
};

// Instance files: {"schema_version", "input_bytes", "layers": [{"name",
// "weight_bytes", "out_bytes", "arena_bytes", "compute_s": [per device entry]}],
// "devices": [{"name", "weight_capacity_bytes", "ram_bytes", "count"?}], "link":
// {"per_message_s", "per_frame_s", "payload_bytes", "bytes_per_s", "loss"?,
// "shared_medium"?}, "links"?: [{"from", "to", "profile": NAME} or {"from",
// "to", "name"?, the link's fields}]} ("link" is optional when "links" is
// given). Optional: "sealed": true|false (default false) and per device
// "security": {"aead_s_per_byte", "aead_s_per_frame", "handshake_s"} (default:
// unknown, all 0). A "profile" is looked up in `profiles_dir` (default ProfilesDir()).
// Errors name the origin and field ("layers[3].compute_s", "links[0].from").
Result<Problem> ParseProblem(const std::string& json_text, const std::string& origin, const std::string& profiles_dir = "");
Result<Problem> LoadProblem(const std::string& path, const std::string& profiles_dir = "");
// The "links" array alone (a links file: {"links": [...]} or [...]), checked
// against `problem`'s device names and set on it.
Status ParseLinks(const std::string& json_text, const std::string& origin, const std::string& profiles_dir, Problem* problem);
Status LoadLinks(const std::string& path, const std::string& profiles_dir, Problem* problem);
std::string ProblemToJson(const Problem& problem);  // what ParseProblem reads back

// ---- Codecs for the planner (docs/codecs.md) -------------------------------------
// One row of the accuracy table `edgesplit eval --sweep --format json` writes
// (profiles/codecs/*.json): a cut x codec's mean bytes and accuracy drop.
struct CodecTableEntry {
  int cut_index = 0;
  std::string after;      // the cut's node name
  std::string codec;      // codec name
  int64_t elements = 0;   // of the cut tensor (product of its shape)
  double cut_bytes = 0;   // mean encoded bytes per request
  // Points. Unlabelled tables (eval --data random): 100 x (top-1 agreement with
  // the f32 model of raw at this cut - the codec's), the codec's own share.
  double accuracy_drop = 0;
};
struct CodecTable {
  std::string model, dtype;  // as eval wrote them ("x.onnx", "int8"/"f32")
  std::vector<CodecTableEntry> entries;
};
Result<CodecTable> ParseCodecTable(const std::string& json_text, const std::string& origin);
Result<CodecTable> LoadCodecTable(const std::string& path);

// Encode/decode cost per device profile and codec (profiles/codecs/codec_costs.json):
// seconds per element (hosts: measured) or cycles per element (MCUs: QEMU
// instruction counts, 1 instruction/cycle), turned into seconds with the
// profile's clock_hz. A codec with no entry for a device is unavailable there.
struct CodecCost {
  double encode_s_per_element = -1, decode_s_per_element = -1;  // < 0: not measured
};
struct CodecCosts {
  std::map<std::string, std::map<std::string, CodecCost>> devices;  // profile name -> codec -> cost
};
// `devices`: the profiles whose clock_hz converts cycle figures (profiles not
// listed keep only their seconds figures).
Result<CodecCosts> ParseCodecCosts(const std::string& json_text, const std::string& origin,
                                   const std::vector<DeviceProfile>& devices);
Result<CodecCosts> LoadCodecCosts(const std::string& path, const std::vector<DeviceProfile>& devices);
// Sets each layer's codecs from the table rows whose `after` is the layer's
// name (every codec but raw), with encode/decode seconds for the cut tensor on
// each device entry of `problem` (by name in `costs`; missing: unavailable),
// and problem->max_accuracy_drop = max_drop. Errors: a table of another dtype,
// or one that names none of the problem's cuts.
Status AttachCodecs(const CodecTable& table, const CodecCosts& costs, double max_drop, Problem* problem);

// Builds the instance of `graph` on `devices` over `link`: groups between
// consecutive cut points, compute from each device's op-class model, bytes and
// arena in `dtype` (int8 or f32).
Result<Problem> BuildProblem(const Graph& graph, const std::string& model_name, const std::vector<DeviceProfile>& devices,
                             const LinkProfile& link, DType dtype);

enum class Objective : uint8_t { kLatency, kThroughput, kEnergy };
enum class Algorithm : uint8_t { kBruteForce, kGreedy, kFirstFit, kRandomFit, kBeam, kDp };
enum class Order : uint8_t { kFixed, kFree };
const char* OrderName(Order o);  // "fixed", "free"
Result<Order> ParseOrder(const std::string& name);
// brute-force, beam and dp solve free order; greedy, first-fit and random-fit only fixed.
bool SupportsFreeOrder(Algorithm a);
const char* ObjectiveName(Objective o);  // "latency", "throughput", "energy"
const char* AlgorithmName(Algorithm a);  // "brute-force", "greedy", "first-fit", "random-fit", "beam", "dp"
Result<Objective> ParseObjective(const std::string& name);
Result<Algorithm> ParseAlgorithm(const std::string& name);
std::vector<Algorithm> AllAlgorithms();

// The hosts of a problem, in order (entry by entry): name ("name#k" when the
// entry's count > 1), and the links a plan's transfers index (`links`' profiles,
// else the one `link`).
std::vector<std::string> HostNames(const Problem& problem);
std::vector<LinkProfile> PlanLinks(const Problem& problem);

// One used host's run: groups first..last (inclusive, 0-based); device = host index.
struct Run {
  int device = 0;
  int first = 0;
  int last = 0;
};

struct Segment {
  int device = 0;
  int first_layer = 0, last_layer = 0;
  double compute_s = 0;
  int64_t weight_bytes = 0;
  int64_t arena_bytes = 0;
};

struct Transfer {
  std::string kind;  // "input", "hop" or "result"
  int from = 0, to = 0;  // host indices
  int64_t bytes = 0;
  double time_s = 0;
  int link = 0;  // index into PlanLinks(problem)
  std::string codec = "raw";   // the hop's codec (PlanCodec::name), bytes being its encoded size
  double accuracy_drop = 0;    // the codec's, when lossy (0 for raw and lossless ones)
};

struct Plan {
  bool feasible = false;
  std::string reason;  // why not, when !feasible
  std::vector<Segment> segments;
  std::vector<Transfer> transfers;
  double latency_s = 0;
  double throughput_stage_s = 0;
  double energy_j = 0;
  double solve_time_s = 0;
  // The solver that produced it: the algorithm asked for, or "beam" when dp in
  // free order is beyond reach (more than kMaxFreeDpCells table cells); exact
  // says whether the plan is the proven optimum (dp, brute force).
  std::string solver;
  bool exact = false;
  double accuracy_drop = 0;  // the sum of the transfers' (0 without lossy codecs)
  // Sealed problems: latency_s - the same runs' latency over plain links (the
  // steady-state cost of security), and the set-up of one handshake per pair
  // of hosts that exchange anything (HandshakeSeconds; the sender of the
  // pair's first transfer initiates). Both 0 when plain.
  bool sealed = false;
  double security_overhead_s = 0;
  double handshake_s = 0;
};

// Costs `runs` independently of any solver (direct sums, no prefix tricks).
// Structural errors (gaps, overlaps, a host used twice, and under kFixed hosts
// out of order) are a failed Status; limit violations and unreachable pairs
// give a Plan with feasible = false and the reason.
Result<Plan> EvaluatePlan(const Problem& problem, const std::vector<Run>& runs, Order order = Order::kFixed);
double ObjectiveValue(const Plan& plan, Objective objective);
// The runs of a split given by name (`plan --split A,B`): segment r on host r,
// in order. With `graph` (an instance built from a model; `cuts` its cut
// points) the names are cut names, aliases or indices (ResolveInteriorCuts);
// without (a problem file) they are layer group names or 1-based group
// numbers. Errors: an unknown name, a cut not strictly inside, names out of
// model order or repeated, more segments than hosts.
Result<std::vector<Run>> RunsFromCutNames(const Problem& problem, const Graph* graph, const std::vector<CutPoint>& cuts,
                                          const std::vector<std::string>& names);

// Free-order dp: its table has prod(count_t + 1) x types x (L + 1) cells
// (types: identical hosts merged); above this it falls back to beam.
inline constexpr double kMaxFreeDpCells = 4e6;

// Brute force's default cap on the plans it enumerates (PlanOptions::max_plans).
// Each plan is costed by direct sums over its groups, so the work is plans x
// groups: that is capped too (kMaxBruteForceWork, a few seconds here).
inline constexpr int64_t kDefaultMaxPlans = 5000000;
inline constexpr int64_t kMaxBruteForceWork = 1000000000;

struct PlanOptions {
  Objective objective = Objective::kLatency;
  Order order = Order::kFixed;
  bool use_all = false;  // every device gets a run
  int beam_width = 8;
  uint64_t seed = 1;
  // Brute force reports progress in [0, 1] (roughly every 1%) when set.
  std::function<void(double)> progress;
  // Brute force refuses (OutOfRange, saying why) an instance with more plans
  // than this (CountPlans), or more than kMaxBruteForceWork plans x groups:
  // CheckBruteForceSize. dp finds the same optimum. 0: no limit.
  int64_t max_plans = kDefaultMaxPlans;
};

// Solves with `algorithm`. A Plan with feasible = false and a reason when the
// algorithm finds nothing feasible (for dp and brute-force: when nothing is).
// Fails only on a malformed problem (no layers, compute_s of the wrong length...).
Result<Plan> SolvePlan(const Problem& problem, Algorithm algorithm, const PlanOptions& options);

// Checks the problem's shape: at least one layer and device, compute_s per
// device entry, count >= 1, non-negative numbers, payload >= 1, loss in [0, 1),
// links naming known devices, each pair once.
Status ValidateProblem(const Problem& problem);

// The number of plans (hosts, not merged into types) brute force would
// enumerate over `devices` hosts (saturates at INT64_MAX).
int64_t CountPlans(int layers, int devices, bool use_all, Order order = Order::kFixed);
// OK when brute force may run on `layers` groups x `devices` hosts within
// `max_plans` (0: always); else OutOfRange saying how many plans, which limit,
// and what to use instead.
Status CheckBruteForceSize(int layers, int devices, bool use_all, int64_t max_plans, Order order = Order::kFixed);

// ---- Comparing the algorithms (edgesplit compare, edgesplit report) ----------

// `problem` restricted to its first `n` device entries (links naming a device
// left out go too).
Problem FirstDevices(const Problem& problem, int n);

// One algorithm on the first `devices` entries.
struct ComparisonRow {
  int devices = 0;
  std::string algorithm;
  std::string order;   // the order it ran in (greedy, first-fit, random-fit: always fixed)
  std::string solver;  // when not the algorithm itself (dp beyond its reach: beam)
  bool ran = true;     // false: brute force skipped (above options.max_plans)
  bool feasible = false;
  double value = 0, latency_s = 0, gap_pct = 0, solve_time_s = 0;  // value: the objective's
  std::string segments;  // "host:first-last ..." when feasible
  std::string reason;    // why not, when infeasible
};

// Every algorithm (AllAlgorithms order) on the first 1..max_devices entries
// (0: all), gap_pct against dp's optimum. Fails on a malformed problem.
Result<std::vector<ComparisonRow>> ComparePlanners(const Problem& problem, const PlanOptions& options, int max_devices = 0);

// ---- Plan files (`edgesplit plan --format json`; `run --plan` reads them) -------

// The name of the link a plan's transfers use when they all use one, else
// "per-hop" ("none" when the plan has no transfer; the problem's link when it
// has no per-pair links).
std::string PlanLinkName(const Problem& problem, const Plan& plan);

// The plan file: schema_version, model, link (PlanLinkName), dtype,
// algorithm, order, solver, exact, feasible (+ reason), latency_s,
// throughput_stage_s, energy_j, solve_time_s, accuracy_drop,
// max_accuracy_drop (when finite), segments[] (device, device_index,
// first_layer, last_layer, cut_before, cut_after, compute_s, weight_bytes,
// arena_bytes), transfers[] (kind, from, to, from_index, to_index, bytes,
// time_s, link, link_index, codec, accuracy_drop), links[] (each link's
// profile fields) and setup_s (each link used once, cold start). ReadPlanFile
// reads it back. `algorithm` and `order` are recorded as given.
std::string PlanToJson(const Problem& problem, const std::string& algorithm, const std::string& order, const Plan& plan);

// What a plan file says that running it needs.
struct PlanFileSegment {
  std::string cut_before, cut_after;  // cut names; the chain runs from cut_before to cut_after
  std::string host;                   // as the plan names it ("name#k": entry `name`'s k-th host); "" none
  double compute_s = 0;               // predicted
};
struct PlanFileTransfer {
  std::string from, to, link;  // host and link names, as the plan wrote them
  int link_index = -1;         // into PlanFile::links; -1 when the plan has no links[]
  int64_t bytes = 0;           // predicted
  double time_s = 0;           // predicted
};
struct PlanFileLink {
  std::string name;
  // A link the plan spells out (its profile fields), as a link profile
  // document (ParseLinkProfile reads it; schema_version and sources added when
  // missing), and parsed. Empty / nullopt when the plan gives only a name,
  // which then names a link profile.
  std::string profile_json;
  std::optional<LinkProfile> parameters;
};
struct PlanFile {
  std::string model, link, dtype;  // "" when the plan has none
  double latency_s = 0;            // predicted (steady state, set-up excluded)
  std::vector<PlanFileSegment> segments;  // at least one
  std::vector<PlanFileTransfer> hops;     // kind "hop", in stage order
  std::optional<PlanFileTransfer> input;  // the sensor sends the input to the first stage (it runs none)
  std::optional<PlanFileTransfer> result; // the result comes back to the sensor (it ran not the last stage)
  std::vector<PlanFileLink> links;        // empty in a plan from before per-hop links
};

// Reads a plan file. Errors name `origin` and the field: a field of the wrong
// type ("field 'segments[0].device' is 5, must be a string"), a transfer's
// link_index outside links[], a malformed link, hops that do not join the
// segments, an infeasible plan (with its reason), or no segments at all.
Result<PlanFile> ParsePlanFile(const std::string& json_text, const std::string& origin);
// The same from a file (a device, pipe or folder is refused before reading).
Result<PlanFile> ReadPlanFile(const std::string& path);

// The device profile a plan's host emulates: "name#k" (an entry with a count) is "name".
std::string HostProfileName(const std::string& host);

}  // namespace edgesplit
