// The client: starts a chain of node processes, feeds it inputs, receives the
// results, checks them against a local run of the same segments, and merges
// each node's event into one record per inference.
#include <algorithm>
#include <cstring>
#include <map>
#include <random>

#include "edgesplit/analysis.h"
#include "edgesplit/runtime.h"
#include "edgesplit/runtime_delivery.h"
#include "delivery_roles.h"
#include "edgesplit/serve.h"
#include "messages.h"
#include "node_protocol.h"
#include "hop.h"
#include "process.h"
#include "temporary_keys.h"

namespace edgesplit::runtime {

using detail::NodeProcess;
using net::Clock;

struct Chain::State {
  ChainOptions options;
  ResolvedLink link;   // results reach the client on it (ChainOptions::hop_links: the last hop's)
  ResolvedLink input;  // the input reaches node 0 on it (one link: `link`)
  bool emulated = false;
  std::unique_ptr<HopReceiver> receiver;  // results from the last node
  std::unique_ptr<HopSender> sender;      // inputs to node 0 (unshaped: the sensor's own camera; shaped with input_hop)
  std::unique_ptr<TemporaryKeys> keys;    // spawned and sealed: this client's and every node's
  std::optional<net::LinkSecurity> security;  // this client's session keys (server_public: node 0's); none: plain
  bool sensor_cold = true;                         // input_hop: the sensor has not set its link up yet
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  std::vector<std::vector<std::string>> node_args;  // to restart a node as it was
  std::vector<std::unique_ptr<SegmentRunner>> local;  // the same segments, run here
  // int8 input hop: the sensor's own leading QuantizeLinear (input to the cut
  // after it); node 0 starts at that cut and receives int8, as on TFLite Micro.
  std::unique_ptr<SegmentRunner> sensor;
  std::shared_ptr<const Graph> exec_graph;
  // Wire request ids, shared by delivery chunks and tensors: a node's replay
  // window wants them increasing. Inferences are numbered on their own (1..N,
  // with or without deliveries); that number also seeds each input.
  uint32_t next_wire_id = 1;
  uint32_t next_inference = 1;
  std::unique_ptr<ChainDelivery> ota;  // ChainOptions::deliver: empty nodes, segments sent over the link

  Status SpawnNode(size_t i, net::Deadline deadline) {
    ES_ASSIGN_OR_RETURN(nodes[i], NodeProcess::Spawn(options.node_binary, node_args[i]));
    auto address = nodes[i]->WaitListening(deadline);
    if (!address.ok()) return address.status().WithContext("node " + std::to_string(i));
    // Restarts reuse the address the node got the first time.
    for (size_t a = 0; a + 1 < node_args[i].size(); ++a)
      if (node_args[i][a] == "--listen") node_args[i][a + 1] = *address;
    return Status::Ok();
  }

  std::string Listening(size_t i) {
    for (size_t a = 0; a + 1 < node_args[i].size(); ++a)
      if (node_args[i][a] == "--listen") return node_args[i][a + 1];
    return "";
  }

