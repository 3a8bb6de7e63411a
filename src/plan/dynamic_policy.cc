// Dynamic split policy: the candidates (natural bottlenecks and both ends) with
// their affine latency in 1/rate, and per load level the lower envelope of
// those lines, so that a decision is a binary search (docs/dynamic.md).
#include <algorithm>
#include <cmath>
#include <limits>

#include "edgesplit/dynamic.h"
#include "edgesplit/plan.h"

namespace edgesplit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The link's rate-independent part of sending `bytes` (per message, per frame,
// the AEAD), and the bytes the rate applies to: TransferSeconds split in two.
double LinkFixedSeconds(const LinkProfile& link, int64_t bytes, const Sealing& sealing) {
  return LinkSeconds(link, bytes, kInf, sealing);
}
double WireBytes(const LinkProfile& link, int64_t bytes, const Sealing& sealing) {
  return static_cast<double>(TransferLoad(link, bytes, sealing).wire_bytes);
}
// A split candidate's transfers in the affine model.
void SetLinkTerms(const CandidateSet& set, SplitCandidate* c) {
  c->fixed_s = c->head_s + LinkFixedSeconds(set.link, c->bytes, set.sealing) + LinkFixedSeconds(set.link, c->result_bytes, set.sealing);
  c->slope_bytes = (WireBytes(set.link, c->bytes, set.sealing) + WireBytes(set.link, c->result_bytes, set.sealing)) / (1 - set.link.loss);
}

std::vector<double> DefaultLoadLevels() {
  std::vector<double> levels;
  for (int i = 0; i <= 24; ++i) levels.push_back(std::pow(2.0, i / 4.0));  // 1 .. 64, four per octave
  return levels;
}

std::string Bytes(int64_t b) { return std::to_string(b) + " B"; }

}  // namespace

Result<CandidateRule> ParseCandidateRule(const std::string& name) {
  if (name == "strict") return CandidateRule::kStrict;
  if (name == "loose") return CandidateRule::kLoose;
  if (name == "all") return CandidateRule::kAll;
  return InvalidArgument("unknown candidate rule '" + name + "' (expected strict, loose or all)");
}

const char* CandidateRuleName(CandidateRule rule) {
  switch (rule) {
    case CandidateRule::kStrict: return "strict";
    case CandidateRule::kLoose: return "loose";
    case CandidateRule::kAll: return "all";
  }
  return "?";
}

double LinkSeconds(const LinkProfile& link, int64_t bytes, double rate, const Sealing& sealing) {
  if (bytes <= 0) return 0;
  if (!(rate > 0)) return kInf;
  LinkProfile at_rate = link;
  at_rate.bytes_per_s = rate;  // +inf: the rate-independent part alone
  return TransferSeconds(at_rate, bytes, sealing);
}

double CandidateLatency(const SplitCandidate& c, const LinkProfile& link, double rate, double load) {
  if (c.kind == CandidateKind::kDeviceOnly) return c.head_s;
  if (!(rate > 0)) return kInf;
  return c.fixed_s + c.tail_s * load + c.slope_bytes / rate;
}

