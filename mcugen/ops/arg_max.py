"""TFLite's ARG_MAX on an int8 tensor: the index of the largest value along
one axis (a classifier's last op, so the device gets the class directly).

TFLite writes the index as int32 or int64; mcugen's C API returns int8, so
the index is written as one byte, with scale 1 and zero point 0 on the
output (``dequantize_output`` gives the index itself): an axis of at most 128
values, so every index fits. The index is the model's output: an ARG_MAX
whose index feeds another op (which would read int32) is refused. Ties keep
the first index, as TFLM's ArgMinMax (strict '>') and numpy's argmax."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op, QParams
from . import tflite_op
from .slice import ir_shape

MAX_INDEX = 127  # the largest index an int8 output holds


@dataclass(kw_only=True)
class ArgMax(Op):
    kind: ClassVar[str] = "arg_max"
    kernel: ClassVar[str] = "arg_max"

    full_in: tuple[int, ...]  # the input's shape (batch axis included)
    axis: int  # in [0, len(full_in))

    def _split(self) -> tuple[int, int, int]:
        prod = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
        return prod(self.full_in[: self.axis]), self.full_in[self.axis], prod(self.full_in[self.axis + 1 :])

    def computed_shape(self, g):
        return ir_shape(self.full_in[: self.axis] + self.full_in[self.axis + 1 :])

    def fixed_output_qparams(self, g):
        return QParams(1.0, 0)

    def _argmax(self, g, x):
        n = x.shape[0]
        return np.argmax(x.reshape((n,) + self._split()), axis=2).reshape((n,) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        return self._argmax(g, xs[0]).astype(np.float64)

    def forward_int(self, g, xs):
        return self._argmax(g, xs[0]).astype(np.int8)

    def c_call(self, g, c):
        outer, n, inner = self._split()
        return f"mcg_arg_max_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, {outer}, {n}, {inner});"

    def describe(self):
        return f"axis {self.axis}"


@tflite_op("ARG_MAX", options="ArgMaxOptions")
def from_tflite(cx):
    """ARG_MAX(input, axis) at the model's output."""
    cx.require_int8(0)
    src, full = cx.input(0), cx.tshape(0)
    axis = int(np.asarray(cx.const(1)).reshape(-1)[0])
    if not -len(full) <= axis < len(full):
        cx.unsupported(f"axis {axis} for a tensor of rank {len(full)}")
    axis %= len(full)
    if full[axis] > MAX_INDEX + 1:
        cx.unsupported(f"an axis of {full[axis]} values (the index is returned as int8: at most {MAX_INDEX + 1})")
    out = int(cx.op.outputs[0])
    if out not in [int(i) for i in cx.loader.sg.outputs]:
        cx.unsupported("an index that feeds another op (mcugen's tensors are int8: ARG_MAX must be the output)")
    kept = full[:axis] + full[axis + 1 :]
    cx.set_output_shape(kept)
    # The file's int32 / int64 index tensor carries no quantization: the IR's
    # output is the int8 index, scale 1, zero point 0.
    dst = cx.tmp(ir_shape(kept), "index", QParams(1.0, 0))
    cx.loader.ir_names[out] = dst
    cx.add(ArgMax(name=cx.name, inputs=[src], outputs=[dst], full_in=tuple(full), axis=axis))
