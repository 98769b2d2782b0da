"""Add of two run-time tensors, broadcast (``broadcast.py``): TFLite's int8
Add. Both inputs are rescaled to a common scale with 20 bits of headroom
(left_shift = 20), summed, and requantized to the output; each step uses the
rounding contract. Keras' Average is this Add with 1/n folded into the
output multiplier (one rounding, as for the sum)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from . import keras_layer
from .activation import add_with_activation
from .broadcast import c_broadcast, check_pair, output_shape, pair, walk

LEFT_SHIFT = 20


@dataclass(kw_only=True)
class Add(Op):
    kind: ClassVar[str] = "add"
    kernel: ClassVar[str] = "add"
    fusable: ClassVar[bool] = True

    factor: float = 1.0  # the output is factor * (a + b): 1/n for an Average of n
    # ((mult, shift) of input 1, of input 2, of the output), from quantize().
    params: tuple | None = None

    def computed_shape(self, g):
        return output_shape([g.shape(t) for t in self.inputs], g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        a, b = pair(xs, len(g.shape(self.outputs[0])))
        y = (a.astype(np.float64) + b.astype(np.float64)) * self.factor
        return self.apply_float_activation(y).reshape((len(y),) + g.shape(self.outputs[0]))

    def quantize(self, g):
        s1, s2 = float(g.q(self.inputs[0]).scale), float(g.q(self.inputs[1]).scale)
        so = float(g.q(self.outputs[0]).scale)
        twice_max = 2.0 * max(s1, s2)
        self.params = (
            quantize_multiplier(s1 / twice_max),
            quantize_multiplier(s2 / twice_max),
            quantize_multiplier(twice_max * self.factor / ((1 << LEFT_SHIFT) * so)),
        )

    def forward_int(self, g, xs):
        (m1, s1), (m2, s2), (mo, so) = self.params
        x1, x2 = pair(xs, len(g.shape(self.outputs[0])))
        a = (x1.astype(np.int64) - g.q(self.inputs[0]).zero_point) << LEFT_SHIFT
        b = (x2.astype(np.int64) - g.q(self.inputs[1]).zero_point) << LEFT_SHIFT
        raw = multiply_by_quantized_multiplier(a, m1, s1) + multiply_by_quantized_multiplier(b, m2, s2)
        lo, hi = self.act_range(g)
        y = requantize(raw, mo, so, g.q(self.outputs[0]).zero_point, lo, hi)
        return y.reshape((len(y),) + g.shape(self.outputs[0]))

    def c_call(self, g, c):
        (m1, s1), (m2, s2), (mo, so) = self.params
        lo, hi = self.act_range(g)
        qa, qb, qo = (g.q(t) for t in (*self.inputs, self.outputs[0]))
        w = walk(g.shape(self.inputs[0]), g.shape(self.inputs[1]), g.shape(self.outputs[0]))
        return c_broadcast(
            c.tensor(self.inputs[0]), c.tensor(self.inputs[1]), c.tensor(self.outputs[0]), w,
            lambda a, b, out, n, sa, sb: (
                f"mcg_add_s8({a}, {b}, {out}, {n}, {sa}, {sb}, {-qa.zero_point}, {m1}, {s1}, "
                f"{-qb.zero_point}, {m2}, {s2}, {qo.zero_point}, {mo}, {so}, {lo}, {hi})"))

    def macs(self, g):
        return g.tensors[self.outputs[0]].size

    def describe(self):
        return "average" if self.factor != 1.0 else ""


def merge_chain(cx, make, act: str = "linear") -> None:
    """A Keras merge layer of n >= 2 inputs as n - 1 binary ops, each one
    ``make(name, inputs, last)``, the partial results in tensors of their own
    (calibrated, hence quantized, each); the last writes the layer's output,
    through ``act`` if not linear."""
    if len(cx.inputs) < 2:
        cx.unsupported(f"{len(cx.inputs)} input(s) (a merge of at least two tensors is supported)")
    acc = cx.inputs[0]
    for k, other in enumerate(cx.inputs[1:], start=2):
        shape = check_pair(cx, acc, other)
        last = k == len(cx.inputs)
        op = make(cx.name if last else f"{cx.name}_{k - 1}", [acc, other], last)
        if last:
            add_with_activation(cx, op, act)
        else:
            acc = cx.tmp(shape, f"partial{k}")
            op.outputs = [acc]
            cx.add(op)


@keras_layer("Add")
def from_keras(layer, cx):
    merge_chain(cx, lambda name, ins, last: Add(name=name, inputs=ins, outputs=[]))


@keras_layer("Average")
def average_from_keras(layer, cx):
    n = len(cx.inputs)
    merge_chain(cx, lambda name, ins, last: Add(name=name, inputs=ins, outputs=[], factor=1.0 / n if last else 1.0))
