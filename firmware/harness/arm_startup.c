/* Bare-metal start-up for the Cortex-M harness (ARMv6-M, ARMv7-M, ARMv8-M
 * Mainline): the vector table, the reset handler (FPU on, .data copied from
 * flash, .bss zeroed, main called) and a fault handler. No CMSIS, no C
 * library start-up code. The linker script (arm_sections.ld) provides the
 * symbols and places .vectors first in flash, where the core reads the initial
 * stack pointer and reset vector (VTOR's reset value on the machines used). */
#include <stdint.h>

/* From the linker script. */
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;

/* From arm_main.c. */
int main(void);
void mcg_systick_handler(void);
void mcg_fault_handler(void);

void Reset_Handler(void);

typedef union {
    void (*handler)(void);
    const void *address;
} mcg_vector_t;

/* The 16 system exception vectors; the harness enables no external interrupt,
 * so the table stops there. */
__attribute__((section(".vectors"), used)) static const mcg_vector_t vectors[16] = {
    {.address = &__stack_top},
    {.handler = Reset_Handler},
    {.handler = mcg_fault_handler}, /* NMI */
    {.handler = mcg_fault_handler}, /* HardFault */
    {.handler = mcg_fault_handler}, /* MemManage (v7-M, v8-M) */
    {.handler = mcg_fault_handler}, /* BusFault (v7-M, v8-M) */
    {.handler = mcg_fault_handler}, /* UsageFault (v7-M, v8-M) */
    {.handler = mcg_fault_handler}, /* SecureFault (v8-M) */
    {.address = 0},
    {.address = 0},
    {.address = 0},
    {.handler = mcg_fault_handler}, /* SVCall */
    {.handler = mcg_fault_handler}, /* DebugMonitor */
    {.address = 0},
    {.handler = mcg_fault_handler}, /* PendSV */
    {.handler = mcg_systick_handler},
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CCR (*(volatile uint32_t *)0xE000ED14u)
#define SCB_CCR_UNALIGN_TRP (1u << 3)

void Reset_Handler(void)
{
    uint32_t *dst;
    const uint32_t *src;
#if defined(__ARM_FP)
    /* Built for an FPU: grant full access to CP10 and CP11 before any code
     * could touch a floating-point register. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#ifdef MCG_TRAP_UNALIGNED
    /* ARMv6-M code on an ARMv7-M or v8-M core (a simulator standing in for a
     * Cortex-M0/M0+): fault on unaligned accesses, as the v6-M core would. */
    SCB_CCR |= SCB_CCR_UNALIGN_TRP;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (src = &__data_load, dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    (void)main();
    for (;;) {
    }
}
