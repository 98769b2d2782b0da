/* The rounding contract on AVR: mcg_srdhm, mcg_rounding_divide_by_pot and
 * mcg_requantize in assembly, equal to the C definitions in mcg_requant.h (and
 * to mcugen/rounding.py) for every input; tests/test_rounding_avr.py checks
 * them in simavr at the edges and on random values.
 *
 * Why: avr-gcc computes the int64 product of the C version with __muldi3 and
 * shifts int32 values by a variable amount one bit per loop turn.
 *
 * mcg_avr_requantize(a, b, e) = RoundingDivideByPOT(SRDHM(a, b), e) for e in
 * [0, 31], in one rounding. With P = a * b, TFLite's SRDHM
 * (P + nudge) / 2^31 (C truncation, nudge = 2^30 or 1 - 2^30) equals
 * s = floor((P + 2^30) / 2^31); RoundingDivideByPOT(s, e) for e >= 1 is
 * floor((s + 2^(e-1) - (s < 0)) / 2^e), and floor((floor(y) + c) / d) =
 * floor((y + c) / d) for integers c, d > 0, so in sign and magnitude
 * (U = |a| * |b|, K = 2^30, plus 2^(30+e) when e >= 1):
 *   P >= 0:  (U + K) >> (31 + e),  saturated to INT32_MAX when e = 0 (only
 *            a = b = INT32_MIN; with e >= 1 the formula already equals
 *            RoundingDivideByPOT(INT32_MAX, e));
 *   P <  0:  -((U + K - 1) >> (31 + e))
 * (for P < 0 the test s < 0 is P < -2^30; taking it as true when -2^30 <= P
 * < 0 changes nothing, both give 0). U is an unsigned 32x32 product by
 * columns (16 MULs; 12 when |a| < 2^24 and 8 when |a| < 2^16, the usual cases
 * of an accumulator),
 * summed in a rotating 3-byte window (r26, r27, r30) that starts with the
 * low 31 bits of K - (P < 0); r31 holds zero and the T flag the sign of P.
 * The 2^(30+e) term is a round-half-up of V >> (7 + e), V the bytes 3..7 of
 * that sum: the last bit shifted out is added back. Shifts of 8 bits move
 * whole bytes, and a remaining 5 to 7 is one byte right then 1 to 3 bits
 * left.
 * mcg_srdhm(a, b) is mcg_avr_requantize(a, b, 0).
 *
 * mcg_avr_rdbpot(x, e): RoundingDivideByPOT alone (the softmax uses it),
 * ((z >> (e - 1)) + 1) >> 1 with z = x - (x < 0) in 40 bits (r21 the top
 * byte) for e >= 1, shifted the same way.
 *
 * Both follow avr-gcc's calling convention (arguments in r25..r16, result in
 * r25..r22, r18-r27 and r30-r31 free, r16 and r17 kept, r1 zero on return).
 */
#ifndef MCG_REQUANT_AVR_H
#define MCG_REQUANT_AVR_H

#include <stdint.h>

/* The assembly routines are weak naked C functions: no prologue, the body is
 * the routine; weak, so that every model of a firmware may include this
 * header and the linker (also with -flto) keeps one copy; used, since
 * assembly calls mcg_avr_requantize. */
#define MCG_AVR_NAKED __attribute__((naked, weak, noinline, used))
#define MCG_AVR_UNUSED __attribute__((unused))

int32_t mcg_avr_requantize(int32_t a, int32_t b, int8_t exponent);
int32_t mcg_avr_rdbpot(int32_t x, int8_t exponent);

/* One column step: window (c0, c1, c2) += a * b (unsigned bytes). */
#define MCG_AVR_MAC(a, b, c0, c1, c2) \
    "mul " a ", " b "\n\tadd " c0 ", r0\n\tadc " c1 ", r1\n\tadc " c2 ", r31\n\t"
/* Negate the 32-bit value in r0..r3 (r16 or above). */
#define MCG_AVR_NEG32(r0, r1, r2, r3) \
    "com " r3 "\n\tcom " r2 "\n\tcom " r1 "\n\tneg " r0 "\n\t" \
    "sbci " r1 ", 0xff\n\tsbci " r2 ", 0xff\n\tsbci " r3 ", 0xff\n\t"

