/* Bare-metal Cortex-M harness (no CMSIS, no Arduino, no semihosting for I/O):
 * runs the model on the test vectors in mcg_vectors.h, timing each inference
 * with SysTick at the processor clock (24-bit down-counter, wraps counted by
 * its interrupt), and reports over a CMSDK APB UART:
 *   "O <output bytes in hex> <count>" per input, "S <peak stack bytes>",
 *   "E" at the end; in trace builds also "L <layer> <bytes in hex>"; in
 * timing builds (-DMCG_TIMING_LAYERS, mcg_timing.h) the count of each layer
 * (see timing_report below).
 * <count> is SysTick ticks times MCG_COUNT_PER_TICK: on a real chip SysTick
 * counts core cycles (MCG_COUNT_PER_TICK 1); under QEMU's -icount the build
 * sets it to the instructions per tick (see mcugen/targets/arm.py).
 *
 * Everything that touches hardware is in the small functions below: port it
 * to another Cortex-M chip by changing uart_init/uart_putc (its UART) and
 * board_exit; SysTick and the SCB are the same on every Cortex-M.
 * Build-time settings, with the MPS2 (AN385/AN386/AN500) values as defaults:
 *   MCG_UART_BASE      CMSDK APB UART base address
 *   MCG_UART_BAUDDIV   UART clock / baud rate
 *   MCG_COUNT_PER_TICK what one SysTick tick is worth in the reported unit
 *   MCG_SEMIHOSTING_EXIT  end with a semihosting SYS_EXIT (for a simulator;
 *                      on a chip without a debugger attached it would fault) */
#include <stdint.h>

#include "mcg_arch.h"
#include "mcg_timing.h"
#include "mcg_vectors.h"

#ifndef MCG_UART_BASE
#define MCG_UART_BASE 0x40004000u
#endif
#ifndef MCG_UART_BAUDDIV
#define MCG_UART_BAUDDIV 217u /* 115200 baud from 25 MHz */
#endif
#ifndef MCG_COUNT_PER_TICK
#define MCG_COUNT_PER_TICK 1u
#endif

/* CMSDK APB UART registers. */
#define UART_DATA (*(volatile uint32_t *)(MCG_UART_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(MCG_UART_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(MCG_UART_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(MCG_UART_BASE + 0x10u))
#define UART_STATE_TX_FULL 0x1u
#define UART_CTRL_TX_EN 0x1u

/* SysTick and the System Control Block (the same on every Cortex-M). */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE 0x4u /* 1: the processor clock */
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SYST_MAX 0x00FFFFFFu

#define STACK_PAINT 0xA5A5A5A5u

/* From the linker script. */
extern uint32_t __bss_end, __stack_top;

/* Called from arm_startup.c's vector table. */
void mcg_systick_handler(void);
void mcg_fault_handler(void);

static volatile uint32_t systick_wraps;

/* ------------------------------------------------------------ the UART */

static void uart_init(void)
{
    UART_BAUDDIV = MCG_UART_BAUDDIV;
    UART_CTRL = UART_CTRL_TX_EN;
}

static void uart_putc(char c)
{
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_DATA = (uint8_t)c;
}

static void uart_hex(uint8_t v)
{
    static const char digits[] = "0123456789abcdef";
    uart_putc(digits[v >> 4]);
    uart_putc(digits[v & 15u]);
}

static void uart_u64(uint64_t v)
{
    char buf[20];
    uint8_t i = 0;
    do {
        buf[i++] = (char)('0' + (uint8_t)(v % 10u));
        v /= 10u;
    } while (v);
    while (i) {
        uart_putc(buf[--i]);
    }
}

/* ------------------------------------------------------------ the timer */

void mcg_systick_handler(void)
{
    ++systick_wraps;
}

static void timer_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_MAX;
    SYST_CVR = 0; /* any write clears the count: it reloads on the next tick */
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    while (SYST_CVR == 0) {
        /* until that reload: read before it, 0 would look like a full period */
    }
}

/* Ticks since timer_start, read as on any Cortex-M: with interrupts masked,
 * the counter and the wrap count; a wrap whose interrupt is still pending is
 * counted if the counter was read after it (then it has just reloaded, so it
 * is high; read before it, it would be low). */
static uint64_t ticks_now(void)
{
    uint32_t primask, value, wraps;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    value = SYST_CVR;
    wraps = systick_wraps;
    if ((SCB_ICSR & SCB_ICSR_PENDSTSET) && value > SYST_MAX / 2u) {
        ++wraps;
    }
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return ((uint64_t)wraps << 24) + (SYST_MAX - value);
}

/* ------------------------------------------------------------ the end */

static void board_exit(uint32_t failed)
{
#ifdef MCG_SEMIHOSTING_EXIT
    /* SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit (0x20026) or
     * ADP_Stopped_InternalError (0x20024): QEMU exits with status 0 or 1. */
    register uint32_t op __asm__("r0") = 0x18u;
    register uint32_t reason __asm__("r1") = failed ? 0x20024u : 0x20026u;
    __asm__ volatile("bkpt 0xab" ::"r"(op), "r"(reason) : "memory");
#else
    (void)failed;
#endif
    __asm__ volatile("cpsid i" ::: "memory");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

/* Any fault or unexpected exception: "F <exception number>", then stop. */
void mcg_fault_handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    uart_init();
    uart_putc('F');
    uart_putc(' ');
    uart_u64(ipsr & 0x1FFu);
    uart_putc('\n');
    board_exit(1);
}

/* ------------------------------------------------------------ the stack */

/* Fill the free RAM between the end of .bss and the stack with a pattern
 * (volatile, so the compiler cannot make it a memset call using the stack). */
