"""Concatenate along any axis. Inputs and output share qparams (TFLite's int8
rule), so it is a sequence of strided block copies."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer, tflite_op


@dataclass(kw_only=True)
class Concat(Op):
    kind: ClassVar[str] = "concat"
    kernel: ClassVar[str] = "concat"
    shares_qparams: ClassVar[bool] = True

    axis: int  # axis of the shape without batch, >= 0

    def forward_float(self, g, xs):
        return np.concatenate([x.astype(np.float64) for x in xs], axis=self.axis + 1)

    def forward_int(self, g, xs):
        return np.concatenate(xs, axis=self.axis + 1)

    def c_call(self, g, c):
        out_shape = g.shape(self.outputs[0])
        outer = int(np.prod(out_shape[: self.axis], dtype=np.int64))
        out_inner = int(np.prod(out_shape[self.axis :], dtype=np.int64))
        calls, offset = [], 0
        for name in self.inputs:
            inner = int(np.prod(g.shape(name)[self.axis :], dtype=np.int64))
            calls.append(
                f"mcg_concat_s8({c.tensor(name)}, {c.tensor(self.outputs[0])} + {offset}, {outer}, {inner}, {out_inner});"
            )
            offset += inner
        return "\n    ".join(calls)

    def describe(self):
        return f"axis {self.axis}"


@keras_layer("Concatenate")
def from_keras(layer, cx):
    axis = layer.get_config().get("axis", -1)
    rank = len(cx.g.shape(cx.output))
    axis = axis - 1 if axis > 0 else axis + rank  # drop the batch axis
    if not 0 <= axis < rank:
        cx.unsupported(f"axis={layer.get_config().get('axis')} (the batch axis cannot be concatenated)")
    cx.add(Concat(name=cx.name, inputs=list(cx.inputs), outputs=[cx.output], axis=axis))


@tflite_op("CONCATENATION", options="ConcatenationOptions", options_required=True)
def from_tflite(cx):
    """CONCATENATION: TFLM copies int8 bytes (TFLiteConverter gives every input
    the output's scale and zero point)."""
    inputs = [cx.input(k) for k in range(cx.n_inputs())]
    rank = len(cx.tshape(0))
    axis = int(cx.options.axis)
    axis = axis + rank if axis < 0 else axis
    if axis == 0 and rank > 0:
        cx.unsupported("concatenation along the batch axis")
    qo = cx.g.q(cx.output)
    for name in inputs:
        qi = cx.g.q(name)
        if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
            cx.unsupported("inputs quantized differently from the output")
    if cx.activation is not None:
        cx.unsupported(f"fused activation {cx.activation}")
    cx.add(Concat(name=cx.name, inputs=inputs, outputs=[cx.output], axis=axis - 1))