MCG_AVR_NAKED int32_t mcg_avr_requantize(int32_t a MCG_AVR_UNUSED, int32_t b MCG_AVR_UNUSED,
                                        int8_t exponent MCG_AVR_UNUSED)
{
    __asm__ volatile(
        /* a: r22 (low)..r25, b: r18..r21. T = sign of the product. */
        "mov r31, r25\n\teor r31, r21\n\tbst r31, 7\n\t"
        "sbrs r25, 7\n\trjmp 1f\n\t"
        MCG_AVR_NEG32("r22", "r23", "r24", "r25")
        "1:\n\tsbrs r21, 7\n\trjmp 2f\n\t"
        MCG_AVR_NEG32("r18", "r19", "r20", "r21")
        "2:\n\tclr r31\n\tclr r26\n\tclr r27\n\tclr r30\n\t"
        /* Rounding constant 2^30 (0x40000000) or 2^30 - 1 (0x3fffffff): bytes
         * 0 and 1 before column 0, the rest after it, so that no window can
         * overflow. */
        "brtc 3f\n\tcom r26\n\tcom r27\n"
        "3:\n\t"
        /* column 0, window (r26, r27, r30) */
        MCG_AVR_MAC("r22", "r18", "r26", "r27", "r30")
        "ldi r26, 0x40\n\tbrtc 4f\n\tsubi r30, 1\n\tsbci r26, 0\n"
        "4:\n\t"
        /* column 1, window (r27, r30, r26) */
        MCG_AVR_MAC("r22", "r19", "r27", "r30", "r26")
        MCG_AVR_MAC("r23", "r18", "r27", "r30", "r26")
        "clr r27\n\t"
        "mov r0, r24\n\tor r0, r25\n\tbrne 20f\n\t"
        /* |a| < 2^16: column 2, window (r30, r26, r27) */
            MCG_AVR_MAC("r22", "r20", "r30", "r26", "r27")
        MCG_AVR_MAC("r23", "r19", "r30", "r26", "r27")
        "clr r30\n\t"
        /* column 3, window (r26, r27, r30) */
        MCG_AVR_MAC("r22", "r21", "r26", "r27", "r30")
        MCG_AVR_MAC("r23", "r20", "r26", "r27", "r30")
        "mov r18, r26\n\tclr r26\n\t"
        /* column 4, window (r27, r30, r26) */
        MCG_AVR_MAC("r23", "r21", "r27", "r30", "r26")
        "mov r22, r27\n\tmov r23, r30\n\tmov r24, r26\n\tclr r25\n\t"
        "rjmp 6f\n"
        "20:\n\t"
        /* column 2, window (r30, r26, r27) */
        MCG_AVR_MAC("r22", "r20", "r30", "r26", "r27")
        MCG_AVR_MAC("r23", "r19", "r30", "r26", "r27")
        MCG_AVR_MAC("r24", "r18", "r30", "r26", "r27")
        "clr r30\n\t"
        "tst r25\n\tbreq 5f\n\t"
        /* |a| >= 2^24: column 3, window (r26, r27, r30) */
        MCG_AVR_MAC("r22", "r21", "r26", "r27", "r30")
        MCG_AVR_MAC("r23", "r20", "r26", "r27", "r30")
        MCG_AVR_MAC("r24", "r19", "r26", "r27", "r30")
        MCG_AVR_MAC("r25", "r18", "r26", "r27", "r30")
        "mov r18, r26\n\tclr r26\n\t"   /* byte 3 */
        /* column 4, window (r27, r30, r26) */
        MCG_AVR_MAC("r23", "r21", "r27", "r30", "r26")
        MCG_AVR_MAC("r24", "r20", "r27", "r30", "r26")
        MCG_AVR_MAC("r25", "r19", "r27", "r30", "r26")
        "mov r22, r27\n\tclr r27\n\t"   /* byte 4 */
        /* column 5, window (r30, r26, r27) */
        MCG_AVR_MAC("r24", "r21", "r30", "r26", "r27")
        MCG_AVR_MAC("r25", "r20", "r30", "r26", "r27")
        "mov r23, r30\n\tclr r30\n\t"   /* byte 5 */
        /* column 6, window (r26, r27, r30) */
        MCG_AVR_MAC("r25", "r21", "r26", "r27", "r30")
        "mov r24, r26\n\tmov r25, r27\n\t"  /* bytes 6, 7 */
        "rjmp 6f\n"
        /* |a| < 2^24: column 3, window (r26, r27, r30) */
        "5:\n\t"
        MCG_AVR_MAC("r22", "r21", "r26", "r27", "r30")
        MCG_AVR_MAC("r23", "r20", "r26", "r27", "r30")
        MCG_AVR_MAC("r24", "r19", "r26", "r27", "r30")
        "mov r18, r26\n\tclr r26\n\t"
        /* column 4, window (r27, r30, r26) */
        MCG_AVR_MAC("r23", "r21", "r27", "r30", "r26")
        MCG_AVR_MAC("r24", "r20", "r27", "r30", "r26")
        "mov r22, r27\n\tclr r27\n\t"
        /* column 5, window (r30, r26, r27) */
        MCG_AVR_MAC("r24", "r21", "r30", "r26", "r27")
        "mov r23, r30\n\tmov r24, r26\n\tmov r25, r27\n"
        /* bytes 3..7 of U + K in r18, r22..r25 */
        "6:\n\t"
        "tst r16\n\tbrne 10f\n\t"
        /* e = 0: the result is bits 31..62 */
        "lsl r18\n\trol r22\n\trol r23\n\trol r24\n\trol r25\n\t"
        "brts 7f\n\t"
        "sbrs r25, 7\n\trjmp 8f\n\t"
        "ldi r22, 0xff\n\tldi r23, 0xff\n\tldi r24, 0xff\n\tldi r25, 0x7f\n\t"
        "rjmp 8f\n"
        /* e >= 1: W = bytes 4..7, r0 the bits below it; the result is
         * W >> (e - 1) plus the last bit shifted out (the 2^(30+e) of K) */
        "10:\n\t"
        "mov r0, r18\n\tmov r19, r16\n\tdec r19\n"
        "12:\n\t"
        "cpi r19, 5\n\tbrlo 14f\n\t"
        "mov r0, r22\n\tmov r22, r23\n\tmov r23, r24\n\tmov r24, r25\n\tclr r25\n\t"
        "subi r19, 8\n\tbrcc 12b\n"
        "13:\n\t"                      /* 5..7: went 1..3 bits too far, back left */
        "lsl r0\n\trol r22\n\trol r23\n\trol r24\n\trol r25\n\t"
        "inc r19\n\tbrne 13b\n\t"
        "rjmp 15f\n"
        "14:\n\t"
        "tst r19\n\tbreq 15f\n"
        "141:\n\t"
        "lsr r25\n\tror r24\n\tror r23\n\tror r22\n\tror r0\n\t"
        "dec r19\n\tbrne 141b\n"
        "15:\n\t"
        "lsl r0\n\tadc r22, r31\n\tadc r23, r31\n\tadc r24, r31\n\tadc r25, r31\n\t"
        "brtc 8f\n"
        "7:\n\t"
        MCG_AVR_NEG32("r22", "r23", "r24", "r25")
        "8:\n\t"
        "clr r1\n\t"
        "ret\n\t");
}

