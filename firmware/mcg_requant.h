/* The rounding contract of mcugen, in C: TFLite's integer requantization.
 *
 * One definition, twinned with mcugen/rounding.py and tested against it at the
 * edges (tests/test_rounding.py). Follows TFLite's reference
 * MultiplyByQuantizedMultiplier (tensorflow/lite/kernels/internal/common.h,
 * default double rounding, as in TFLM and CMSIS-NN):
 *   result = RoundingDivideByPOT(SRDHM(x << left, multiplier), right)
 * where shift > 0 is a left shift and shift < 0 a rounding right shift.
 * The left shift wraps like int32 arithmetic on two's complement machines,
 * written through uint32_t so that it is defined behaviour in C.
 * On AVR mcg_srdhm and mcg_rounding_divide_by_pot are assembly
 * (mcg_requant_avr.h), equal to these for every input.
 */
#ifndef MCG_REQUANT_H
#define MCG_REQUANT_H

#include <stdint.h>

#if defined(__AVR__)
/* AVR: the same two functions in assembly (no 64-bit multiply). */
#include "mcg_requant_avr.h"
#else
/* SaturatingRoundingDoublingHighMul: (a * b * 2) / 2^32, rounded half away
 * from zero; the only overflow case (INT32_MIN * INT32_MIN) saturates. */
static inline int32_t mcg_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C division truncates toward zero, as TFLite's does. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* RoundingDivideByPOT: x / 2^exponent, rounded half away from zero;
 * exponent in [0, 31]. */
