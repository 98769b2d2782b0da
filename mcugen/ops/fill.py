"""TFLite's FILL: a tensor of one value (the zero initial state of an
unrolled RNN: SHAPE -> FILL(dims, 0)). TFLM copies the value's bytes into
every element, so the kernel is a memset with that byte.

The dims are constants or folded shape arithmetic. A constant value is baked
into the call; the op then reads no tensor, but the IR's ops take at least
one input (the reference runs them on a batch of inputs), so it names the
model's input, which costs nothing (the caller holds it, outside the arena).
A run-time value (a one-element tensor) is broadcast at run time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import tflite_op
from .slice import ir_shape


@dataclass(kw_only=True)
class Fill(Op):
    kind: ClassVar[str] = "fill"

    full_out: tuple[int, ...]  # the output's shape (batch axis included)
    value: int | None  # the int8 byte, or None: the one byte of input 0

    def computed_shape(self, g):
        return ir_shape(self.full_out)

    def forward_int(self, g, xs):
        n = xs[0].shape[0]
        v = np.full(n, self.value, np.int8) if self.value is not None else xs[0].reshape(n, -1)[:, 0]
        return np.broadcast_to(v.reshape((n,) + (1,) * len(g.shape(self.outputs[0]))),
                               (n,) + g.shape(self.outputs[0])).astype(np.int8)

    def forward_float(self, g, xs):
        q = g.q(self.outputs[0])
        if self.value is not None:
            return np.full((xs[0].shape[0],) + g.shape(self.outputs[0]), q.dequantize(np.int8(self.value)))
        n = xs[0].shape[0]
        return np.broadcast_to(xs[0].reshape(n, -1)[:, :1].reshape((n,) + (1,) * len(g.shape(self.outputs[0]))),
                               (n,) + g.shape(self.outputs[0])).astype(np.float64)

    def c_call(self, g, c):
        value = str(self.value) if self.value is not None else f"{c.tensor(self.inputs[0])}[0]"
        return f"memset({c.tensor(self.outputs[0])}, {value}, {g.tensors[self.outputs[0]].size});"

    def describe(self):
        return f"value {self.value}" if self.value is not None else "value at run time"


@tflite_op("FILL", options="FillOptions")
def from_tflite(cx):
    """FILL(dims, value) of int8: dims constant (or folded), value a constant
    or a run-time tensor of one element quantized as the output."""
    dims = [int(v) for v in np.asarray(cx.const(0)).reshape(-1)]
    if any(d < 1 for d in dims):
        cx.unsupported(f"dims {dims}")
    dst = cx.output
    cx.require_int8(1)
    cx.set_output_shape(dims)
    qo = cx.g.q(dst)
    qv = cx.tensor_qparams(1)
    if qv.zero_point != qo.zero_point or np.float32(qv.scale) != np.float32(qo.scale):
        cx.unsupported("a value quantized differently from the output")
    if cx.is_const(1):
        value = np.asarray(cx.const(1), dtype=np.int8).reshape(-1)
        if value.size != 1:
            cx.unsupported(f"a value of {value.size} elements")
        cx.add(Fill(name=cx.name, inputs=[cx.g.inputs[0]], outputs=[dst], full_out=tuple(dims), value=int(value[0])))
        return
    src = cx.input(1)
    if cx.g.tensors[src].size != 1:
        cx.unsupported(f"a value of {cx.g.tensors[src].size} elements")
    cx.add(Fill(name=cx.name, inputs=[src], outputs=[dst], full_out=tuple(dims), value=None))
