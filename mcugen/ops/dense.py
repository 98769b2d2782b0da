"""Dense (fully connected) over the last axis; leading axes are rows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op
from ..rounding import quantize_multiplier, requantize
from . import keras_layer, tflite_op
from .activation import add_with_activation, keras_activation
from .common import from_file, fold_input_offset, quantize_weighted


@dataclass(kw_only=True)
class Dense(Op):
    kind: ClassVar[str] = "dense"
    kernel: ClassVar[str] = "dense"
    fusable: ClassVar[bool] = True

    weights: np.ndarray  # float (IN, OUT), as Keras stores it
    bias: np.ndarray | None
    w_q: np.ndarray | None = None  # int8 (IN, OUT)
    w_scales: np.ndarray | None = None  # float32 (OUT,)
    b_q: np.ndarray | None = None
    mult: np.ndarray | None = None
    shift: np.ndarray | None = None
    b_eff: np.ndarray | None = None  # int32 (OUT,): b_q with the input zero point folded in

    def forward_float(self, g, xs):
        y = xs[0].astype(np.float64) @ self.weights.astype(np.float64)
        if self.bias is not None:
            y = y + self.bias
        return self.apply_float_activation(y)

    def quantize(self, g):
        qi, _ = quantize_weighted(self, g, self.weights, axis=1)
        w_sums = self.w_q.astype(np.int64).sum(axis=0)
        self.b_eff = fold_input_offset(self.name, self.b_q, w_sums, qi.zero_point, self.w_q.shape[0])

    def forward_int(self, g, xs):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        acc = (xs[0].astype(np.int64) - qi.zero_point) @ self.w_q.astype(np.int64) + self.b_q.astype(np.int64)
        lo, hi = self.act_range(g)
        return requantize(acc, self.mult.astype(np.int64), self.shift.astype(np.int64), qo.zero_point, lo, hi)

    def has_bias(self) -> bool:
        return bool(np.any(self.b_eff))

    def constants(self):
        arrays = [CArray("w", "int8_t", self.w_q.T)]  # (OUT, IN): rows contiguous
        if self.has_bias():
            arrays.append(CArray("b", "int32_t", self.b_eff))
        return arrays + [CArray("m", "int32_t", self.mult), CArray("s", "int8_t", self.shift)]

    def c_call(self, g, c):
        n_in, n_out = self.w_q.shape
        rows = g.tensors[self.inputs[0]].size // n_in
        bias = c.const(self, "b") if self.has_bias() else "NULL"
        lo, hi = self.act_range(g)
        return (
            f"mcg_dense_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
            f"{c.const(self, 'w')}, {bias}, {c.const(self, 'm')}, {c.const(self, 's')}, "
            f"{rows}, {n_in}, {n_out}, "
            f"{g.q(self.outputs[0]).zero_point}, {lo}, {hi});"
        )

    def macs(self, g):
        return g.tensors[self.inputs[0]].size * self.weights.shape[1]

    def param_count(self):
        return int(self.weights.size + (0 if self.bias is None else self.bias.size))

    def describe(self):
        return f"{self.weights.shape[0]}->{self.weights.shape[1]}"


@keras_layer("Dense")
def from_keras(layer, cx):
    cfg = layer.get_config()
    weights = layer.get_weights()
    bias = weights[1] if cfg.get("use_bias", True) else None
    op = Dense(name=cx.name, inputs=[cx.inputs[0]], outputs=[], weights=weights[0], bias=bias)
    add_with_activation(cx, op, keras_activation(cx, cfg))


@dataclass(kw_only=True)
class FullyConnected(Dense):
    """TFLite's FULLY_CONNECTED (same kernel and int8 arithmetic as Dense).
    With one weight scale for the whole tensor TFLM computes the multiplier as
    GetQuantizedConvolutionMultipler does: input_scale * weight_scale in
    float32, then divided by output_scale in double; per-channel weights use
    the all-double per-channel rule (fully_connected_common.cc)."""

    per_tensor: bool = False

    def quantize(self, g):
        super().quantize(g)
        if self.per_tensor:
            qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
            product = np.float32(qi.scale) * np.float32(self.w_scales[0])
            m, s = quantize_multiplier(float(product) / float(qo.scale))
            self.mult = np.full(self.w_q.shape[1], m, dtype=np.int32)
            self.shift = np.full(self.w_q.shape[1], s, dtype=np.int8)


@tflite_op("FULLY_CONNECTED", options="FullyConnectedOptions")
def from_tflite(cx):
    """FULLY_CONNECTED: weights [OUT, IN] int8, optional int32 bias; the input
    is read as rows of IN values whatever its shape."""
    src = cx.input(0)
    opts = cx.options
    if opts is not None and int(getattr(opts, "weightsFormat", 0) or 0) != 0:
        cx.unsupported("shuffled weights")
    scales_in_file = len(cx.quant(1)[0])
    w, scales = cx.weights(1, channel_axis=0)
    n_out, n_in = w.shape
    size = cx.g.tensors[src].size
    if size % n_in:
        cx.unsupported(f"an input of {size} values for {n_in} weights per output")
    if cx.g.shape(src)[-1:] != (n_in,):
        rows = size // n_in
        src2 = cx.tmp((rows, n_in) if rows > 1 else (n_in,), "rows", cx.g.q(src))
        from .reshape import Reshape

        cx.add(Reshape(name=f"{cx.name}_rows", inputs=[src], outputs=[src2]))
        src = src2
    weights, bias, b_q = from_file(np.ascontiguousarray(w.T), scales, cx.bias(2, n_out), cx.g.q(src).scale, n_out)
    keep = bool(getattr(opts, "keepNumDims", False)) if opts is not None else False
    cx.set_output_shape(tuple(cx.tshape(0)[:-1]) + (n_out,) if keep else (size // n_in, n_out))
    op = FullyConnected(
        name=cx.name,
        inputs=[src],
        outputs=[cx.output],
        activation=cx.activation,
        weights=weights,
        bias=bias,
        w_q=np.ascontiguousarray(w.T),
        w_scales=scales,
        b_q=b_q,
        per_tensor=scales_in_file == 1,
    )
    out_size = cx.g.tensors[op.outputs[0]].size
    if out_size != size // n_in * n_out:
        cx.unsupported(f"output of {out_size} values")
    cx.add(op)
