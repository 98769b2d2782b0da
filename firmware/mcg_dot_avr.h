/* AVR: the int8 dot product under the conv and dense kernels, in inline
 * assembly. Weights stream from flash with LPM Z+, inputs from SRAM with
 * LD X+, MULS forms the signed 16-bit product in r1:r0.
 *
 * Exactness without a sign extension: every product p = x * w lies in
 * [-16256, 16256] (|x| <= 128, |w| <= 127), so p + 32768 lies in
 * [16512, 49024] and is its 16-bit pattern with the top bit flipped (the EOR
 * with 0x80, which leaves the carry alone). MCG_AVR_DOT adds n <= 255 such
 * unsigned values into a 24-bit accumulator (at most 255 * 49024 < 2^24):
 *   result = sum(x * w) + n * 32768, exactly.
 * Per product: LD 2, LPM 3, MULS 2, ADD, EOR, ADC, ADC = 11 cycles; the loop
 * is unrolled 4 times (0.75 cycle per product for DEC and BRNE).
 *
 * MCG_AVR_DOT(sum, x, w, n): sum (__uint24) = the result above for the n
 * values at x (const int8_t *, SRAM) and w (const int8_t *, flash); x and w
 * are advanced past them. n is a uint8_t. */
#ifndef MCG_DOT_AVR_H
#define MCG_DOT_AVR_H

#include <stdint.h>

#define MCG_AVR_DOT_STEP                   \
    "ld %[a], X+\n\t"                      \
    "lpm %[b], Z+\n\t"                     \
    "muls %[a], %[b]\n\t"                  \
    "add %A[sum], r0\n\t"                  \
    "eor r1, %[k80]\n\t"                   \
    "adc %B[sum], r1\n\t"                  \
    "adc %C[sum], %[zero]\n\t"

#define MCG_AVR_DOT(sum, x, w, n)                                                      \
    do {                                                                               \
        uint8_t mcg_a_, mcg_b_, mcg_cnt_;                                              \
        __asm__ volatile(                                                              \
            "clr %A[sum]\n\tclr %B[sum]\n\tclr %C[sum]\n\t"                            \
            "mov %[cnt], %[len]\n\tlsr %[cnt]\n\tlsr %[cnt]\n\tbreq 2f\n"              \
            "1:\n\t"                                                                   \
            MCG_AVR_DOT_STEP MCG_AVR_DOT_STEP MCG_AVR_DOT_STEP MCG_AVR_DOT_STEP        \
            "dec %[cnt]\n\tbrne 1b\n"                                                  \
            "2:\n\t"                                                                   \
            "mov %[cnt], %[len]\n\tandi %[cnt], 3\n\tbreq 4f\n"                        \
            "3:\n\t"                                                                   \
            MCG_AVR_DOT_STEP                                                           \
            "dec %[cnt]\n\tbrne 3b\n"                                                  \
            "4:\n\t"                                                                   \
            "clr __zero_reg__\n\t"                                                     \
            : [sum] "=&r"(sum), [x] "+x"(x), [w] "+z"(w),                              \
              [a] "=&d"(mcg_a_), [b] "=&d"(mcg_b_), [cnt] "=&d"(mcg_cnt_)              \
            : [len] "r"((uint8_t)(n)), [k80] "r"((uint8_t)0x80), [zero] "r"((uint8_t)0) \
            : "r0", "cc");                                                             \
    } while (0)

/* The outputs of one input run: for o in [0, n_out),
 *   out[o] = clamp(requantize(bias[o] + sum(x[i] * w[o * n + i], i < n))
 *                  + out_zp, act_min, act_max),
 * w, bias (or NULL), mult and shift in flash, the weights of consecutive
 * outputs contiguous (dense rows, OHWI conv filters), n and n_out >= 1.
 *
 * mcg_avr_outputs_asm does it all in assembly, its state in registers
 * (x r2:r3, shift r4:r5, out r6:r7, outputs left r8:r9, w r10:r11, bias
 * r12:r13, mult r14:r15, out_zp r17, the rest of the job in Y). Products as
 * in MCG_AVR_DOT, added in groups (two products summed in 16 bits, or one
 * alone), each group g as g + 2^15; the 24-bit sum of a run of r <= 256
 * products in G groups starts at -(G * 2^15) mod 2^24, so that it ends at
 * sum(p) (|sum(p)| <=
 * 256 * 16256 < 2^23), sign-extended into the int32 accumulator: chunks of
 * 256 products into job.acc, then the last n % 256 on top of the bias.
 * Modulo 2^32 that is bias + sum(x * w), which the generator keeps inside
 * int32. Then mcg_avr_requantize (a positive shift is a left shift of the
 * accumulator first), + out_zp with overflow to the saturated side, narrowed
 * to int8 and clamped. */
