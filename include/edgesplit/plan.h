// The split planner: assign contiguous runs of layer groups to an ordered
// subsequence of devices, minimising latency, the throughput bottleneck or the
// sensor's energy, under per-device weight and arena limits.
//
// Model: L layer groups (group k = the nodes between cut k and cut k+1) and K
// devices d1..dK (d1 is the sensor: it holds the input and gets the result).
// A plan gives each used device one non-empty run of consecutive groups; used
// devices keep their order. If d1 is not used, d1 first sends the input to the
// first used device; each hop carries the cut tensor; the last used device
// returns the output to d1 (free when it is d1). Transfers cost
// TransferSeconds(link, bytes) (edgesplit/cost.h); setup_s is never counted.
//   latency    = sum of compute + sum of transfers.
//   throughput = the longest stage: one device's compute, or one transfer; on a
//                shared_medium link all transfers together are one stage.
//   energy     = d1's energy: its compute x active_w, its sending x tx_w, its
//                receiving x rx_w, idle_w for the rest of the latency.
// Feasible iff every used device holds the weights of its run (sum of the
// groups' weight_bytes <= weight_capacity_bytes) and its peak arena (max of the
// groups' arena_bytes <= ram_bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/graph.h"
#include "edgesplit/status.h"

namespace edgesplit {

struct PlanLayer {  // one layer group
  std::string name;  // the cut after it (node name, as `inspect` prints it)
  int64_t weight_bytes = 0;
  int64_t out_bytes = 0;  // the tensor after the group
  int64_t arena_bytes = 0;
  std::vector<double> compute_s;  // one per device
};

struct PlanDevice {
  std::string name;
  int64_t weight_capacity_bytes = 0;
  int64_t ram_bytes = 0;
  double active_w = 0, idle_w = 0, tx_w = 0, rx_w = 0;  // optional in problem files
};

struct Problem {
  std::string model;  // "" for problem files without one
  std::string dtype = "int8";
  int64_t input_bytes = 0;
  std::vector<PlanLayer> layers;
  std::vector<PlanDevice> devices;
  LinkProfile link;  // name, transport, setup_s and sources are informative here
};

// Instance files: {"schema_version", "input_bytes", "layers": [{"name",
// "weight_bytes", "out_bytes", "arena_bytes", "compute_s": [per device]}],
// "devices": [{"name", "weight_capacity_bytes", "ram_bytes"}], "link":
// {"per_message_s", "per_frame_s", "payload_bytes", "bytes_per_s", "loss"?,
// "shared_medium"?}}. Errors name the origin and field ("layers[3].compute_s").
Result<Problem> ParseProblem(const std::string& json_text, const std::string& origin);
Result<Problem> LoadProblem(const std::string& path);
std::string ProblemToJson(const Problem& problem);  // what ParseProblem reads back

// Builds the instance of `graph` on `devices` over `link`: groups between
// consecutive cut points, compute from each device's op-class model, bytes and
// arena in `dtype` (int8 or f32).
Result<Problem> BuildProblem(const Graph& graph, const std::string& model_name, const std::vector<DeviceProfile>& devices,
                             const LinkProfile& link, DType dtype);

enum class Objective : uint8_t { kLatency, kThroughput, kEnergy };
enum class Algorithm : uint8_t { kBruteForce, kGreedy, kFirstFit, kRandomFit, kBeam, kDp };
const char* ObjectiveName(Objective o);  // "latency", "throughput", "energy"
const char* AlgorithmName(Algorithm a);  // "brute-force", "greedy", "first-fit", "random-fit", "beam", "dp"
Result<Objective> ParseObjective(const std::string& name);
Result<Algorithm> ParseAlgorithm(const std::string& name);
std::vector<Algorithm> AllAlgorithms();

// One used device's run: groups first..last (inclusive, 0-based).
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
  int from = 0, to = 0;  // device indices
  int64_t bytes = 0;
  double time_s = 0;
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
};

// Costs `runs` independently of any solver (direct sums, no prefix tricks).
// Structural errors (gaps, overlaps, devices out of order) are a failed Status;
// limit violations give a Plan with feasible = false and the reason.
Result<Plan> EvaluatePlan(const Problem& problem, const std::vector<Run>& runs);
double ObjectiveValue(const Plan& plan, Objective objective);

// Brute force's default cap on the plans it enumerates (PlanOptions::max_plans).
// Each plan is costed by direct sums over its groups, so the work is plans x
// groups: that is capped too (kMaxBruteForceWork, a few seconds here).
inline constexpr int64_t kDefaultMaxPlans = 5000000;
inline constexpr int64_t kMaxBruteForceWork = 1000000000;

struct PlanOptions {
  Objective objective = Objective::kLatency;
  bool use_all = false;  // every device gets a run
  int beam_width = 8;
  uint64_t seed = 1;
  // Brute force reports progress in [0, 1] (roughly every 1%) when set.
  std::function<void(double)> progress;
  // Brute force refuses (OutOfRange, saying why) an instance with more plans
  // than this (CountPlans), or more than kMaxBruteForceWork plans x groups:
  // CheckBruteForceSize. dp finds the same optimum in O(K*L). 0: no limit.
  int64_t max_plans = kDefaultMaxPlans;
};

// Solves with `algorithm`. A Plan with feasible = false and a reason when the
// algorithm finds nothing feasible (for dp and brute-force: when nothing is).
// Fails only on a malformed problem (no layers, compute_s of the wrong length...).
Result<Plan> SolvePlan(const Problem& problem, Algorithm algorithm, const PlanOptions& options);

// Checks the problem's shape: at least one layer and device, compute_s per
// device, non-negative numbers, payload >= 1, loss in [0, 1).
Status ValidateProblem(const Problem& problem);

// The number of plans brute force enumerates (saturates at INT64_MAX).
int64_t CountPlans(int layers, int devices, bool use_all);
// OK when brute force may run on `layers` groups x `devices` within `max_plans`
// (0: always); else OutOfRange saying how many plans, which limit, and what to use instead.
Status CheckBruteForceSize(int layers, int devices, bool use_all, int64_t max_plans);

}  // namespace edgesplit