Result<CandidateSet> BuildCandidates(const Graph& graph, const std::string& model_name, const DeviceProfile& device,
                                     const DeviceProfile& server, const LinkProfile& link, CandidateRule rule, DType dtype,
                                     bool sealed) {
  if (link.payload_bytes < 1 || !(link.loss >= 0 && link.loss < 1))
    return InvalidArgument("link '" + link.name + "' needs payload_bytes >= 1 and loss in [0, 1)");
  if (std::string why = SealedLinkProblem(link); sealed && !why.empty()) return InvalidArgument(why);
  ES_ASSIGN_OR_RETURN(Problem problem, BuildProblem(graph, model_name, {device, server}, link, dtype));
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(graph));
  const bool int8 = dtype == DType::kInt8;
  const int last = static_cast<int>(cuts.size()) - 1;
  // head[k] / rest[k]: compute of groups before / from cut k on the head; tail[k] on the server.
  std::vector<double> head(cuts.size(), 0.0), rest(cuts.size(), 0.0), tail(cuts.size(), 0.0);
  for (int k = 1; k <= last; ++k) head[k] = head[k - 1] + problem.layers[k - 1].compute_s[0];
  for (int k = last - 1; k >= 0; --k) {
    rest[k] = rest[k + 1] + problem.layers[k].compute_s[0];
    tail[k] = tail[k + 1] + problem.layers[k].compute_s[1];
  }
  const int64_t total_weights = int8 ? cuts[last].head_weight_bytes_int8 : cuts[last].head_weight_bytes_f32;
  const int64_t result_bytes = int8 ? cuts[last].bytes_int8 : cuts[last].bytes_f32;

  CandidateSet set;
  set.model = model_name;
  set.device = device.name;
  set.server = server.name;
  set.link_name = link.name;
  set.link = link;
  if (sealed) {
    set.sealing = SealedBetween(DeviceSealCost(device), DeviceSealCost(server));
    set.handshake_s = HandshakeSeconds(link, set.sealing.sender, set.sealing.receiver);
  }
  std::vector<int> chosen = {last, 0};  // device-only first (the paper's tie order), then server-only
  for (int k = 1; k < last; ++k) {
    const bool take = rule == CandidateRule::kAll || (rule == CandidateRule::kLoose && cuts[k].bottleneck_loose) ||
                      (rule == CandidateRule::kStrict && cuts[k].bottleneck_strict);
    if (take) chosen.push_back(k);
  }
  for (int k : chosen) {
    const CutPoint& cut = cuts[k];
    SplitCandidate c;
    c.cut_index = k;
    c.kind = k == last ? CandidateKind::kDeviceOnly : k == 0 ? CandidateKind::kServerOnly : CandidateKind::kSplit;
    c.name = k == last ? "device-only" : k == 0 ? "server-only" : cut.after;
    c.head_s = head[k];
    c.device_rest_s = rest[k];
    c.head_weight_bytes = int8 ? cut.head_weight_bytes_int8 : cut.head_weight_bytes_f32;
    c.head_arena_bytes = int8 ? cut.head_arena_bytes_int8 : cut.head_arena_bytes_f32;
    const int64_t tail_arena = int8 ? cut.tail_arena_bytes_int8 : cut.tail_arena_bytes_f32;
    if (c.kind != CandidateKind::kDeviceOnly) {
      c.bytes = int8 ? cut.bytes_int8 : cut.bytes_f32;
      c.result_bytes = result_bytes;
      c.tail_s = tail[k];
      SetLinkTerms(set, &c);
    } else {
      c.fixed_s = c.head_s;
    }
    std::string why;
    if (c.head_weight_bytes > device.weight_capacity_bytes)
      why = "head weights " + Bytes(c.head_weight_bytes) + " exceed " + device.name + "'s " + Bytes(device.weight_capacity_bytes);
    else if (c.head_arena_bytes > device.ram_bytes)
      why = "head arena " + Bytes(c.head_arena_bytes) + " exceeds " + device.name + "'s RAM " + Bytes(device.ram_bytes);
    else if (total_weights - c.head_weight_bytes > server.weight_capacity_bytes)
      why = "tail weights exceed " + server.name + "'s capacity";
    else if (c.kind != CandidateKind::kDeviceOnly && tail_arena > server.ram_bytes)
      why = "tail arena exceeds " + server.name + "'s RAM";
    if (!why.empty()) {
      set.dropped.push_back(c.name + ": " + why);
      continue;
    }
    if (c.kind == CandidateKind::kDeviceOnly) set.device_only = static_cast<int>(set.candidates.size());
    if (c.kind == CandidateKind::kServerOnly) set.server_only = static_cast<int>(set.candidates.size());
    set.candidates.push_back(std::move(c));
  }
  if (set.candidates.empty()) return InvalidArgument("no split candidate of " + model_name + " fits " + device.name + " and " + server.name);
  return set;
}