static void paint_stack(void)
{
    volatile uint32_t *p = &__bss_end;
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    while (p < sp - 4) {
        *p++ = STACK_PAINT;
    }
}

static uint32_t stack_peak(void)
{
    const volatile uint32_t *w = &__bss_end;
    const volatile uint8_t *b;
    while (w < &__stack_top && *w == STACK_PAINT) {
        ++w;
    }
    b = (const volatile uint8_t *)w;
    while (b < (const volatile uint8_t *)&__stack_top && *b == (uint8_t)STACK_PAINT) {
        ++b; /* the lowest bytes of the first touched word may be untouched */
    }
    return (uint32_t)((const uint8_t *)&__stack_top - (const uint8_t *)b);
}

/* ------------------------------------------------------------ the run */

#ifdef MCG_TIMING_LAYERS
/* Timing builds: MCG_TRACE stores SysTick after each layer (mcg_timing.h);
 * the differences are printed after the inference ("T <layer> <count>"), so
 * printing costs nothing. Layer i's count is stamp[i] - stamp[i-1] (stamp[-1]:
 * the read before the invoke call): besides the layer it holds one stamp (a
 * timer read and a store); layer 0 also holds the invoke call and the copy of
 * the input into the arena; "R <count>" is what follows the last layer (the
 * output copy, the return). Stamps are ticks modulo 2^24, so one layer must
 * take fewer than 2^24 ticks (the host checks that the counts add up to the
 * timed inference). "H 64 <count of 64 stamps> <one timer read>", printed once
 * (64 in a row: a tick is 40 instructions), gives the
 * cost of a stamp for the host to subtract. */
volatile uint32_t mcg_timing_stamps[MCG_TIMING_LAYERS];

#define STAMP_4 MCG_TRACE(0, 0, 0); MCG_TRACE(0, 0, 0); MCG_TRACE(0, 0, 0); MCG_TRACE(0, 0, 0);
#define STAMP_16 STAMP_4 STAMP_4 STAMP_4 STAMP_4
#define STAMP_64 STAMP_16 STAMP_16 STAMP_16 STAMP_16

static void timing_calibrate(void)
{
    uint64_t a, b, c;
    a = ticks_now();
    b = ticks_now();
    STAMP_64
    c = ticks_now();
    uart_putc('H');
    uart_putc(' ');
    uart_u64(64);
    uart_putc(' ');
    uart_u64((c - b) * MCG_COUNT_PER_TICK);
    uart_putc(' ');
    uart_u64((b - a) * MCG_COUNT_PER_TICK);
    uart_putc('\n');
}

/* Layer i's stamp in ticks (modulo 2^24), counting up as ticks_now does. */
static uint32_t stamp_ticks(uint32_t i)
{
    return SYST_MAX - mcg_timing_stamps[i];
}

static void uart_ticks(uint32_t ticks)
{
    uart_u64((uint64_t)(ticks & MCG_TIMER_MASK) * MCG_COUNT_PER_TICK);
}

static void timing_report(uint64_t t0, uint64_t t1)
{
    uint32_t i, prev = (uint32_t)t0;
    for (i = 0; i < MCG_TIMING_LAYERS; ++i) {
        uart_putc('T');
        uart_putc(' ');
        uart_u64(i);
        uart_putc(' ');
        uart_ticks(stamp_ticks(i) - prev);
        uart_putc('\n');
        prev = stamp_ticks(i);
    }
    uart_putc('R');
    uart_putc(' ');
    uart_ticks((uint32_t)t1 - prev);
    uart_putc('\n');
}
#elif defined(MCG_TRACE_HOOK)
/* Trace builds: "L <layer> <bytes in hex>" after each layer. */
void MCG_TRACE_HOOK(int16_t layer, const int8_t *data, uint32_t bytes)
{
    uint32_t i;
    uart_putc('L');
    uart_putc(' ');
    uart_u64((uint32_t)layer);
    uart_putc(' ');
    for (i = 0; i < bytes; ++i) {
        uart_hex((uint8_t)data[i]);
    }
    uart_putc('\n');
}
#endif

int main(void)
{
    static int8_t in[MCG_VEC_INPUT_SIZE] __attribute__((aligned(4))); /* int16 ports are read through int16_t pointers */
    static int8_t out[MCG_VEC_OUTPUT_SIZE] __attribute__((aligned(4))); /* int16 ports are read through int16_t pointers */
    uint32_t n, i;
    paint_stack();
    uart_init();
    timer_start();
#ifdef MCG_TIMING_LAYERS
    timing_calibrate();
#endif
    for (n = 0; n < MCG_VEC_COUNT; ++n) {
        uint64_t t0, t1;
        for (i = 0; i < MCG_VEC_INPUT_SIZE; ++i) {
            in[i] = MCG_READ_S8(&mcg_vec_inputs[(mcg_idx_t)n * MCG_VEC_INPUT_SIZE + i]);
        }
        t0 = ticks_now();
        MCG_VEC_INVOKE(in, out);
        t1 = ticks_now();
        uart_putc('O');
        uart_putc(' ');
        for (i = 0; i < MCG_VEC_OUTPUT_SIZE; ++i) {
            uart_hex((uint8_t)out[i]);
        }
        uart_putc(' ');
        uart_u64((t1 - t0) * MCG_COUNT_PER_TICK);
        uart_putc('\n');
#ifdef MCG_TIMING_LAYERS
        timing_report(t0, t1);
#endif
    }
    uart_putc('S');
    uart_putc(' ');
    uart_u64(stack_peak());
    uart_putc('\n');
    uart_putc('E');
    uart_putc('\n');
    board_exit(0);
    return 0;
}
