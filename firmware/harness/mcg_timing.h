/* The per-layer stamps of the harness's timing builds.
 *
 * Timing builds compile the model with -DMCG_TIMING_LAYERS=<layers> and
 * -DMCG_TRACE_INCLUDE='"mcg_timing.h"': then MCG_TRACE(i, p, n) after layer i
 * stores the timer in mcg_timing_stamps[i]. It is written in assembly that
 * leaves every register as it found it (ARM: pushes the two it uses; AVR:
 * calls a routine that saves what it uses), so that the model compiles to the
 * code of an untimed build: a C function call, or even inline C, makes the
 * compiler keep values in other registers around it, which changes the code
 * of the kernels it inlines (measured: +14% on a Cortex-M4 convolution). */
#ifndef MCG_TIMING_H
#define MCG_TIMING_H

#include <stdint.h>

/* The bits a stamp holds: AVR 32 (Timer1 and its overflow count), Cortex-M
 * SysTick's 24. */
#if defined(__AVR__)
#define MCG_TIMER_MASK 0xFFFFFFFFu
#else
#define MCG_TIMER_MASK 0x00FFFFFFu
#endif

#ifdef MCG_TIMING_LAYERS
extern volatile uint32_t mcg_timing_stamps[MCG_TIMING_LAYERS];
#if defined(__AVR__)
/* A call to the harness's mcg_timing_stamp_z (firmware/harness/avr_main.c),
 * which stores the timer at Z and preserves every register and SREG: the
 * compiler sees a statement that uses no register at all. */
#define MCG_TRACE(i, p, n)                                                         \
    __asm__ volatile("push r30\n\tpush r31\n\t"                                   \
                     "ldi r30, lo8(mcg_timing_stamps+%0)\n\tldi r31, hi8(mcg_timing_stamps+%0)\n\t" \
                     "%~call mcg_timing_stamp_z\n\tpop r31\n\tpop r30" ::"n"(4 * (i)) : "memory")
#else
/* SysTick's raw down-count (the harness turns it into ticks), in assembly
 * that saves and restores the two registers it uses: the compiler sees a
 * statement with no register operands at all. (With compiler-chosen scratch
 * registers, or in C, the register allocation of the whole invoke function
 * shifts: measured 214 instructions more on one model, VWW.) */
#if __ARM_ARCH >= 7
#define MCG_STAMP_ASM                                                              \
    "push {r0, r1}\n\t"                                                            \
    "movw r0, #:lower16:0xE000E018\n\tmovt r0, #:upper16:0xE000E018\n\t"          \
    "ldr r0, [r0]\n\t"                                                             \
    "movw r1, #:lower16:mcg_timing_stamps+%c0\n\tmovt r1, #:upper16:mcg_timing_stamps+%c0\n\t" \
    "str r0, [r1]\n\tpop {r0, r1}"
#else
#define MCG_STAMP_ASM                                                              \
    "push {r0, r1}\n\tldr r0, 1f\n\tldr r0, [r0]\n\tldr r1, 2f\n\tstr r0, [r1]\n\t"    \
    "pop {r0, r1}\n\tb 3f\n\t.balign 4\n1:\t.word 0xE000E018\n2:\t.word mcg_timing_stamps+%c0\n3:"
#endif
#define MCG_TRACE(i, p, n) __asm__ volatile(MCG_STAMP_ASM ::"i"(4 * (i)) : "memory")
#endif
#endif

#endif /* MCG_TIMING_H */
