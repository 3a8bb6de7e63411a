// Reset handler and vector table for a Cortex-M4F (mps2-an386 on QEMU).
// Copies .data from flash, clears .bss, enables the FPU, runs static
// constructors, then main(); a fault prints its name and exits with failure.
#include <cstdint>

#include "platform.h"

extern "C" {
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
void __libc_init_array();
int main();
void SysTick_Handler();
// newlib's __libc_init_array calls these; crti/crtn are not linked (-nostartfiles).
void _init() {}
void _fini() {}

[[noreturn]] void Reset_Handler() {
  for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (uint32_t* p = __bss_start; p < __bss_end;) *p++ = 0;
  // CPACR: full access to CP10/CP11 before any float instruction runs.
  *reinterpret_cast<volatile uint32_t*>(0xE000ED88) |= 0xFu << 20;
  asm volatile("dsb\n isb");
  edgesplit::mcu::PlatformInit();
  __libc_init_array();
  edgesplit::mcu::Exit(main() == 0);
}

[[noreturn]] static void Fault(const char* name) {
  edgesplit::mcu::Output("edgesplit-mcu: fault: ");
  edgesplit::mcu::Output(name);
  edgesplit::mcu::Output("\n");
  edgesplit::mcu::Exit(false);
}
void NMI_Handler() { Fault("NMI"); }
void HardFault_Handler() { Fault("HardFault"); }
void MemManage_Handler() { Fault("MemManage"); }
void BusFault_Handler() { Fault("BusFault"); }
void UsageFault_Handler() { Fault("UsageFault"); }
void Unused_Handler() { Fault("unexpected interrupt"); }

using Handler = void (*)();
__attribute__((section(".vectors"), used)) const Handler kVectors[16] = {
    reinterpret_cast<Handler>(__stack_top), Reset_Handler, NMI_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, nullptr, nullptr, nullptr, nullptr,
    Unused_Handler /* SVCall */, Unused_Handler /* DebugMon */, nullptr, Unused_Handler /* PendSV */,
    SysTick_Handler};
}
