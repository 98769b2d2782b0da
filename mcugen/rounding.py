"""The rounding contract: TFLite's integer requantization, in numpy.

This file and ``firmware/mcg_requant.h`` are the one definition of how mcugen
rounds. Both follow TFLite's reference code (``tensorflow/lite/kernels/internal/
common.h``, the default double-rounding variant also used by TFLM and CMSIS-NN):

* ``quantize_multiplier``: a real multiplier M > 0 becomes ``q * 2**(shift-31)``
  with ``q`` an int32 in [2**30, 2**31) (``QuantizeMultiplier``).
* ``srdhm``: ``SaturatingRoundingDoublingHighMul``, (a*b*2 + 2**31 rounding) >> 32
  with round-half-away-from-zero and C's truncating division.
* ``rounding_divide_by_pot``: ``RoundingDivideByPOT``, round half away from zero.
* ``multiply_by_quantized_multiplier``: left shift (wrapping like int32 in C on
  two's complement machines), high multiply, rounding right shift.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def round_half_away(x: float) -> int:
    """C's ``round()`` / TFLite's ``TfLiteRound``."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: returns (int32 multiplier, shift)."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):  # scales whose product leaves float range
        raise ValueError(f"a requantization multiplier of {real!r} (input scale x weight scale / output scale: "
                         "the weights or ranges are too large for int8)")
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        # TFLite clamps here in its single-rounding build; such multipliers
        # (> 2**30) never come from real scales.
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (truncates toward zero) of int64 values."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def srdhm(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul on int32 values (numpy broadcast)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    res = _trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, res).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """RoundingDivideByPOT: x / 2**exponent rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def wrap_int32(x) -> np.ndarray:
    """Two's complement wrap of int64 values to int32 range."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier: round(x * multiplier * 2**(shift-31))."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x << left)
    return rounding_divide_by_pot(srdhm(shifted, multiplier), right)


def requantize(acc, multiplier, shift, zero_point, act_min=-128, act_max=127) -> np.ndarray:
    """Accumulator -> int8: scale, add the output zero point, clamp."""
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point
    return np.clip(out, act_min, act_max).astype(np.int8)


def multiply_by_quantized_multiplier_64(x, multiplier, shift) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplier(int64_t x, int32_t, int)``
    (``common.cc``), the requantization of the 16x8 kernels' int64
    accumulators (conv, transposed conv, fully connected, depthwise): the
    multiplier reduced to 16 bits, ``(m + 2**15) >> 16`` (0x7FFF from
    0x7FFF0000 up), then one rounding shift: ``(x * reduced + 2**(14 - shift))
    >> (15 - shift)``, the shift arithmetic (rounds half up). Twinned with
    ``mcg_requantize64`` in ``firmware/mcg_requant.h``."""
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    return (x * reduced + (np.int64(1) << (total - 1))) >> total
