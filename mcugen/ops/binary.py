"""MUL, SUB and SQUARED_DIFFERENCE of two run-time tensors, broadcast
(``broadcast.py``): TFLM's int8 reference kernels, element by element.

* MUL (``mul_common.cc``, ``reference_integer_ops::Mul``):
  ``out_zp + MBQM((a - a_zp) * (b - b_zp))``, the multiplier
  a_scale * b_scale / out_scale computed in double; |product| <= 255 * 255.
* SUB (``sub_common.cc``, ``reference_ops::SubElementwise``): ADD's scheme
  (both sides shifted left by 20, rescaled to twice the larger input scale)
  with a difference. TFLM computes SUB's three real multipliers in float32
  (``twice_max_input_scale`` is a float and the divisions are float
  divisions, unlike ADD's doubles), so they are computed in float32 here.
* SQUARED_DIFFERENCE (``squared_difference.cc``, int8 path): left shift 7,
  both sides rescaled by scale / (2 * max scale), the difference squared
  (|difference| <= 32640, so the square fits int32), requantized by
  (2 * max scale)^2 / (2^14 * out_scale); no fused activation.
All clamp to the fused activation's range. MBQM is the rounding contract
(``mcugen/rounding.py``), equal to TFLite's
``MultiplyByQuantizedMultiplierSmallerThanOneExp`` for the shifts <= 0 these
multipliers below 1 have."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from . import keras_layer, tflite_op
from .add import LEFT_SHIFT, Add, merge_chain
from .broadcast import c_broadcast, check_pair, output_shape, pair, walk

SQDIFF_SHIFT = 7  # 255 * 2^7 halved, squared: below 2^31


@dataclass(kw_only=True)
class Binary(Op):
    kind: ClassVar[str] = "binary"
    fusable: ClassVar[bool] = True

    fn: str  # "mul", "sub" or "squared_difference"
    # mul: ((m, s),); sub, squared_difference: ((m1, s1), (m2, s2), (mo, so))
    params: tuple | None = None

    @property
    def kernel(self) -> str:
        return self.fn

    def computed_shape(self, g):
        return output_shape([g.shape(t) for t in self.inputs], g.shape(self.outputs[0]))

    def _out(self, g, y):
        return y.reshape((len(y),) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        a, b = (x.astype(np.float64) for x in pair(xs, len(g.shape(self.outputs[0]))))
        y = a * b if self.fn == "mul" else a - b if self.fn == "sub" else (a - b) ** 2
        return self._out(g, self.apply_float_activation(y))

    def quantize(self, g):
        s1, s2, so = (g.q(t).scale for t in (*self.inputs, self.outputs[0]))
        if self.fn == "mul":
            self.params = (quantize_multiplier(float(s1) * float(s2) / float(so)),)
        elif self.fn == "sub":
            f1, f2, fo = np.float32(s1), np.float32(s2), np.float32(so)
            twice_max = np.float32(2) * max(f1, f2)
            self.params = (quantize_multiplier(float(f1 / twice_max)), quantize_multiplier(float(f2 / twice_max)),
                           quantize_multiplier(float(twice_max / (np.float32(1 << LEFT_SHIFT) * fo))))
        else:
            twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
            out = float(np.float32(1 << 2 * SQDIFF_SHIFT) * np.float32(so))
            self.params = (quantize_multiplier(float(s1) / twice_max), quantize_multiplier(float(s2) / twice_max),
                           quantize_multiplier(twice_max * twice_max / out))
        checked = self.params if self.fn == "sub" else self.params[:2] if self.fn == "squared_difference" else ()
        if any(s > 0 for _, s in checked):
            raise ValueError(f"layer {self.name!r} ({self.fn}): a multiplier of 1 or more (TFLite requires them "
                             "below 1: the output scale is too small for its inputs)")

    def forward_int(self, g, xs):
        x1, x2 = pair(xs, len(g.shape(self.outputs[0])))
        a = x1.astype(np.int64) - g.q(self.inputs[0]).zero_point
        b = x2.astype(np.int64) - g.q(self.inputs[1]).zero_point
        lo, hi = self.act_range(g)
        zp = g.q(self.outputs[0]).zero_point
        if self.fn == "mul":
            ((m, s),) = self.params
            return self._out(g, requantize(a * b, m, s, zp, lo, hi))
        (m1, s1), (m2, s2), (mo, so) = self.params
        shift = LEFT_SHIFT if self.fn == "sub" else SQDIFF_SHIFT
        d = multiply_by_quantized_multiplier(a << shift, m1, s1) - multiply_by_quantized_multiplier(b << shift, m2, s2)
        return self._out(g, requantize(d if self.fn == "sub" else d * d, mo, so, zp, lo, hi))

    def requant_bounds(self) -> list[tuple[int, int]]:
        """(largest |value| requantized, shift) of each requantization, for
        the int32 check in mcugen/limits.py."""
        if self.fn == "mul":
            return [(255 * 255, self.params[0][1])]
        (_, s1), (_, s2), (_, so) = self.params
        if self.fn == "sub":
            return [(255 << LEFT_SHIFT, s1), (255 << LEFT_SHIFT, s2), (2 * (255 << LEFT_SHIFT) + 2, so)]
        return [(255 << SQDIFF_SHIFT, s1), (255 << SQDIFF_SHIFT, s2), ((255 << SQDIFF_SHIFT) ** 2, so)]

    def c_call(self, g, c):
        qa, qb, qo = (g.q(t) for t in (*self.inputs, self.outputs[0]))
        lo, hi = self.act_range(g)
        if self.fn == "mul":
            ((m, s),) = self.params
            args = f"{-qa.zero_point}, {-qb.zero_point}, {qo.zero_point}, {m}, {s}, {lo}, {hi}"
        else:
            (m1, s1), (m2, s2), (mo, so) = self.params
            args = f"{-qa.zero_point}, {m1}, {s1}, {-qb.zero_point}, {m2}, {s2}, {qo.zero_point}, {mo}, {so}"
            args += f", {lo}, {hi}" if self.fn == "sub" else ""
        w = walk(g.shape(self.inputs[0]), g.shape(self.inputs[1]), g.shape(self.outputs[0]))
        return c_broadcast(c.tensor(self.inputs[0]), c.tensor(self.inputs[1]), c.tensor(self.outputs[0]), w,
                           lambda a, b, out, n, sa, sb: f"mcg_{self.fn}_s8({a}, {b}, {out}, {n}, {sa}, {sb}, {args})")

    def macs(self, g):
        return g.tensors[self.outputs[0]].size

    def describe(self):
        return self.fn


def two_tensors(cx) -> tuple[str, str]:
    """The two run-time inputs of a binary TFLite operator."""
    if cx.n_inputs() != 2:
        cx.unsupported(f"{cx.n_inputs()} inputs (2 expected)")
    if cx.is_const(0) or cx.is_const(1):
        cx.unsupported("a constant operand (two run-time tensors are supported)")
    a, b = cx.input(0), cx.input(1)
    check_pair(cx, a, b, cx.output)
    return a, b


def binary_from_tflite(cx, fn: str) -> None:
    """ADD, MUL, SUB or SQUARED_DIFFERENCE of two run-time tensors."""
    a, b = two_tensors(cx)
    if fn == "add":
        cx.add(Add(name=cx.name, inputs=[a, b], outputs=[cx.output], activation=cx.activation))
    else:
        act = None if fn == "squared_difference" else cx.activation
        cx.add(Binary(name=cx.name, inputs=[a, b], outputs=[cx.output], activation=act, fn=fn))


@tflite_op("SUB", options="SubOptions")
def sub_from_tflite(cx):
    binary_from_tflite(cx, "sub")


@tflite_op("SQUARED_DIFFERENCE", options="SquaredDifferenceOptions")
def squared_difference_from_tflite(cx):
    binary_from_tflite(cx, "squared_difference")


@keras_layer("Multiply")
def multiply_from_keras(layer, cx):
    merge_chain(cx, lambda name, ins, last: Binary(name=name, inputs=ins, outputs=[], fn="mul"))


@keras_layer("Subtract")
def subtract_from_keras(layer, cx):
    if len(cx.inputs) != 2:
        cx.unsupported(f"{len(cx.inputs)} inputs (Subtract takes two)")
    merge_chain(cx, lambda name, ins, last: Binary(name=name, inputs=ins, outputs=[], fn="sub"))
