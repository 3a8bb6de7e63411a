// Registry of optional backends (built outside the portable core, e.g. oneDNN):
// a fixed array filled by static initializers, so FindBackend works without
// the portable core depending on them. No heap, no locks: registration happens
// before main().
#include <cstring>

#include "edgesplit/kernels.h"

namespace edgesplit {
namespace {

constexpr int kMaxRegisteredBackends = 8;
const Backend* g_backends[kMaxRegisteredBackends] = {};  // constant-initialised: safe from any static initializer
int g_num_backends = 0;

}  // namespace

bool RegisterBackend(const Backend* backend) {
  if (!backend || g_num_backends == kMaxRegisteredBackends || FindBackend(backend->name())) return false;
  g_backends[g_num_backends++] = backend;
  return true;
}

const Backend* FindRegisteredBackend(std::string_view name) {
  for (int i = 0; i < g_num_backends; ++i)
    if (name == g_backends[i]->name()) return g_backends[i];
  return nullptr;
}

}  // namespace edgesplit
