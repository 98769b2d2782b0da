"""Element-wise TFLite ops as a 256-entry int8 table, computed exactly as
TFLite Micro's reference kernels compute them (same C kernel as
``elementwise.py``: ``templates/kernels/lut.c.j2``).

An element-wise op of one int8 input is a table whatever its arithmetic, so
matching TFLM byte for byte means reproducing its Prepare-time parameters and
its Eval arithmetic for each of the 256 input bytes:

* RELU (``activations_common.cc``, ``ReluQuantized``): multiplier of
  in_scale / out_scale in double, ``out_zp + MBQM(x - in_zp)``, clamped below
  at ``out_zp + roundf(0 / out_scale)``.
* RELU6: TFLite's reference ``ReluX``, as RELU but also clamped above at
  ``out_zp + round(6.0f / out_scale)``. This is LiteRT's kernel. TFLM's int8
  RELU6 (``Relu6Prepare``) instead clamps the *input* bytes to
  [in_zp, in_zp + round(6.0f / in_scale)] and ignores the output's
  quantization: the two agree when input and output share scale and zero
  point, and TFLM's bytes are wrong in the output's scale when they do not
  (TFLiteConverter gives a standalone ReLU(max_value=6) the output range
  [0, 6]). mcugen follows LiteRT there; ``mcugen compare`` reports it.
* LEAKY_RELU (``leaky_relu_common.cc``): the two multipliers are computed in
  float32 (``in_scale * alpha / out_scale`` and ``in_scale / out_scale``) and
  only then widened to double.
* LOGISTIC, TANH: the gemmlowp fixed-point kernels of ``mcugen/fixedpoint.py``.
* QUANTIZE int8 -> int8 (``quantize_common.cc``, ``Requantize``): multiplier
  in_scale / out_scale in double, ``MBQM(x - in_zp) + out_zp``.
* a clamp to [lo, hi], for a fused activation on an op whose kernel has none.

With an int16 (or quantized int32) input or output a table would take
65,536 entries or more, so LEAKY_RELU and QUANTIZE compute instead
(``leaky_relu_s16``; ``requantize_s16``, ``requantize_s8_s16``,
``requantize_s16_s8``, ``requantize_s32_s16``, ``requantize_s16_s32``: the
pairs of REQUANTIZE_STEMS), with the same parameters and arithmetic as above
(TFLM's ``QuantizeLeakyRelu`` and ``Requantize`` templates, the same for
every type), clamped to the output's range; an int32 side must have zero
point 0. TFLM's SEANet goldens (``integration_tests/seanet``) for int16
LEAKY_RELU follow the float32 multipliers of ``leaky_relu_common.cc``; the
``tflite-micro`` Python package evaluates that expression in double (alpha a
float32) and differs from the goldens by one step on 4 of the 23 models
(tests/test_seanet.py checks its bytes are exactly that double arithmetic):
mcugen follows TFLM's source and its goldens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, round_half_away
from . import tflite_op
from .elementwise import Elementwise

# QUANTIZE's pairs of types computed rather than tabled (file type names):
# the kernel stem of each.
REQUANTIZE_STEMS = {("INT16", "INT16"): "requantize_s16", ("INT8", "INT16"): "requantize_s8_s16",
                    ("INT16", "INT8"): "requantize_s16_s8", ("INT32", "INT16"): "requantize_s32_s16",
                    ("INT16", "INT32"): "requantize_s16_s32"}



def _f32(v) -> np.float32:
    return np.float32(v)


@dataclass(kw_only=True)
class TFLiteLut(Elementwise):
    kind: ClassVar[str] = "lut"

    lo: int = -128  # clamp bounds (fn == "clamp")
    hi: int = 127
    # int16 input or output: the (multiplier, shift) pairs the kernel applies
    # instead of a table: (identity, alpha) for leaky_relu, (m,) for requantize.
    params16: tuple | None = None

    def wide(self, g) -> bool:
        return any(g.tensors[t].dtype != "int8" for t in (self.inputs[0], self.outputs[0]))

    def fused_activation(self):
        return None  # never folded into another op: each TFLite op stays one layer

    def float_fn(self, x):
        if self.fn == "relu6":
            return np.clip(x, 0.0, 6.0)
        if self.fn in ("requantize", "clamp"):
            return x
        return super().float_fn(x)

    def quantize(self, g):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        if self.wide(g):
            if self.fn == "leaky_relu":
                self.params16 = (quantize_multiplier(float(_f32(qi.scale) / _f32(qo.scale))),
                                 quantize_multiplier(float(_f32(qi.scale) * _f32(self.alpha) / _f32(qo.scale))))
            elif self.fn == "requantize":
                self.params16 = (quantize_multiplier(float(qi.scale) / float(qo.scale)),)
            else:
                raise ValueError(f"layer {self.name!r}: {self.fn} of int16 tensors is not supported")
            return
        x = np.arange(-128, 128, dtype=np.int64)
        if self.fn == "relu":
            m, s = quantize_multiplier(float(qi.scale) / float(qo.scale))
            y = qo.zero_point + multiply_by_quantized_multiplier(x - qi.zero_point, m, s)
            table = np.clip(y, max(-128, qo.zero_point), 127)
        elif self.fn == "relu6":
            m, s = quantize_multiplier(float(qi.scale) / float(qo.scale))
            y = qo.zero_point + multiply_by_quantized_multiplier(x - qi.zero_point, m, s)
            six = qo.zero_point + round_half_away(float(_f32(6.0) / _f32(qo.scale)))
            table = np.clip(y, max(-128, qo.zero_point), min(127, six))
        elif self.fn == "leaky_relu":
            m_a, s_a = quantize_multiplier(float(_f32(qi.scale) * _f32(self.alpha) / _f32(qo.scale)))
            m_id, s_id = quantize_multiplier(float(_f32(qi.scale) / _f32(qo.scale)))
            v = x - qi.zero_point
            pos = multiply_by_quantized_multiplier(v, m_id, s_id)
            neg = multiply_by_quantized_multiplier(v, m_a, s_a)
            table = np.clip(qo.zero_point + np.where(v >= 0, pos, neg), -128, 127)
        elif self.fn == "sigmoid":
            from ..fixedpoint import logistic_table

            table = logistic_table(qi.scale, qi.zero_point)
        elif self.fn == "tanh":
            from ..fixedpoint import tanh_table

            table = tanh_table(qi.scale, qi.zero_point)
        elif self.fn == "requantize":
            m, s = quantize_multiplier(float(qi.scale) / float(qo.scale))
            table = np.clip(multiply_by_quantized_multiplier(x - qi.zero_point, m, s) + qo.zero_point, -128, 127)
        elif self.fn == "clamp":
            table = np.clip(x, self.lo, self.hi)
        else:
            raise ValueError(f"unknown table function {self.fn!r}")
        self.table = np.asarray(table).astype(np.int8)

    def forward_int(self, g, xs):
        if self.params16 is None:
            return super().forward_int(g, xs)
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        v = xs[0].astype(np.int64) - qi.zero_point
        if self.fn == "leaky_relu":
            (m_id, s_id), (m_a, s_a) = self.params16
            y = np.where(v >= 0, multiply_by_quantized_multiplier(v, m_id, s_id),
                         multiply_by_quantized_multiplier(v, m_a, s_a))
        else:
            ((m, s),) = self.params16
            y = multiply_by_quantized_multiplier(v, m, s)
        out = g.tensors[self.outputs[0]]
        return np.clip(y + qo.zero_point, *out.limits).astype(out.np_dtype)

    def kernels(self, g):
        if not self.wide(g):
            return ["lut"]
        if self.fn == "leaky_relu":
            return ["leaky_relu_s16"]
        pair = tuple(g.tensors[t].dtype.upper() for t in (self.inputs[0], self.outputs[0]))
        return [REQUANTIZE_STEMS[pair]]

    def constants(self):
        return [] if self.params16 is not None else super().constants()

    def c_call(self, g, c):
        if self.params16 is None:
            return super().c_call(g, c)
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        n = g.tensors[self.outputs[0]].size
        params = ", ".join(f"{m}, {s}" for m, s in self.params16)
        return (f"mcg_{self.kernels(g)[0]}({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, {n}, "
                f"{qi.zero_point}, {qo.zero_point}, {params});")

    def describe(self):
        if self.fn == "clamp":
            return f"clamp [{self.lo}, {self.hi}]"
        return self.fn + (f" alpha={self.alpha:g}" if self.fn == "leaky_relu" else "")


# Output qparams TFLM's integer Logistic / Tanh produce (and require).
FIXED_OUTPUT = {"sigmoid": (1.0 / 256.0, -128), "tanh": (1.0 / 128.0, 0)}


@tflite_op("RELU", "RELU6", "LOGISTIC", "TANH")
@tflite_op("LEAKY_RELU", options="LeakyReluOptions", options_required=True, int16=True)
def from_tflite(cx):
    fn = {"RELU": "relu", "RELU6": "relu6", "LEAKY_RELU": "leaky_relu", "LOGISTIC": "sigmoid", "TANH": "tanh"}[cx.opname]
    alpha = float(cx.options.alpha) if fn == "leaky_relu" else 0.0
    src, dst = cx.input(0), cx.output
    if fn in FIXED_OUTPUT:
        q = cx.g.q(dst)
        want = FIXED_OUTPUT[fn]
        if abs(q.scale - want[0]) > 1e-3 * want[0] or q.zero_point != want[1]:
            cx.unsupported(f"output scale {q.scale:g} / zero point {q.zero_point} (TFLite's int8 {cx.opname} "
                           f"outputs scale {want[0]:g}, zero point {want[1]})")
    cx.add(TFLiteLut(name=cx.name, inputs=[src], outputs=[dst], fn=fn, alpha=alpha))


@tflite_op("QUANTIZE", options="QuantizeOptions", int16=True)
def quantize_from_tflite(cx):
    """QUANTIZE int8 -> int8, and the pairs of REQUANTIZE_STEMS (int16 and
    quantized int32), inside the graph or at its edges (a requantization).
    The float -> int8 QUANTIZE on the model input is handled by the loader."""
    pair = (cx.dtype(0), cx.output_dtype())
    if pair != ("INT8", "INT8") and pair not in REQUANTIZE_STEMS:
        cx.unsupported(f"QUANTIZE from {pair[0]} to {pair[1]} (supported: int8 to int8, "
                       + ", ".join(f"{a.lower()} to {b.lower()}" for a, b in REQUANTIZE_STEMS) + ")")
    for k, kind in ((0, pair[0]), (None, pair[1])):
        t = cx.input(0) if k == 0 else cx.output
        if kind == "INT32" and cx.g.q(t).zero_point != 0:
            cx.unsupported(f"an int32 {'input' if k == 0 else 'output'} with zero point {cx.g.q(t).zero_point} (0 "
                           "expected)")
    cx.add(TFLiteLut(name=cx.name, inputs=[cx.input(0)], outputs=[cx.output], fn="requantize"))