static inline int32_t mcg_rounding_divide_by_pot(int32_t x, int8_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* >> of a negative int32 is arithmetic on every compiler mcugen targets. */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier: round(x * multiplier * 2^(shift - 31)). */
static inline int32_t mcg_requantize(int32_t x, int32_t multiplier, int8_t shift)
{
    if (shift > 0) {
        return mcg_srdhm((int32_t)((uint32_t)x << shift), multiplier);
    }
    return mcg_rounding_divide_by_pot(mcg_srdhm(x, multiplier), (int8_t)-shift);
}
#endif /* __AVR__ */

/* The same function in fewer instructions, for the kernels' inner loops:
 * mcg_requantize_fast(x, m, s) == mcg_requantize(x, m, s) for every x, every
 * s in [-31, 30] and every m in [0, 2^31) (mcugen's multipliers:
 * quantize_multiplier in mcugen/rounding.py; on ARMv6-M m < 0 is excluded
 * by mcg_srdhm_by_halves, elsewhere only m = INT32_MIN). Why it is equal:
 * - SRDHM: with p = a * b, TFLite computes trunc((p + nudge) / 2^31), nudge
 *   2^30 for p >= 0 and 1 - 2^30 for p < 0. For p >= 0 that is
 *   floor((p + 2^30) / 2^31). For p < 0, p + 1 - 2^30 < 0, so trunc = ceil,
 *   and for an integer y ceil(y / 2^31) = floor((y + 2^31 - 1) / 2^31) =
 *   floor((p + 2^30) / 2^31): one formula, an arithmetic shift, for both
 *   signs (only a = b = INT32_MIN saturates, excluded above).
 * - RoundingDivideByPOT adds 1 when remainder > threshold, i.e. when
 *   threshold - remainder < 0: the sign bit of that difference, which lies in
 *   [-(2^e - 1), 2^(e-1)] and cannot overflow. (Checked at the edges and on
 *   random values against the reference in tests/test_rounding.py.) */
#if defined(__GNUC__)
#define MCG_REQUANT_INLINE static inline __attribute__((always_inline))
#else
#define MCG_REQUANT_INLINE static inline
#endif

/* mcg_requant_apply_r (below) where a 32 x 32 -> 64 bit multiply is cheap:
 * not on AVR nor ARMv6-M, where the kernels do not use it. */
#if !defined(__AVR__) && !defined(__ARM_ARCH_6M__)
#define MCG_REQUANT_ONE_SUM 1
#else
#define MCG_REQUANT_ONE_SUM 0
#endif

/* What mcg_requantize_fast derives from a channel's multiplier and shift,
 * so that a kernel can derive it once for many outputs of that channel. */
typedef struct {
    int32_t multiplier;
    int32_t left;  /* left shift of x: max(shift, 0) */
    int32_t right; /* rounding right shift: max(-shift, 0) */
    int32_t mask;  /* 2^right - 1 */
#if MCG_REQUANT_ONE_SUM
    /* 2^30 + 2^(30 + right) as two words, for mcg_requant_apply_r */
    uint32_t klo;
    int32_t khi;
#endif
} mcg_requant_t;

MCG_REQUANT_INLINE mcg_requant_t mcg_requant_prepare(int32_t multiplier, int32_t shift)
{
    mcg_requant_t q;
    q.multiplier = multiplier;
    q.left = shift > 0 ? shift : 0;
    q.right = q.left - shift;
    q.mask = (int32_t)(((uint32_t)1 << q.right) - 1u);
#if MCG_REQUANT_ONE_SUM
    q.klo = 0x40000000u + (((uint32_t)1 << q.right) << 30); /* right >= 1 (else unused) */
    q.khi = (int32_t)(((uint32_t)1 << q.right) >> 2);
#endif
    return q;
}

/* floor((a * b + 2^30) / 2^31) (SRDHM, as in mcg_requantize_fast) for
 * 0 <= b < 2^31, from four 16 x 16 -> 32 bit products, for cores without a
 * 32 x 32 -> 64 bit multiply (ARMv6-M has only MULS; the int64 product is a
 * library call there). With a = ah 2^16 + al, b = bh 2^16 + bl (al, bl in
 * [0, 2^16), ah signed, bh in [0, 2^15)), m1 = ah bl and m2 = al bh in
 * (-2^31, 2^31):
 *   a b + 2^30 = (ah bh + (m1 >> 16) + (m2 >> 16)) 2^32
 *              + ((al bl >> 16) + (m1 & 0xffff) + (m2 & 0xffff) + 2^14) 2^16
 *              + (al bl & 0xffff),
 * the middle sum u < 2^18, so the result is 2 (ah bh + (m1 >> 16) +
 * (m2 >> 16)) + (u >> 15). (Checked against the int64 form in
 * tests/test_rounding.py.) */
MCG_REQUANT_INLINE int32_t mcg_srdhm_by_halves(int32_t a, int32_t b)
{
    const uint32_t al = (uint32_t)a & 0xFFFFu, bl = (uint32_t)b & 0xFFFFu;
    const int32_t ah = a >> 16, bh = b >> 16;
    const int32_t m1 = ah * (int32_t)bl, m2 = (int32_t)al * bh;
    const uint32_t u = ((al * bl) >> 16) + ((uint32_t)m1 & 0xFFFFu) + ((uint32_t)m2 & 0xFFFFu) + 0x4000u;
    const uint32_t hi = (uint32_t)(ah * bh) + (uint32_t)(m1 >> 16) + (uint32_t)(m2 >> 16);
    return (int32_t)((hi << 1) + (u >> 15));
}

#if defined(__ARM_ARCH_6M__)
#define MCG_SRDHM_FAST(a, b) mcg_srdhm_by_halves((a), (b))
#else
#define MCG_SRDHM_FAST(a, b) ((int32_t)(((int64_t)(a) * (b) + ((int64_t)1 << 30)) >> 31))
#endif

MCG_REQUANT_INLINE int32_t mcg_requant_apply(int32_t x, mcg_requant_t q)
{
    const int32_t a = (int32_t)((uint32_t)x << q.left);
    const int32_t h = MCG_SRDHM_FAST(a, q.multiplier);
    const int32_t d = (q.mask >> 1) - (h >> 31) - (h & q.mask);
    return (h >> q.right) + (int32_t)((uint32_t)d >> 31);
}

#if MCG_REQUANT_ONE_SUM
/* mcg_requant_apply for q.right >= 1 (then q.left = 0) as one 64-bit sum
 * (mcg_arm_dsp.h computes it with two SMLALs): with p = x m,
 * h = floor((p + 2^30) / 2^31) (SRDHM, above) and RoundingDivideByPOT(h, r)
 * = floor((h + 2^(r-1) - [h < 0]) / 2^r) (for r >= 1 this adds 1 exactly
 * when the remainder exceeds 2^(r-1) - 1 + [h < 0]), the result is
 * floor((p + 2^30 + 2^(30+r) - 2^31 [h < 0]) / 2^(31+r)): the high word of
 * that sum >> (r - 1). [x < 0] stands for [h < 0]: they differ only when
 * h = 0, where both give 0. |p| < 2^62: the sum cannot overflow. (Checked
 * against the reference in tests/test_rounding.py.) */
MCG_REQUANT_INLINE int32_t mcg_requant_apply_r(int32_t x, mcg_requant_t q)
{
    const int64_t k = (int64_t)(((uint64_t)(uint32_t)q.khi << 32) | q.klo);
    const int64_t y = k + (int64_t)x * q.multiplier - ((int64_t)((uint32_t)x >> 31) << 31);
    return (int32_t)(y >> 32) >> (q.right - 1);
}

#endif

#if defined(__thumb2__)
/* mcg_requant_apply_r in two SMLALs, for v7-M and v8-M Mainline (the
 * mcg_out_q of mcg_arm_dsp.h and mcg_arm_scalar.h): the constant (khi, klo),
 * less 2^31 for x < 0 (x >> 31 times INT32_MIN), plus x times the
 * multiplier. */
MCG_REQUANT_INLINE int32_t mcg_requant_apply_r_smlal(int32_t x, mcg_requant_t q)
{
    uint32_t lo = q.klo;
    int32_t hi = q.khi;
    __asm__("smlal %[lo], %[hi], %[b], %[n]\n\t"
            "smlal %[lo], %[hi], %[x], %[m]"
            : [lo] "+&r"(lo), [hi] "+&r"(hi)
            : [b] "r"((uint32_t)x >> 31), [n] "r"(0x80000000u), [x] "r"(x), [m] "r"(q.multiplier));
    return hi >> (q.right - 1);
}

/* mcg_requant_apply on v7-M / v8-M Mainline: with right = 0 it is SRDHM
 * alone (RoundingDivideByPOT by 0 is the identity), else the two SMLALs. */
MCG_REQUANT_INLINE int32_t mcg_requant_apply_smlal(int32_t x, mcg_requant_t q)
{
    if (q.right > 0) {
        return mcg_requant_apply_r_smlal(x, q);
    }
    return MCG_SRDHM_FAST((int32_t)((uint32_t)x << q.left), q.multiplier);
}

#endif

MCG_REQUANT_INLINE int32_t mcg_requantize_fast(int32_t x, int32_t multiplier, int32_t shift)
{
    return mcg_requant_apply(x, mcg_requant_prepare(multiplier, shift));
}

/* Clamp an int32 to [lo, hi] and narrow to int8. */
static inline int8_t mcg_clamp_s8(int32_t v, int8_t lo, int8_t hi)
{
    if (v < lo) {
        return lo;
    }
    if (v > hi) {
        return hi;
    }
    return (int8_t)v;
}

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t, int) (common.cc),
 * the requantization of the 16x8 kernels' int64 accumulators: the multiplier
 * reduced to 16 bits, then one rounding shift, (x * reduced + 2^(14 - shift))
 * >> (15 - shift); shift in [-31, 7], |x| < 2^47, so the product fits int64.
 * >> of a negative int64 is arithmetic on every compiler mcugen targets.
 * Twinned with multiply_by_quantized_multiplier_64 in mcugen/rounding.py. */
static inline int32_t mcg_requantize64(int64_t x, int32_t multiplier, int8_t shift)
{
    const int32_t reduced = multiplier < 0x7FFF0000 ? (int32_t)((multiplier + ((int32_t)1 << 15)) >> 16) : 0x7FFF;
    const int8_t total = (int8_t)(15 - shift);
    return (int32_t)((x * (int64_t)reduced + ((int64_t)1 << (total - 1))) >> total);
}

/* Clamp an int32 to [lo, hi] and narrow to int16. */
static inline int16_t mcg_clamp_s16(int32_t v, int16_t lo, int16_t hi)
{
    if (v < lo) {
        return lo;
    }
    if (v > hi) {
        return hi;
    }
    return (int16_t)v;
}

#endif /* MCG_REQUANT_H */