MCG_AVR_NAKED int32_t mcg_avr_rdbpot(int32_t x MCG_AVR_UNUSED, int8_t exponent MCG_AVR_UNUSED)
{
    __asm__ volatile(
        /* x: r22 (low)..r25, e: r20; z = x - (x < 0) in r21:r25..r22. */
        "tst r20\n\tbreq 9f\n\t"
        "clr r21\n\t"
        "sbrs r25, 7\n\trjmp 1f\n\t"
        "com r21\n\t"
        "subi r22, 1\n\tsbci r23, 0\n\tsbci r24, 0\n\tsbci r25, 0\n\tsbci r21, 0\n"
        "1:\n\t"
        "dec r20\n"                      /* shift z right by e - 1 */
        "2:\n\t"
        "cpi r20, 5\n\tbrlo 4f\n\t"
        "mov r0, r22\n\tmov r22, r23\n\tmov r23, r24\n\tmov r24, r25\n\tmov r25, r21\n\t"
        "subi r20, 8\n\tbrcc 2b\n"       /* 8 or more left: again */
        "3:\n\t"                         /* 5..7: went 1..3 bits too far, back left */
        "lsl r0\n\trol r22\n\trol r23\n\trol r24\n\trol r25\n\trol r21\n\t"
        "inc r20\n\tbrne 3b\n\t"
        "rjmp 5f\n"
        "4:\n\t"
        "tst r20\n\tbreq 5f\n"
        "41:\n\t"
        "asr r21\n\tror r25\n\tror r24\n\tror r23\n\tror r22\n\t"
        "dec r20\n\tbrne 41b\n"
        "5:\n\t"                         /* + 1, then >> 1 */
        "subi r22, 0xff\n\tsbci r23, 0xff\n\tsbci r24, 0xff\n\tsbci r25, 0xff\n\tsbci r21, 0xff\n\t"
        "asr r21\n\tror r25\n\tror r24\n\tror r23\n\tror r22\n"
        "9:\n\t"
        "ret\n\t");
}

#undef MCG_AVR_MAC
#undef MCG_AVR_NEG32

static inline int32_t mcg_srdhm(int32_t a, int32_t b)
{
    return mcg_avr_requantize(a, b, 0);
}

static inline int32_t mcg_rounding_divide_by_pot(int32_t x, int8_t exponent)
{
    return mcg_avr_rdbpot(x, exponent);
}

static inline int32_t mcg_requantize(int32_t x, int32_t multiplier, int8_t shift)
{
    if (shift > 0) {
        return mcg_avr_requantize((int32_t)((uint32_t)x << shift), multiplier, 0);
    }
    return mcg_avr_requantize(x, multiplier, (int8_t)-shift);
}

#endif /* MCG_REQUANT_AVR_H */