Status AddCodecCandidates(const CodecTable& table, const CodecCosts& costs, const std::string& dtype, double max_drop,
                          CandidateSet* set) {
  if (std::isnan(max_drop)) return InvalidArgument("--max-accuracy-drop is not a number");
  if (table.dtype != dtype)
    return InvalidArgument("the codec table is for the " + table.dtype + " model, the policy is " + dtype);
  auto cost = [&](const std::string& device, const std::string& codec, bool encode) {
    auto d = costs.devices.find(device);
    if (d == costs.devices.end()) return -1.0;
    auto c = d->second.find(dtype + ":" + codec);
    if (c == d->second.end()) return -1.0;
    return encode ? c->second.encode_s_per_element : c->second.decode_s_per_element;
  };
  std::vector<SplitCandidate> out;
  int matched = 0;
  for (const SplitCandidate& c : set->candidates) {
    out.push_back(c);
    if (c.kind != CandidateKind::kSplit) continue;
    for (const CodecTableEntry& e : table.entries) {
      if (e.after != c.name || e.codec == "raw") continue;
      ++matched;
      const double enc = cost(set->device, e.codec, true), dec = cost(set->server, e.codec, false);
      if (!(e.accuracy_drop <= max_drop) || enc < 0 || dec < 0) continue;
      SplitCandidate x = c;
      x.name = c.name + "@" + e.codec;
      x.codec = e.codec;
      x.accuracy_drop = e.accuracy_drop;
      x.bytes = static_cast<int64_t>(std::llround(e.cut_bytes));
      x.head_s += enc * static_cast<double>(e.elements);
      x.tail_s += dec * static_cast<double>(e.elements);
      SetLinkTerms(*set, &x);
      out.push_back(std::move(x));
    }
  }
  if (matched == 0) return InvalidArgument("the codec table (" + table.model + ") names none of the candidates' cuts: is it the same model?");
  set->device_only = set->server_only = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].kind == CandidateKind::kDeviceOnly) set->device_only = static_cast<int>(i);
    if (out[i].kind == CandidateKind::kServerOnly) set->server_only = static_cast<int>(i);
  }
  set->candidates = std::move(out);
  return Status::Ok();
}

// ---- SplitPolicy ----------------------------------------------------------------

Result<SplitPolicy> SplitPolicy::Build(CandidateSet set, const PolicyOptions& options) {
  if (set.candidates.empty()) return InvalidArgument("the policy needs at least one candidate");
  for (const SplitCandidate& c : set.candidates)
    if (!std::isfinite(c.fixed_s) || !std::isfinite(c.tail_s) || !std::isfinite(c.slope_bytes) || c.fixed_s < 0 || c.tail_s < 0 ||
        c.slope_bytes < 0)
      return InvalidArgument("candidate '" + c.name + "' has a latency term that is not a finite number >= 0");
  SplitPolicy p;
  p.levels_ = options.load_levels.empty() ? DefaultLoadLevels() : options.load_levels;
  for (size_t j = 0; j < p.levels_.size(); ++j) {
    if (!(p.levels_[j] >= 1) || !std::isfinite(p.levels_[j]))
      return InvalidArgument("load level " + std::to_string(p.levels_[j]) + " is not a finite number >= 1");
    if (j > 0 && !(p.levels_[j] > p.levels_[j - 1])) return InvalidArgument("load levels must be strictly ascending");
  }
  p.set_ = std::move(set);
  const int n = static_cast<int>(p.set_.candidates.size());
  // Lines in order of decreasing slope (the steepest wins at small x); equal
  // slopes keep the lower intercept, then the lower index (device-only first).
  std::vector<int> order(n);
  std::vector<double> a(n);
  std::vector<int> hull;
  std::vector<double> start;  // x at which hull[i] starts to win
  for (double level : p.levels_) {
    for (int k = 0; k < n; ++k) a[k] = p.set_.candidates[k].fixed_s + p.set_.candidates[k].tail_s * level;
    for (int k = 0; k < n; ++k) order[k] = k;
    const auto& cs = p.set_.candidates;
    std::sort(order.begin(), order.end(), [&](int i, int j) {
      if (cs[i].slope_bytes != cs[j].slope_bytes) return cs[i].slope_bytes > cs[j].slope_bytes;
      if (a[i] != a[j]) return a[i] < a[j];
      return i < j;
    });
    hull.clear();
    start.clear();
    for (int k : order) {
      if (!hull.empty() && cs[hull.back()].slope_bytes == cs[k].slope_bytes) continue;  // parallel, not lower
      double x = 0;
      while (!hull.empty()) {
        const int h = hull.back();
        // Where line k (shallower) takes over from line h.
        x = (a[k] - a[h]) / (cs[h].slope_bytes - cs[k].slope_bytes);
        if (x <= start.back()) {
          hull.pop_back();
          start.pop_back();
        } else {
          break;
        }
      }
      if (hull.empty()) x = -kInf;
      hull.push_back(k);
      start.push_back(x);
    }
    // Only x = 1/rate >= 0 matters: drop pieces that end before 0.
    size_t first = 0;
    while (first + 1 < hull.size() && start[first + 1] <= 0) ++first;
    p.piece_begin_.push_back(static_cast<int>(p.winner_.size()));
    for (size_t i = first; i < hull.size(); ++i) {
      p.winner_.push_back(hull[i]);
      p.break_x_.push_back(i == first ? 0.0 : start[i]);
    }
  }
  p.piece_begin_.push_back(static_cast<int>(p.winner_.size()));
  return p;
}