  // Sealed chains: the keys of this client (and, spawned, of every node) and
  // this client's session keys; nothing with `insecure`.
  Status MakeKeys() {
    const ChainOptions& o = options;
    const bool any = !o.key.empty() || !o.server_key.empty() || !o.allow.empty();
    if (o.insecure && any) return InvalidArgument("--insecure and --key/--server-key/--allow exclude each other");
    const bool sign = o.deliver && o.sign_key.empty();  // deliveries are signed always
    if (o.insecure) {
      if (!sign) return Status::Ok();
      ES_ASSIGN_OR_RETURN(keys, TemporaryKeys::Make("chain", {"sign"}));
      options.sign_key = keys->Key("sign");
      return Status::Ok();
    }
    net::LinkSecurity sec;
    std::string allow;
    if (!o.attach.empty()) {
      if (o.key.empty() || o.server_key.empty() || o.allow.empty())
        return InvalidArgument("--attach to sealed nodes needs --key NAME (this client's), --server-key NODE0.pub and --allow FILE "
                               "(enrolling the last node); or --insecure for nodes run with --insecure");
      ES_ASSIGN_OR_RETURN(sec.identity, ReadIdentity(o.key));
      ES_ASSIGN_OR_RETURN(sec.server_public, ReadServerKey(o.server_key));
      allow = o.allow;
    } else {
      std::vector<std::string> names = {"client"};
      for (size_t k = 0; k < o.nodes.size(); ++k) names.push_back(NodeName(k));
      if (sign) names.push_back("sign");
      ES_ASSIGN_OR_RETURN(keys, TemporaryKeys::Make("chain", names));
      if (sign) options.sign_key = keys->Key("sign");
      ES_ASSIGN_OR_RETURN(sec.identity, ReadIdentity(keys->Key("client")));
      ES_ASSIGN_OR_RETURN(sec.server_public, ReadServerKey(keys->Key(NodeName(0)) + ".pub"));
      ES_ASSIGN_OR_RETURN(allow, keys->Allow("client.allow", {NodeName(o.nodes.size() - 1)}));
    }
    ES_ASSIGN_OR_RETURN(std::vector<EnrolledDevice> senders, ReadAllowFile(allow));
    sec.enrolled = std::make_shared<net::EnrolledKeys>(EnrolledKeysOf(senders));
    security = std::move(sec);
    return Status::Ok();
  }
  static std::string NodeName(size_t k) { return "node" + std::to_string(k); }

  // Node k's flags for its keys: its own, its predecessor enrolled (and this
  // client when it delivers segments), its successor's public key.
  Status NodeKeys(size_t k, NodeOptions* node) {
    if (!security) {
      node->insecure = true;
      return Status::Ok();
    }
    std::vector<std::string> senders = {k == 0 ? "client" : NodeName(k - 1)};
    if (options.deliver && k > 0) senders.push_back("client");
    node->key = keys->Key(NodeName(k));
    ES_ASSIGN_OR_RETURN(node->allow, keys->Allow(NodeName(k) + ".allow", senders));
    node->server_key = keys->Key(k + 1 < options.nodes.size() ? NodeName(k + 1) : "client") + ".pub";
    return Status::Ok();
  }

  // Node k's segment over the air, through a client of its own (sealed to node k).
  Status Deliver(size_t k, double time_unit) {
    ES_ASSIGN_OR_RETURN(net::Endpoint node, net::ParseEndpoint(Listening(k)));
    std::unique_ptr<net::RequestClient> client;
    if (security) {
      net::LinkSecurity to_node = *security;
      ES_ASSIGN_OR_RETURN(to_node.server_public, ReadServerKey(keys->Key(NodeName(k)) + ".pub"));
      ES_ASSIGN_OR_RETURN(client, net::CreateSecureClient(input.channel, node, to_node));
    } else {
      ES_ASSIGN_OR_RETURN(client, net::RequestClient::Create(input.channel, node));
    }
    return ota->Deliver(static_cast<int>(k), *exec_graph, *client, &next_wire_id, time_unit);
  }

  // A node that has died, as an error naming it; OK while all run.
  Status CheckNodes(uint32_t request_id) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i]) continue;  // attached: not ours to watch
      const std::string why = nodes[i]->ExitReason();
      if (!why.empty())
        return IoError("node " + std::to_string(i) + " (pid " + std::to_string(nodes[i]->pid()) + ", " + Listening(i) + ") " +
                       why + " while request " + std::to_string(request_id) + " was in flight");
    }
    return Status::Ok();
  }
};

namespace {

// The cut just after an int8 graph's leading QuantizeLinear of its input: what
// a sensor that quantizes its own input hands over. "" when the graph does not
// start so (then the sensor sends the float input).
Result<std::string> QuantizedInputCut(const Graph& g) {
  if (g.nodes.empty() || g.inputs.size() != 1) return std::string();
  const Node& first = g.nodes.front();
  if (first.op != OpType::kQuantizeLinear || first.inputs.empty() || first.inputs[0] != g.inputs[0]) return std::string();
  ES_ASSIGN_OR_RETURN(std::vector<CutPoint> cuts, FindCutPoints(g));
  if (cuts.size() < 3 || cuts[1].position != 1) return std::string();
  return cuts[1].after;
}

}  // namespace

