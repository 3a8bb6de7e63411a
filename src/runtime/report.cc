// JSON renderings of run records (the `run` and `bench-protocols` contracts).
#include "edgesplit/runtime.h"

namespace edgesplit::runtime {

using Json = nlohmann::ordered_json;

namespace {
Json HopJson(const HopRecord& h) {
  Json j{{"bytes", h.bytes},
         {"fragments", h.fragments},
         {"retransmissions", h.retransmissions},
         {"serialize_s", h.serialize_s},
         {"transfer_s", h.transfer_s},
         {"predicted_transfer_s", h.predicted_transfer_s}};
  if (!h.link.empty()) j["link"] = h.link;  // the link profile the hop ran on
  return j;
}
}  // namespace

Json InferenceJson(const InferenceRecord& r) {
  Json j{{"request_id", r.request_id}, {"cold", r.cold}, {"identical", r.identical}, {"rtt_s", r.rtt_s}, {"setup_s", r.setup_s}};
  j["nodes"] = Json::array();
  for (const NodeRecord& n : r.nodes)
    j["nodes"].push_back({{"device", n.device},
                          {"compute_s", n.compute_s},
                          {"predicted_compute_s", n.predicted_compute_s},
                          {"host_compute_s", n.host_compute_s},
                          {"overrun_s", n.overrun_s}});
  j["hops"] = Json::array();
  for (const HopRecord& h : r.hops) j["hops"].push_back(HopJson(h));
  j["reply_s"] = r.reply_s;
  j["reply"] = HopJson(r.reply);
  if (r.has_input) j["input"] = HopJson(r.input);  // the sensor's transfer to the first used device
  return j;
}

Json SummaryJson(const RunSummary& s) {
  return Json{{"cold_rtt_s", s.cold_rtt_s},
              {"steady_rtt_s", {{"median", s.steady_median_s}, {"p95", s.steady_p95_s}}},
              {"throughput_per_s", s.throughput_per_s}};
}

}  // namespace edgesplit::runtime
