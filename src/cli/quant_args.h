// The --dtype/--calib options shared by infer, bench-engine, split, eval,
// quantize and sqnr: the library's CalibrationSource (quant.h) with the CLI's
// progress bar and notes.
#pragma once

#include <string>

#include "edgesplit/graph.h"
#include "edgesplit/models.h"
#include "edgesplit/quant.h"
#include "edgesplit/status.h"

namespace edgesplit::cli {

using CalibArgs = CalibrationSource;  // --calib (folder), --calib-data (data), --samples

// Quantize with a progress bar on a terminal (calibration runs the float model
// over every sample: about 3 s a sample for resnet50 on the reference kernels).
Result<Graph> QuantizeWithProgress(const Graph& graph, const std::vector<CalibrationSample>& samples);

// WithDtype (quant.h) with that progress bar, and a note when --calib is given
// for a dtype that does not calibrate.
Result<Graph> InDtype(Graph graph, const std::string& dtype, const CalibArgs& a, const Preprocessing& pre);

}  // namespace edgesplit::cli
