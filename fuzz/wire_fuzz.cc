// libFuzzer target for the wire format. The input is decoded three ways:
//  1. as one message: DecodeMessage must reject it with a Status or accept it,
//     and an accepted message must re-encode to exactly the same bytes;
//  2. as one datagram: PeekDatagramKind / DecodeFragment / DecodeSack, with the
//     same re-encoding check for accepted ones;
//  3. as a sequence of datagrams (each prefixed by a 1-byte length) fed to a
//     Reassembler, whose replies and the datagrams go to a FragmentSender: no
//     crash, no out-of-bounds access, and a completed message always decodes.
// Mutations almost always break the CRC32 trailer, which would hide every later
// check from the fuzzer, so 1 and 2 also run on a copy whose last 4 bytes are
// replaced by the right CRC, and 3 reseals every datagram the same way.
// Seeds: fuzz/make_wire_seeds.cc. Any violated property aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "edgesplit/wire.h"

namespace {

using namespace edgesplit::wire;

void Require(bool property) {
  if (!property) std::abort();
}

void CheckMessage(std::span<const uint8_t> bytes) {
  edgesplit::Result<DecodedMessage> m = DecodeMessage(bytes);
  edgesplit::Result<size_t> size = MessageSizeFromPrefix(bytes);
  if (!m.ok()) return;
  Require(size.ok() && *size == bytes.size());
  static uint8_t out[1 << 17];
  if (bytes.size() > sizeof(out)) return;
  edgesplit::Result<size_t> n = EncodeMessage(m->header, m->payload, out);
  Require(n.ok() && *n == bytes.size() && std::memcmp(out, bytes.data(), bytes.size()) == 0);
}

void CheckDatagram(std::span<const uint8_t> bytes) {
  if (!PeekDatagramKind(bytes).ok()) return;
  static uint8_t out[kMaxDatagramBytes];
  if (edgesplit::Result<DecodedFragment> f = DecodeFragment(bytes); f.ok()) {
    edgesplit::Result<size_t> n = EncodeFragment(f->header, f->chunk, out);
    Require(n.ok() && *n == bytes.size() && std::memcmp(out, bytes.data(), bytes.size()) == 0);
  }
  if (edgesplit::Result<Sack> s = DecodeSack(bytes); s.ok()) {
    edgesplit::Result<size_t> n = EncodeSack(*s, out);
    Require(n.ok() && *n == bytes.size() && std::memcmp(out, bytes.data(), bytes.size()) == 0);
  }
}

// A copy of `bytes` with a correct CRC32 trailer (the layout of both layers).
std::span<const uint8_t> Resealed(std::span<const uint8_t> bytes, uint8_t* scratch) {
  if (bytes.size() < 4) return bytes;
  std::memcpy(scratch, bytes.data(), bytes.size());
  const uint32_t crc = Crc32({scratch, bytes.size() - 4});
  for (int i = 0; i < 4; ++i) scratch[bytes.size() - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
  return {scratch, bytes.size()};
}

void DriveStateMachines(std::span<const uint8_t> bytes) {
  static uint8_t resealed[256];
  static uint8_t buffer[8192], bitmap[BitmapBytes(kMaxFragments)], reply[250], acked[64];
  ReassemblerConfig config;
  Reassembler rx(buffer, bitmap, config);
  FragmentSender tx(acked);
  static const uint8_t message[3000] = {};
  ArqConfig arq;
  arq.rto_us = 5;
  const bool sending = tx.Start(message, 1, arq, 0, 1000000).ok();
  uint64_t now = 0;
  static uint8_t out[250];
  while (!bytes.empty()) {
    const size_t len = bytes[0] < bytes.size() - 1 ? bytes[0] : bytes.size() - 1;
    const std::span<const uint8_t> datagram = Resealed(bytes.subspan(1, len), resealed);
    bytes = bytes.subspan(1 + len);
    now += 3;
    const ReceiveResult r = rx.OnDatagram(datagram, now, reply);
    Require((r.event == ReceiveEvent::kRejected) == !r.status.ok());
    Require(r.reply_bytes <= sizeof(reply));
    if (r.event == ReceiveEvent::kComplete) Require(DecodeMessage(rx.message()).ok());
    if (r.reply_bytes > 0) {
      Require(DecodeSack({reply, r.reply_bytes}).ok());
      if (sending) (void)tx.OnDatagram({reply, r.reply_bytes}, now);
    }
    if (sending) {
      (void)tx.OnDatagram(datagram, now);
      edgesplit::Result<size_t> n = tx.Poll(now, out);
      if (n.ok() && *n > 0) Require(DecodeFragment({out, *n}).ok());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  CheckMessage(bytes);
  CheckDatagram(bytes);
  static uint8_t scratch[1 << 17];
  if (size <= sizeof(scratch)) {
    const std::span<const uint8_t> resealed = Resealed(bytes, scratch);
    CheckMessage(resealed);
    CheckDatagram(resealed);
  }
  DriveStateMachines(bytes);
  return 0;
}