Result<std::unique_ptr<Chain>> Chain::Start(const ChainOptions& o) {
  if (o.nodes.empty()) return InvalidArgument("a chain needs at least one node");
  if (o.inflight < 1) return InvalidArgument("--inflight must be >= 1");
  const bool attached = !o.attach.empty();
  if (attached && o.attach.size() != o.nodes.size())
    return InvalidArgument("--attach names " + std::to_string(o.attach.size()) + " node addresses for " +
                           std::to_string(o.nodes.size()) + " segments");
  if (attached && o.deliver) return InvalidArgument("--deliver starts the nodes empty: it cannot attach to running ones");
  if (!attached && o.node_binary.empty()) return InvalidArgument("no edgesplit binary given to start the nodes");
  std::unique_ptr<Chain> chain(new Chain());
  chain->state_ = std::make_unique<State>();
  State& s = *chain->state_;
  s.options = o;
  const bool per_hop = !o.hop_links.empty();
  if (per_hop && o.hop_links.size() != o.nodes.size())
    return InvalidArgument("per-hop links: " + std::to_string(o.hop_links.size()) + " links for " + std::to_string(o.nodes.size()) +
                           " nodes (one per node's output)");
  if (!per_hop && o.input_link) return InvalidArgument("an input link needs per-hop links");
  // Node k's outgoing link, and the one it receives on (its predecessor's).
  auto out_link = [&](size_t k) -> const LinkSettings& { return per_hop ? o.hop_links[k] : o.link; };
  auto in_link = [&](size_t k) -> const LinkSettings& {
    return k > 0 ? out_link(k - 1) : o.input_link ? *o.input_link : out_link(0);
  };
  if (per_hop && o.deliver)
    for (const LinkSettings& l : o.hop_links)
      if (l.link != o.hop_links.front().link || (o.input_link && o.input_link->link != l.link))
        return InvalidArgument("--deliver sends every segment over one link, and this chain's hops use several (give --link)");
  ES_ASSIGN_OR_RETURN(s.link, ResolveLink(out_link(o.nodes.size() - 1)));
  s.input = s.link;
  if (per_hop) {
    ES_ASSIGN_OR_RETURN(s.input, ResolveLink(in_link(0)));
  }
  s.emulated = o.link.shaped;
  for (const LinkSettings& l : o.hop_links) s.emulated |= l.shaped;
  if (o.input_link) s.emulated |= o.input_link->shaped;
  for (const ChainNodeSpec& n : o.nodes) s.emulated |= !n.device.empty();

  ES_ASSIGN_OR_RETURN(Graph exec, LoadExecutionGraph(o.model, o.dtype));
  s.exec_graph = std::make_shared<const Graph>(std::move(exec));
  for (size_t i = 0; i < o.nodes.size(); ++i) {
    SegmentSpec spec{o.model, o.nodes[i].first_cut, o.nodes[i].last_cut, o.dtype};
    auto r = SegmentRunner::FromGraph(s.exec_graph, spec);
    if (!r.ok()) return r.status().WithContext("node " + std::to_string(i));
    if (i == 0 && r.value()->first_cut_index() != 0) return InvalidArgument("node 0 must start at the input");
    if (i > 0 && r.value()->first_cut_index() != s.local.back()->last_cut_index())
      return InvalidArgument("node " + std::to_string(i) + " does not start where node " + std::to_string(i - 1) + " ends");
    s.local.push_back(std::move(r).value());
  }
  if (!s.local.back()->ends_at_output()) return InvalidArgument("the last node must end at the output");
  if (o.input_hop && o.dtype == "int8") {
    ES_ASSIGN_OR_RETURN(std::string cut, QuantizedInputCut(*s.exec_graph));
    if (!cut.empty()) {
      ES_ASSIGN_OR_RETURN(s.sensor, SegmentRunner::FromGraph(s.exec_graph, {o.model, "input", cut, o.dtype}));
      s.options.nodes.front().first_cut = cut;  // the local reference still starts at the float input
    }
  }

  ES_RETURN_IF_ERROR(s.MakeKeys());
  ES_ASSIGN_OR_RETURN(net::Endpoint listen, net::ParseEndpoint(o.listen));
  ES_ASSIGN_OR_RETURN(s.receiver, HopReceiver::Create(s.link.channel, listen, s.security, o.request_timeout_s));
  net::ChannelOptions camera = s.input.channel;
  camera.shaper.enabled = false;
  camera.shaper.loss = 0;
  if (o.input_hop) {  // the sensor's radio: the link as the nodes use it, its own loss draws
    camera = s.input.channel;
    camera.shaper.seed = o.link.seed + o.nodes.size();
  }

  if (o.deliver) {
    ES_ASSIGN_OR_RETURN(s.ota, ChainDelivery::Create(s.options));  // over one link (checked above): node 0's
  }
  // Last node first: each node is told the address its successor reported.
  s.nodes.resize(o.nodes.size());
  s.node_args.resize(o.nodes.size());
  std::string next = s.receiver->local_endpoint().ToString();
  if (attached) next = o.attach.front();
  const net::Deadline deadline = net::DeadlineIn(120);
  for (size_t k = attached ? 0 : o.nodes.size(); k-- > 0;) {
    const ChainNodeSpec& n = s.options.nodes[k];
    NodeOptions node;
    node.segment = {o.model, n.first_cut, n.last_cut, o.dtype};
    node.listen = {"127.0.0.1", 0};
    ES_ASSIGN_OR_RETURN(node.next, net::ParseEndpoint(next));
    node.link = out_link(k);
    node.link.profiles_dir = o.link.profiles_dir;
    node.link.time_scale = o.link.time_scale;
    node.link.seed = o.link.seed + k;
    if (per_hop) {  // it receives on its predecessor's link (only the transport and framing matter there)
      node.in_link = node.link;
      node.in_link->link = in_link(k).link;
      node.in_link->shaped = false;
      node.in_link->loss = -1;
    }
    node.emulate_device = n.device;
    node.request_timeout_s = o.request_timeout_s;
    ES_RETURN_IF_ERROR(s.NodeKeys(k, &node));
    if (s.ota) s.ota->AdjustNode(&node);
    s.node_args[k] = NodeCommandLine(node);
    ES_RETURN_IF_ERROR(s.SpawnNode(k, deadline));
    next = s.Listening(k);
  }
  for (size_t k = 0; s.ota && k < o.nodes.size(); ++k) ES_RETURN_IF_ERROR(s.Deliver(k, chain->time_scale()));
  ES_ASSIGN_OR_RETURN(net::Endpoint first, net::ParseEndpoint(next));
  ES_ASSIGN_OR_RETURN(s.sender, HopSender::Create(camera, first, s.security));
  // The session with node 0 is set up before the first input (not part of its RTT).
  if (s.security) ES_RETURN_IF_ERROR(s.sender->Connect(net::DeadlineIn(30)).WithContext("the handshake with node 0"));
  return chain;
}

