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
 * (x r2:r3, w r10:r11, bias r12:r13, mult r14:r15, the job in Y), the
 * products as in MCG_AVR_DOT: the int32 accumulator starts at
 * bias - n * 2^15 and takes the 24-bit sum of each chunk of 256 products
 * (and of the last, shorter one); modulo 2^32 that is bias + sum(x * w),
 * which the generator keeps inside int32. Then mcg_avr_requantize (a
 * positive shift is a left shift of the accumulator first), + out_zp with
 * overflow to the saturated side, narrowed to int8 and clamped. */
typedef struct {
    const int32_t *bias; /* Y+0 */
    const int32_t *mult; /* Y+2 */
    const int8_t *shift; /* Y+4 */
    int8_t *out;         /* Y+6 */
    uint16_t n_out;      /* Y+8 */
    int8_t out_zp;       /* Y+10 */
    int8_t act_min;      /* Y+11 */
    int8_t act_max;      /* Y+12 */
    uint8_t chunks;      /* Y+13: n / 256 */
    uint8_t quads;       /* Y+14: (n / 4) % 64 */
    uint8_t tail;        /* Y+15: n % 4 */
    uint8_t left;        /* Y+16: chunks still to do */
} mcg_avr_job;

void mcg_avr_outputs_asm(const int8_t *x, const int8_t *w, uint16_t n, mcg_avr_job *job);

/* One product: X input, Z weight, r21 and r17 the bytes, r18..r20 the sum,
 * r4 = 0x80, r6 = 0. */
#define MCG_AVR_Q \
    "ld r21, X+\n\tlpm r17, Z+\n\tmuls r21, r17\n\tadd r18, r0\n\teor r1, r4\n\tadc r19, r1\n\tadc r20, r6\n\t"
#define MCG_AVR_FLUSH "add r22, r18\n\tadc r23, r19\n\tadc r24, r20\n\tadc r25, r6\n\t"

