"""Transpose (TFLite TRANSPOSE, Keras Permute): the axes of a tensor in
another order, e.g. the NCHW -> NHWC TRANSPOSE a converted PyTorch model
starts with. Input and output share qparams (TFLM copies bytes), so the
kernel is a strided copy over up to five axes (the batch axis stays first)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer, tflite_op

MAX_AXES = 5  # without the batch: TFLM's TRANSPOSE takes up to 6 with it


@dataclass(kw_only=True)
class Transpose(Op):
    kind: ClassVar[str] = "transpose"
    kernel: ClassVar[str] = "transpose"
    shares_qparams: ClassVar[bool] = True

    perm: tuple[int, ...]  # output axis k is input axis perm[k] (batch excluded)

    def _apply(self, x):
        return np.transpose(x, (0,) + tuple(p + 1 for p in self.perm))

    def forward_float(self, g, xs):
        return self._apply(xs[0].astype(np.float64))

    def forward_int(self, g, xs):
        return self._apply(xs[0])

    def c_call(self, g, c):
        shape = g.shape(self.inputs[0])
        strides = [int(np.prod(shape[k + 1 :], dtype=np.int64)) for k in range(len(shape))]
        pad = MAX_AXES - len(shape)
        dims = [1] * pad + [shape[p] for p in self.perm]
        steps = [0] * pad + [strides[p] for p in self.perm]
        return (f"mcg_transpose_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
                f"{', '.join(map(str, dims))}, {', '.join(map(str, steps))});")

    def describe(self):
        return f"perm {self.perm}"


def _check(cx, perm, rank: int) -> tuple[int, ...]:
    if sorted(perm) != list(range(rank)):
        cx.unsupported(f"permutation {list(perm)} of {rank} axes")
    if rank - 1 > MAX_AXES:
        cx.unsupported(f"{rank} axes (at most {MAX_AXES} besides the batch)")
    return tuple(int(p) for p in perm)


@keras_layer("Permute")
def from_keras(layer, cx):
    dims = tuple(int(d) for d in layer.get_config()["dims"])  # 1-based, batch excluded
    perm = _check(cx, [d - 1 for d in dims], len(dims))
    cx.add(Transpose(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], perm=perm))


@tflite_op("TRANSPOSE")
def from_tflite(cx):
    """TRANSPOSE by a constant permutation that keeps the batch axis first."""
    src = cx.input(0)
    rank = len(cx.tshape(0))
    perm = [int(v) % rank if rank else 0 for v in np.asarray(cx.const(1)).reshape(-1)]
    if len(perm) != rank or perm[:1] != [0]:
        cx.unsupported(f"permutation {perm} (the batch axis must stay first)")
    perm = _check(cx, perm, rank)
    full_in = cx.tshape(0)
    cx.set_output_shape([full_in[p] for p in perm])
    dst = cx.output
    qi, qo = cx.g.q(src), cx.g.q(dst)
    if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
        cx.unsupported("different input and output quantization")
    cx.add(Transpose(name=cx.name, inputs=[src], outputs=[dst], perm=tuple(p - 1 for p in perm[1:])))
