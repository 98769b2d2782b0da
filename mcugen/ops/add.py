"""Add of two same-shaped tensors: TFLite's int8 Add. Both inputs are
rescaled to a common scale with 20 bits of headroom (left_shift = 20), summed,
and requantized to the output; each step uses the rounding contract."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from . import keras_layer
from .activation import add_with_activation

LEFT_SHIFT = 20


@dataclass(kw_only=True)
class Add(Op):
    kind: ClassVar[str] = "add"
    kernel: ClassVar[str] = "add"
    fusable: ClassVar[bool] = True

    # ((mult, shift) of input 1, of input 2, of the output), from quantize().
    params: tuple | None = None

    def forward_float(self, g, xs):
        return self.apply_float_activation(xs[0].astype(np.float64) + xs[1].astype(np.float64))

    def quantize(self, g):
        s1, s2 = float(g.q(self.inputs[0]).scale), float(g.q(self.inputs[1]).scale)
        so = float(g.q(self.outputs[0]).scale)
        twice_max = 2.0 * max(s1, s2)
        self.params = (
            quantize_multiplier(s1 / twice_max),
            quantize_multiplier(s2 / twice_max),
            quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * so)),
        )

    def forward_int8(self, g, xs):
        (m1, s1), (m2, s2), (mo, so) = self.params
        a = (xs[0].astype(np.int64) - g.q(self.inputs[0]).zero_point) << LEFT_SHIFT
        b = (xs[1].astype(np.int64) - g.q(self.inputs[1]).zero_point) << LEFT_SHIFT
        raw = multiply_by_quantized_multiplier(a, m1, s1) + multiply_by_quantized_multiplier(b, m2, s2)
        lo, hi = self.act_range(g)
        return requantize(raw, mo, so, g.q(self.outputs[0]).zero_point, lo, hi)

    def c_call(self, g, c):
        (m1, s1), (m2, s2), (mo, so) = self.params
        lo, hi = self.act_range(g)
        n = g.tensors[self.outputs[0]].size
        return (
            f"mcg_add_s8({c.tensor(self.inputs[0])}, {c.tensor(self.inputs[1])}, {c.tensor(self.outputs[0])}, {n}, "
            f"{-g.q(self.inputs[0]).zero_point}, {m1}, {s1}, {-g.q(self.inputs[1]).zero_point}, {m2}, {s2}, "
            f"{g.q(self.outputs[0]).zero_point}, {mo}, {so}, {lo}, {hi});"
        )

    def macs(self, g):
        return g.tensors[self.outputs[0]].size


@keras_layer("Add")
def from_keras(layer, cx):
    if len(cx.inputs) != 2:
        cx.unsupported(f"{len(cx.inputs)} inputs (Add of exactly two tensors is supported)")
    a, b = (cx.g.shape(t) for t in cx.inputs)
    if a != b:
        cx.unsupported(f"broadcasting {a} + {b} (inputs must have the same shape)")
    add_with_activation(cx, Add(name=cx.name, inputs=list(cx.inputs), outputs=[]), "linear")
