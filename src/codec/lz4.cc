// A portable LZ4 block encoder (the format of lz4_Block_format.md): greedy
// matching through a 4096-entry hash table of 4-byte sequences. Written for the
// device: no heap (the caller owns the table), no OS calls, byte-wise memory
// access (no unaligned loads). Its output decodes with liblz4's LZ4_decompress_safe.
#include <cstring>

#include "edgesplit/codec.h"

namespace edgesplit {
namespace {

constexpr int kHashLog = 12;
constexpr size_t kMinMatch = 4;
constexpr size_t kLastLiterals = 5;  // the block's last 5 bytes are always literals
constexpr size_t kMatchStartLimit = 12;  // the last match starts at least 12 bytes before the end
constexpr size_t kMaxOffset = 65535;

uint32_t Read32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint32_t Hash(uint32_t v) { return (v * 2654435761u) >> (32 - kHashLog); }

// A length above 14 (literals) or 14 (match - 4) continues in bytes of 255.
uint8_t* PutLength(uint8_t* op, size_t len) {
  for (; len >= 255; len -= 255) *op++ = 255;
  *op++ = static_cast<uint8_t>(len);
  return op;
}

uint8_t* PutSequence(uint8_t* op, const uint8_t* literals, size_t lit_len, size_t offset, size_t match_len) {
  uint8_t* token = op++;
  const size_t ml = match_len ? match_len - kMinMatch : 0;
  *token = static_cast<uint8_t>(((lit_len >= 15 ? 15 : lit_len) << 4) | (ml >= 15 ? 15 : ml));
  if (lit_len >= 15) op = PutLength(op, lit_len - 15);
  if (lit_len > 0) std::memcpy(op, literals, lit_len);  // an empty input may come as a null pointer
  op += lit_len;
  if (match_len == 0) return op;  // the last sequence: literals only
  *op++ = static_cast<uint8_t>(offset);
  *op++ = static_cast<uint8_t>(offset >> 8);
  if (ml >= 15) op = PutLength(op, ml - 15);
  return op;
}

}  // namespace

size_t Lz4CompressBlock(const uint8_t* in, size_t n, uint8_t* out, size_t capacity, void* hash) {
  if (capacity < Lz4CompressBound(n) || n >= (size_t{1} << 31)) return 0;
  uint32_t* table = static_cast<uint32_t*>(hash);
  // Entries hold position + 1; 0 is empty.
  std::memset(table, 0, kLz4HashBytes);
  uint8_t* op = out;
  size_t anchor = 0, i = 0;
  if (n > kMatchStartLimit) {
    const size_t last_start = n - kMatchStartLimit;  // a match may start at i <= last_start
    const size_t match_end_limit = n - kLastLiterals;
    while (i <= last_start) {
      const uint32_t seq = Read32(in + i);
      const uint32_t h = Hash(seq);
      const size_t cand = table[h];
      table[h] = static_cast<uint32_t>(i + 1);
      if (cand == 0 || i - (cand - 1) > kMaxOffset || Read32(in + cand - 1) != seq) {
        ++i;
        continue;
      }
      const size_t ref = cand - 1;
      size_t len = kMinMatch;
      while (i + len < match_end_limit && in[ref + len] == in[i + len]) ++len;
      op = PutSequence(op, in + anchor, i - anchor, i - ref, len);
      // Index the match's interior sparsely (one position near its end) to find the next repeat.
      if (i + len - 2 <= last_start) table[Hash(Read32(in + i + len - 2))] = static_cast<uint32_t>(i + len - 2 + 1);
      i += len;
      anchor = i;
    }
  }
  op = PutSequence(op, in + anchor, n - anchor, 0, 0);
  return static_cast<size_t>(op - out);
}

}  // namespace edgesplit