/* MCG_AVR_BELOW_ZERO: an output whose requantize argument a (the
 * accumulator, after a left shift when the shift is positive) is negative
 * and whose multiplier b is not is act_min when act_min >= out_zp (a ReLU
 * folded into the clamp), without the requantization: a * b <= 0, so
 * mcg_avr_requantize(a, b, e) <= 0 (it rounds a non-positive product to a
 * non-positive value), the sum with out_zp is at most out_zp <= act_min (or
 * overflows to the negative side, saturated to -128), and the clamp gives
 * act_min. Both output loops check it before the call: 2 cycles for a >= 0. */
typedef struct {
    int8_t act_min;  /* Y+0 */
    int8_t act_max;  /* Y+1 */
    uint8_t chunks;  /* Y+2: n / 256 */
    uint8_t quads;   /* Y+3: (n % 256) / 4 */
    uint8_t tail;    /* Y+4: n % 4 */
    uint8_t start1;  /* Y+5, Y+6: bytes 1 and 2 of -((n % 256) * 2^15) mod 2^24 */
    uint8_t start2;
    uint8_t left;    /* Y+7: chunks still to do */
    int32_t acc;     /* Y+8..11: the chunks' sum */
} mcg_avr_job;

void mcg_avr_outputs_asm(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
                         const int8_t *shift, int8_t *out, uint16_t n_out, int8_t out_zp, mcg_avr_job *job);

/* One product: X input, Z weight, r21 and r25 the bytes, r18..r20 the sum,
 * r10 = 0x80, r11 = 0. */
#define MCG_AVR_Q \
    "ld r21, X+\n\tlpm r25, Z+\n\tmuls r21, r25\n\tadd r18, r0\n\teor r1, r10\n\tadc r19, r1\n\tadc r20, r11\n\t"
/* Two products summed in 16 bits (r22:r23; |p1 + p2| <= 32512), added as
 * one with the top bit flipped: 21 cycles (r17, out_zp, waits on the stack). */
#define MCG_AVR_Q2                                                                                      \
    "ld r21, X+\n\tld r17, X+\n\tlpm r25, Z+\n\tlpm r16, Z+\n\tmuls r21, r25\n\tmovw r22, r0\n\t"        \
    "muls r17, r16\n\tadd r22, r0\n\tadc r23, r1\n\tadd r18, r22\n\teor r23, r10\n\tadc r19, r23\n\t"   \
    "adc r20, r11\n\t"

