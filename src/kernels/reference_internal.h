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
