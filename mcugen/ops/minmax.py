"""MAXIMUM and MINIMUM of two run-time tensors, broadcast (``broadcast.py``).

TFLM's kernel (``maximum_minimum.cc``, ``MaximumMinimumBroadcastSlow``)
compares the int8 bytes and ignores quantization: TFLiteConverter gives both
inputs and the output one scale and zero point (a "same scale" op), where
comparing bytes is comparing values. mcugen's quantizer does the same for
Keras' Maximum and Minimum (``shares_qparams``: the union of the ranges). A
.tflite whose tensors differ in quantization gets TFLM's bytes all the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer, tflite_op
from .add import merge_chain
from .binary import two_tensors
from .broadcast import c_broadcast, output_shape, pair, walk


@dataclass(kw_only=True)
class MinMax(Op):
    kind: ClassVar[str] = "minmax"
    kernel: ClassVar[str] = "minmax"
    shares_qparams: ClassVar[bool] = True

    fn: str  # "maximum" or "minimum"

    def computed_shape(self, g):
        return output_shape([g.shape(t) for t in self.inputs], g.shape(self.outputs[0]))

    def _apply(self, g, xs):
        a, b = pair(xs, len(g.shape(self.outputs[0])))
        y = np.maximum(a, b) if self.fn == "maximum" else np.minimum(a, b)
        return y.reshape((len(y),) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        return self._apply(g, [x.astype(np.float64) for x in xs])

    def forward_int(self, g, xs):
        return self._apply(g, xs).astype(np.int8)

    def c_call(self, g, c):
        w = walk(g.shape(self.inputs[0]), g.shape(self.inputs[1]), g.shape(self.outputs[0]))
        take_max = int(self.fn == "maximum")
        return c_broadcast(c.tensor(self.inputs[0]), c.tensor(self.inputs[1]), c.tensor(self.outputs[0]), w,
                           lambda a, b, out, n, sa, sb: f"mcg_minmax_s8({a}, {b}, {out}, {n}, {sa}, {sb}, {take_max})")

    def describe(self):
        return self.fn


@tflite_op("MAXIMUM", "MINIMUM", options="MaximumMinimumOptions")
def from_tflite(cx):
    a, b = two_tensors(cx)
    cx.add(MinMax(name=cx.name, inputs=[a, b], outputs=[cx.output], fn=cx.opname.lower()))


def free_scale(cx, t: str) -> str:
    """t, or where t's quantization is fixed by the op that writes it
    (sigmoid, tanh, softmax: it could not hold the other inputs' range) a
    requantized copy of it, as TFLiteConverter inserts (QUANTIZE int8 ->
    int8), so that the inputs and the output of a Maximum can share one."""
    from .tflite_lut import TFLiteLut

    p = cx.g.producer(t)
    if p is None or p.fixed_output_qparams(cx.g) is None:
        return t
    copy = cx.tmp(cx.g.shape(t), "requantized")
    cx.add(TFLiteLut(name=copy, inputs=[t], outputs=[copy], fn="requantize"))
    return copy


def keras_minmax(cx, fn: str) -> None:
    merge_chain(cx, lambda name, ins, last: MinMax(name=name, inputs=[free_scale(cx, t) for t in ins], outputs=[],
                                                   fn=fn))


@keras_layer("Maximum", "Minimum")
def from_keras(layer, cx):
    keras_minmax(cx, type(layer).__name__.lower())
