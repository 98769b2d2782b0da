/* Dot-product blocks for Cortex-M cores with the DSP extension (M4, M7, M33),
 * for the kernels of templates/arm_common/ as the arm_dsp family includes them
 * (templates/arm_dsp/kernels/); mcg_arm_scalar.h has the same blocks for the
 * cores without it.
 *
 * Four int8 values read as one word x = (x0, x1, x2, x3) split with SXTB16
 * into (x0, x2) and, rotated by 8, (x1, x3); four weights in natural order
 * split the same way, so SMLAD(x02, w02, SMLAD(x13, w13, acc)) adds
 * x0*w0 + x1*w1 + x2*w2 + x3*w3: no weight reordering. Unaligned word loads
 * are legal on v7-M and v8-M Mainline (memcpy to a uint32_t is one LDR).
 * Each |x * w| <= 16256; the generator keeps every sum inside int32.
 * Every operand the assembly writes is early-clobber ("+&r"): gcc may give an
 * input the register of a plain "+r" operand that holds the same value. */
#ifndef MCG_ARM_DSP_H
#define MCG_ARM_DSP_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#include "mcg_requant.h"

#define MCG_ALWAYS_INLINE static inline __attribute__((always_inline))
#define MCG_DOT_PAIRS 1 /* two input rows per pass (mcg_dot_2x2) */

MCG_ALWAYS_INLINE uint32_t mcg_ld32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* (x1, x3) of a word: SXTB16 with its operand rotated by 8 (ACLE has no
 * intrinsic for the rotation). */
MCG_ALWAYS_INLINE uint32_t mcg_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* One step of mcg_dot_2x2: 4 values of both input and both weight rows. */
#define MCG_DOT_2X2_STEP \
    "ldr %[t0], [%[x]], #4\n\t" \
    "ldr %[t2], [%[x], %[m]]\n\t" \
    "sxtb16 %[t1], %[t0], ror #8\n\t" \
    "sxtb16 %[t0], %[t0]\n\t" \
    "sxtb16 %[t3], %[t2], ror #8\n\t" \
    "sxtb16 %[t2], %[t2]\n\t" \
    "ldr %[t4], [%[w]], #4\n\t" \
    "sxtb16 %[t5], %[t4], ror #8\n\t" \
    "sxtb16 %[t4], %[t4]\n\t" \
    "smlad %[a00], %[t0], %[t4], %[a00]\n\t" \
    "smlad %[a00], %[t1], %[t5], %[a00]\n\t" \
    "smlad %[a10], %[t2], %[t4], %[a10]\n\t" \
    "smlad %[a10], %[t3], %[t5], %[a10]\n\t" \
    "ldr %[t4], [%[w], %[m]]\n\t" \
    "sxtb16 %[t5], %[t4], ror #8\n\t" \
    "sxtb16 %[t4], %[t4]\n\t" \
    "smlad %[a01], %[t0], %[t4], %[a01]\n\t" \
    "smlad %[a01], %[t1], %[t5], %[a01]\n\t" \
    "smlad %[a11], %[t2], %[t4], %[a11]\n\t" \
    "smlad %[a11], %[t3], %[t5], %[a11]\n\t"

/* acc[0] += x0.w0, acc[1] += x0.w1, acc[2] += x1.w0, acc[3] += x1.w1 over n
 * values, for two input rows x0, x1 = x0 + n and two weight rows w0,
 * w1 = w0 + n. The loop is assembly: it needs 14 registers (two pointers,
 * the row offset, the count, four sums, four split inputs, two split
 * weights), and gcc -Os spills some of them when it allocates them from C.
 * Unrolled twice: 41 instructions per 32 MACs. */