MCG_AVR_NAKED void mcg_avr_outputs_asm(const int8_t *x MCG_AVR_UNUSED, const int8_t *w MCG_AVR_UNUSED,
                                       const int32_t *bias MCG_AVR_UNUSED, const int32_t *mult MCG_AVR_UNUSED,
                                       const int8_t *shift MCG_AVR_UNUSED, int8_t *out MCG_AVR_UNUSED,
                                       uint16_t n_out MCG_AVR_UNUSED, int8_t out_zp MCG_AVR_UNUSED,
                                       mcg_avr_job *job MCG_AVR_UNUSED)
{
    __asm__ volatile(
        "push r2\n\tpush r3\n\tpush r4\n\tpush r5\n\tpush r6\n\tpush r7\n\tpush r8\n\tpush r9\n\t"
        "push r10\n\tpush r11\n\tpush r12\n\tpush r13\n\tpush r14\n\tpush r15\n\tpush r16\n\tpush r17\n\t"
        "push r28\n\tpush r29\n\t"
        /* x r24, w r22, bias r20, mult r18, shift r16, out r14, n_out r12, zp r10, job r8 */
        "movw r28, r8\n\tmovw r8, r12\n\tmovw r2, r24\n\tmovw r4, r16\n\tmov r17, r10\n\t"
        "movw r12, r20\n\tmovw r10, r22\n\tmovw r6, r14\n\tmovw r14, r18\n"
        "1:\n\t"                                       /* next output */
        "movw r26, r2\n\tmovw r30, r10\n\tldi r16, 0x80\n\tmov r10, r16\n\tclr r11\n\tpush r17\n\t"
        "ldd r24, Y+2\n\ttst r24\n\tbreq 31f\n\trjmp 30f\n"
        "31:\n\t"                                      /* the last n % 256 products */
        "clr r18\n\tldd r19, Y+5\n\tldd r20, Y+6\n\t"
        "ldd r24, Y+3\n\ttst r24\n\tbreq 7f\n"
        "6:\n\t"
        MCG_AVR_Q2 MCG_AVR_Q2
        "dec r24\n\tbrne 6b\n"
        "7:\n\t"
        "ldd r24, Y+4\n\ttst r24\n\tbreq 9f\n"
        "8:\n\t"
        MCG_AVR_Q
        "dec r24\n\tbrne 8b\n"
        "9:\n\t"
        "pop r17\n\tclr r1\n\tmovw r10, r30\n\t"     /* the next output's weights */
        "mov r21, r20\n\tlsl r21\n\tsbc r21, r21\n\tmovw r22, r18\n\tmovw r24, r20\n\t"
        "cp r12, r1\n\tcpc r13, r1\n\tbreq 32f\n\t"
        "movw r30, r12\n\tlpm r18, Z+\n\tlpm r19, Z+\n\tlpm r20, Z+\n\tlpm r21, Z+\n\tmovw r12, r30\n\t"
        "add r22, r18\n\tadc r23, r19\n\tadc r24, r20\n\tadc r25, r21\n"
        "32:\n\t"
        "ldd r18, Y+2\n\ttst r18\n\tbreq 34f\n\trjmp 33f\n"
        "34:\n\t"
        "movw r30, r14\n\tlpm r18, Z+\n\tlpm r19, Z+\n\tlpm r20, Z+\n\tlpm r21, Z+\n\tmovw r14, r30\n\t"
        "movw r30, r4\n\tlpm r16, Z+\n\tmovw r4, r30\n\t"
        "neg r16\n\tbrpl 11f\n\t"
        "neg r16\n"                                    /* shift > 0: acc <<= shift */
        "10:\n\t"
        "lsl r22\n\trol r23\n\trol r24\n\trol r25\n\tdec r16\n\tbrne 10b\n"
        "11:\n\t"
        "sbrc r25, 7\n\trjmp 40f\n"
        "41:\n\t"
        "call mcg_avr_requantize\n\t"
        /* + out_zp; the int8 it gives, saturated */
        "clr r26\n\tsbrc r17, 7\n\tcom r26\n\t"
        "add r22, r17\n\tadc r23, r26\n\tadc r24, r26\n\tadc r25, r26\n\t"
        "brvs 14f\n\t"
        "mov r26, r22\n\tlsl r26\n\tsbc r26, r26\n\t"
        "cp r23, r26\n\tcpc r24, r26\n\tcpc r25, r26\n\tbreq 16f\n\t"
        "ldi r22, 0x7f\n\tsbrc r25, 7\n\tldi r22, 0x80\n\t"
        "rjmp 16f\n"
        "14:\n\t"                                      /* overflowed: the true sign is the other one */
        "ldi r22, 0x80\n\tsbrc r25, 7\n\tldi r22, 0x7f\n"
        "16:\n\t"
        "ldd r26, Y+0\n\tcp r22, r26\n\tbrge 17f\n\tmov r22, r26\n"
        "17:\n\t"
        "ldd r26, Y+1\n\tcp r26, r22\n\tbrge 18f\n\tmov r22, r26\n"
        "18:\n\t"
        "movw r30, r6\n\tst Z+, r22\n\tmovw r6, r30\n\t"
        "ldi r26, 1\n\tsub r8, r26\n\tsbc r9, r1\n\tbreq 19f\n\t"
        "rjmp 1b\n"
        "19:\n\t"
        "pop r29\n\tpop r28\n\t"
        "pop r17\n\tpop r16\n\tpop r15\n\tpop r14\n\tpop r13\n\tpop r12\n\tpop r11\n\tpop r10\n\t"
        "pop r9\n\tpop r8\n\tpop r7\n\tpop r6\n\tpop r5\n\tpop r4\n\tpop r3\n\tpop r2\n\t"
        "ret\n"
        "30:\n\t"                                      /* n >= 256: chunks of 256 into job.acc */
        "std Y+8, r1\n\tstd Y+9, r1\n\tstd Y+10, r1\n\tstd Y+11, r1\n\tstd Y+7, r24\n"
        "35:\n\t"
        "clr r18\n\tclr r19\n\tldi r20, 0xc0\n\tldi r24, 64\n"   /* -(128 * 2^15) mod 2^24 */
        "36:\n\t"
        MCG_AVR_Q2 MCG_AVR_Q2
        "dec r24\n\tbrne 36b\n\t"
        "mov r21, r20\n\tlsl r21\n\tsbc r21, r21\n\t"
        "ldd r24, Y+8\n\tadd r24, r18\n\tstd Y+8, r24\n\t"
        "ldd r24, Y+9\n\tadc r24, r19\n\tstd Y+9, r24\n\t"
        "ldd r24, Y+10\n\tadc r24, r20\n\tstd Y+10, r24\n\t"
        "ldd r24, Y+11\n\tadc r24, r21\n\tstd Y+11, r24\n\t"
        "ldd r24, Y+7\n\tdec r24\n\tstd Y+7, r24\n\tbrne 35b\n\t"
        "rjmp 31b\n"
        "33:\n\t"                                      /* + the chunks' sum */
        "ldd r18, Y+8\n\tldd r19, Y+9\n\tldd r20, Y+10\n\tldd r21, Y+11\n\t"
        "add r22, r18\n\tadc r23, r19\n\tadc r24, r20\n\tadc r25, r21\n\t"
        "rjmp 34b\n"
        "40:\n\t"                                      /* a < 0 (see MCG_AVR_BELOW_ZERO) */
        "sbrc r21, 7\n\trjmp 41b\n\t"
        "ldd r26, Y+0\n\tcp r26, r17\n\tbrlt 42f\n\t"
        "mov r22, r26\n\trjmp 18b\n"
        "42:\n\t"
        "rjmp 41b\n\t");
}

