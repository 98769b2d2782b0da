"""MEAN, SUM, REDUCE_MAX and REDUCE_MIN over any set of axes: how TFLite
expresses global average and global max pooling (Keras GlobalAveragePooling /
GlobalMaxPooling), a mean over channels after a TRANSPOSE, a sum over time ...

Size-1 dimensions are dropped and neighbouring axes of the same kind merged,
so the input is viewed as (k0, r0, k1, r1, k2): kept, reduced, kept, reduced,
kept (any of them 1). A rank-4 IR tensor (rank 5 with the batch) has at most
two separate runs of reduced axes, so every axis set fits that view; each
output element (k0, k1, k2 in row-major order, which is the output's order
with or without keep_dims) reduces r0 * r1 values.

The int8 arithmetic is TFLM's (``micro/kernels/reduce_common.cc`` and
``internal/reference/reduce.h``):

* MEAN and SUM (``QuantizedMeanOrSum``): the int32 sum of the raw values,
  minus in_zp * count, times the multiplier of in_scale / out_scale (double),
  plus out_zp, clamped. For MEAN the multiplier absorbs 1 / count: with
  shift = min(floor(log2(count)), 32, 31 + out_shift),
  multiplier' = (multiplier << shift) / count (int64, truncated) and
  shift' = out_shift - shift. TFLM runs this for every int8 MEAN, also when
  input and output share scale and zero point (older TFLM releases and some
  vendor kernels then took ``reference_ops::Mean``, a truncating sum / count
  that ignores the zero point; the tflite-micro interpreter and LiteRT's
  reference kernel both round as above, and mcugen matches them).
* REDUCE_MAX / REDUCE_MIN: the largest / smallest value (TFLM requires equal
  input and output qparams, so there is nothing to rescale).

This differs from mcugen's Keras-path global average pooling (``pool.py``,
sum / count rounded half away from zero, output at the input's scale).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from ..rounding import INT32_MAX, multiply_by_quantized_multiplier, quantize_multiplier
from . import tflite_op

MODES = {"MEAN": "mean", "SUM": "sum", "REDUCE_MAX": "max", "REDUCE_MIN": "min"}


def mean_multiplier(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's multiplier and shift with 1 / count folded in."""
    mult, out_shift = quantize_multiplier(float(in_scale) / float(out_scale))
    shift = min(count.bit_length() - 1, 32, 31 + out_shift)
    return int((mult << shift) // count), out_shift - shift


def reduce_view(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, int, int, int, int] | None:
    """(k0, r0, k1, r1, k2) for reducing ``axes`` of ``shape``, None when the
    reduced axes form more than two separate runs."""
    runs: list[list] = []  # [reduced?, size], neighbours of one kind merged
    for i, d in enumerate(shape):
        if d == 1:
            continue
        red = i in axes
        if runs and runs[-1][0] == red:
            runs[-1][1] *= d
        else:
            runs.append([red, d])
    if runs and runs[0][0]:
        runs.insert(0, [False, 1])
    sizes = [d for _, d in runs] + [1] * (5 - len(runs))
    return tuple(sizes) if len(runs) <= 5 else None


@dataclass(kw_only=True)
class Reduce(Op):
    kind: ClassVar[str] = "reduce"

    mode: str  # "mean", "sum", "max" or "min"
    axes: tuple[int, ...]  # reduced axes of the shape without batch (sorted)
    keep_dims: bool = False
    batch_axis: bool = False  # a .tflite's batch axis (size 1) is among the reduced ones
    mult: int = 0
    shift: int = 0

    @property
    def kernel(self) -> str:
        return "reduce_sum" if self.mode in ("mean", "sum") else "reduce_max"

    def view(self, g) -> tuple[int, int, int, int, int]:
        v = reduce_view(g.shape(self.inputs[0]), self.axes)
        if v is None:
            raise ValueError(f"layer {self.name!r}: more than two separate runs of reduced axes")
        return v

    def computed_shape(self, g):
        """The output shape with the batch (size 1) put back, reduced, and a
        leading 1 taken as the batch again, as the loader reads the file's."""
        full = (1,) + tuple(g.shape(self.inputs[0]))
        axes = {a + 1 for a in self.axes} | ({0} if self.batch_axis else set())
        if self.keep_dims:
            out = tuple(1 if i in axes else d for i, d in enumerate(full))
        else:
            out = tuple(d for i, d in enumerate(full) if i not in axes)
        return out[1:] if out and out[0] == 1 else out

    def _view5(self, g, x):
        return x.reshape((len(x),) + self.view(g))

    def forward_float(self, g, xs):
        x = self._view5(g, xs[0].astype(np.float64))
        fn = {"mean": np.mean, "sum": np.sum, "max": np.max, "min": np.min}[self.mode]
        return fn(x, axis=(2, 4)).reshape((len(xs[0]),) + g.shape(self.outputs[0]))

    def quantize(self, g):
        if self.mode not in ("mean", "sum"):
            return
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        _, r0, _, r1, _ = self.view(g)
        if self.mode == "mean":
            self.mult, self.shift = mean_multiplier(qi.scale, qo.scale, r0 * r1)
        else:
            self.mult, self.shift = quantize_multiplier(float(qi.scale) / float(qo.scale))

    def _offset(self, g) -> int:
        """-in_zp * count, what the kernel adds to the raw sum. |sum| <= 128 *
        count and |offset| <= 128 * count: both fit int32 for count < 2^23
        (the loader's 4 MiB tensor limit keeps count below 2^22)."""
        _, r0, _, r1, _ = self.view(g)
        count = r0 * r1
        if 256 * count > INT32_MAX:
            raise ValueError(f"layer {self.name!r}: {count} values per output overflow the int32 sum")
        return -g.q(self.inputs[0]).zero_point * count

    def forward_int(self, g, xs):
        x = self._view5(g, xs[0].astype(np.int64))
        if self.mode == "max":
            y = x.max(axis=(2, 4))
        elif self.mode == "min":
            y = x.min(axis=(2, 4))
        else:
            s = x.sum(axis=(2, 4)) + self._offset(g)
            y = np.clip(multiply_by_quantized_multiplier(s, self.mult, self.shift) + g.q(self.outputs[0]).zero_point,
                        -128, 127)
        return y.astype(np.int8).reshape((len(xs[0]),) + g.shape(self.outputs[0]))

    def c_call(self, g, c):
        dims = ", ".join(str(d) for d in self.view(g))
        src, dst = c.tensor(self.inputs[0]), c.tensor(self.outputs[0])
        if self.mode in ("max", "min"):
            return f"mcg_reduce_max_s8({src}, {dst}, {dims}, {int(self.mode == 'min')});"
        return (f"mcg_reduce_sum_s8({src}, {dst}, {dims}, {self._offset(g)}, {self.mult}, {self.shift}, "
                f"{g.q(self.outputs[0]).zero_point});")

    def macs(self, g):
        return g.tensors[self.inputs[0]].size

    def describe(self):
        return f"{self.mode} over axes {self.axes}" + (" keep_dims" if self.keep_dims else "")


@tflite_op(*MODES, options="ReducerOptions")
def from_tflite(cx):
    mode = MODES[cx.opname]
    src = cx.input(0)
    full = cx.tshape(0)
    rank = len(full)
    raw = np.asarray(cx.const(1)).reshape(-1)
    if rank == 0 or any(not -rank <= int(a) < rank for a in raw):
        cx.unsupported(f"axes {raw.tolist()} for a rank-{rank} input")
    axes = sorted({int(a) % rank for a in raw})
    if not axes:
        cx.unsupported("an empty axis list")
    keep_dims = bool(getattr(cx.options, "keepDims", False))
    if 0 in axes and full[0] != 1:
        cx.unsupported("reducing over a batch axis larger than 1")
    # The batch axis holds one value: reducing over it changes nothing but
    # the output's rank, which the file's output shape records.
    ir_axes = tuple(a - 1 for a in axes if a > 0)
    if mode in ("max", "min"):
        qi, qo = cx.g.q(src), cx.g.q(cx.output)
        if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
            cx.unsupported(f"different input and output quantization (TFLM's int8 {cx.opname} requires them equal)")
    if reduce_view(cx.g.shape(src), ir_axes) is None:
        cx.unsupported(f"axes {axes}: more than two separate runs of reduced axes")
    cx.add(Reduce(name=cx.name, inputs=[src], outputs=[cx.output], mode=mode, axes=ir_axes, keep_dims=keep_dims,
                  batch_axis=0 in axes))
