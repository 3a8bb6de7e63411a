// A seeded synthetic planning instance: `devices` identical-capacity devices
// (compute speeds in three classes) and `groups` random layer groups over an
// ESP-NOW-like link. Shared by the planner's large-chain test and plan_bench,
// so the test checks the very instances the benchmark times.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>

#include "edgesplit/plan.h"

namespace edgesplit::testing {

inline Problem SyntheticChain(int devices, int groups, uint64_t seed, int64_t weight_capacity_bytes) {
  std::mt19937_64 rng(seed);
  Problem p;
  p.input_bytes = 150528;
  for (int k = 0; k < devices; ++k) p.devices.push_back({"d" + std::to_string(k), weight_capacity_bytes, 1000000});
  for (int g = 0; g < groups; ++g) {
    PlanLayer l{"g" + std::to_string(g), int64_t(rng() % 100000), int64_t(rng() % 50000), int64_t(rng() % 500000), {}};
    for (int k = 0; k < devices; ++k) l.compute_s.push_back((rng() % 1000) * 1e-4 * (1 + k % 3));
    p.layers.push_back(std::move(l));
  }
  p.link.per_message_s = 0.004;
  p.link.per_frame_s = 0.0012;
  p.link.payload_bytes = 250;
  p.link.bytes_per_s = 125000;
  return p;
}

}  // namespace edgesplit::testing