Chain::~Chain() = default;
int Chain::num_nodes() const { return static_cast<int>(state_->nodes.size()); }
bool Chain::attached() const { return !state_->options.attach.empty(); }
bool Chain::emulated() const { return state_->emulated; }
bool Chain::sealed() const { return state_->security.has_value(); }
double Chain::time_scale() const { return state_->emulated ? state_->options.link.time_scale : 1.0; }
const ResolvedLink& Chain::link() const { return state_->link; }

Status Chain::KillNode(int i) {
  if (i < 0 || i >= num_nodes()) return OutOfRange("no node " + std::to_string(i));
  if (attached()) return InvalidArgument("node " + std::to_string(i) + " is attached, not started by this run");
  state_->nodes[static_cast<size_t>(i)]->Kill();
  return Status::Ok();
}

Status Chain::RestartNode(int i) {
  if (i < 0 || i >= num_nodes()) return OutOfRange("no node " + std::to_string(i));
  if (attached()) return InvalidArgument("node " + std::to_string(i) + " is attached, not started by this run");
  state_->nodes[static_cast<size_t>(i)].reset();  // kill and reap the old one
  ES_RETURN_IF_ERROR(state_->SpawnNode(static_cast<size_t>(i), net::DeadlineIn(120)));
  if (!state_->ota) return Status::Ok();  // a delivered node comes back empty: deliver again
  return state_->Deliver(static_cast<size_t>(i), time_scale());
}

