// Over-the-air segment delivery in the runtime (module `runtime`; the bytes
// are edgesplit/delivery.h's, the protocol is docs/mcu.md "Over-the-air delivery").
//
//  * Key files: `edgesplit keygen -o KEY` writes KEY (secret, mode 0600) and
//    KEY.pub; nodes verify with the .pub, the coordinator signs with KEY.
//  * The coordinator: PackageSegment cuts a node's flat segment file out of
//    the chain's execution graph; DeliverSegment sends it to the node over the
//    chain's own link (chunks as kSegmentChunk wire messages, so datagram links
//    fragment and repair them like tensors) and waits for its kSegmentAck.
//  * The node: NodeDelivery turns chunk messages into a verified, loaded
//    SegmentRunner, answers each delivery with an ack, and prints
//    {"event":"delivery",...} or {"event":"delivery_rejected","reason",...}.
//
// A delivered segment runs through the reference backend over the flat file's
// graph (weights read in place), in f32 or int8, exactly as the coordinator's
// local run of the same cuts: the bytes are identical.
// Thread-safety: none; one object per thread.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgesplit/delivery.h"
#include "edgesplit/net.h"
#include "edgesplit/net_server.h"
#include "edgesplit/runtime.h"
#include "edgesplit/wire.h"

namespace edgesplit::runtime {

// ---- Key files -------------------------------------------------------------------
// Writes a fresh Ed25519 pair to `path` (secret, 0600) and `path`.pub. Refuses
// to overwrite either unless `force`; errors name the file. Each file is
// created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW): never written through a
// symlink, even a dangling one; `force` removes the old entry (the link
// itself, not its target) first.
Status WriteKeyFiles(const std::string& path, bool force);
Result<delivery::PublicKey> ReadPublicKeyFile(const std::string& path);
Result<delivery::SecretKey> ReadSecretKeyFile(const std::string& path);

// ---- The node's --state file (delivery::NodeState) ----------------------------------
// The record at `path`; nullopt when there is none (a fresh node). A file that
// is unreadable, truncated, damaged, of another format or version, or written
// under another verify key than `key_id` (delivery::VerifyKeyId) is an error
// naming the file: the node refuses to start rather than reset its floor.
// The record's MAC is checked under `state_key`: a forged record is refused.
Result<std::optional<delivery::NodeState>> ReadNodeStateFile(const std::string& path, const delivery::Sha256Digest& key_id,
                                                             const delivery::StateKey& state_key);
// Replaces `path` atomically: path.tmp, fsync, rename, fsync of the folder.
Status WriteNodeStateFile(const std::string& path, const delivery::NodeState& state, const delivery::StateKey& state_key);
// The node's state key file (`--state FILE` uses FILE.key): a line
// "edgesplit-state-key <64 hex>", mode 0600. Created (exclusively, 32 random
// bytes) when missing; refused when readable by group or others, or a symlink.
Result<delivery::StateKey> LoadOrCreateStateKey(const std::string& path);

// ---- Coordinator -------------------------------------------------------------------
struct SegmentPackage {
  std::vector<uint8_t> file;    // the flat segment (WriteSegment)
  delivery::Manifest manifest;  // size and hash are filled in by BuildChunks
};
// Nodes [first_cut, last_cut) of `exec_graph` (LoadExecutionGraph's graph for
// `model` in `dtype`) as a flat file, and the manifest naming them.
Result<SegmentPackage> PackageSegment(const Graph& exec_graph, const std::string& model, const std::string& dtype,
                                      const std::string& first_cut, const std::string& last_cut, int index,
                                      uint32_t sequence);

// Sends `chunks` (delivery::BuildChunks) to a node through `node` (a
// RequestClient to it, sealed or plain, over the chain's link) as
// kSegmentChunk messages, request ids taken from *next_request_id (one id
// space with the chain's tensors). The node answers every chunk: "go on" (a
// kPong) or its kSegmentAck, which ends the delivery (a refusal at the
// manifest stops it there; one a data chunk causes answers the end chunk). A refusal is a report with accepted =
// false (reason and detail from the node); transport failures and a missing
// ack are errors. Durations are divided by `time_unit` (the time scale when
// emulated).
Result<DeliveryReport> DeliverSegment(const std::vector<std::vector<uint8_t>>& chunks, net::RequestClient& node,
                                      uint32_t* next_request_id, net::Deadline deadline, double time_unit);

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
