"""Softmax over the last axis: TFLM's integer int8 softmax (see
``mcugen/fixedpoint.py``), output scale 1/256 and zero point -128 as TFLite."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op, QParams
from . import tflite_op


@dataclass(kw_only=True)
class Softmax(Op):
    kind: ClassVar[str] = "softmax"
    kernel: ClassVar[str] = "softmax"

    beta: float = 1.0
    params: tuple[int, int, int] | None = None  # (beta multiplier, left shift, diff_min)

    def forward_float(self, g, xs):
        x = xs[0].astype(np.float64) * self.beta
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def fixed_output_qparams(self, g):
        return QParams(1.0 / 256.0, -128)

    def quantize(self, g):
        from ..fixedpoint import softmax_params

        self.params = tuple(int(v) for v in softmax_params(g.q(self.inputs[0]).scale, self.beta))

    def forward_int8(self, g, xs):
        from ..fixedpoint import softmax_int8

        return softmax_int8(xs[0], *self.params)

    def c_call(self, g, c):
        shape = g.shape(self.inputs[0])
        depth = shape[-1]
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        m, s, dmin = self.params
        return (
            f"mcg_softmax_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
            f"{rows}, {depth}, {m}, {s}, {dmin});"
        )

    def macs(self, g):
        return g.tensors[self.inputs[0]].size


@tflite_op("SOFTMAX")
def from_tflite(cx):
    """SOFTMAX over the last axis, TFLM's int8 kernel with the file's beta."""
    q = cx.g.q(cx.output)
    if abs(q.scale - 1.0 / 256.0) > 1e-3 / 256.0 or q.zero_point != -128:
        cx.unsupported(f"output scale {q.scale:g} / zero point {q.zero_point} (TFLM's int8 SOFTMAX outputs 1/256, -128)")
    cx.add(Softmax(name=cx.name, inputs=[cx.input(0)], outputs=[cx.output], beta=float(cx.options.beta)))
