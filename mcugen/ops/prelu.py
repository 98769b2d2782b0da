"""PReLU: y = x where x >= 0, alpha * x elsewhere, alpha a constant tensor
broadcast over the input (Keras' PReLU layer: one alpha per element, or
shared along ``shared_axes``; TFLite's PRELU).

The int8 arithmetic is TFLM's (``micro/kernels/prelu_common.cc`` and
``internal/reference/prelu.h``): with v = x - in_zp,
  v >= 0: out_zp + MBQM(v, in_scale / out_scale),
  v < 0:  out_zp + MBQM(v * (alpha - alpha_zp), in_scale * alpha_scale / out_scale),
both multipliers computed in double, clamped to int8. From Keras, alpha is
quantized as TFLiteConverter quantizes it: int8, symmetric, one scale
(max |alpha| / 127).

The kernel reads alpha[i % n_a]: an alpha whose shape, leading 1s dropped, is
a suffix of the input's (per channel, per (W, C) ...) is stored as it is;
any other broadcast (shared along the channels) is stored expanded to the
input's shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op, QParams
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier
from . import keras_layer, tflite_op
from .common import quantize_per_channel


def alpha_for_kernel(alpha: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """alpha as the kernel reads it (element i of the input uses entry
    i % size): its own values where its shape is a suffix of ``shape``, else
    broadcast to ``shape``."""
    dims = list(alpha.shape)
    while dims and dims[0] == 1:
        dims.pop(0)
    if len(dims) <= len(shape) and tuple(shape[len(shape) - len(dims):]) == tuple(dims):
        return np.ascontiguousarray(alpha).reshape(dims if dims else (1,))
    return np.ascontiguousarray(np.broadcast_to(alpha.reshape(dims), shape))


@dataclass(kw_only=True)
class PReLU(Op):
    kind: ClassVar[str] = "prelu"
    kernel: ClassVar[str] = "prelu"

    alpha: np.ndarray  # float64, in the kernel's layout (alpha_for_kernel)
    alpha_q: np.ndarray | None = None  # int8, same layout
    alpha_qp: QParams | None = None
    params: tuple = ()  # ((m_pos, s_pos), (m_neg, s_neg))

    def _tile(self, x: np.ndarray, a: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), -1)
        return np.tile(a.reshape(-1), flat.shape[1] // a.size)[np.newaxis, :]

    def computed_shape(self, g):
        return g.shape(self.inputs[0])

    def forward_float(self, g, xs):
        x = xs[0].astype(np.float64)
        flat = x.reshape(len(x), -1)
        return np.where(flat >= 0, flat, flat * self._tile(x, self.alpha)).reshape(x.shape)

    def quantize(self, g):
        if self.alpha_q is None:  # from Keras: TFLiteConverter's symmetric per-tensor int8
            q, scales = quantize_per_channel(self.alpha.reshape(-1, 1), axis=1)
            self.alpha_q, self.alpha_qp = q.reshape(self.alpha.shape), QParams(float(scales[0]), 0)
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        self.params = (
            quantize_multiplier(float(qi.scale) / float(qo.scale)),
            quantize_multiplier(float(qi.scale) * float(self.alpha_qp.scale) / float(qo.scale)),
        )

    def forward_int(self, g, xs):
        (m1, s1), (m2, s2) = self.params
        x = xs[0].astype(np.int64)
        v = x.reshape(len(x), -1) - g.q(self.inputs[0]).zero_point
        a = self._tile(x, self.alpha_q.astype(np.int64)) - self.alpha_qp.zero_point
        y = np.where(v >= 0, multiply_by_quantized_multiplier(v, m1, s1), multiply_by_quantized_multiplier(v * a, m2, s2))
        return np.clip(y + g.q(self.outputs[0]).zero_point, -128, 127).astype(np.int8).reshape(xs[0].shape)

    def constants(self):
        return [CArray("alpha", "int8_t", self.alpha_q.reshape(-1))]

    def c_call(self, g, c):
        (m1, s1), (m2, s2) = self.params
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        n = g.tensors[self.outputs[0]].size
        return (f"mcg_prelu_s8({c.tensor(self.inputs[0])}, {c.const(self, 'alpha')}, {c.tensor(self.outputs[0])}, "
                f"{n}, {self.alpha_q.size}, {-qi.zero_point}, {-self.alpha_qp.zero_point}, {qo.zero_point}, "
                f"{m1}, {s1}, {m2}, {s2});")

    def macs(self, g):
        return g.tensors[self.outputs[0]].size

    def param_count(self):
        return int(self.alpha.size)

    def describe(self):
        return f"alpha{tuple(self.alpha.shape)}"


@keras_layer("PReLU")
def from_keras(layer, cx):
    (alpha,) = layer.get_weights()
    shape = cx.g.shape(cx.inputs[0])
    a = alpha_for_kernel(np.asarray(alpha, np.float64), shape)
    cx.add(PReLU(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], alpha=a))


@tflite_op("PRELU")
def from_tflite(cx):
    src = cx.input(0)
    cx.require_int8(1)
    values = np.asarray(cx.const(1), dtype=np.int8)
    qp = cx.tensor_qparams(1)
    shape = cx.g.shape(src)
    try:
        np.broadcast_shapes(values.shape, (1,) + tuple(shape))
    except ValueError:
        cx.unsupported(f"alpha of shape {values.shape} for an input of shape {shape}")
    if cx.g.shape(cx.output) != shape:
        cx.unsupported(f"output shape {cx.g.shape(cx.output)} for an input of shape {shape}")
    a_q = alpha_for_kernel(values, shape)
    cx.add(PReLU(name=cx.name, inputs=[src], outputs=[cx.output], alpha=qp.dequantize(a_q).reshape(a_q.shape), alpha_q=a_q, alpha_qp=qp))
