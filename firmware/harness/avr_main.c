/* Bare-metal AVR harness (no Arduino core): runs the model on the test vectors
 * in mcg_vectors.h, timing each inference with Timer1 at the CPU clock
 * (prescaler 1, overflows counted by interrupt), and reports over USART0:
 *   "O <output bytes in hex> <cycles>" per input, "S <peak stack bytes>",
 *   "E" at the end; then sleeps with interrupts off, which ends simavr.
 * Trace builds (-DMCG_TRACE_HOOK=...) also print "L <layer> <bytes in hex>"
 * after each layer; timing builds (-DMCG_TIMING_LAYERS, mcg_timing.h) the
 * cycles of each layer (see timing_report below).
 * The same file runs on a real ATmega: read its serial port at 115200 baud. */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

#include "mcg_arch.h"
#include "mcg_timing.h"
#include "mcg_vectors.h"

#define STACK_PAINT 0xA5

extern uint8_t __heap_start;
volatile uint16_t mcg_timer_overflows; /* not static: mcg_timing_stamp_z reads it */

ISR(TIMER1_OVF_vect)
{
    ++mcg_timer_overflows;
}

static void uart_putc(char c)
{
    while (!(UCSR0A & (1 << UDRE0))) {
    }
    UDR0 = (uint8_t)c;
}

static void uart_hex(uint8_t v)
{
    static const char digits[] = "0123456789abcdef";
    uart_putc(digits[v >> 4]);
    uart_putc(digits[v & 15]);
}

static void uart_u32(uint32_t v)
{
    char buf[10];
    uint8_t i = 0;
    do {
        buf[i++] = (char)('0' + (uint8_t)(v % 10));
        v /= 10;
    } while (v);
    while (i) {
        uart_putc(buf[--i]);
    }
}

static uint32_t cycles_now(void)
{
    uint16_t t, ov;
    const uint8_t sreg = SREG;
    cli();
    t = TCNT1;
    ov = mcg_timer_overflows;
    if ((TIFR1 & (1 << TOV1)) && t < 0x8000) {
        ++ov; /* overflow pending, not yet counted */
    }
    SREG = sreg;
    return ((uint32_t)ov << 16) | t;
}

#ifdef MCG_TIMING_LAYERS
/* Timing builds: MCG_TRACE stores the timer after each layer (mcg_timing.h);
 * the differences are printed after the inference ("T <layer> <cycles>"),
 * so printing costs nothing. Layer i's count is stamp[i] - stamp[i-1]
 * (stamp[-1]: the read before the invoke call): besides the layer it holds
 * one stamp (a timer read and a store); layer 0 also holds the invoke call
 * (the input is read in place, not copied); "R <cycles>" is what follows the
 * last layer (the output copy, the return). They add up exactly to the timed
 * inference. "H <stamps> <cycles of that many stamps> <one timer read>",
 * printed once, gives the cost of a stamp for the host to subtract (8 in a
 * row: the count is exact, and each costs flash). */
volatile uint32_t mcg_timing_stamps[MCG_TIMING_LAYERS];

/* Store cycles_now() at Z (little-endian: TCNT1, then the overflow count),
 * preserving every register and SREG (called from MCG_TRACE's assembly). */
__attribute__((naked, used)) void mcg_timing_stamp_z(void)
{
    __asm__ volatile(
        "push r0\n\t"
        "in r0, __SREG__\n\t"
        "cli\n\t"
        "push r24\n\tpush r25\n\tpush r26\n\tpush r27\n\t"
        "lds r24, %[tcnt_lo]\n\t" /* reading the low byte latches the high one */
        "lds r25, %[tcnt_lo]+1\n\t"
        "lds r26, mcg_timer_overflows\n\t"
        "lds r27, mcg_timer_overflows+1\n\t"
        "sbis %[tifr], %[tov]\n\t" /* an overflow pending, not yet counted, */
        "rjmp 1f\n\t"
        "sbrs r25, 7\n\t" /* and the count read after it (low): count it */
        "adiw r26, 1\n"
        "1:\tst Z+, r24\n\tst Z+, r25\n\tst Z+, r26\n\tst Z, r27\n\t"
        "pop r27\n\tpop r26\n\tpop r25\n\tpop r24\n\t"
        "out __SREG__, r0\n\t"
        "pop r0\n\t"
        "ret" ::[tcnt_lo] "n"(_SFR_MEM_ADDR(TCNT1L)),
        [tifr] "n"(_SFR_IO_ADDR(TIFR1)), [tov] "n"(TOV1));
}

