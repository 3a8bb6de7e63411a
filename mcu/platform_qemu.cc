// The platform seam on QEMU's mps2-an386 (Cortex-M4F, 25 MHz system clock).
//   * Output: ARM semihosting SYS_WRITE to ":tt" (qemu -semihosting).
//   * Clock: SysTick on the core clock, 24-bit, wraps counted in its interrupt.
//     Under `-icount shift=0` QEMU advances virtual time 1 ns per instruction,
//     so one 25 MHz tick is 40 instructions: the per-layer instruction counts.
//   * Radio: none on this board (RadioSend returns false).
//   * Heap: newlib's malloc grows through _sbrk below, over the region the
//     linker script reserves; LockHeap() makes any later growth fatal.
#include <cstring>

#include "platform.h"

namespace edgesplit::mcu {
namespace {

constexpr uint32_t kCoreHz = 25000000;
constexpr uint32_t kSysTickReload = 0x00FFFFFF;
volatile uint32_t* const kSysTickCtrl = reinterpret_cast<volatile uint32_t*>(0xE000E010);
volatile uint32_t* const kSysTickLoad = reinterpret_cast<volatile uint32_t*>(0xE000E014);
volatile uint32_t* const kSysTickValue = reinterpret_cast<volatile uint32_t*>(0xE000E018);

volatile uint32_t systick_wraps = 0;
int console = -1;
bool heap_locked = false;
size_t heap_bytes = 0;

// ARM semihosting: operation in r0, argument block in r1, result in r0.
int Semihost(int op, const void* args) {
  register int r0 asm("r0") = op;
  register const void* r1 asm("r1") = args;
  asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
constexpr int kSysOpen = 0x01, kSysWrite = 0x05, kSysExit = 0x18;
constexpr int kApplicationExit = 0x20026, kRunTimeErrorUnknown = 0x20023;

}  // namespace

void PlatformInit() {
  static const char tt[] = ":tt";
  const uint32_t open_args[3] = {reinterpret_cast<uint32_t>(tt), 4 /* "w" */, 3};
  console = Semihost(kSysOpen, open_args);
  *kSysTickLoad = kSysTickReload;
  *kSysTickValue = 0;
  *kSysTickCtrl = 0x7;  // core clock, interrupt, enable
}

uint64_t Ticks() {
  // Re-read the wrap count around the counter so a wrap in between is seen.
  uint32_t wraps, value;
  do {
    wraps = systick_wraps;
    value = *kSysTickValue;
  } while (wraps != systick_wraps);
  return static_cast<uint64_t>(wraps) * (kSysTickReload + 1) + (kSysTickReload - value);
}
uint64_t TicksPerSecond() { return kCoreHz; }

void Output(const char* bytes, size_t size) {
  const uint32_t args[3] = {static_cast<uint32_t>(console), reinterpret_cast<uint32_t>(bytes), size};
  Semihost(kSysWrite, args);
}
void Output(const char* text) { Output(text, std::strlen(text)); }

bool RadioSend(const uint8_t*, size_t) { return false; }
void RadioOnReceive(RadioReceiveFn, void*) {}

void Exit(bool ok) {
  Semihost(kSysExit, reinterpret_cast<const void*>(ok ? kApplicationExit : kRunTimeErrorUnknown));
  for (;;) {
  }
}

void LockHeap() { heap_locked = true; }
size_t HeapBytes() { return heap_bytes; }

}  // namespace edgesplit::mcu

using namespace edgesplit::mcu;

extern "C" {
extern char __heap_start[], __heap_end[];  // linker script
void SysTick_Handler() { systick_wraps = systick_wraps + 1; }

void* _sbrk(ptrdiff_t increment) {
  static char* brk = __heap_start;
  if (heap_locked && increment > 0) {
    Output("edgesplit-mcu: error: heap allocation after start-up\n");
    Exit(false);
  }
  if (increment > __heap_end - brk) {
    Output("edgesplit-mcu: error: out of heap\n");
    Exit(false);
  }
  char* old = brk;
  brk += increment;
  heap_bytes += static_cast<size_t>(increment);
  return old;
}
}

// Every C++ allocation passes here: after LockHeap() one is a bug, even when
// malloc could serve it from freed memory without growing the heap.
#include <cstdlib>
#include <new>
void* operator new(size_t size) {
  if (heap_locked) {
    Output("edgesplit-mcu: error: operator new after start-up\n");
    Exit(false);
  }
  void* p = std::malloc(size ? size : 1);
  if (!p) {
    Output("edgesplit-mcu: error: out of memory\n");
    Exit(false);
  }
  return p;
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return operator new(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
