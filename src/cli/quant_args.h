// The --dtype/--calib options shared by infer, bench-engine, quantize and sqnr.
#pragma once

#include <string>

#include "edgesplit/graph.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "edgesplit/status.h"

namespace edgesplit::cli {

struct CalibArgs {
  std::string calib;  // folder of .npy/.png/.jpg samples; "" = seeded random inputs
  int samples = 16;   // at most this many (random ones: exactly this many)
  std::string calib_data;  // "fashion-mnist": the first `samples` training images (include/edgesplit/idx.h)
};

// Calibration samples for `graph`'s input from `a` (a folder, or seeded random).
Result<std::vector<CalibrationSample>> CalibrationFor(const Graph& graph, const CalibArgs& a, const Preprocessing& pre);

// `graph` in the arithmetic `dtype` names ("f32" or "int8"): int8 quantizes a
// float model with CalibrationFor's samples; a model that is already quantized
// (a QDQ .onnx) is returned as it is.
Result<Graph> InDtype(Graph graph, const std::string& dtype, const CalibArgs& a, const Preprocessing& pre);

}  // namespace edgesplit::cli
