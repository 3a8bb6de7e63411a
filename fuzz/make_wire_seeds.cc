// Writes seeds for fuzz/wire_fuzz.cc into a folder: whole messages of every
// type and dtype, single fragments and SACKs, and length-prefixed datagram
// sequences (a complete request, shuffled, with a duplicate) that walk the
// reassembler to completion. Usage: make_wire_seeds <folder>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "edgesplit/wire.h"

namespace {

using namespace edgesplit::wire;
using Bytes = std::vector<uint8_t>;

bool Write(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

Bytes Message(MessageType type, edgesplit::DType dtype, std::vector<uint32_t> shape, size_t opaque_bytes) {
  MessageHeader h;
  h.type = type;
  h.request_id = 1;
  h.dtype = dtype;
  h.rank = static_cast<uint8_t>(shape.size());
  size_t n = shape.empty() ? opaque_bytes : DTypeSize(dtype);
  for (size_t i = 0; i < shape.size(); ++i) n *= h.dims[i] = shape[i];
  Bytes payload(n);
  for (size_t i = 0; i < n; ++i) payload[i] = static_cast<uint8_t>(i * 7);
  Bytes out(EncodedMessageBytes(h.rank, n));
  return EncodeMessage(h, payload, out).ok() ? out : Bytes();
}

// The datagrams one round of a sender emits, each behind a 1-byte length.
Bytes Sequence(const Bytes& message, size_t datagram_bytes, bool reverse) {
  Bytes acked(BitmapBytes(kMaxFragments)), buf(datagram_bytes), out;
  FragmentSender tx(acked);
  ArqConfig config;
  config.datagram_bytes = datagram_bytes;
  if (!tx.Start(message, 1, config, 0, 1000).ok()) return out;
  std::vector<Bytes> datagrams;
  for (edgesplit::Result<size_t> n = tx.Poll(0, buf); n.ok() && *n > 0; n = tx.Poll(0, buf))
    datagrams.emplace_back(buf.begin(), buf.begin() + *n);
  if (reverse) datagrams.assign(datagrams.rbegin(), datagrams.rend());
  if (!datagrams.empty()) datagrams.push_back(datagrams.front());  // a duplicate
  for (const Bytes& d : datagrams) {
    out.push_back(static_cast<uint8_t>(d.size()));
    out.insert(out.end(), d.begin(), d.end());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <folder>\n", argv[0]);
    return 2;
  }
  using edgesplit::DType;
  const std::string dir = argv[1];
  const Bytes request = Message(MessageType::kTensorRequest, DType::kInt8, {1, 8, 4, 4}, 0);
  std::vector<std::pair<std::string, Bytes>> seeds = {
      {"request_int8", request},
      {"result_f32", Message(MessageType::kTensorResult, DType::kFloat32, {1, 10}, 0)},
      {"request_int64_rank6", Message(MessageType::kTensorRequest, DType::kInt64, {1, 2, 1, 2, 1, 2}, 0)},
      {"error", Message(MessageType::kError, DType::kUInt8, {}, 20)},
      {"ping", Message(MessageType::kPing, DType::kUInt8, {}, 64)},
      {"sequence_250", Sequence(request, 250, false)},
      {"sequence_20_reversed", Sequence(request, 20, true)},
      {"sequence_64", Sequence(Message(MessageType::kTensorResult, DType::kInt32, {3, 30}, 0), 64, false)},
  };
  // A lone fragment and a SACK.
  Bytes fragment(250);
  FragmentHeader fh;
  fh.count = 1;
  fh.total_length = static_cast<uint32_t>(request.size());
  if (auto n = EncodeFragment(fh, request, fragment); n.ok()) seeds.push_back({"fragment", Bytes(fragment.begin(), fragment.begin() + *n)});
  const Bytes bitmap = {0xFF, 0x0F};
  Sack sack;
  sack.request_id = 1;
  sack.fragment_count = 12;
  sack.bitmap = bitmap;
  Bytes sack_bytes(64);
  if (auto n = EncodeSack(sack, sack_bytes); n.ok()) seeds.push_back({"sack", Bytes(sack_bytes.begin(), sack_bytes.begin() + *n)});
  int failures = 0;
  for (const auto& [name, bytes] : seeds) {
    if (bytes.empty() || !Write(dir + "/" + name + ".bin", bytes)) {
      std::fprintf(stderr, "make_wire_seeds: could not build or write seed %s\n", name.c_str());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
