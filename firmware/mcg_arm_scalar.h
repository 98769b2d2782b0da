/* Dot-product blocks for Cortex-M cores without the DSP extension: M3
 * (arm_v7m family) and M0/M0+ (arm_v6m), the same functions as mcg_arm_dsp.h
 * for the kernels of templates/arm_common/. Byte loads only (an M0+ traps on
 * unaligned words), one multiply-accumulate per MAC; two input rows by two
 * weight rows reuse every loaded byte twice. */
#ifndef MCG_ARM_SCALAR_H
#define MCG_ARM_SCALAR_H

#include <stdint.h>
#include <string.h>

#include "mcg_requant.h"

#define MCG_ALWAYS_INLINE static inline __attribute__((always_inline))

/* Two input rows per pass (mcg_dot_2x2) where that is the faster block: on
 * v7-M; on v6-M every MULS destroys an operand, and one row by four weight
 * rows (mcg_dot_1x4) needs no copies. */
#if defined(__thumb2__)
#define MCG_DOT_PAIRS 1
#else
#define MCG_DOT_PAIRS 0
#endif

#if defined(__thumb2__)
/* One value of both input and both weight rows (v7-M). */
#define MCG_DOT_2X2_STEP_V7M \
    "ldrsb %[t0], [%[x], %[n]]\n\t" \
    "ldrsb %[t1], [%[x]], #1\n\t" \
    "ldrsb %[t2], [%[w], %[n]]\n\t" \
    "ldrsb %[t3], [%[w]], #1\n\t" \
    "mla %[a00], %[t1], %[t3], %[a00]\n\t" \
    "mla %[a01], %[t1], %[t2], %[a01]\n\t" \
    "mla %[a10], %[t0], %[t3], %[a10]\n\t" \
    "mla %[a11], %[t0], %[t2], %[a11]\n\t"
#endif

/* acc[0] += x0.w0, acc[1] += x0.w1, acc[2] += x1.w0, acc[3] += x1.w1 over n
 * values, for x1 = x0 + n and w1 = w0 + n. */