#undef MCG_AVR_Q
#undef MCG_AVR_Q2

static inline void mcg_avr_outputs(const int8_t *x, uint16_t n, const int8_t *w, const int32_t *bias,
                                   const int32_t *mult, const int8_t *shift, int8_t *out, uint16_t n_out,
                                   int16_t out_zp, int8_t act_min, int8_t act_max)
{
    mcg_avr_job job;
    const uint8_t rest = (uint8_t)(n & 255u);
    /* one 2^15 per added group (two per four products, one per product of
     * the tail): -(groups * 2^15) mod 2^24 is -(groups * 2^7) mod 2^16
     * shifted by a byte */
    const uint8_t groups = (uint8_t)(((rest >> 2) << 1) + (rest & 3u));
    const uint16_t start = (uint16_t)(0u - (uint16_t)((uint16_t)groups << 7));
    job.act_min = act_min;
    job.act_max = act_max;
    job.chunks = (uint8_t)(n >> 8);
    job.quads = (uint8_t)(rest >> 2);
    job.tail = (uint8_t)(rest & 3u);
    job.start1 = (uint8_t)start;
    job.start2 = (uint8_t)(start >> 8);
    mcg_avr_outputs_asm(x, w, bias, mult, shift, out, n_out, (int8_t)out_zp, &job);
}

/* Two input runs at once (two conv windows, two dense rows) against the
 * same weights: for o in [0, n_out), out1[o] from x1 and out2[o] from x2 as
 * in mcg_avr_outputs, n <= 255. Each weight byte is read once for both
 * (LPM 3, LD 2 + MULS 2 + 4 adds twice: 9.5 cycles per product instead of
 * 11.75; 9 in the four-product steps of MCG_AVR_QQ2), and the per-output
 * work of the dot product is shared. During the products Y walks x2 (the
 * job pointer waits on the stack), r14:r15 count and r12:r13 (the bias
 * pointer, also on the stack) hold 0x80 and 0. */
typedef struct {
    const int8_t *shift; /* Y+0 */
    uint16_t n_out;      /* Y+2 */
    int8_t out_zp;       /* Y+4 */
    int8_t act_min;      /* Y+5 */
    int8_t act_max;      /* Y+6 */
    uint8_t quads;       /* Y+7: n / 4 */
    uint8_t tail;        /* Y+8: n % 4 */
    uint8_t start1;      /* Y+9, Y+10: bytes 1 and 2 of -(groups * 2^15) mod 2^24 */
    uint8_t start2;
    int32_t acc2;        /* Y+11..14: the second accumulator while the first is requantized */
} mcg_avr_job2;

