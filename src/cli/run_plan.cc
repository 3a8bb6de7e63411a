// run --plan: the plan's defaults for the command's options, and its predictions beside the measurements as text.
#include "run_plan.h"

#include <fmt/format.h>

namespace edgesplit::cli {

Status ReadPlan(const std::string& path, std::string* link, std::string* dtype, std::vector<runtime::ChainNodeSpec>* nodes,
                PlanFile* plan) {
  ES_ASSIGN_OR_RETURN(*plan, ReadPlanFile(path));
  if (link->empty()) *link = plan->link;
  if (dtype->empty()) *dtype = plan->dtype;
  *nodes = runtime::PlanNodes(*plan);
  return Status::Ok();
}

std::string PlanVsMeasuredText(const Json& p) {
  std::string t = fmt::format("\nplan       predicted {:.4f} s, measured steady {:.4f} s ({:+.1f}%)\n", p["predicted_latency_s"].get<double>(),
                              p["measured_steady_rtt_s"].get<double>(), p["error_pct"].get<double>());
  // "T(sent) s": the hop's link model for the tensor the node really sent (an int8 chain returns f32 logits).
  t += fmt::format("  {:<7} {:<28} {:<28} {:>7}  {:>11} {:>10} {:>10} {:>8}\n", "stage", "where", "device / link (transport)", "bytes",
                   "predicted s", "T(sent) s", "measured s", "error");
  auto transfer = [&](const char* what, const Json& x) {
    t += fmt::format("  {:<7} {:<28} {:<28} {:>7}  {:>11.4f} {:>10.4f} {:>10.4f} {:>+7.1f}%\n", what,
                     x.value("from", "") + " -> " + x.value("to", ""),
                     x.value("link", "") + " (" + x.value("transport", "") + (x.value("shaped", false) ? ", shaped" : "") + ")",
                     x.value("predicted_bytes", int64_t{0}), x["predicted_transfer_s"].get<double>(),
                     x.value("link_model_transfer_s", 0.0), x.value("measured_median_transfer_s", 0.0), x.value("median_error_pct", 0.0));
  };
  if (p.contains("input")) transfer("input", p["input"]);
  for (size_t i = 0; i < p["segments"].size(); ++i) {
    const Json& s = p["segments"][i];
    t += fmt::format("  {:<7} {:<28} {:<28} {:>7}  {:>11.4f} {:>10} {:>10.4f} {:>+7.1f}%\n", "compute", s.value("host", ""),
                     s["device"].get<std::string>(), "", s["predicted_compute_s"].get<double>(), "", s.value("measured_median_compute_s", 0.0),
                     s.value("median_error_pct", 0.0));
    if (i < p["hops"].size()) transfer("hop", p["hops"][i]);
  }
  if (p.contains("result")) transfer("result", p["result"]);
  t += "  (measured: the median of the steady inferences; JSON measured_* is the last one's)\n";
  return t;
}

}  // namespace edgesplit::cli
