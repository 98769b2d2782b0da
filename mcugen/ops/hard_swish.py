"""HARD_SWISH (x * relu6(x + 3) / 6), int8, as a 256-entry table computed
exactly as TFLM's reference kernel: ``micro/kernels/hard_swish_common.cc``
(prepare) and ``internal/reference/hard_swish.h`` (eval), which work in
int16 fixed point with two multipliers of their own:

* the input, less its zero point, times 128 ("hires", scale in_scale / 128,
  computed in float32);
* output multiplier hires_scale / out_scale and "reluish" multiplier
  hires_scale / (3 / 32768) (float32 quotients, then QuantizeMultiplier in
  double), each cut to int16 by DownScaleInt32ToInt16Multiplier (round to
  the upper 16 bits, saturating);
* reluish: the hires input rescaled so that 3.0 is 32768 (a saturating left
  shift by exponent - 1, the int16 rounding doubling high multiply, the last
  left shift saturating, or a rounding right shift), mapped from [-1, 1] to
  [0, 1] by (v + 32768) >> 1;
* the product of reluish and the input on the output scale with the
  *non-rounding* doubling high multiply (SQDMULH), a rounding right shift by
  the output exponent (which TFLM requires <= 0), plus out_zp, clamped.

The same C kernel as every table (``templates/kernels/lut.c.j2``). Keras'
``hard_swish`` / ``hard_silu`` activation in a Keras model is the float
function rounded to the output scale instead (``elementwise.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..rounding import quantize_multiplier, rounding_divide_by_pot
from . import tflite_op
from .tflite_lut import TFLiteLut

I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def down_scale_to_int16(m32: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if m32 >= (1 << 31) - 1 - (1 << 15):
        return I16_MAX
    return (m32 + (1 << 15)) >> 16


def srdhm16(a, b) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = np.abs(ab + nudge) // (1 << 15) * np.sign(ab + nudge)  # C division truncates
    return np.where((a == b) & (a == I16_MIN), I16_MAX, q)


def sdhm16(a, b) -> np.ndarray:
    """SaturatingDoublingHighMul: as above, truncating instead of rounding."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    q = np.abs(ab) // (1 << 15) * np.sign(ab)
    return np.where((a == b) & (a == I16_MIN), I16_MAX, q)


def saturating_left_shift16(v, amount: int) -> np.ndarray:
    return np.clip(np.asarray(v, np.int64) * (1 << amount), I16_MIN, I16_MAX)


def hard_swish_params(in_scale: float, out_scale: float) -> tuple[int, int, int, int]:
    """(output multiplier int16, output exponent, reluish multiplier int16,
    reluish exponent), as HardSwishPrepare computes them."""
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(in_scale)
    out_m, out_e = quantize_multiplier(float(hires / f32(out_scale)))
    rel_m, rel_e = quantize_multiplier(float(hires / (f32(3.0) / f32(32768.0))))
    return down_scale_to_int16(out_m), out_e, down_scale_to_int16(rel_m), rel_e


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    out_m, out_e, rel_m, rel_e = hard_swish_params(in_scale, out_scale)
    if out_e > 0:
        raise ValueError(f"HARD_SWISH: output scale {out_scale:g} below in_scale / 128 (TFLM requires it above)")
    x = np.arange(-128, 128, dtype=np.int64) - in_zp
    hires = x * 128  # |x| <= 255: fits int16
    on_out = srdhm16(hires, out_m)
    rel = hires
    if rel_e > 0:
        rel = saturating_left_shift16(rel, rel_e - 1)
    rel = srdhm16(rel, rel_m)
    if rel_e > 0:
        rel = saturating_left_shift16(rel, 1)
    if rel_e < 0:
        rel = rounding_divide_by_pot(rel, -rel_e)
    rel = (rel + (1 << 15)) >> 1
    y = rounding_divide_by_pot(sdhm16(rel, on_out), -out_e) + out_zp
    return np.clip(y, -128, 127).astype(np.int8)


@dataclass(kw_only=True)
class HardSwishLut(TFLiteLut):
    kind: ClassVar[str] = "lut"

    def float_fn(self, x):
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0

    def quantize(self, g):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        self.table = hard_swish_table(qi.scale, qi.zero_point, qo.scale, qo.zero_point)

    def describe(self):
        return "hard_swish"


@tflite_op("HARD_SWISH")
def from_tflite(cx):
    qi, qo = cx.g.q(cx.input(0)), cx.g.q(cx.output)
    if hard_swish_params(qi.scale, qo.scale)[1] > 0:
        cx.unsupported(f"output scale {qo.scale:g} below input scale / 128 (TFLM's int8 HARD_SWISH requires it above)")
    cx.add(HardSwishLut(name=cx.name, inputs=[cx.input(0)], outputs=[cx.output], fn="hard_swish"))