__asm__(
    ".pushsection .text.mcg_avr_outputs_asm,\"ax\",@progbits\n\t"
    ".weak mcg_avr_outputs_asm\n\t"
    ".type mcg_avr_outputs_asm, @function\n"
    "mcg_avr_outputs_asm:\n\t"
    "push r2\n\tpush r3\n\tpush r4\n\tpush r5\n\tpush r6\n\tpush r7\n\tpush r8\n\tpush r9\n\t"
    "push r10\n\tpush r11\n\tpush r12\n\tpush r13\n\tpush r14\n\tpush r15\n\tpush r16\n\tpush r17\n\t"
    "push r28\n\tpush r29\n\t"
    "movw r2, r24\n\tmovw r10, r22\n\tmovw r28, r18\n\t"
    /* r9:r8:r7 = bytes 1..3 of n << 15 (byte 0 is zero) */
    "mov r8, r20\n\tmov r9, r21\n\tclr r7\n\tlsr r9\n\tror r8\n\tror r7\n\t"
    "ldi r17, 0x80\n\tmov r4, r17\n\tclr r6\n\t"
    "ldd r12, Y+0\n\tldd r13, Y+1\n\tldd r14, Y+2\n\tldd r15, Y+3\n"
    "1:\n\t"                                       /* next output: acc = bias - n * 2^15 */
    "clr r22\n\tclr r23\n\tmovw r24, r22\n\t"
    "cp r12, r6\n\tcpc r13, r6\n\tbreq 2f\n\t"
    "movw r30, r12\n\tlpm r22, Z+\n\tlpm r23, Z+\n\tlpm r24, Z+\n\tlpm r25, Z+\n\tmovw r12, r30\n"
    "2:\n\t"
    "sub r23, r7\n\tsbc r24, r8\n\tsbc r25, r9\n\t"
    "movw r26, r2\n\tmovw r30, r10\n\t"
    "clr r18\n\tclr r19\n\tclr r20\n\t"
    "ldd r17, Y+13\n\tstd Y+16, r17\n"
    "3:\n\t"                                       /* chunks of 256 products */
    "ldd r17, Y+16\n\ttst r17\n\tbreq 5f\n\t"
    "dec r17\n\tstd Y+16, r17\n\tldi r17, 64\n\tmov r5, r17\n"
    "4:\n\t"
    MCG_AVR_Q MCG_AVR_Q MCG_AVR_Q MCG_AVR_Q
    "dec r5\n\tbrne 4b\n\t"
    MCG_AVR_FLUSH
    "clr r18\n\tclr r19\n\tclr r20\n\t"
    "rjmp 3b\n"
    "5:\n\t"                                       /* the rest: quads, then 0..3 */
    "ldd r5, Y+14\n\ttst r5\n\tbreq 7f\n"
    "6:\n\t"
    MCG_AVR_Q MCG_AVR_Q MCG_AVR_Q MCG_AVR_Q
    "dec r5\n\tbrne 6b\n"
    "7:\n\t"
    "ldd r5, Y+15\n\ttst r5\n\tbreq 9f\n"
    "8:\n\t"
    MCG_AVR_Q
    "dec r5\n\tbrne 8b\n"
    "9:\n\t"
    MCG_AVR_FLUSH
    "movw r10, r30\n\t"                            /* the next output's weights */
    "clr r1\n\t"
    "movw r30, r14\n\tlpm r18, Z+\n\tlpm r19, Z+\n\tlpm r20, Z+\n\tlpm r21, Z+\n\tmovw r14, r30\n\t"
    "ldd r30, Y+4\n\tldd r31, Y+5\n\tlpm r16, Z+\n\tstd Y+4, r30\n\tstd Y+5, r31\n\t"
    "neg r16\n\tbrpl 11f\n\t"
    "neg r16\n"                                    /* shift > 0: acc <<= shift */
    "10:\n\t"
    "lsl r22\n\trol r23\n\trol r24\n\trol r25\n\tdec r16\n\tbrne 10b\n"
    "11:\n\t"
    "call mcg_avr_requantize\n\t"
    /* + out_zp; the int8 it gives, saturated */
    "ldd r17, Y+10\n\tclr r26\n\tsbrc r17, 7\n\tcom r26\n\t"
    "add r22, r17\n\tadc r23, r26\n\tadc r24, r26\n\tadc r25, r26\n\t"
    "brvs 14f\n\t"
    "mov r26, r22\n\tlsl r26\n\tsbc r26, r26\n\t"
    "cp r23, r26\n\tcpc r24, r26\n\tcpc r25, r26\n\tbreq 16f\n\t"
    "ldi r22, 0x7f\n\tsbrc r25, 7\n\tldi r22, 0x80\n\t"
    "rjmp 16f\n"
    "14:\n\t"                                      /* overflowed: the true sign is the other one */
    "ldi r22, 0x80\n\tsbrc r25, 7\n\tldi r22, 0x7f\n"
    "16:\n\t"
    "ldd r17, Y+11\n\tcp r22, r17\n\tbrge 17f\n\tmov r22, r17\n"
    "17:\n\t"
    "ldd r17, Y+12\n\tcp r17, r22\n\tbrge 18f\n\tmov r22, r17\n"
    "18:\n\t"
    "ldd r30, Y+6\n\tldd r31, Y+7\n\tst Z+, r22\n\tstd Y+6, r30\n\tstd Y+7, r31\n\t"
    "ldd r30, Y+8\n\tldd r31, Y+9\n\tsbiw r30, 1\n\tstd Y+8, r30\n\tstd Y+9, r31\n\t"
    "breq 19f\n\t"
    "rjmp 1b\n"
    "19:\n\t"
    "pop r29\n\tpop r28\n\t"
    "pop r17\n\tpop r16\n\tpop r15\n\tpop r14\n\tpop r13\n\tpop r12\n\tpop r11\n\tpop r10\n\t"
    "pop r9\n\tpop r8\n\tpop r7\n\tpop r6\n\tpop r5\n\tpop r4\n\tpop r3\n\tpop r2\n\t"
    "ret\n\t"
    ".size mcg_avr_outputs_asm, .-mcg_avr_outputs_asm\n\t"
    ".popsection\n");

#undef MCG_AVR_Q
#undef MCG_AVR_FLUSH

static inline void mcg_avr_outputs(const int8_t *x, uint16_t n, const int8_t *w, const int32_t *bias,
                                   const int32_t *mult, const int8_t *shift, int8_t *out, uint16_t n_out,
                                   int16_t out_zp, int8_t act_min, int8_t act_max)
{
    mcg_avr_job job;
    job.bias = bias;
    job.mult = mult;
    job.shift = shift;
    job.out = out;
    job.n_out = n_out;
    job.out_zp = (int8_t)out_zp;
    job.act_min = act_min;
    job.act_max = act_max;
    job.chunks = (uint8_t)(n >> 8);
    job.quads = (uint8_t)((n >> 2) & 63u);
    job.tail = (uint8_t)(n & 3u);
    job.left = 0;
    mcg_avr_outputs_asm(x, w, n, &job);
}

#endif /* MCG_DOT_AVR_H */