#define STAMP_4 MCG_TRACE(0, 0, 0); MCG_TRACE(0, 0, 0); MCG_TRACE(0, 0, 0); MCG_TRACE(0, 0, 0);

static void timing_calibrate(void)
{
    uint32_t a, b, c;
    a = cycles_now();
    b = cycles_now();
    STAMP_4 STAMP_4
    c = cycles_now();
    uart_putc('H');
    uart_putc(' ');
    uart_putc('8');
    uart_putc(' ');
    uart_u32(c - b);
    uart_putc(' ');
    uart_u32(b - a);
    uart_putc('\n');
}

static void timing_report(uint32_t t0, uint32_t t1)
{
    uint16_t i;
    uint32_t prev = t0;
    for (i = 0; i < MCG_TIMING_LAYERS; ++i) {
        uart_putc('T');
        uart_putc(' ');
        uart_u32(i);
        uart_putc(' ');
        uart_u32(mcg_timing_stamps[i] - prev);
        uart_putc('\n');
        prev = mcg_timing_stamps[i];
    }
    uart_putc('R');
    uart_putc(' ');
    uart_u32(t1 - prev);
    uart_putc('\n');
}
#elif defined(MCG_TRACE_HOOK)
/* Trace builds: "L <layer> <bytes in hex>" after each layer. */
void MCG_TRACE_HOOK(int16_t layer, const int8_t *data, uint32_t bytes)
{
    uint32_t i;
    uart_putc('L');
    uart_putc(' ');
    uart_u32((uint32_t)layer);
    uart_putc(' ');
    for (i = 0; i < bytes; ++i) {
        uart_hex((uint8_t)data[i]);
    }
    uart_putc('\n');
}
#endif

/* Fill the free RAM between the end of .bss and the stack with a pattern. */
static void paint_stack(void)
{
    uint8_t *p = &__heap_start;
    uint8_t *sp = (uint8_t *)SP;
    while (p < sp - 16) {
        *p++ = STACK_PAINT;
    }
}

static uint16_t stack_peak(void)
{
    const uint8_t *p = &__heap_start;
    while (p <= (const uint8_t *)RAMEND && *p == STACK_PAINT) {
        ++p;
    }
    return (uint16_t)((const uint8_t *)RAMEND - p + 1);
}

int main(void)
{
    static int8_t in[MCG_VEC_INPUT_SIZE];
    static int8_t out[MCG_VEC_OUTPUT_SIZE];
    uint16_t n, i;
    paint_stack();
    UBRR0H = 0;
    UBRR0L = 8; /* 115200 baud at 16 MHz (within 4%) */
    UCSR0B = (1 << TXEN0);
    UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);
    TCCR1A = 0;
    TCCR1B = (1 << CS10);
    TIMSK1 = (1 << TOIE1);
    sei();
#ifdef MCG_TIMING_LAYERS
    timing_calibrate();
#endif
    for (n = 0; n < MCG_VEC_COUNT; ++n) {
        uint32_t t0, t1;
        for (i = 0; i < MCG_VEC_INPUT_SIZE; ++i) {
            in[i] = MCG_READ_S8(&mcg_vec_inputs[(mcg_idx_t)n * MCG_VEC_INPUT_SIZE + i]);
        }
        t0 = cycles_now();
        MCG_VEC_INVOKE(in, out);
        t1 = cycles_now();
        uart_putc('O');
        uart_putc(' ');
        for (i = 0; i < MCG_VEC_OUTPUT_SIZE; ++i) {
            uart_hex((uint8_t)out[i]);
        }
        uart_putc(' ');
        uart_u32(t1 - t0);
        uart_putc('\n');
#ifdef MCG_TIMING_LAYERS
        timing_report(t0, t1);
#endif
    }
    uart_putc('S');
    uart_putc(' ');
    uart_u32(stack_peak());
    uart_putc('\n');
    uart_putc('E');
    uart_putc('\n');
    cli();
    sleep_cpu();
    for (;;) {
    }
}
