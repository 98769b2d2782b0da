/* The runtime every generated model includes: fixed-width types, the
 * architecture's constant-storage macros, the rounding contract, the
 * per-layer trace hook and, on AVR, the assembly dot product of its kernels. */
#ifndef MCG_RUNTIME_H
#define MCG_RUNTIME_H

#include <stdint.h>
#include <string.h>

#include "mcg_arch.h"
#include "mcg_requant.h"
#if defined(__AVR__)
#include "mcg_dot_avr.h"
#endif

/* The arena's alignment: int16 tensors sit at even offsets in it, int32
 * scratch at multiples of 4. gcc, avr-gcc, arm-none-eabi-gcc and clang all
 * take the attribute. */
#if defined(__GNUC__)
#define MCG_ALIGNED(n) __attribute__((aligned(n)))
#else
#define MCG_ALIGNED(n)
#endif

/* Compile with -DMCG_TRACE_HOOK=fn to have fn(layer index, output, bytes)
 * called after each layer; the host check uses it to name the first layer
 * whose output differs from the reference. Off (and free) by default.
 * -DMCG_TRACE_INCLUDE='"file.h"' takes MCG_TRACE(i, p, n) from that header
 * instead: the harness's timing builds (firmware/harness/mcg_timing.h). */
#if defined(MCG_TRACE_INCLUDE)
#include MCG_TRACE_INCLUDE
#elif defined(MCG_TRACE_HOOK)
void MCG_TRACE_HOOK(int16_t layer, const int8_t *data, uint32_t bytes);
#define MCG_TRACE(i, p, n) MCG_TRACE_HOOK((int16_t)(i), (p), (uint32_t)(n))
#else
#define MCG_TRACE(i, p, n) ((void)0)
#endif

#endif /* MCG_RUNTIME_H */
