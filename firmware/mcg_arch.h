/* Picks the architecture header: how constants are stored and read.
 * Kernels read every weight, bias, multiplier, shift and table through the
 * MCG_READ_* macros, so the same kernel source serves flash-in-its-own-address-
 * space machines (AVR, PROGMEM) and flat-memory ones alike. */
#ifndef MCG_ARCH_H
#define MCG_ARCH_H

#if defined(__AVR__)
#include "mcg_arch_avr.h"
#else
#include "mcg_arch_generic.h"
#endif

#endif /* MCG_ARCH_H */
