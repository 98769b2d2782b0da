"""DepthwiseConv2D (depth multiplier >= 1) and SeparableConv2D, which is split
into a depthwise and a 1x1 Conv2D. Output channel oc = ic * multiplier + m;
weights are stored (KH, KW, COUT) as TFLite does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op
from ..rounding import requantize
from . import keras_layer, tflite_op
from .activation import add_with_activation, keras_activation
from .common import (
    from_file,
    as_hwc,
    fold_input_offset,
    quantize_weighted,
    to_nhwc,
    windows,
)
from .conv2d import (
    Conv2D,
    _pair,
    check_conv_config,
    check_dilated_window,
    conv_pads,
    describe_dilation,
    dilated_output_shape,
    is_dilated,
)


@dataclass(kw_only=True)
class DepthwiseConv2D(Op):
    kind: ClassVar[str] = "depthwise_conv2d"
    fusable: ClassVar[bool] = True

    weights: np.ndarray  # float (KH, KW, CIN, MULT), as Keras stores it
    bias: np.ndarray | None
    strides: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int] = (1, 1)  # taps dilation[0] rows, dilation[1] columns apart
    # The TFLite operators this op stands for when a pass folded several
    # (mcugen.passes.fold_space_to_batch), for comparisons with TFLite.
    tflite_pattern: str | None = None
    w_q: np.ndarray | None = None  # int8 (KH, KW, COUT)
    w_scales: np.ndarray | None = None
    b_q: np.ndarray | None = None
    mult: np.ndarray | None = None
    shift: np.ndarray | None = None
    b_eff: np.ndarray | None = None  # int32 (COUT,): b_q with the input zero point folded in

    @property
    def multiplier(self) -> int:
        return int(self.weights.shape[3])

    @property
    def ksize(self):
        return self.weights.shape[:2]

    @property
    def dilated(self) -> bool:
        """Run by the generic dilated kernel (the per-family depthwise
        kernels assume dilation 1)."""
        return is_dilated(self.ksize, self.dilation)

    @property
    def kernel(self) -> str:
        return "depthwise_conv2d_dilated" if self.dilated else "depthwise_conv2d"

    def forward_float(self, g, xs):
        x = to_nhwc(xs[0].astype(np.float64))
        kh, kw, cin, dm = self.weights.shape
        win = windows(x, (kh, kw), self.strides, self.pads, 0.0, self.dilation)  # N,OH,OW,C,KH,KW
        y = np.einsum("nhwcij,ijcm->nhwcm", win, self.weights.astype(np.float64))
        y = y.reshape(y.shape[:3] + (cin * dm,))
        if self.bias is not None:
            y = y + self.bias
        y = self.apply_float_activation(y)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def quantize(self, g):
        kh, kw, cin, dm = self.weights.shape
        qi, _ = quantize_weighted(self, g, self.weights.reshape(kh, kw, cin * dm), axis=2)
        w_sums = self.w_q.astype(np.int64).sum(axis=(0, 1))
        self.b_eff = fold_input_offset(self.name, self.b_q, w_sums, qi.zero_point, kh * kw)
        check_dilated_window(self, g)

    def forward_int(self, g, xs):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        x = to_nhwc(xs[0])
        kh, kw, cout = self.w_q.shape
        dm = self.multiplier
        win = windows(x.astype(np.int64) - qi.zero_point, (kh, kw), self.strides, self.pads, 0, self.dilation)
        w = self.w_q.astype(np.int64).reshape(kh, kw, cout // dm, dm)
        acc = np.einsum("nhwcij,ijcm->nhwcm", win, w)
        acc = acc.reshape(acc.shape[:3] + (cout,)) + self.b_q.astype(np.int64)
        lo, hi = self.act_range(g)
        y = requantize(acc, self.mult.astype(np.int64), self.shift.astype(np.int64), qo.zero_point, lo, hi)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def has_bias(self) -> bool:
        return bool(np.any(self.b_eff))

    def constants(self):
        arrays = [CArray("w", "int8_t", self.w_q)]
        if self.has_bias():
            arrays.append(CArray("b", "int32_t", self.b_eff))
        return arrays + [CArray("m", "int32_t", self.mult), CArray("s", "int8_t", self.shift)]

    def c_call(self, g, c):
        ih, iw, ic = as_hwc(g.shape(self.inputs[0]))
        oh, ow, oc = as_hwc(g.shape(self.outputs[0]))
        kh, kw, _ = self.w_q.shape
        bias = c.const(self, "b") if self.has_bias() else "NULL"
        lo, hi = self.act_range(g)
        if self.dilated:
            return (
                f"mcg_depthwise_conv2d_dilated_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
                f"{c.const(self, 'w')}, {bias}, {c.const(self, 'm')}, {c.const(self, 's')}, "
                f"{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, {self.strides[0]}, {self.strides[1]}, "
                f"{self.pads[0][0]}, {self.pads[1][0]}, {self.dilation[0]}, {self.dilation[1]}, "
                f"{self.multiplier}, {g.q(self.inputs[0]).zero_point}, "
                f"{g.q(self.outputs[0]).zero_point}, {lo}, {hi});"
            )
        return (
            f"mcg_depthwise_conv2d_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
            f"{c.const(self, 'w')}, {bias}, {c.const(self, 'm')}, {c.const(self, 's')}, "
            f"{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, {self.strides[0]}, {self.strides[1]}, "
            f"{self.pads[0][0]}, {self.pads[1][0]}, {self.multiplier}, {g.q(self.inputs[0]).zero_point}, "
            f"{g.q(self.outputs[0]).zero_point}, {lo}, {hi});"
        )

    def computed_shape(self, g):
        kh, kw, cin, dm = self.weights.shape
        return dilated_output_shape(self, g, (kh, kw), cin * dm)

    def macs(self, g):
        kh, kw = self.weights.shape[:2]
        return g.tensors[self.outputs[0]].size * kh * kw

    def param_count(self):
        return int(self.weights.size + (0 if self.bias is None else self.bias.size))

    def describe(self):
        kh, kw = self.weights.shape[:2]
        dm = f" x{self.multiplier}" if self.multiplier > 1 else ""
        return f"{kh}x{kw} /{self.strides[0]}x{self.strides[1]}{dm}{describe_dilation(self)}"


def _common(layer, cx):
    cfg = layer.get_config()
    check_conv_config(cx, cfg)
    one_d = type(layer).__name__.endswith("1D")
    strides = _pair(cfg["strides"], one_d)
    return cfg, one_d, strides, _pair(cfg.get("dilation_rate", 1), one_d)


@keras_layer("DepthwiseConv2D", "DepthwiseConv1D")
def from_keras(layer, cx):
    cfg, one_d, strides, dilation = _common(layer, cx)
    weights = layer.get_weights()
    w = weights[0][np.newaxis] if one_d else weights[0]
    bias = weights[1] if cfg.get("use_bias", True) else None
    hw = as_hwc(cx.g.shape(cx.inputs[0]))[:2]
    pads = conv_pads(cx, cfg, hw, w.shape[:2], strides, dilation)
    op = DepthwiseConv2D(name=cx.name, inputs=[cx.inputs[0]], outputs=[], weights=w, bias=bias, strides=strides,
                         pads=pads, dilation=dilation)
    add_with_activation(cx, op, keras_activation(cx, cfg))


@keras_layer("SeparableConv2D", "SeparableConv1D")
def separable_from_keras(layer, cx):
    cfg, one_d, strides, dilation = _common(layer, cx)
    weights = layer.get_weights()
    dw, pw = weights[0], weights[1]
    bias = weights[2] if cfg.get("use_bias", True) else None
    if one_d:
        dw, pw = dw[np.newaxis], pw[np.newaxis]
    hw = as_hwc(cx.g.shape(cx.inputs[0]))[:2]
    pads = conv_pads(cx, cfg, hw, dw.shape[:2], strides, dilation)
    out_shape = cx.g.shape(cx.output)
    mid = cx.tmp(out_shape[:-1] + (dw.shape[2] * dw.shape[3],), "depthwise")
    cx.add(
        DepthwiseConv2D(
            name=f"{cx.name}_depthwise", inputs=[cx.inputs[0]], outputs=[mid], weights=dw, bias=None, strides=strides,
            pads=pads, dilation=dilation
        )
    )
    op = Conv2D(name=f"{cx.name}_pointwise", inputs=[mid], outputs=[], weights=pw, bias=bias, strides=(1, 1), pads=((0, 0), (0, 0)))
    add_with_activation(cx, op, keras_activation(cx, cfg))


@tflite_op("DEPTHWISE_CONV_2D", options="DepthwiseConv2DOptions", options_required=True)
def from_tflite(cx):
    """DEPTHWISE_CONV_2D: filter [1, KH, KW, COUT] int8 with COUT = CIN *
    multiplier, scales along axis 3; TFLM's DepthwiseConvPerChannel."""
    from .conv2d import tflite_conv_config, tflite_pads

    strides, dilation = tflite_conv_config(cx)
    src = cx.input(0)
    w, scales = cx.weights(1, channel_axis=3)
    _, kh, kw, cout = w.shape
    cin = cx.g.shape(src)[-1]
    if cout % cin:
        cx.unsupported(f"{cout} output channels for {cin} input channels")
    dm = cout // cin
    w_q = np.ascontiguousarray(w[0])  # (KH, KW, COUT)
    weights, bias, b_q = from_file(w_q, scales, cx.bias(2, cout), cx.g.q(src).scale, cout)
    op = DepthwiseConv2D(
        name=cx.name,
        inputs=[src],
        outputs=[cx.output],
        activation=cx.activation,
        weights=weights.reshape(kh, kw, cin, dm),
        bias=bias,
        strides=strides,
        pads=tflite_pads(cx, as_hwc(cx.g.shape(src))[:2], (kh, kw), strides, dilation),
        dilation=dilation,
        w_q=w_q,
        w_scales=scales,
        b_q=b_q,
    )
    cx.add(op)
