/* Flat address space (host, Cortex-M): constants are plain const data, which
 * the linker places in flash on a microcontroller. */
#ifndef MCG_ARCH_GENERIC_H
#define MCG_ARCH_GENERIC_H

#include <stdint.h>

#define MCG_FLASH
#define MCG_READ_S8(p) (*(const int8_t *)(p))
#define MCG_READ_U8(p) (*(const uint8_t *)(p))
#define MCG_READ_S16(p) (*(const int16_t *)(p))
#define MCG_READ_S32(p) (*(const int32_t *)(p))
#define MCG_READ_S64(p) (*(const int64_t *)(p))

typedef uint32_t mcg_idx_t;

#endif /* MCG_ARCH_GENERIC_H */
