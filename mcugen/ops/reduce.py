"""MEAN and REDUCE_MAX over contiguous axes: how TFLite expresses global
average and global max pooling (Keras GlobalAveragePooling / GlobalMaxPooling).

The input is viewed as (outer, reduce, inner); each output element reduces
``reduce`` values ``inner`` apart. The int8 arithmetic is TFLM's
(``micro/kernels/reduce_common.cc`` and ``internal/reference/reduce.h``):

* MEAN with the same scale and zero point on input and output
  (``reference_ops::Mean``): the sum of the raw int8 values divided by their
  count with C's truncating division, no rounding.
* MEAN otherwise (``QuantizedMeanOrSum``): the multiplier of
  in_scale / out_scale (double) absorbs 1 / count: with
  shift = min(floor(log2(count)), 32, 31 + out_shift),
  multiplier' = (multiplier << shift) / count (int64, truncated) and
  shift' = out_shift - shift; then out = MBQM(sum - in_zp * count) + out_zp.
* REDUCE_MAX: the largest value (TFLM requires equal input and output
  qparams, so there is nothing to rescale).

This differs from mcugen's Keras-path global average pooling (``pool.py``,
sum / count rounded half away from zero, output at the input's scale).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier
from . import tflite_op


def mean_multiplier(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's multiplier and shift with 1 / count folded in."""
    mult, out_shift = quantize_multiplier(float(in_scale) / float(out_scale))
    shift = min(count.bit_length() - 1, 32, 31 + out_shift)
    return int((mult << shift) // count), out_shift - shift


@dataclass(kw_only=True)
class Reduce(Op):
    kind: ClassVar[str] = "reduce"

    mode: str  # "mean" or "max"
    axes: tuple[int, ...]  # contiguous axes of the shape without batch
    same_qparams: bool = False  # mean: TFLM's truncating path
    mult: int = 0
    shift: int = 0

    @property
    def kernel(self) -> str:
        return f"reduce_{self.mode}"

    def _split(self, g) -> tuple[int, int, int]:
        shape = g.shape(self.inputs[0])
        a, b = min(self.axes), max(self.axes) + 1
        prod = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
        return prod(shape[:a]), prod(shape[a:b]), prod(shape[b:])

    def forward_float(self, g, xs):
        outer, red, inner = self._split(g)
        x = xs[0].astype(np.float64).reshape(len(xs[0]), outer, red, inner)
        y = x.mean(axis=2) if self.mode == "mean" else x.max(axis=2)
        return y.reshape((len(xs[0]),) + g.shape(self.outputs[0]))

    def quantize(self, g):
        if self.mode != "mean":
            return
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        self.same_qparams = qi.zero_point == qo.zero_point and np.float32(qi.scale) == np.float32(qo.scale)
        self.mult, self.shift = mean_multiplier(qi.scale, qo.scale, self._split(g)[1])

    def forward_int8(self, g, xs):
        outer, red, inner = self._split(g)
        x = xs[0].astype(np.int64).reshape(len(xs[0]), outer, red, inner)
        if self.mode == "max":
            y = x.max(axis=2)
        elif self.same_qparams:
            s = x.sum(axis=2)
            y = np.sign(s) * (np.abs(s) // red)  # C's truncating division
        else:
            qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
            s = x.sum(axis=2) - qi.zero_point * red
            y = np.clip(multiply_by_quantized_multiplier(s, self.mult, self.shift) + qo.zero_point, -128, 127)
        return y.astype(np.int8).reshape((len(xs[0]),) + g.shape(self.outputs[0]))

    def c_call(self, g, c):
        outer, red, inner = self._split(g)
        src, dst = c.tensor(self.inputs[0]), c.tensor(self.outputs[0])
        if self.mode == "max":
            return f"mcg_reduce_max_s8({src}, {dst}, {outer}, {red}, {inner});"
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        return (
            f"mcg_reduce_mean_s8({src}, {dst}, {outer}, {red}, {inner}, {int(self.same_qparams)}, "
            f"{qi.zero_point}, {qo.zero_point}, {self.mult}, {self.shift});"
        )

    def macs(self, g):
        return g.tensors[self.inputs[0]].size

    def describe(self):
        return f"{self.mode} over axes {self.axes}"


@tflite_op("MEAN", "REDUCE_MAX", options="ReducerOptions")
def from_tflite(cx):
    mode = "mean" if cx.opname == "MEAN" else "max"
    src = cx.input(0)
    rank = len(cx.tshape(0))
    axes = sorted({int(a) % rank for a in np.asarray(cx.const(1)).reshape(-1)})
    if not axes:
        cx.unsupported("an empty axis list")
    if 0 in axes:
        cx.unsupported("reducing over the batch axis")
    if axes != list(range(axes[0], axes[-1] + 1)):
        cx.unsupported(f"non-contiguous axes {axes}")
    if mode == "max":
        qi, qo = cx.g.q(src), cx.g.q(cx.output)
        if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
            cx.unsupported("different input and output quantization (TFLM's int8 REDUCE_MAX requires them equal)")
    cx.add(Reduce(name=cx.name, inputs=[src], outputs=[cx.output], mode=mode, axes=tuple(a - 1 for a in axes)))