MCG_ALWAYS_INLINE void mcg_dot_2x2(const int8_t *x0, const int8_t *w0, int32_t n, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t k = n >> 2;
    const int8_t *x1, *w1;
    if (k > 0) {
        const int32_t m = n - 4; /* the other row, from a pointer already advanced by 4 */
        uint32_t t0, t1, t2, t3, t4, t5;
        __asm__ volatile(
            "tst %[k], #1\n\t"
            "beq 2f\n\t"
            MCG_DOT_2X2_STEP
            "2:\n\t"
            "lsrs %[k], %[k], #1\n\t"
            "beq 3f\n\t"
            "1:\n\t"
            MCG_DOT_2X2_STEP
            MCG_DOT_2X2_STEP
            "subs %[k], %[k], #1\n\t"
            "bne 1b\n\t"
            "3:\n\t"
            : [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5),
              [a00] "+&r"(a00), [a01] "+&r"(a01), [a10] "+&r"(a10), [a11] "+&r"(a11),
              [x] "+&r"(x0), [w] "+&r"(w0), [k] "+&r"(k)
            : [m] "r"(m)
            : "cc", "memory");
    }
    x1 = x0 + n;
    w1 = w0 + n;
    for (k = n & 3; k > 0; --k) {
        const int32_t a = *x0++, b = *x1++, p = *w0++, q = *w1++;
        a00 += a * p;
        a01 += a * q;
        a10 += b * p;
        a11 += b * q;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* acc[j] += x.w_j for four weight rows w + j * stride, over n values.
 * Assembly for the same reason: 25 instructions per 16 MACs. */
static __attribute__((noinline, unused)) void mcg_dot_1x4(const int8_t *x, const int8_t *w, int32_t stride, int32_t n, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t k = n >> 2;
    const int8_t *w2 = w + 2 * stride;
    if (k > 0) {
        const int32_t m = stride - 4;
        uint32_t t0, t1, t2, t3;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[t0], [%[x]], #4\n\t"
            "sxtb16 %[t1], %[t0], ror #8\n\t"
            "sxtb16 %[t0], %[t0]\n\t"
            "ldr %[t2], [%[w]], #4\n\t"
            "sxtb16 %[t3], %[t2], ror #8\n\t"
            "sxtb16 %[t2], %[t2]\n\t"
            "smlad %[a0], %[t0], %[t2], %[a0]\n\t"
            "smlad %[a0], %[t1], %[t3], %[a0]\n\t"
            "ldr %[t2], [%[w], %[m]]\n\t"
            "sxtb16 %[t3], %[t2], ror #8\n\t"
            "sxtb16 %[t2], %[t2]\n\t"
            "smlad %[a1], %[t0], %[t2], %[a1]\n\t"
            "smlad %[a1], %[t1], %[t3], %[a1]\n\t"
            "ldr %[t2], [%[v]], #4\n\t"
            "sxtb16 %[t3], %[t2], ror #8\n\t"
            "sxtb16 %[t2], %[t2]\n\t"
            "smlad %[a2], %[t0], %[t2], %[a2]\n\t"
            "smlad %[a2], %[t1], %[t3], %[a2]\n\t"
            "ldr %[t2], [%[v], %[m]]\n\t"
            "sxtb16 %[t3], %[t2], ror #8\n\t"
            "sxtb16 %[t2], %[t2]\n\t"
            "smlad %[a3], %[t0], %[t2], %[a3]\n\t"
            "smlad %[a3], %[t1], %[t3], %[a3]\n\t"
            "subs %[k], %[k], #1\n\t"
            "bne 1b\n\t"
            : [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),
              [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3),
              [x] "+&r"(x), [w] "+&r"(w), [v] "+&r"(w2), [k] "+&r"(k)
            : [m] "r"(m)
            : "cc", "memory");
    }
    for (k = n & 3; k > 0; --k) {
        const int32_t a = *x++;
        a0 += a * w[0];
        a1 += a * w[stride];
        a2 += a * w[2 * stride];
        a3 += a * w[3 * stride];
        ++w;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* x.w over n values. */
MCG_ALWAYS_INLINE int32_t mcg_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t acc)
{
    int32_t k;
    for (k = n >> 2; k > 0; --k) {
        const uint32_t a = mcg_ld32(x), p = mcg_ld32(w);
        acc = __smlad(__sxtb16(a), __sxtb16(p), acc);
        acc = __smlad(mcg_sxtb16_ror8(a), mcg_sxtb16_ror8(p), acc);
        x += 4;
        w += 4;
    }
    for (k = n & 3; k > 0; --k) {
        acc += *x++ * *w++;
    }
    return acc;
}

#include "mcg_arm_im2col.h"

/* requantize, add the zero point, clamp: one output byte. */
MCG_ALWAYS_INLINE int8_t mcg_out_q(int32_t acc, mcg_requant_t q, int32_t out_zp, int32_t lo, int32_t hi)
{
    int32_t v = (q.right > 0 ? mcg_requant_apply_r_smlal(acc, q) : mcg_requant_apply(acc, q)) + out_zp;
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

MCG_ALWAYS_INLINE int8_t mcg_out_s8(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t lo, int32_t hi)
{
    return mcg_out_q(acc, mcg_requant_prepare(mult, shift), out_zp, lo, hi);
}

/* Depthwise blocks (templates/arm_common/depthwise_conv2d.c.j2).
 * n > 0 taps of channels c..c+3 into the sums a0..a3: the input words at x,
 * x + step, ... and the weight words at w, w + step, ...; x and w advance
 * past them. Assembly: from C, gcc -Os spills the sums in this loop. */
#define MCG_DW4_TAPS(X_, W_, N_, S_)                                              \
    do {                                                                         \
        uint32_t t0_, t1_, t2_, t3_;                                             \
        int32_t n_ = (N_);                                                        \
        __asm__ volatile("1:\n\t"                                                \
                         MCG_DW4_TAP_ASM                                         \
                         "subs %[n], %[n], #1\n\t"                               \
                         "bne 1b\n\t"                                            \
                         : [t0] "=&r"(t0_), [t1] "=&r"(t1_), [t2] "=&r"(t2_), [t3] "=&r"(t3_), \
                           [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), \
                           [x] "+&r"(X_), [w] "+&r"(W_), [n] "+&r"(n_)                \
                         : [s] "r"(S_)                                           \
                         : "cc", "memory");                                      \
    } while (0)

/* One tap of MCG_DW4_WINDOW: the input and weight words, both pointers
 * advanced by the step. */
#define MCG_DW4_TAP_ASM                                                          \
    "ldr %[t0], [%[x]]\n\t"                                                      \
    "ldr %[t2], [%[w]]\n\t"                                                      \
    "add %[x], %[x], %[s]\n\t"                                                   \
    "add %[w], %[w], %[s]\n\t"                                                   \
    "sxtb16 %[t1], %[t0], ror #8\n\t"                                            \
    "sxtb16 %[t0], %[t0]\n\t"                                                    \
    "sxtb16 %[t3], %[t2], ror #8\n\t"                                            \
    "sxtb16 %[t2], %[t2]\n\t"                                                    \
    "smlabb %[a0], %[t0], %[t2], %[a0]\n\t"                                      \
    "smlatt %[a2], %[t0], %[t2], %[a2]\n\t"                                      \
    "smlabb %[a1], %[t1], %[t3], %[a1]\n\t"                                      \
    "smlatt %[a3], %[t1], %[t3], %[a3]\n\t"

/* A whole window inside the input: (RC_ >> 16) + 1 rows of RC_ & 0xffff > 0
 * taps, x jumping by skip bytes from one row's end to the next row; the row
 * and tap counts share one register. Rows of 3 taps (3x3 kernels) run
 * unrolled. */
#define MCG_DW4_WINDOW(X_, W_, RC_, SKIP_, S_)                                   \
    do {                                                                         \
        uint32_t t0_, t1_, t2_, t3_;                                             \
        int32_t n_, rc_ = (RC_);                                                 \
        if ((rc_ & 0xffff) == 3) {                                               \
            __asm__ volatile("2:\n\t"                                            \
                             MCG_DW4_TAP_ASM MCG_DW4_TAP_ASM MCG_DW4_TAP_ASM     \
                             "add %[x], %[x], %[k]\n\t"                          \
                             "subs %[rc], %[rc], #65536\n\t"                     \
                             "bpl 2b\n\t"                                        \
                             : [t0] "=&r"(t0_), [t1] "=&r"(t1_), [t2] "=&r"(t2_), [t3] "=&r"(t3_), \
                               [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), \
                               [x] "+&r"(X_), [w] "+&r"(W_), [rc] "+&r"(rc_)    \
                             : [s] "r"(S_), [k] "r"(SKIP_)                       \
                             : "cc", "memory");                                  \
        } else {                                                                 \
            __asm__ volatile("2:\n\t"                                            \
                             "uxth %[n], %[rc]\n\t"                              \
                             "1:\n\t"                                            \
                             MCG_DW4_TAP_ASM                                     \
                             "subs %[n], %[n], #1\n\t"                           \
                             "bne 1b\n\t"                                        \
                             "add %[x], %[x], %[k]\n\t"                          \
                             "subs %[rc], %[rc], #65536\n\t"                     \
                             "bpl 2b\n\t"                                        \
                             : [t0] "=&r"(t0_), [t1] "=&r"(t1_), [t2] "=&r"(t2_), [t3] "=&r"(t3_), \
                               [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), \
                               [x] "+&r"(X_), [w] "+&r"(W_), [n] "=&r"(n_), [rc] "+&r"(rc_) \
                             : [s] "r"(S_), [k] "r"(SKIP_)                       \
                             : "cc", "memory");                                  \
        }                                                                        \
    } while (0)

/* n > 0 taps in the padding: the weights times pad (an int16 pair). */
#define MCG_DW4_PAD(P_, W_, N_, S_)                                             \
    do {                                                                         \
        uint32_t t2_, t3_;                                                       \
        int32_t n_ = (N_);                                                        \
        __asm__ volatile("1:\n\t"                                                \
                         "ldr %[t2], [%[w]]\n\t"                                 \
                         "add %[w], %[w], %[s]\n\t"                              \
                         "sxtb16 %[t3], %[t2], ror #8\n\t"                       \
                         "sxtb16 %[t2], %[t2]\n\t"                               \
                         "smlabb %[a0], %[p], %[t2], %[a0]\n\t"                  \
                         "smlatt %[a2], %[p], %[t2], %[a2]\n\t"                  \
                         "smlabb %[a1], %[p], %[t3], %[a1]\n\t"                  \
                         "smlatt %[a3], %[p], %[t3], %[a3]\n\t"                  \
                         "subs %[n], %[n], #1\n\t"                               \
                         "bne 1b\n\t"                                            \
                         : [t2] "=&r"(t2_), [t3] "=&r"(t3_),                      \
                           [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), \
                           [w] "+&r"(W_), [n] "+&r"(n_)                             \
                         : [s] "r"(S_), [p] "r"(P_)                           \
                         : "cc", "memory");                                      \
    } while (0)

/* The pad value as the MCG_DW4_PAD macro takes it: (pad, pad) as int16. */
#define MCG_DW_PAD(v) ((uint32_t)(uint16_t)(v) * 0x00010001u)

#endif /* MCG_ARM_DSP_H */