MCG_ALWAYS_INLINE void mcg_dot_2x2(const int8_t *x0, const int8_t *w0, int32_t n, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if defined(__thumb2__)
    /* v7-M: the loop in assembly (gcc -Os spills from C), unrolled twice:
     * 19 instructions per 8 MACs. */
    if (n > 0) {
        int32_t t0, t1, t2, t3, k = n;
        __asm__ volatile(
            "tst %[k], #1\n\t"
            "beq 2f\n\t"
            MCG_DOT_2X2_STEP_V7M
            "2:\n\t"
            "lsrs %[k], %[k], #1\n\t"
            "beq 3f\n\t"
            "1:\n\t"
            MCG_DOT_2X2_STEP_V7M
            MCG_DOT_2X2_STEP_V7M
            "subs %[k], %[k], #1\n\t"
            "bne 1b\n\t"
            "3:\n\t"
            : [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),
              [a00] "+&r"(a00), [a01] "+&r"(a01), [a10] "+&r"(a10), [a11] "+&r"(a11),
              [x] "+&r"(x0), [w] "+&r"(w0), [k] "+&r"(k)
            : [n] "r"(n)
            : "cc", "memory");
    }
#else
    const int8_t *end = x0 + n;
    while (x0 < end) {
        const int32_t a = x0[0], b = x0[n], p = w0[0], q = w0[n];
        a00 += a * p;
        a01 += a * q;
        a10 += b * p;
        a11 += b * q;
        ++x0;
        ++w0;
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* acc[j] += x.w_j for four weight rows w + j * stride, over n values. */
static __attribute__((noinline, unused)) void mcg_dot_1x4(const int8_t *x, const int8_t *w, int32_t stride,
                                                          int32_t n, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if !defined(__thumb2__)
    /* v6-M (Thumb-1: byte loads with a register offset only, MULS): the loop
     * in assembly, the sums in r8-r11, one index counting up from -n to 0 over
     * bases set past the rows' ends: 15 instructions per 4 MACs. gcc passes
     * Thumb-1 inline assembly in divided syntax ("mul" is MULS). */
    if (n > 0) {
        const int8_t *xe = x + n, *w0 = w + n, *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
        int32_t i = -n, t0, t1;
        register int32_t s0 __asm__("r8") = a0;
        register int32_t s1 __asm__("r9") = a1;
        register int32_t s2 __asm__("r10") = a2;
        register int32_t s3 __asm__("r11") = a3;
        __asm__ volatile(
            "1:\n\t"
            "ldrsb %[t0], [%[x], %[i]]\n\t"
            "ldrsb %[t1], [%[w0], %[i]]\n\t"
            "mul %[t1], %[t0]\n\t"
            "add %[a0], %[t1]\n\t"
            "ldrsb %[t1], [%[w1], %[i]]\n\t"
            "mul %[t1], %[t0]\n\t"
            "add %[a1], %[t1]\n\t"
            "ldrsb %[t1], [%[w2], %[i]]\n\t"
            "mul %[t1], %[t0]\n\t"
            "add %[a2], %[t1]\n\t"
            "ldrsb %[t1], [%[w3], %[i]]\n\t"
            "mul %[t1], %[t0]\n\t"
            "add %[a3], %[t1]\n\t"
            "add %[i], #1\n\t"
            "bne 1b\n\t"
            : [t0] "=&l"(t0), [t1] "=&l"(t1), [i] "+l"(i),
              [a0] "+r"(s0), [a1] "+r"(s1), [a2] "+r"(s2), [a3] "+r"(s3)
            : [x] "l"(xe), [w0] "l"(w0), [w1] "l"(w1), [w2] "l"(w2), [w3] "l"(w3)
            : "cc", "memory");
        a0 = s0;
        a1 = s1;
        a2 = s2;
        a3 = s3;
    }
#else
    const int8_t *end = x + n;
    const int8_t *v = w + 2 * stride;
    while (x < end) {
        const int32_t a = *x++;
        a0 += a * w[0];
        a1 += a * w[stride];
        a2 += a * v[0];
        a3 += a * v[stride];
        ++w;
        ++v;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* x.w over n values. */
MCG_ALWAYS_INLINE int32_t mcg_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t acc)
{
    const int8_t *end = x + n;
    while (x < end) {
        acc += *x++ * *w++;
    }
    return acc;
}

#include "mcg_arm_im2col.h"

/* requantize, add the zero point, clamp: one output byte. */
MCG_ALWAYS_INLINE int8_t mcg_out_q(int32_t acc, mcg_requant_t q, int32_t out_zp, int32_t lo, int32_t hi)
{
#if defined(__thumb2__)
    int32_t v = (q.right > 0 ? mcg_requant_apply_r_smlal(acc, q) : mcg_requant_apply(acc, q)) + out_zp;
#else
    int32_t v = mcg_requant_apply(acc, q) + out_zp;
#endif
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

MCG_ALWAYS_INLINE int8_t mcg_out_s8(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t lo, int32_t hi)
{
    return mcg_out_q(acc, mcg_requant_prepare(mult, shift), out_zp, lo, hi);
}

/* Depthwise blocks (templates/arm_common/depthwise_conv2d.c.j2), as in
 * mcg_arm_dsp.h: n > 0 taps of channels c..c+3 into the sums a0..a3, the
 * input bytes at x, x + step, ..., the weights at w, w + step, ...; x and w
 * advance past them. */
#if !defined(__thumb2__)
/* v6-M: in Thumb-1 assembly (byte loads take a register offset: registers
 * holding 1, 2, 3 serve both rows; the sums in r8-r11): 20 instructions per
 * 4 MACs, where gcc -Os makes 40 from C. */
#define MCG_DW4_TAPS(X_, W_, N_, S_)                                             \
    do {                                                                         \
        register const int8_t *x_ __asm__("r0") = (X_);                          \
        register const int8_t *w_ __asm__("r1") = (W_);                          \
        register int32_t t0_ __asm__("r2");                                      \
        register int32_t t1_ __asm__("r3");                                      \
        register int32_t i1_ __asm__("r4") = 1;                                  \
        register int32_t i2_ __asm__("r5") = 2;                                  \
        register int32_t i3_ __asm__("r6") = 3;                                  \
        register const int8_t *e_ __asm__("r7") = x_ + (N_) * (S_);              \
        register int32_t s_ __asm__("r12") = (S_);                               \
        register int32_t b0_ __asm__("r8") = a0;                                 \
        register int32_t b1_ __asm__("r9") = a1;                                 \
        register int32_t b2_ __asm__("r10") = a2;                                \
        register int32_t b3_ __asm__("r11") = a3;                                \
        __asm__ volatile("1:\n\t"                                                \
                         "ldrb %[t0], [%[x]]\n\t"                                \
                         "sxtb %[t0], %[t0]\n\t"                                 \
                         "ldrb %[t1], [%[w]]\n\t"                                \
                         "sxtb %[t1], %[t1]\n\t"                                 \
                         "mul %[t1], %[t0]\n\t"                                  \
                         "add %[b0], %[t1]\n\t"                                  \
                         "ldrsb %[t0], [%[x], %[i1]]\n\t"                        \
                         "ldrsb %[t1], [%[w], %[i1]]\n\t"                        \
                         "mul %[t1], %[t0]\n\t"                                  \
                         "add %[b1], %[t1]\n\t"                                  \
                         "ldrsb %[t0], [%[x], %[i2]]\n\t"                        \
                         "ldrsb %[t1], [%[w], %[i2]]\n\t"                        \
                         "mul %[t1], %[t0]\n\t"                                  \
                         "add %[b2], %[t1]\n\t"                                  \
                         "ldrsb %[t0], [%[x], %[i3]]\n\t"                        \
                         "ldrsb %[t1], [%[w], %[i3]]\n\t"                        \
                         "mul %[t1], %[t0]\n\t"                                  \
                         "add %[b3], %[t1]\n\t"                                  \
                         "add %[x], %[s]\n\t"                                    \
                         "add %[w], %[s]\n\t"                                    \
                         "cmp %[x], %[e]\n\t"                                    \
                         "bne 1b\n\t"                                            \
                         : [t0] "=&r"(t0_), [t1] "=&r"(t1_), [x] "+r"(x_), [w] "+r"(w_), \
                           [b0] "+r"(b0_), [b1] "+r"(b1_), [b2] "+r"(b2_), [b3] "+r"(b3_) \
                         : [i1] "r"(i1_), [i2] "r"(i2_), [i3] "r"(i3_), [e] "r"(e_), [s] "r"(s_) \
                         : "cc", "memory");                                      \
        (X_) = x_;                                                               \
        (W_) = w_;                                                               \
        a0 = b0_;                                                                \
        a1 = b1_;                                                                \
        a2 = b2_;                                                                \
        a3 = b3_;                                                                \
    } while (0)
#else
#define MCG_DW4_TAPS(X_, W_, N_, S_)                                             \
    do {                                                                         \
        int32_t n_ = (N_);                                                       \
        do {                                                                     \
            a0 += (X_)[0] * (W_)[0];                                             \
            a1 += (X_)[1] * (W_)[1];                                             \
            a2 += (X_)[2] * (W_)[2];                                             \
            a3 += (X_)[3] * (W_)[3];                                             \
            (X_) += (S_);                                                        \
            (W_) += (S_);                                                        \
        } while (--n_);                                                          \
    } while (0)
#endif

/* n > 0 taps in the padding: the weights times the pad value. */
#define MCG_DW4_PAD(P_, W_, N_, S_)                                              \
    do {                                                                         \
        int32_t n_ = (N_);                                                       \
        do {                                                                     \
            a0 += (int32_t)(P_) * (W_)[0];                                       \
            a1 += (int32_t)(P_) * (W_)[1];                                       \
            a2 += (int32_t)(P_) * (W_)[2];                                       \
            a3 += (int32_t)(P_) * (W_)[3];                                       \
            (W_) += (S_);                                                        \
        } while (--n_);                                                          \
    } while (0)

/* A whole window inside the input: (RC_ >> 16) + 1 rows of RC_ & 0xffff taps,
 * x jumping by skip bytes from one row's end to the next. */
#define MCG_DW4_WINDOW(X_, W_, RC_, SKIP_, S_)                                   \
    do {                                                                         \
        int32_t r_ = ((RC_) >> 16) + 1;                                          \
        const int32_t k_ = (RC_) & 0xffff;                                       \
        do {                                                                     \
            MCG_DW4_TAPS(X_, W_, k_, S_);                                        \
            (X_) += (SKIP_);                                                     \
        } while (--r_);                                                          \
    } while (0)

/* The pad value as MCG_DW4_PAD takes it. */
#define MCG_DW_PAD(v) ((uint32_t)(int32_t)(v))

#endif /* MCG_ARM_SCALAR_H */
