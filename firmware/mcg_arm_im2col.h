/* mcg_copy_s8 and mcg_im2col_s8, shared by the Cortex-M kernel headers
 * (mcg_arm_dsp.h, mcg_arm_scalar.h), which define MCG_ALWAYS_INLINE before
 * they include this file. */
#ifndef MCG_ARM_IM2COL_H
#define MCG_ARM_IM2COL_H

#include <stdint.h>
#include <string.h>

/* Copy n bytes: word by word on v7-M (unaligned words are legal there),
 * with memcpy on v6-M (they trap). */
MCG_ALWAYS_INLINE void mcg_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
#if defined(__thumb2__)
    for (; n >= 4; n -= 4) {
        uint32_t v;
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
        src += 4;
        dst += 4;
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
#else
    memcpy(dst, src, (size_t)n);
#endif
}

/* The k_h x k_w x in_c window of an NHWC input whose top left tap is (y0, x0)
 * as one contiguous patch, taps outside the input set to pad_value. */
MCG_ALWAYS_INLINE void mcg_im2col_s8(const int8_t *in, int8_t *dst, int32_t y0, int32_t x0, int32_t in_h,
                                     int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w, int8_t pad_value)
{
    const int32_t row = k_w * in_c;
    const int32_t lo = x0 < 0 ? -x0 : 0;                          /* taps left of the input */
    const int32_t hi = x0 + k_w > in_w ? in_w - x0 : k_w;         /* first tap right of it */
    int32_t ky;
    if (y0 >= 0 && y0 + k_h <= in_h && lo == 0 && hi == k_w) { /* inside: k_h rows to copy */
        const int8_t *src = in + (y0 * in_w + x0) * in_c;
        for (ky = 0; ky < k_h; ++ky) {
            mcg_copy_s8(dst, src, row);
            src += in_w * in_c;
            dst += row;
        }
        return;
    }
    for (ky = 0; ky < k_h; ++ky) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= in_h || hi <= lo) {
            memset(dst, pad_value, (size_t)row);
        } else {
            if (lo > 0) {
                memset(dst, pad_value, (size_t)(lo * in_c));
            }
            mcg_copy_s8(dst + lo * in_c, in + (iy * in_w + x0 + lo) * in_c, (hi - lo) * in_c);
            if (hi < k_w) {
                memset(dst + hi * in_c, pad_value, (size_t)((k_w - hi) * in_c));
            }
        }
        dst += row;
    }
}

#endif /* MCG_ARM_IM2COL_H */