void mcg_avr_outputs2_asm(const int8_t *x1, const int8_t *x2, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, int8_t *out1, int8_t *out2, mcg_avr_job2 *job);

/* One weight, two products: Z weight, X and Y the inputs, r24 and r25 the
 * bytes, r18..r20 and r21..r23 the sums, r12 = 0x80, r13 = 0. */
#define MCG_AVR_QQ                                                                                 \
    "lpm r24, Z+\n\tld r25, X+\n\tmuls r25, r24\n\tadd r18, r0\n\teor r1, r12\n\tadc r19, r1\n\t" \
    "adc r20, r13\n\tld r25, Y+\n\tmuls r25, r24\n\tadd r21, r0\n\teor r1, r12\n\tadc r22, r1\n\t" \
    "adc r23, r13\n\t"
/* Two weights (r24, r16), four products: the two products of each input run
 * summed in 16 bits first (r10:r11; |p1 + p2| <= 32512 fits), then added to
 * its sum with the top bit flipped as one product: 18 cycles per weight
 * pair and run, 9 per product. */
#define MCG_AVR_QQ2                                                                                    \
    "lpm r24, Z+\n\tlpm r16, Z+\n\tld r25, X+\n\tld r17, X+\n\tmuls r25, r24\n\tmovw r10, r0\n\t"      \
    "muls r17, r16\n\tadd r10, r0\n\tadc r11, r1\n\tadd r18, r10\n\teor r11, r12\n\tadc r19, r11\n\t"  \
    "adc r20, r13\n\tld r25, Y+\n\tld r17, Y+\n\tmuls r25, r24\n\tmovw r10, r0\n\tmuls r17, r16\n\t"   \
    "add r10, r0\n\tadc r11, r1\n\tadd r21, r10\n\teor r11, r12\n\tadc r22, r11\n\tadc r23, r13\n\t"

