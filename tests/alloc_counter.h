// Counts heap allocations in a test binary, to assert that a hot path makes
// none. Include from exactly one translation unit per binary (it defines the
// global operator new). Under AddressSanitizer, which owns operator new, it
// counts through the sanitizer's malloc hook instead.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace edgesplit::testing {
inline std::atomic<long> g_allocation_count{0};
inline long AllocationCount() { return g_allocation_count.load(std::memory_order_relaxed); }
}  // namespace edgesplit::testing

#if defined(__SANITIZE_ADDRESS__)
#define ES_ALLOC_COUNT_VIA_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ES_ALLOC_COUNT_VIA_SANITIZER 1
#endif
#endif

#ifdef ES_ALLOC_COUNT_VIA_SANITIZER
// Declared in <sanitizer/allocator_interface.h>, which gcc does not ship.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*on_malloc)(const volatile void*, size_t),
                                                         void (*on_free)(const volatile void*));
namespace edgesplit::testing {
inline void OnMallocHook(const volatile void*, size_t) { g_allocation_count.fetch_add(1, std::memory_order_relaxed); }
inline void OnFreeHook(const volatile void*) {}
inline const int kAllocHooksInstalled = __sanitizer_install_malloc_and_free_hooks(OnMallocHook, OnFreeHook);
}  // namespace edgesplit::testing
#else
// malloc-backed replacements; gcc cannot pair them and would warn on each delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  edgesplit::testing::g_allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  edgesplit::testing::g_allocation_count.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size ? size : 1);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif
