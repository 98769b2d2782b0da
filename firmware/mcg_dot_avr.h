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
 * outputs contiguous (dense rows, OHWI conv filters). The sum is taken
 * modulo 2^32 as bias - n * 2^15 plus the MCG_AVR_DOT of each chunk of at
 * most 255 values; it equals the int32 sum, which the generator keeps inside
 * int32. Out of line (the kernels call it once per pixel or row, and its few
 * live values stay in registers) and weak, so that every model of a firmware
 * may include it and the linker keeps one copy. */
void mcg_avr_outputs(const int8_t *x, uint16_t n, const int8_t *w, const int32_t *bias, const int32_t *mult,
                     const int8_t *shift, int8_t *out, uint16_t n_out, int16_t out_zp, int8_t act_min,
                     int8_t act_max);
__attribute__((weak)) void mcg_avr_outputs(const int8_t *x, uint16_t n, const int8_t *w, const int32_t *bias,
                                           const int32_t *mult, const int8_t *shift, int8_t *out, uint16_t n_out,
                                           int16_t out_zp, int8_t act_min, int8_t act_max)
{
    const uint32_t offset = (uint32_t)n << 15;
    do {
        const int8_t *xp = x;
        uint16_t left = n;
        uint32_t acc = (bias ? (uint32_t)MCG_READ_S32(bias++) : 0u) - offset;
        __uint24 sum;
        while (left > 255) {
            MCG_AVR_DOT(sum, xp, w, 255);
            acc += sum;
            left -= 255;
        }
        MCG_AVR_DOT(sum, xp, w, left);
        acc += sum;
        *out++ = mcg_clamp_s8(mcg_requantize((int32_t)acc, MCG_READ_S32(mult++), MCG_READ_S8(shift++)) + out_zp,
                              act_min, act_max);
    } while (--n_out);
}

#endif /* MCG_DOT_AVR_H */
