"""Element-wise activations as a 256-entry int8 lookup table.

Any function of one int8 value is exactly a table, so the C kernel is a single
table lookup and the table holds the semantics:
* ReLU / ReLU6: TFLite's ReluX (requantize by in/out scale, then clamp).
* LeakyReLU: TFLite's int8 LeakyRelu (two multipliers: identity and alpha).
* sigmoid / tanh: TFLM's integer Logistic / Tanh (``mcugen/fixedpoint.py``),
  with TFLite's fixed output scales (1/256, -128) and (1/128, 0).
* every other activation (elu, gelu, silu, ...): the float function on the
  dequantized input, rounded half away from zero to the output scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op, QParams
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, round_half_away

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0.0, x)


# Float definitions, as Keras 3 defines them.
FLOAT_FNS = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "silu": lambda x: x * _sigmoid(x),
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hard_silu": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "celu": lambda x: np.maximum(x, 0.0) + np.minimum(np.expm1(np.minimum(x, 0)), 0.0),
    "exponential": np.exp,
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
    "log_sigmoid": lambda x: -_softplus(-x),
    "sparse_plus": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda x: np.clip((x + 1) / 2, 0.0, 1.0),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4.0)) / 2,
    "tanh_shrink": lambda x: x - np.tanh(x),
}
ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
INT_RULES = ("relu", "leaky_relu")
SUPPORTED = sorted(set(FLOAT_FNS) | set(ALIASES) | set(INT_RULES) | {"relu6"})


@dataclass(kw_only=True)
class Elementwise(Op):
    kind: ClassVar[str] = "elementwise"
    kernel: ClassVar[str] = "lut"

    fn: str  # "relu", "leaky_relu" or a key of FLOAT_FNS
    alpha: float = 0.0  # negative slope (relu, leaky_relu), scale of the negative side (elu)
    max_value: float | None = None  # relu cap
    threshold: float = 0.0  # relu threshold
    table: np.ndarray | None = None  # int8[256], entry i is f(i - 128)

    def fused_activation(self) -> str | None:
        """'relu' or 'relu6' when this op is a plain clamp another op can absorb."""
        if self.fn != "relu" or self.alpha != 0.0 or self.threshold != 0.0:
            return None
        if self.max_value is None:
            return "relu"
        return "relu6" if self.max_value == 6.0 else None

    def float_fn(self, x):
        if self.fn == "relu":
            y = np.where(x >= self.threshold, x, self.alpha * (x - self.threshold))
            return y if self.max_value is None else np.minimum(y, self.max_value)
        if self.fn == "leaky_relu":
            return np.where(x >= 0, x, self.alpha * x)
        if self.fn == "elu":  # Keras' ELU layer has its own alpha; the activation's is 1
            return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return FLOAT_FNS[self.fn](x)

    def forward_float(self, g, xs):
        return self.float_fn(xs[0].astype(np.float64))

    def fixed_output_qparams(self, g):
        if self.fn == "sigmoid":
            return QParams(1.0 / 256.0, -128)
        if self.fn == "tanh":
            return QParams(1.0 / 128.0, 0)
        return None

    def quantize(self, g):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        x = np.arange(-128, 128, dtype=np.int64)
        if self.fn == "sigmoid":
            from ..fixedpoint import logistic_table

            table = logistic_table(qi.scale, qi.zero_point)
        elif self.fn == "tanh":
            from ..fixedpoint import tanh_table

            table = tanh_table(qi.scale, qi.zero_point)
        elif self.fused_activation() is not None:
            table = _relu_table(x, qi, qo, self.max_value)
        elif self.fn == "leaky_relu":
            table = _leaky_table(x, qi, qo, self.alpha)
        else:
            y = self.float_fn(qi.dequantize(x)) / float(qo.scale)
            y = np.sign(y) * np.floor(np.abs(y) + 0.5) + qo.zero_point
            table = np.clip(y, -128, 127)
        self.table = np.asarray(table).astype(np.int8)

    def forward_int(self, g, xs):
        return self.table[xs[0].astype(np.int64) + 128]

    def constants(self):
        return [CArray("lut", "int8_t", self.table)]

    def c_call(self, g, c):
        n = g.tensors[self.outputs[0]].size
        return f"mcg_lut_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, {c.const(self, 'lut')}, {n});"

    def describe(self):
        extra = f" alpha={self.alpha:g}" if self.alpha else ""
        cap = f" max={self.max_value:g}" if self.max_value is not None else ""
        return f"{self.fn}{extra}{cap}"


def _relu_table(x, qi, qo, max_value):
    """TFLite ReluX: zp_out + MBQM(x - zp_in, in/out) clamped to the range."""
    m, s = quantize_multiplier(float(qi.scale) / float(qo.scale))
    y = qo.zero_point + multiply_by_quantized_multiplier(x - qi.zero_point, m, s)
    lo = max(-128, qo.zero_point)
    hi = 127 if max_value is None else min(127, qo.zero_point + round_half_away(max_value / qo.scale))
    return np.clip(y, lo, hi)


def _leaky_table(x, qi, qo, alpha):
    """TFLite int8 LeakyRelu: identity or alpha multiplier by sign of x - zp."""
    m_id, s_id = quantize_multiplier(float(qi.scale) / float(qo.scale))
    m_a, s_a = quantize_multiplier(float(qi.scale) * float(np.float32(alpha)) / float(qo.scale))
    v = x - qi.zero_point
    pos = multiply_by_quantized_multiplier(v, m_id, s_id)
    neg = multiply_by_quantized_multiplier(v, m_a, s_a)
    return np.clip(qo.zero_point + np.where(v >= 0, pos, neg), -128, 127)
