// Wire messages the runtime builds (shared by the node and the client).
#pragma once

#include <span>
#include <vector>

#include "edgesplit/graph.h"
#include "edgesplit/status.h"
#include "edgesplit/wire.h"

namespace edgesplit::runtime {

// The wire header of a message carrying tensor `t`: its dtype, rank, dims and
// first quantization parameters, and `type`; ids and server fields are the caller's.
Result<wire::MessageHeader> TensorHeader(wire::MessageType type, const Tensor& t);

// A tensor message for `t` (dtype, shape, first quantization parameters) with
// `payload` as its bytes, written into `out` (resized); returns its size.
Result<size_t> EncodeTensorMessage(wire::MessageType type, uint32_t request_id, int cut, const Tensor& t,
                                   std::span<const uint8_t> payload, std::vector<uint8_t>* out);
// A kError message carrying the status message as UTF-8.
Result<size_t> EncodeErrorMessage(uint32_t request_id, const Status& status, std::vector<uint8_t>* out);

}  // namespace edgesplit::runtime