MCG_AVR_NAKED void mcg_avr_outputs2_asm(const int8_t *x1 MCG_AVR_UNUSED, const int8_t *x2 MCG_AVR_UNUSED,
                                        const int8_t *w MCG_AVR_UNUSED, const int32_t *bias MCG_AVR_UNUSED,
                                        const int32_t *mult MCG_AVR_UNUSED, int8_t *out1 MCG_AVR_UNUSED,
                                        int8_t *out2 MCG_AVR_UNUSED, mcg_avr_job2 *job MCG_AVR_UNUSED)
{
    __asm__ volatile(
        "push r2\n\tpush r3\n\tpush r4\n\tpush r5\n\tpush r6\n\tpush r7\n\tpush r8\n\tpush r9\n\t"
        "push r10\n\tpush r11\n\tpush r12\n\tpush r13\n\tpush r14\n\tpush r15\n\tpush r16\n\tpush r17\n\t"
        "push r28\n\tpush r29\n\t"
        /* x1 r24, x2 r22, w r20, bias r18, mult r16, out1 r14, out2 r12, job r10 */
        "movw r28, r10\n\tmovw r2, r24\n\tmovw r4, r22\n\tmovw r10, r20\n\t"
        "movw r8, r12\n\tmovw r12, r18\n\tmovw r6, r14\n\tmovw r14, r16\n"
        "1:\n\t"                                       /* next output pair */
        "push r12\n\tpush r13\n\t"
        "movw r26, r2\n\tmovw r30, r10\n\tldi r16, 0x80\n\tmov r12, r16\n\tclr r13\n\t"
        "clr r18\n\tldd r19, Y+9\n\tldd r20, Y+10\n\tclr r21\n\tmov r22, r19\n\tmov r23, r20\n\t"
        "push r14\n\tpush r15\n\tpush r28\n\tpush r29\n\t"
        "ldd r14, Y+7\n\tldd r15, Y+8\n\tmovw r28, r4\n\t"
        "tst r14\n\tbreq 7f\n"
        "6:\n\t"
        MCG_AVR_QQ2 MCG_AVR_QQ2
        "dec r14\n\tbrne 6b\n"
        "7:\n\t"
        "tst r15\n\tbreq 9f\n"
        "8:\n\t"
        MCG_AVR_QQ
        "dec r15\n\tbrne 8b\n"
        "9:\n\t"
        "pop r29\n\tpop r28\n\tpop r15\n\tpop r14\n\tpop r13\n\tpop r12\n\t"
        "clr r1\n\tmovw r10, r30\n\t"                  /* the next output's weights */
        /* bias in r16, r17, r26, r27 */
        "clr r16\n\tclr r17\n\tmovw r26, r16\n\t"
        "cp r12, r1\n\tcpc r13, r1\n\tbreq 2f\n\t"
        "movw r30, r12\n\tlpm r16, Z+\n\tlpm r17, Z+\n\tlpm r26, Z+\n\tlpm r27, Z+\n\tmovw r12, r30\n"
        "2:\n\t"
        /* acc2 = bias + sum2 -> job.acc2; acc1 = bias + sum1 -> r22..r25 */
        "mov r0, r23\n\tlsl r0\n\tsbc r0, r0\n\t"
        "add r21, r16\n\tadc r22, r17\n\tadc r23, r26\n\tadc r0, r27\n\t"
        "std Y+11, r21\n\tstd Y+12, r22\n\tstd Y+13, r23\n\tstd Y+14, r0\n\t"
        "mov r21, r20\n\tlsl r21\n\tsbc r21, r21\n\tmovw r22, r18\n\tmovw r24, r20\n\t"
        "add r22, r16\n\tadc r23, r17\n\tadc r24, r26\n\tadc r25, r27\n\t"
        /* the shift, r17 */
        "ldd r30, Y+0\n\tldd r31, Y+1\n\tlpm r17, Z+\n\tstd Y+0, r30\n\tstd Y+1, r31\n\t"
        /* r22 = the int8 output of the accumulator in r22..r25: multiplier at
         * r14:r15, shift r17, zero point and clamp in the job (twice) */
        "movw r30, r14\n\tlpm r18, Z+\n\tlpm r19, Z+\n\tlpm r20, Z+\n\tlpm r21, Z+\n\t"
        "mov r16, r17\n\tneg r16\n\tbrpl 422f\n\t"
        "mov r16, r17\n"                               /* shift > 0: acc <<= shift */
        "421:\n\t"
        "lsl r22\n\trol r23\n\trol r24\n\trol r25\n\tdec r16\n\tbrne 421b\n"
        "422:\n\t"
        "sbrc r25, 7\n\trjmp 440f\n"
        "441:\n\t"
        "call mcg_avr_requantize\n\t"
        "ldd r26, Y+4\n\tclr r27\n\tsbrc r26, 7\n\tcom r27\n\t"
        "add r22, r26\n\tadc r23, r27\n\tadc r24, r27\n\tadc r25, r27\n\t"
        "brvs 424f\n\t"
        "mov r26, r22\n\tlsl r26\n\tsbc r26, r26\n\t"
        "cp r23, r26\n\tcpc r24, r26\n\tcpc r25, r26\n\tbreq 426f\n\t"
        "ldi r22, 0x7f\n\tsbrc r25, 7\n\tldi r22, 0x80\n\t"
        "rjmp 426f\n"
        "424:\n\t"
        "ldi r22, 0x80\n\tsbrc r25, 7\n\tldi r22, 0x7f\n"
        "426:\n\t"
        "ldd r26, Y+5\n\tcp r22, r26\n\tbrge 427f\n\tmov r22, r26\n"
        "427:\n\t"
        "ldd r26, Y+6\n\tcp r26, r22\n\tbrge 428f\n\tmov r22, r26\n"
        "428:\n\t"
        "movw r30, r6\n\tst Z+, r22\n\tmovw r6, r30\n\t"
        "ldd r22, Y+11\n\tldd r23, Y+12\n\tldd r24, Y+13\n\tldd r25, Y+14\n\t"
        "movw r30, r14\n\tlpm r18, Z+\n\tlpm r19, Z+\n\tlpm r20, Z+\n\tlpm r21, Z+\n\t"
        "mov r16, r17\n\tneg r16\n\tbrpl 522f\n\t"
        "mov r16, r17\n"                               /* shift > 0: acc <<= shift */
        "521:\n\t"
        "lsl r22\n\trol r23\n\trol r24\n\trol r25\n\tdec r16\n\tbrne 521b\n"
        "522:\n\t"
        "sbrc r25, 7\n\trjmp 540f\n"
        "541:\n\t"
        "call mcg_avr_requantize\n\t"
        "ldd r26, Y+4\n\tclr r27\n\tsbrc r26, 7\n\tcom r27\n\t"
        "add r22, r26\n\tadc r23, r27\n\tadc r24, r27\n\tadc r25, r27\n\t"
        "brvs 524f\n\t"
        "mov r26, r22\n\tlsl r26\n\tsbc r26, r26\n\t"
        "cp r23, r26\n\tcpc r24, r26\n\tcpc r25, r26\n\tbreq 526f\n\t"
        "ldi r22, 0x7f\n\tsbrc r25, 7\n\tldi r22, 0x80\n\t"
        "rjmp 526f\n"
        "524:\n\t"
        "ldi r22, 0x80\n\tsbrc r25, 7\n\tldi r22, 0x7f\n"
        "526:\n\t"
        "ldd r26, Y+5\n\tcp r22, r26\n\tbrge 527f\n\tmov r22, r26\n"
        "527:\n\t"
        "ldd r26, Y+6\n\tcp r26, r22\n\tbrge 528f\n\tmov r22, r26\n"
        "528:\n\t"
        "movw r30, r8\n\tst Z+, r22\n\tmovw r8, r30\n\t"
        "ldi r30, 4\n\tadd r14, r30\n\tadc r15, r1\n\t"   /* the next multiplier */
        "ldd r30, Y+2\n\tldd r31, Y+3\n\tsbiw r30, 1\n\tstd Y+2, r30\n\tstd Y+3, r31\n\t"
        "breq 19f\n\t"
        "rjmp 1b\n"
        "19:\n\t"
        "pop r29\n\tpop r28\n\t"
        "pop r17\n\tpop r16\n\tpop r15\n\tpop r14\n\tpop r13\n\tpop r12\n\tpop r11\n\tpop r10\n\t"
        "pop r9\n\tpop r8\n\tpop r7\n\tpop r6\n\tpop r5\n\tpop r4\n\tpop r3\n\tpop r2\n\t"
        "ret\n"
        "440:\n\t"                                     /* a < 0 (see MCG_AVR_BELOW_ZERO) */
        "sbrc r21, 7\n\trjmp 441b\n\t"
        "ldd r26, Y+5\n\tldd r27, Y+4\n\tcp r26, r27\n\tbrlt 442f\n\t"
        "mov r22, r26\n\trjmp 428b\n"
        "442:\n\t"
        "rjmp 441b\n"
        "540:\n\t"
        "sbrc r21, 7\n\trjmp 541b\n\t"
        "ldd r26, Y+5\n\tldd r27, Y+4\n\tcp r26, r27\n\tbrlt 542f\n\t"
        "mov r22, r26\n\trjmp 528b\n"
        "542:\n\t"
        "rjmp 541b\n\t");
}

