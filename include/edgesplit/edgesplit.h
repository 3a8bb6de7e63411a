// The whole public API of the edgesplit library in one include:
//   #include <edgesplit/edgesplit.h>   (link edgesplit::edgesplit, or `pkg-config --cflags --libs edgesplit`)
// Each header below states its own contract (ownership, errors, threads).
#pragma once

#include "edgesplit/analysis.h"
#include "edgesplit/cost.h"
#include "edgesplit/delivery.h"
#include "edgesplit/dynamic.h"
#include "edgesplit/dynamic_runtime.h"
#include "edgesplit/exec.h"
#include "edgesplit/fixed_point.h"
#include "edgesplit/graph.h"
#include "edgesplit/io.h"
#include "edgesplit/kernels.h"
#include "edgesplit/mcu_trace.h"
#include "edgesplit/models.h"
#include "edgesplit/net.h"
#include "edgesplit/onednn.h"
#include "edgesplit/onnx.h"
#include "edgesplit/plan.h"
#include "edgesplit/quant.h"
#include "edgesplit/report.h"
#include "edgesplit/runtime.h"
#include "edgesplit/runtime_delivery.h"
#include "edgesplit/runtime_plan.h"
#include "edgesplit/segment.h"
#include "edgesplit/status.h"
#include "edgesplit/wire.h"
