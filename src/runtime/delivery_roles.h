// The two ends of a chain's over-the-air delivery inside the runtime (private
// to src/runtime): the chain's coordinator (`run --deliver`) and the node's
// receiver. Users deliver through ChainOptions::deliver, or with
// PackageSegment / DeliverSegment (edgesplit/runtime_delivery.h).
// Thread-safety: none; one object per thread.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgesplit/runtime.h"
#include "edgesplit/runtime_delivery.h"

namespace edgesplit::runtime {

// `run --deliver` (Chain, ChainOptions::deliver): empty nodes, then one
// delivery per node over the chain's link, acks on a receiver of its own.
class ChainDelivery {
 public:
  // Reads sign_key (and checks KEY.pub beside it matches) when given.
  static Result<std::unique_ptr<ChainDelivery>> Create(const ChainOptions& options, const ResolvedLink& link);
  // A node's options made empty (no segment: it waits for the delivery), acks
  // to this coordinator, and KEY.pub to verify with when signing.
  void AdjustNode(NodeOptions* node) const;
  // Packages node k's segment of `exec_graph`, delivers it to `address` and
  // records the report. A refusal fails, naming the node and its reason.
  Status Deliver(int k, const Graph& exec_graph, const std::string& address, uint32_t* next_request_id, double time_unit);
  const std::vector<DeliveryReport>& reports() const { return reports_; }

 private:
  ChainDelivery() = default;
  ChainOptions options_;
  ResolvedLink link_;
  std::optional<delivery::SecretKey> key_;
  std::unique_ptr<net::MessageReceiver> acks_;
  std::vector<DeliveryReport> reports_;
};

// ---- Node ----------------------------------------------------------------------------
class NodeDelivery {
 public:
  // Reads options.verify_key (if any) and options.state_file (the replay floor;
  // a bad file fails); acks go to options.coordinator over `link`.
  static Result<std::unique_ptr<NodeDelivery>> Create(const NodeOptions& options, const ResolvedLink& link);
  // One decoded kSegmentChunk message. Returns the new segment when this chunk
  // completed a delivery that verified and loaded; nullptr otherwise (the node
  // keeps what it has). `serving`: the node has a segment now (reported).
  std::unique_ptr<SegmentRunner> OnChunk(const wire::DecodedMessage& message, bool serving, std::FILE* events);
  // Refuses a delivery whose chunks stopped (idle timeout); call when idle.
  void Poll(bool serving, std::FILE* events);

 private:
  NodeDelivery(const delivery::ReceiverConfig& config) : receiver_(config) {}
  std::unique_ptr<SegmentRunner> Load(uint32_t request_id, bool serving, std::FILE* events);
  void Refused(uint32_t request_id, const delivery::DeliveryStep& step, bool serving, std::FILE* events);
  void Reply(uint32_t request_id, const delivery::Ack& ack, std::FILE* events);

  delivery::DeliveryReceiver receiver_;
  bool verifying_ = false;
  std::optional<net::Endpoint> coordinator_;
  net::ChannelOptions channel_;
  double reply_timeout_s_ = 30;
  uint32_t last_request_id_ = 0;
  std::string state_path_;  // NodeOptions::state_file ("" = the floor lives in RAM only)
  delivery::Sha256Digest key_id_{};
  delivery::StateKey state_key_{};  // authenticates the state file (FILE.key)
};

}  // namespace edgesplit::runtime
