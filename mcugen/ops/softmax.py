"""Softmax over the last axis: TFLM's integer int8 softmax (see
``mcugen/fixedpoint.py``), output scale 1/256 and zero point -128 as TFLite;
from a .tflite file also int8 -> int16 (output scale 1/65536, zero point
-32768: TFLM's Softmax<int8_t, int16_t>, kernel ``softmax_s8_s16``), as TFLM's
keyword benchmark model ends."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op, QParams
from . import tflite_op


@dataclass(kw_only=True)
class Softmax(Op):
    kind: ClassVar[str] = "softmax"
    kernel: ClassVar[str] = "softmax"

    beta: float = 1.0
    params: tuple[int, int, int] | None = None  # (beta multiplier, left shift, diff_min)
    # Families whose kernels get the exp() of every possible difference as a
    # table ("e": 4 bytes per difference from 0 down to diff_min, at most
    # 1 KiB) instead of computing some 10 to 20 high multiplies per entry
    # twice: AVR, where a high multiply is ~100 cycles.
    EXP_TABLE_FAMILIES: ClassVar[tuple[str, ...]] = ("avr",)
    exp_table: bool = False

    def forward_float(self, g, xs):
        x = xs[0].astype(np.float64) * self.beta
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def fixed_output_qparams(self, g):
        return QParams(1.0 / 256.0, -128)

    def quantize(self, g):
        from ..fixedpoint import softmax_params

        self.params = tuple(int(v) for v in softmax_params(g.q(self.inputs[0]).scale, self.beta))

    def wide_output(self, g) -> bool:
        return g.tensors[self.outputs[0]].dtype == "int16"

    def kernels(self, g):
        # softmax_s8_s16 uses the helpers of softmax.c.j2, emitted before it.
        return ["softmax", "softmax_s8_s16"] if self.wide_output(g) else ["softmax"]

    def forward_int(self, g, xs):
        from ..fixedpoint import softmax_int8

        return softmax_int8(xs[0], *self.params, out_bits=16 if self.wide_output(g) else 8)

    def specialize(self, families):
        self.exp_table = any(f in self.EXP_TABLE_FAMILIES for f in families)

    def exp_values(self) -> np.ndarray:
        """int32 exp() (Q0.31) of the differences 0, -1, ..., diff_min (the
        rescaled difference through gemmlowp's exp_on_negative_values), as
        the kernel would compute them."""
        from ..fixedpoint import _SCALED_DIFF_INTEGER_BITS, exp_on_negative_values
        from ..rounding import multiply_by_quantized_multiplier

        m, s, dmin = self.params
        diffs = -np.arange(min(256, 1 - dmin), dtype=np.int64)
        rescaled = multiply_by_quantized_multiplier(diffs, m, s)
        return exp_on_negative_values(rescaled, _SCALED_DIFF_INTEGER_BITS).astype(np.int32)

    def constants(self):
        return [CArray("e", "int32_t", self.exp_values())] if self.exp_table else []

    def c_call(self, g, c):
        shape = g.shape(self.inputs[0])
        depth = shape[-1]
        rows = int(np.prod(shape[:-1], dtype=np.int64))
        m, s, dmin = self.params
        table = c.const(self, "e") if self.exp_table else "NULL"
        fn = "mcg_softmax_s8_s16" if self.wide_output(g) else "mcg_softmax_s8"
        return (
            f"{fn}({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
            f"{rows}, {depth}, {m}, {s}, {dmin}, {table});"
        )

    def macs(self, g):
        return g.tensors[self.inputs[0]].size


@tflite_op("SOFTMAX", options="SoftmaxOptions", options_required=True, int16=True)
def from_tflite(cx):
    """SOFTMAX over the last axis, TFLM's int8 kernel with the file's beta;
    int8 -> int16 with TFLM's output quantization (1/65536, -32768, within
    its SoftmaxPrepare tolerance of 0.001 / 65536)."""
    q = cx.g.q(cx.output)
    if cx.dtype(0) != "INT8":
        cx.unsupported(f"input of type {cx.dtype(0)} (int8 expected)")
    if cx.output_dtype() == "INT16":
        if abs(q.scale - 1.0 / 65536.0) > 1e-3 / 65536.0 or q.zero_point != -32768:
            cx.unsupported(f"int16 output scale {q.scale:g} / zero point {q.zero_point} (TFLM's int8 -> int16 "
                           "SOFTMAX outputs 1/65536, -32768)")
    elif abs(q.scale - 1.0 / 256.0) > 1e-3 / 256.0 or q.zero_point != -128:
        cx.unsupported(f"output scale {q.scale:g} / zero point {q.zero_point} (TFLM's int8 SOFTMAX outputs 1/256, -128)")
    cx.add(Softmax(name=cx.name, inputs=[cx.input(0)], outputs=[cx.output], beta=float(cx.options.beta)))
