// Internal to the reference backend: PreparedKernel layouts and Eval. The
// layouts of the other ops' `ints` are documented where Prepare fills them.
#pragma once

#include "edgesplit/kernels.h"

namespace edgesplit::reference {

// Conv/MaxPool/AveragePool `ints`: 1-D and 2-D windows are mapped onto 3-D
// (depth D, height H, width W) with unit extra dims.
enum WindowIndex {
  kWinN, kWinC, kWinD, kWinH, kWinW, kWinM, kWinOD, kWinOH, kWinOW, kWinKD, kWinKH, kWinKW,
  kWinSD, kWinSH, kWinSW, kWinDD, kWinDH, kWinDW,
  kWinPF, kWinPT, kWinPL, kWinPBk, kWinPB, kWinPR,  // pads: front/top/left, back/bottom/right
  kWinGroup,  // Conv: group; AveragePool: count_include_pad
  kWinCount  // QLinearConv appends: per-channel w scale, per-channel w zero point,
             // x signed, w signed, y signed (int8 vs uint8)
};

// A 1x1(x1) window without padding: a matrix product over whole planes.
inline bool IsPointwise(const int64_t* w) {
  return w[kWinKD] == 1 && w[kWinKH] == 1 && w[kWinKW] == 1 && w[kWinPF] == 0 && w[kWinPT] == 0 && w[kWinPL] == 0 &&
         w[kWinPBk] == 0 && w[kWinPB] == 0 && w[kWinPR] == 0;
}

Status Eval(const PreparedKernel& k, const void* const* inputs, void* const* outputs, void* scratch);

// Output columns [lo, hi) of a window row whose input column ox * stride + offset
// lies inside [0, width): the columns a tap reaches without touching padding.
struct TapColumns {
  int64_t lo, hi;
};
inline TapColumns InsideColumns(int64_t offset, int64_t stride, int64_t width, int64_t out_width) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hi = width - 1 - offset < 0 ? 0 : (width - 1 - offset) / stride + 1;
  if (lo > out_width) lo = out_width;
  if (hi > out_width) hi = out_width;
  if (hi < lo) hi = lo;
  return {lo, hi};
}

// Calls visit(input_row_offset, output_row_offset) for every output row (od, oy),
// in order, whose tap (kd, kh) lands inside the input (window layout above).
// Hot loops pass a lambda capturing by value: a reference capture makes the
// compiler reload every captured scalar after each store.
template <typename Visit>
inline void ForEachTapRow(const int64_t* win, int64_t kd, int64_t kh, Visit&& visit) {
  const int64_t D = win[kWinD], H = win[kWinH], W = win[kWinW], OD = win[kWinOD], OH = win[kWinOH],
                OW = win[kWinOW];
  for (int64_t od = 0; od < OD; ++od) {
    const int64_t id = od * win[kWinSD] - win[kWinPF] + kd * win[kWinDD];
    if (id < 0 || id >= D) continue;
    for (int64_t oy = 0; oy < OH; ++oy) {
      const int64_t iy = oy * win[kWinSH] - win[kWinPT] + kh * win[kWinDH];
      if (iy < 0 || iy >= H) continue;
      visit((id * H + iy) * W, (od * OH + oy) * OW);
    }
  }
}

// ONNX's quantized ops (reference_qlinear.cc).
void QuantizeDequantize(const PreparedKernel& k, const void* const* inputs, void* y);
void QLinearMatMul(const PreparedKernel& k, const void* const* in, void* y);
// `acc` holds one output plane of int32 (the kernel's scratch).
void QLinearConv(const PreparedKernel& k, const void* const* in, void* y, int32_t* acc);

// The window layout above from a node's resolved attributes (reference_prepare.cc).
Status WindowLayout(const Node& node, const TensorDesc& x, const TensorDesc& y, std::vector<int64_t>* ints);
// Strides of `d` broadcast to `out`'s rank (0 along broadcast dims), written to strides[out.rank].
void BroadcastLayout(const TensorDesc& d, const TensorDesc& out, int64_t* strides);

// int8 ops of the quantized graph (include/edgesplit/quant.h; reference_int8.cc):
// a Conv/Gemm/Add/AveragePool/GlobalAveragePool whose data input is int8 with
// QuantParams. Prepare checks the params and fills kernel->quantized.
bool IsQuantizedNode(const Graph& graph, const Node& node);
Status PrepareInt8(const Graph& graph, int node_index, PreparedKernel* kernel);
Status EvalInt8(const PreparedKernel& k, const void* const* inputs, void* const* outputs, void* scratch);

}  // namespace edgesplit::reference
