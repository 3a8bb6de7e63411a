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
// delivery per node over the chain's link, through the chain's client to it.
class ChainDelivery {
 public:
  // Reads sign_key and checks KEY.pub beside it matches (nodes verify with it).
  static Result<std::unique_ptr<ChainDelivery>> Create(const ChainOptions& options);
  // A node's options made empty (no segment: it waits for the delivery) and
  // KEY.pub to verify with.
  void AdjustNode(NodeOptions* node) const;
  // Packages node k's segment of `exec_graph`, delivers it through `node` and
  // records the report. A refusal fails, naming the node and its reason.
  Status Deliver(int k, const Graph& exec_graph, net::RequestClient& node, uint32_t* next_request_id, double time_unit);
  const std::vector<DeliveryReport>& reports() const { return reports_; }

 private:
  ChainDelivery() = default;
  ChainOptions options_;
  delivery::SecretKey key_;
  std::vector<DeliveryReport> reports_;
};

// ---- Node ----------------------------------------------------------------------------
class NodeDelivery {
 public:
  // Reads options.verify_key (none: every delivery is refused, "unsigned")
  // and options.state_file (the replay floor; a bad file fails).
  static Result<std::unique_ptr<NodeDelivery>> Create(const NodeOptions& options);
  // One decoded kSegmentChunk message. Returns the new segment when this chunk
  // completed a delivery that verified, fits the node's place (`current`: the
  // segment it serves; an update must start at its input cut) and loaded;
  // nullptr otherwise (the node keeps what it has).
  std::unique_ptr<SegmentRunner> OnChunk(const wire::DecodedMessage& message, const SegmentRunner* current, std::FILE* events);
  // The kSegmentAck message answering chunk `request_id` (a manifest or end
  // chunk: data chunks are answered "go on" at once) when the delivery is
  // decided (accepted, or refused by this chunk or a data chunk before it);
  // nullopt while it goes on.
  std::optional<std::vector<uint8_t>> TakeAck(uint32_t request_id);
  // Refuses a delivery whose chunks stopped (idle timeout); call when idle.
  void Poll(bool serving, std::FILE* events);

 private:
  NodeDelivery(const delivery::ReceiverConfig& config) : receiver_(config) {}
  std::unique_ptr<SegmentRunner> Load(uint32_t request_id, const SegmentRunner* current, std::FILE* events);
  void Refused(uint32_t request_id, const delivery::DeliveryStep& step, bool serving, std::FILE* events);

  delivery::DeliveryReceiver receiver_;
  bool verifying_ = false;
  std::optional<delivery::Ack> ack_;  // the verdict of the chunk just handled
  uint32_t last_request_id_ = 0;
  std::string state_path_;  // NodeOptions::state_file ("" = the floor lives in RAM only)
  delivery::Sha256Digest key_id_{};
  delivery::StateKey state_key_{};  // authenticates the state file (FILE.key)
};

}  // namespace edgesplit::runtime
