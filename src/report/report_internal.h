// The report module's row builders, shared by PredictReport and ReportFromDir
// so both give the charts records of one shape (edgesplit/report.h lists them).
#pragma once

#include <string>
#include <vector>

#include "edgesplit/report.h"

namespace edgesplit::report {

Json CutRow(int64_t index, const std::string& after, int64_t bytes_int8, int64_t bytes_f32, int64_t head_macs, bool strict, bool loose);
Json PlannerRow(int devices, const std::string& algorithm, bool feasible, double value, double latency_s, double gap_pct,
                double solve_time_s, const std::string& segments);
// One protocol's phases: set-up, compute node 1, transfer, compute node 2..n,
// reply (hops between nodes are summed into "transfer"). Zero phases are kept
// (a bar with no set-up says so in its tooltip).
void AddRoundTripRows(const std::string& protocol, const std::string& source, double setup_s, const std::vector<double>& compute_s,
                      double transfer_s, double reply_s, ReportData* data);
// The paper's round trip, as a bar beside each protocol that has one, and in
// round_trip.meta["paper"]; once per protocol. Only for the paper's set-up
// (MobileNetV2-0.35 at 224, split after block_16_project_BN): for another
// model or cut a note says why the figures are left out.
void AddPaperFigures(const std::vector<std::string>& protocols, const std::string& model, const std::string& cut, ReportData* data);

}  // namespace edgesplit::report
