// The platform seam of the device core: the only calls the firmware makes to
// the board. Everything else (graph, kernels, executor, wire, segment reader)
// is portable C++ that never touches the OS or the hardware.
//
// One implementation per board: platform_qemu.cc (Cortex-M4 on QEMU's
// mps2-an386: semihosting output, SysTick clock, no radio); an ESP-IDF sketch
// is in docs/esp32.md (esp_timer, ESP-NOW callbacks).
//
// Thread-safety: single-threaded firmware; RadioReceive's callback may be
// called from an interrupt or radio task on boards that have one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgesplit::mcu {

// Called once from the reset handler before main (clock, FPU, console).
void PlatformInit();

// A free-running clock: Ticks() / TicksPerSecond() seconds since PlatformInit.
uint64_t Ticks();
uint64_t TicksPerSecond();

// Writes bytes to the board's console (semihosting on QEMU, UART elsewhere).
void Output(const char* bytes, size_t size);
void Output(const char* text);  // NUL-terminated

// The radio link. Send returns false when the frame could not be queued (or
// the board has no radio). `on_frame` runs for each received frame; the bytes
// are valid only during the call.
using RadioReceiveFn = void (*)(const uint8_t* frame, size_t size, void* context);
bool RadioSend(const uint8_t* frame, size_t size);
void RadioOnReceive(RadioReceiveFn on_frame, void* context);

// Ends the program (QEMU exits with status 0 for `ok`, 1 otherwise).
[[noreturn]] void Exit(bool ok);

// No heap after start-up: once LockHeap() is called, any allocation is a bug
// the platform reports (naming the byte count) and exits on. HeapBytes() is
// what was allocated before.
void LockHeap();
size_t HeapBytes();

}  // namespace edgesplit::mcu
