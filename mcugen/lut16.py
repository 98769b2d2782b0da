"""TFLite's int16 lookup tables with interpolation (``gen_lut`` and
``lut_lookup_with_interpolation`` / ``generic_int16_table_lookup`` in its
kernels' ``common.h``), as TFLM's int16 SOFTMAX builds and reads them.

A table holds 513 int16 values: func sampled at 512 steps over [lo, hi] and
at hi, scaled by 32768 (output range [-1, 1]), each corrected by half the
error of the linear interpolation at its step's midpoint. Built in float32,
as TFLM's ``gen_lut<float, int16_t, int16_t>`` (the ``tflite-micro``
interpreter matches float32 tables, and differs from double ones on two
entries of 1 / (1 + x): tests/test_16x8.py). A lookup takes the entry of the
value's top 9 bits and interpolates with its low 7."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

F = np.float32


def _round(v) -> F:
    """TfLiteRound: half away from zero, in float32."""
    v = F(v)
    return F(np.sign(v) * np.floor(np.abs(v) + F(0.5)))


def gen_lut(func, lo: float, hi: float) -> np.ndarray:
    steps = 512
    step = F((F(hi) - F(lo)) / F(steps))
    half = F(step / F(2))
    inv = F(32768.0)  # (int16 max - min + 1) / (1 - (-1))
    lut = np.zeros(steps + 1, dtype=np.int16)
    for i in range(steps):
        x = F(F(lo) + F(F(i) * step))
        val = F(func(x))
        mid = F(func(F(x + half)))
        nxt = F(func(F(F(lo) + F(F(i + 1) * step))))
        sample = _round(val * inv)
        interp = _round(F(F(nxt * inv) + _round(val * inv)) / F(2))
        bias = _round(F(interp - _round(mid * inv)) / F(2))
        lut[i] = int(min(max(F(sample - bias), F(-32768)), F(32767)))
    lut[steps] = int(min(max(_round(F(func(F(hi))) * inv), F(-32768)), F(32767)))
    return lut


@lru_cache(maxsize=None)
def softmax_luts() -> tuple[np.ndarray, np.ndarray]:
    """(exp(x) over [-10, 0], 1 / (1 + x) over [0, 1]): TFLM's SOFTMAX tables."""
    exp_lut = gen_lut(lambda v: np.exp(F(v), dtype=F), -10.0, 0.0)
    rec_lut = gen_lut(lambda v: F(F(1) / F(F(1) + F(v))), 0.0, 1.0)
    exp_lut.flags.writeable = rec_lut.flags.writeable = False
    return exp_lut, rec_lut


def lookup(value, lut: np.ndarray) -> np.ndarray:
    """int16 values -> the interpolated table values (int64 array)."""
    v = np.asarray(value, dtype=np.int64)
    index = 256 + (v >> 7)
    base = lut.astype(np.int64)[index]
    slope = lut.astype(np.int64)[index + 1] - base
    return base + ((slope * (v & 0x7F) + 64) >> 7)