const std::vector<DeliveryReport>& Chain::deliveries() const {
  static const std::vector<DeliveryReport> kNone;
  return state_->ota ? state_->ota->reports() : kNone;
}


Result<std::vector<InferenceRecord>> Chain::Run(int count, const std::function<void(int, int)>& progress) {
  State& s = *state_;
  const double scale = time_scale();
  const Tensor& input = s.local.front()->input_tensor();
  const size_t input_bytes = static_cast<size_t>(input.num_elements()) * sizeof(float);
  const Tensor& sent_tensor = s.sensor ? s.sensor->output_tensor() : input;  // what crosses to node 0
  struct Pending {
    uint32_t inference = 0;
    Clock::time_point sent;
    std::vector<uint8_t> expected;
    net::Deadline deadline;
    HopRecord input;  // input_hop only
    double setup_s = 0;
    bool cold = false;  // the sensor's first request
  };
  std::map<uint32_t, Pending> pending;
  std::vector<InferenceRecord> records;
  std::vector<uint8_t> message, payload(input_bytes);
  const auto start = Clock::now();
  int sent = 0;
  while (static_cast<int>(records.size()) < count) {
    while (static_cast<int>(pending.size()) < s.options.inflight && sent < count) {
      const uint32_t inference = s.next_inference++;
      const uint32_t id = s.next_wire_id++;
      std::mt19937 rng(inference);  // a seeded input per inference
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (size_t e = 0; e < input_bytes / sizeof(float); ++e) {
        const float v = u(rng);
        std::memcpy(payload.data() + e * sizeof(float), &v, sizeof v);
      }
      Pending p;
      p.inference = inference;
      p.deadline = net::DeadlineIn(s.options.request_timeout_s);
      std::span<const uint8_t> carry = payload;
      DType dtype = input.dtype;
      for (auto& seg : s.local) {  // the reference answer
        ES_RETURN_IF_ERROR(seg->Run(carry, dtype).WithContext("local run"));
        carry = seg->output();
        dtype = seg->output_tensor().dtype;
      }
      p.expected.assign(carry.begin(), carry.end());
      // With an input hop the RTT starts at the sensor, before encoding, set-up and transfer.
      const auto sensor_start = Clock::now();
      std::span<const uint8_t> sent_bytes = payload;
      if (s.sensor) {  // quantizing is the sensor's part of encoding
        ES_RETURN_IF_ERROR(s.sensor->Run(payload, input.dtype).WithContext("the sensor's input quantization"));
        sent_bytes = s.sensor->output();
      }
      ES_ASSIGN_OR_RETURN(size_t n, EncodeTensorMessage(wire::MessageType::kTensorRequest, id, 0, sent_tensor, sent_bytes, &message));
      const double serialize_s = net::SecondsSince(sensor_start);
      if (s.options.input_hop && s.sensor_cold && s.input.channel.shaper.enabled) {
        p.setup_s = s.input.profile.setup_s;  // emulated, like a node's first hop
        net::SleepUntil(net::DeadlineIn(p.setup_s * scale));
      }
      net::SendReport report;
      Clock::time_point delivered;  // the input's last frame acknowledged (not its acceptance reply)
      const Status st = s.sender->Send(std::span<const uint8_t>(message.data(), n), id, p.deadline, &report, &delivered);
      if (!st.ok()) {
        ES_RETURN_IF_ERROR(s.CheckNodes(id));
        return st.WithContext("sending the input to node 0");
      }
      p.sent = s.options.input_hop ? sensor_start : delivered;
      if (s.options.input_hop) {
        p.cold = s.sensor_cold;
        s.sensor_cold = false;
        p.input.bytes = report.message_bytes;
        p.input.fragments = report.fragments;
        p.input.retransmissions = report.retransmissions;
        p.input.serialize_s = serialize_s / scale;
        p.input.transfer_s = report.transfer_s / scale;
        p.input.predicted_transfer_s = TransferSeconds(s.input.profile, static_cast<int64_t>(sent_bytes.size()));
        p.input.link = s.input.profile.name;
      }
      pending.emplace(id, std::move(p));
      ++sent;
    }
    // Wait for a result, watching the nodes and the oldest request's deadline.
    const uint32_t oldest = pending.begin()->first;
    std::optional<std::vector<uint8_t>> bytes;
    while (!bytes) {
      ES_RETURN_IF_ERROR(s.CheckNodes(oldest));
      if (Clock::now() >= pending.begin()->second.deadline)
        return DeadlineExceeded("request " + std::to_string(oldest) + " got no result within " +
                                std::to_string(s.options.request_timeout_s) + " s");
      std::optional<HopMessage> got = s.receiver->Pop(net::DeadlineIn(0.02));
      if (got && got->rejected.empty()) bytes = std::move(got->bytes);  // a refused one computed nothing
    }
    const auto arrived = Clock::now();
    auto msg = wire::DecodeMessage(*bytes);
    if (!msg.ok()) return msg.status().WithContext("result from the last node");
    const uint32_t id = msg->header.request_id;
    auto it = pending.find(id);
    if (it == pending.end()) continue;  // a late answer to a request that already failed
    if (msg->header.type == wire::MessageType::kError)
      return Status(StatusCode::kInternal, std::string(msg->payload.begin(), msg->payload.end()));
    InferenceRecord r;
    r.request_id = it->second.inference;
    r.identical = msg->payload.size() == it->second.expected.size() &&
                  std::equal(msg->payload.begin(), msg->payload.end(), it->second.expected.begin());
    r.rtt_s = std::chrono::duration<double>(arrived - it->second.sent).count() / scale;
    r.has_input = s.options.input_hop;
    r.input = it->second.input;
    r.setup_s = it->second.setup_s;
    r.cold = it->second.cold;
    r.done_at_s = std::chrono::duration<double>(arrived - start).count() / scale;
    for (size_t k = 0; k < s.nodes.size() && !attached(); ++k) {
      auto line = s.nodes[k]->WaitEvent(id, net::DeadlineIn(10));
      if (!line) return Internal("node " + std::to_string(k) + " reported nothing for request " + std::to_string(id));
      const NodeRequestEvent ev = ParseNodeRequestEvent(*line);
      if (!ev.error.empty()) return IoError(ev.error);
      r.nodes.push_back(ev.node);
      r.setup_s += ev.setup_s;
      r.cold |= ev.cold;
      const HopRecord hop = ev.hop.value_or(HopRecord{});
      if (k + 1 < s.nodes.size()) r.hops.push_back(hop);
      else r.reply = hop;
    }
    r.reply_s = r.reply.transfer_s;
    records.push_back(std::move(r));
    if (progress) progress(static_cast<int>(records.size()), count);
    pending.erase(it);
  }
  return records;
}

RunSummary Summarize(const std::vector<InferenceRecord>& records) {
  RunSummary s;
  if (records.empty()) return s;
  s.cold_rtt_s = records.front().rtt_s;
  std::vector<double> steady;
  for (size_t i = records.size() > 1 ? 1 : 0; i < records.size(); ++i) steady.push_back(records[i].rtt_s);
  std::sort(steady.begin(), steady.end());
  s.steady_median_s = steady.size() % 2 ? steady[steady.size() / 2] : (steady[steady.size() / 2 - 1] + steady[steady.size() / 2]) / 2;
  s.steady_p95_s = steady[std::min(steady.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(steady.size() - 1) + 0.5))];
  const double last = records.back().done_at_s;
  s.throughput_per_s = last > 0 ? static_cast<double>(records.size()) / last : 0;
  return s;
}

}  // namespace edgesplit::runtime
