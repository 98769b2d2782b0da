"""TFLite's PACK on run-time int8 tensors (tf.stack: the unrolled RNNs stack
their steps' outputs), N tensors of one shape stacked along a new axis.

Stacking at axis a is concatenating the inputs seen as (outer, 1, inner),
outer the product of the axes before a and inner of the rest, so the kernel
is Concatenate's block copy (``templates/kernels/concat.c.j2``): input k's
``outer`` blocks of ``inner`` bytes go every N*inner bytes from k*inner.
TFLM copies the bytes: inputs and output share their quantization. (PACK of
int32 shape constants is folded by the loader.)"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import tflite_op
from .slice import ir_shape


@dataclass(kw_only=True)
class Pack(Op):
    kind: ClassVar[str] = "pack"
    kernel: ClassVar[str] = "concat"
    shares_qparams: ClassVar[bool] = True

    full_in: tuple[int, ...]  # each input's shape (batch axis included)
    axis: int  # the new axis of the output, in [0, len(full_in)]

    def _outer_inner(self) -> tuple[int, int]:
        return (int(np.prod(self.full_in[: self.axis], dtype=np.int64)),
                int(np.prod(self.full_in[self.axis :], dtype=np.int64)))

    def computed_shape(self, g):
        full = list(self.full_in)
        full.insert(self.axis, len(self.inputs))
        return ir_shape(full)

    def _stack(self, g, xs):
        n = xs[0].shape[0]
        outer, inner = self._outer_inner()
        y = np.stack([x.reshape(n, outer, inner) for x in xs], axis=2)
        return y.reshape((n,) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        return self._stack(g, [x.astype(np.float64) for x in xs])

    def forward_int(self, g, xs):
        return self._stack(g, xs)

    def c_call(self, g, c):
        outer, inner = self._outer_inner()
        out = c.tensor(self.outputs[0])
        return "\n    ".join(
            f"mcg_concat_s8({c.tensor(name)}, {out} + {k * inner}, {outer}, {inner}, {len(self.inputs) * inner});"
            for k, name in enumerate(self.inputs))

    def describe(self):
        return f"{len(self.inputs)} along axis {self.axis}"


@tflite_op("PACK", options="PackOptions", options_required=True)
def from_tflite(cx):
    """PACK (values_count inputs, axis): the inputs must share shape and
    quantization with each other and the output."""
    n = cx.n_inputs()
    inputs = [cx.input(k) for k in range(n)]
    full = cx.tshape(0)
    if any(cx.tshape(k) != full for k in range(n)):
        cx.unsupported(f"inputs of shapes {[cx.tshape(k) for k in range(n)]}")
    if int(cx.options.valuesCount or n) != n:
        cx.unsupported(f"values_count {cx.options.valuesCount} with {n} inputs")
    axis = int(cx.options.axis or 0)
    if not -len(full) - 1 <= axis <= len(full):
        cx.unsupported(f"axis {axis} for inputs of rank {len(full)}")
    axis %= len(full) + 1
    qo = cx.g.q(cx.output)
    for name in inputs:
        qi = cx.g.q(name)
        if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
            cx.unsupported("inputs quantized differently from the output")
    out = list(full)
    out.insert(axis, n)
    cx.set_output_shape(out)
    cx.add(Pack(name=cx.name, inputs=inputs, outputs=[cx.output], full_in=tuple(full), axis=axis))
