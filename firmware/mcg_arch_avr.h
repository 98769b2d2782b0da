/* AVR: constants live in program memory and are read with LPM. */
#ifndef MCG_ARCH_AVR_H
#define MCG_ARCH_AVR_H

#include <stdint.h>
#include <avr/pgmspace.h>

#define MCG_FLASH PROGMEM
#define MCG_READ_S8(p) ((int8_t)pgm_read_byte(p))
#define MCG_READ_U8(p) ((uint8_t)pgm_read_byte(p))
#define MCG_READ_S16(p) ((int16_t)pgm_read_word(p))
#define MCG_READ_S32(p) ((int32_t)pgm_read_dword(p))
#define MCG_READ_S64(p) ((int64_t)(((uint64_t)pgm_read_dword((const uint32_t *)(p) + 1) << 32) | (uint64_t)pgm_read_dword(p)))

/* Offsets into the arena and into one weight array: SRAM and a near PROGMEM
 * array are both far below 64 KiB on AVR. */
typedef uint16_t mcg_idx_t;

#endif /* MCG_ARCH_AVR_H */
