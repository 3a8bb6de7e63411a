// The hosts of a problem: device entries' counts expanded, the link of every
// ordered pair resolved, and identical hosts grouped into types (what the
// free-order dp counts instead of enumerating).
#include <algorithm>

#include "plan_internal.h"

namespace edgesplit {

std::vector<std::string> HostNames(const Problem& p) {
  std::vector<std::string> names;
  for (const PlanDevice& d : p.devices)
    for (int k = 1; k <= std::max(1, d.count); ++k) names.push_back(d.count > 1 ? d.name + "#" + std::to_string(k) : d.name);
  return names;
}

std::vector<LinkProfile> PlanLinks(const Problem& p) {
  if (p.links.empty()) return {p.link};
  std::vector<LinkProfile> v;
  for (const PlanLink& l : p.links) v.push_back(l.link);
  return v;
}

namespace plan_internal {
namespace {

bool SameLink(const Hosts& h, int x, int y) {
  if (x == y) return true;
  if (x < 0 || y < 0) return false;
  const LinkProfile &a = h.links[x], &b = h.links[y];
  return a.per_message_s == b.per_message_s && a.per_frame_s == b.per_frame_s && a.payload_bytes == b.payload_bytes &&
         a.bytes_per_s == b.bytes_per_s && a.loss == b.loss && a.shared_medium == b.shared_medium;
}

// Swapping hosts a and r changes no plan's cost (neither is the sensor).
bool Interchangeable(const Hosts& h, const std::vector<int>& entry, int a, int r) {
  if (entry[a] == entry[r]) return true;  // same entry: same profile, same links by name
  const PlanDevice &da = h.p.devices[a], &dr = h.p.devices[r];
  if (da.weight_capacity_bytes != dr.weight_capacity_bytes || da.ram_bytes != dr.ram_bytes) return false;
  if (h.sealed && (da.seal.aead_s_per_byte != dr.seal.aead_s_per_byte || da.seal.aead_s_per_frame != dr.seal.aead_s_per_frame))
    return false;
  for (const PlanLayer& l : h.p.layers) {
    if (l.compute_s[a] != l.compute_s[r]) return false;
    for (const PlanCodec& c : l.codecs)
      if (c.encode_s[a] != c.encode_s[r] || c.decode_s[a] != c.decode_s[r]) return false;
  }
  if (h.single_link) return true;
  for (int x = 0; x < h.K(); ++x) {
    if (x == a || x == r) continue;
    if (!SameLink(h, h.Link(a, x), h.Link(r, x)) || !SameLink(h, h.Link(x, a), h.Link(x, r))) return false;
  }
  return SameLink(h, h.Link(a, r), h.Link(r, a));
}

}  // namespace

Hosts ExpandHosts(const Problem& q) {
  Hosts h;
  h.p.model = q.model;
  h.p.dtype = q.dtype;
  h.p.input_bytes = q.input_bytes;
  h.p.sealed = h.sealed = q.sealed;
  h.links = PlanLinks(q);
  h.p.link = h.links[0];
  h.single_link = q.links.empty();
  const std::vector<std::string> names = HostNames(q);
  std::vector<int> entry;
  for (size_t e = 0; e < q.devices.size(); ++e)
    for (int k = 0; k < std::max(1, q.devices[e].count); ++k) {
      PlanDevice d = q.devices[e];
      d.count = 1;
      d.name = names[h.p.devices.size()];
      h.p.devices.push_back(std::move(d));
      entry.push_back(static_cast<int>(e));
    }
  const int K = h.K();
  for (const PlanLayer& l : q.layers) {
    PlanLayer x = l;
    x.compute_s.resize(K);
    for (int k = 0; k < K; ++k) x.compute_s[k] = l.compute_s[entry[k]];
    for (PlanCodec& c : x.codecs) {
      const PlanCodec& from = l.codecs[&c - x.codecs.data()];
      c.encode_s.resize(K);
      c.decode_s.resize(K);
      for (int k = 0; k < K; ++k) {
        c.encode_s[k] = from.encode_s[entry[k]];
        c.decode_s[k] = from.decode_s[entry[k]];
      }
    }
    // Codecs over the budget are never used: drop them here, once.
    std::erase_if(x.codecs, [&](const PlanCodec& c) { return !(c.accuracy_drop <= q.max_accuracy_drop); });
    h.any_codecs |= !x.codecs.empty();
    h.p.layers.push_back(std::move(x));
  }
  h.link_of.assign(static_cast<size_t>(K) * K, h.single_link ? 0 : -1);
  if (!h.single_link)
    for (int a = 0; a < K; ++a)
      for (int b = 0; b < K; ++b) {
        if (a == b) continue;
        const std::string &na = q.devices[entry[a]].name, &nb = q.devices[entry[b]].name;
        int found = -1;
        for (size_t l = 0; l < q.links.size() && found < 0; ++l)
          if (q.links[l].from == na && q.links[l].to == nb) found = static_cast<int>(l);
        for (size_t l = 0; l < q.links.size() && found < 0; ++l)  // the reverse entry serves both ways
          if (q.links[l].from == nb && q.links[l].to == na) found = static_cast<int>(l);
        h.link_of[static_cast<size_t>(a) * K + b] = found;
      }
  for (const LinkProfile& l : h.links) h.any_shared |= l.shared_medium;
  h.type.assign(K, 0);
  h.type_hosts = {{0}};
  for (int a = 1; a < K; ++a) {
    int t = 1;
    while (t < static_cast<int>(h.type_hosts.size()) && !Interchangeable(h, entry, a, h.type_hosts[t][0])) ++t;
    if (t == static_cast<int>(h.type_hosts.size())) h.type_hosts.emplace_back();
    h.type_hosts[t].push_back(a);
    h.type[a] = t;
  }
  h.p.max_accuracy_drop = q.max_accuracy_drop;
  return h;
}

double LinkTime(const Hosts& h, int link, int a, int b, int64_t bytes) {
  const LinkProfile& lp = h.links[static_cast<size_t>(link)];
  if (!h.sealed) return TransferSeconds(lp, bytes);
  return TransferSeconds(lp, bytes, SealedBetween(h.p.devices[static_cast<size_t>(a)].seal, h.p.devices[static_cast<size_t>(b)].seal));
}

HopChoice BestHop(const Hosts& h, int link, int a, int b, int i) {
  const PlanLayer& l = h.p.layers[static_cast<size_t>(i - 1)];
  HopChoice best{LinkTime(h, link, a, b, l.out_bytes), -1};
  for (size_t c = 0; c < l.codecs.size(); ++c) {
    const PlanCodec& x = l.codecs[c];
    if (x.encode_s[a] < 0 || x.decode_s[b] < 0 || (!x.lossless && a != 0)) continue;
    const double s = x.encode_s[a] + LinkTime(h, link, a, b, x.bytes) + x.decode_s[b];
    if (s < best.s) best = {s, static_cast<int>(c)};
  }
  return best;
}

}  // namespace plan_internal
}  // namespace edgesplit
