"""ADD or MUL of a run-time tensor and a constant int8 tensor broadcast over
it: what TFLite keeps of a BatchNormalization it could not fold (a per-channel
MUL, then a per-channel ADD), and scalar constants.

The constant's shape, leading 1s dropped, must be a suffix of the tensor's
(a per-channel vector, a scalar, a per-(W, C) plane ...); element i of the
output then reads constant element i % n_const. Per element, the arithmetic is
TFLM's reference int8 kernel, which does not depend on broadcasting:

* ADD (``add_common.cc``, ``reference_integer_ops::AddElementwise``): both
  sides shifted left by 20, rescaled to twice the larger input scale,
  summed, requantized (the same parameters as ``add.py``).
* MUL (``mul_common.cc``, ``reference_integer_ops::MulElementwise``):
  ``out_zp + MBQM((x - x_zp) * (c - c_zp))`` with the multiplier
  in_scale * const_scale / out_scale computed in double.
Both clamp to the fused activation's range. ADD and MUL are commutative in
this arithmetic, so the constant is always the second operand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op, QParams
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from . import tflite_op
from .add import LEFT_SHIFT


@dataclass(kw_only=True)
class ConstBinary(Op):
    kind: ClassVar[str] = "const_binary"
    fusable: ClassVar[bool] = True

    fn: str  # "add" or "mul"
    const_q: np.ndarray  # int8, the constant's values (flattened in C order)
    const_qp: QParams
    params: tuple | None = None  # add: ((m1, s1), (m2, s2), (mo, so)); mul: ((m, s),)

    @property
    def kernel(self) -> str:
        return f"{self.fn}_const"

    @property
    def const_float(self) -> np.ndarray:
        return self.const_qp.dequantize(self.const_q)

    def _broadcast(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), -1)
        reps = flat.shape[1] // c.size
        return np.tile(c.reshape(-1), reps)[np.newaxis, :]

    def forward_float(self, g, xs):
        x = xs[0].astype(np.float64)
        c = self._broadcast(x, self.const_float)
        flat = x.reshape(len(x), -1)
        y = flat + c if self.fn == "add" else flat * c
        return self.apply_float_activation(y).reshape(x.shape)

    def quantize(self, g):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        if self.fn == "add":
            s1, s2, so = float(qi.scale), float(self.const_qp.scale), float(qo.scale)
            twice_max = 2.0 * max(s1, s2)
            self.params = (
                quantize_multiplier(s1 / twice_max),
                quantize_multiplier(s2 / twice_max),
                quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * so)),
            )
        else:
            self.params = (quantize_multiplier(float(qi.scale) * float(self.const_qp.scale) / float(qo.scale)),)

    def forward_int(self, g, xs):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        x = xs[0].astype(np.int64)
        flat = x.reshape(len(x), -1) - qi.zero_point
        c = self._broadcast(x, self.const_q.astype(np.int64)) - self.const_qp.zero_point
        lo, hi = self.act_range(g)
        if self.fn == "add":
            (m1, s1), (m2, s2), (mo, so) = self.params
            raw = multiply_by_quantized_multiplier(flat << LEFT_SHIFT, m1, s1) + multiply_by_quantized_multiplier(
                c << LEFT_SHIFT, m2, s2
            )
            y = requantize(raw, mo, so, qo.zero_point, lo, hi)
        else:
            ((m, s),) = self.params
            y = requantize(flat * c, m, s, qo.zero_point, lo, hi)
        return y.reshape(xs[0].shape)

    def constants(self):
        return [CArray("c", "int8_t", self.const_q.reshape(-1))]

    def c_call(self, g, c):
        n = g.tensors[self.outputs[0]].size
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        lo, hi = self.act_range(g)
        head = f"{c.tensor(self.inputs[0])}, {c.const(self, 'c')}, {c.tensor(self.outputs[0])}, {n}, {self.const_q.size}"
        if self.fn == "add":
            (m1, s1), (m2, s2), (mo, so) = self.params
            return (
                f"mcg_add_const_s8({head}, {-qi.zero_point}, {m1}, {s1}, {-self.const_qp.zero_point}, {m2}, {s2}, "
                f"{qo.zero_point}, {mo}, {so}, {lo}, {hi});"
            )
        ((m, s),) = self.params
        return (
            f"mcg_mul_const_s8({head}, {-qi.zero_point}, {-self.const_qp.zero_point}, "
            f"{qo.zero_point}, {m}, {s}, {lo}, {hi});"
        )

    def macs(self, g):
        return g.tensors[self.outputs[0]].size

    def param_count(self):
        return int(self.const_q.size)

    def describe(self):
        return f"{self.fn} const{tuple(self.const_q.shape)}"


def _suffix_broadcastable(const_shape, shape) -> bool:
    cs = list(const_shape)
    while cs and cs[0] == 1:
        cs.pop(0)
    return len(cs) <= len(shape) and (not cs or tuple(shape[len(shape) - len(cs):]) == tuple(cs))


def binary_from_tflite(cx, fn: str):
    """ADD / MUL: two run-time tensors, broadcast (``add.py``, ``binary.py``),
    or one and a constant."""
    consts = [k for k in (0, 1) if cx.is_const(k)]
    if len(consts) == 2:
        cx.unsupported("both operands constant")
    if not consts:
        from .binary import binary_from_tflite as two_tensors

        two_tensors(cx, fn)
        return
    k = consts[0]
    x = cx.input(1 - k)
    values = cx.const(k)
    cx.require_int8(k)
    if not _suffix_broadcastable(values.shape, cx.g.shape(x)) or cx.g.shape(cx.output) != cx.g.shape(x):
        cx.unsupported(f"broadcasting a constant of shape {tuple(values.shape)} over {cx.g.shape(x)}")
    cx.add(
        ConstBinary(
            name=cx.name,
            inputs=[x],
            outputs=[cx.output],
            activation=cx.activation,
            fn=fn,
            const_q=np.ascontiguousarray(values, dtype=np.int8),
            const_qp=cx.tensor_qparams(k),
        )
    )


@tflite_op("ADD", options="AddOptions")
def add_from_tflite(cx):
    binary_from_tflite(cx, "add")


@tflite_op("MUL", options="MulOptions")
def mul_from_tflite(cx):
    binary_from_tflite(cx, "mul")
