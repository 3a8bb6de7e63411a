// Internal to the reference backend: PreparedKernel layouts and Eval.
#pragma once

#include "edgesplit/kernels.h"

namespace edgesplit::reference {

// Conv/MaxPool/AveragePool `ints` (1-D windows use H = KH = 1):
enum WindowIndex {
  kWinN, kWinC, kWinH, kWinW, kWinM, kWinOH, kWinOW, kWinKH, kWinKW, kWinSH, kWinSW,
  kWinDH, kWinDW, kWinPT, kWinPL, kWinPB, kWinPR,
  kWinGroup,  // Conv: group; AveragePool: count_include_pad
};

Status Eval(const PreparedKernel& k, const void* const* inputs, void* const* outputs, void* scratch);

}  // namespace edgesplit::reference
