// Over-the-air segment delivery in the runtime (module `runtime`; the bytes
// are edgesplit/delivery.h's, the protocol is docs/mcu.md "Over-the-air delivery").
//
//  * Key files: `edgesplit keygen -o KEY` writes KEY (secret, mode 0600) and
//    KEY.pub; nodes verify with the .pub, the coordinator signs with KEY.
//  * The coordinator: PackageSegment cuts a node's flat segment file out of
//    the chain's execution graph; DeliverSegment sends it to the node over the
//    chain's own link (chunks as kSegmentChunk wire messages, so datagram links
//    fragment and repair them like tensors) and waits for its kSegmentAck.
//  * The node (`edgesplit node` with no segment): turns chunk messages into a
//    verified, loaded SegmentRunner, answers each delivery with an ack, and
//    prints {"event":"delivery",...} or {"event":"delivery_rejected","reason",...}.
//    The chain's and the node's delivery objects are the runtime's own
//    (src/runtime/delivery_roles.h).
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

}  // namespace edgesplit::runtime