std::vector<EnvelopePiece> SplitPolicy::Envelope(int level) const {
  std::vector<EnvelopePiece> pieces;
  if (level < 0 || level >= static_cast<int>(levels_.size())) return pieces;
  // Pieces are stored by increasing x = 1/rate; report them by increasing rate.
  for (int p = piece_begin_[level + 1] - 1; p >= piece_begin_[level]; --p) {
    const double x_end = p + 1 < piece_begin_[level + 1] ? break_x_[p + 1] : kInf;
    EnvelopePiece e;
    e.candidate = winner_[p];
    e.from_rate = x_end == kInf ? 0 : 1 / x_end;
    e.to_rate = break_x_[p] == 0 ? kInf : 1 / break_x_[p];
    pieces.push_back(e);
  }
  return pieces;
}

int SplitPolicy::EnvelopeWinner(int level, double x) const {
  const double* begin = break_x_.data() + piece_begin_[level];
  const double* end = break_x_.data() + piece_begin_[level + 1];
  const double* it = std::upper_bound(begin, end, x);  // first piece starting after x
  return winner_[piece_begin_[level] + static_cast<int>(it - begin) - 1];
}

int SplitPolicy::Decide(double rate, double load) const {
  if (!(rate > 0)) return set_.device_only;
  const double x = 1 / rate;
  // Outside the grid the bracketing levels' winners need not hold the best
  // candidate (a heavily loaded server should lose to device-only): evaluate
  // every candidate, a few dozen at most.
  if (load > levels_.back() || load < levels_.front()) return BestExact(rate, load);
  const int levels = static_cast<int>(levels_.size());
  int lo = static_cast<int>(std::upper_bound(levels_.begin(), levels_.end(), load) - levels_.begin()) - 1;
  lo = std::clamp(lo, 0, levels - 1);
  const int hi = std::min(lo + 1, levels - 1);
  const int a = EnvelopeWinner(lo, x);
  if (hi == lo) return a;
  const int b = EnvelopeWinner(hi, x);
  return Latency(b, rate, load) < Latency(a, rate, load) ? b : a;
}

int SplitPolicy::BestExact(double rate, double load) const {
  int best = -1;
  double best_t = kInf;
  for (int k = 0; k < static_cast<int>(set_.candidates.size()); ++k) {
    const double t = Latency(k, rate, load);
    if (t < best_t) best = k, best_t = t;
  }
  return best;
}

double SplitPolicy::Latency(int k, double rate, double load) const {
  return CandidateLatency(set_.candidates[k], set_.link, rate, load);
}

}  // namespace edgesplit