#undef MCG_AVR_QQ
#undef MCG_AVR_QQ2

/* mcg_avr_outputs for two runs x1 -> out1 and x2 -> out2 (n <= 255). */
static inline void mcg_avr_outputs2(const int8_t *x1, const int8_t *x2, uint8_t n, const int8_t *w,
                                    const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out1,
                                    int8_t *out2, uint16_t n_out, int16_t out_zp, int8_t act_min, int8_t act_max)
{
    mcg_avr_job2 job;
    /* as in mcg_avr_outputs, with one 2^15 per added group: two per four
     * products (MCG_AVR_QQ2), one per product of the tail */
    const uint8_t groups = (uint8_t)(((n >> 2) << 1) + (n & 3u));
    const uint16_t start = (uint16_t)(0u - (uint16_t)((uint16_t)groups << 7));
    job.shift = shift;
    job.n_out = n_out;
    job.out_zp = (int8_t)out_zp;
    job.act_min = act_min;
    job.act_max = act_max;
    job.quads = (uint8_t)(n >> 2);
    job.tail = (uint8_t)(n & 3u);
    job.start1 = (uint8_t)start;
    job.start2 = (uint8_t)(start >> 8);
    mcg_avr_outputs2_asm(x1, x2, w, bias, mult, out1, out2, &job);
}

#endif /* MCG_DOT_AVR_H */
