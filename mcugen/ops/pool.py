"""Max and average pooling, 1D and 2D, and their global forms.

Both keep the input's qparams (TFLite's "same scale" rule), so the int8
kernels need no requantization: max is a max; average is TFLite's integer
AveragePool (sum of the in-bounds values, divided by their count, rounded half
away from zero). Padded positions are excluded from both."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer, tflite_op
from .common import as_hwc, padding_2d, to_nhwc, windows


@dataclass(kw_only=True)
class Pool2D(Op):
    kind: ClassVar[str] = "pool"
    shares_qparams: ClassVar[bool] = True

    mode: str  # "max" or "avg"
    ksize: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]

    @property
    def kernel(self) -> str:
        return f"{self.mode}_pool"

    def _windows(self, x, fill):
        return windows(x, self.ksize, self.strides, self.pads, fill)  # N,OH,OW,C,KH,KW

    def forward_float(self, g, xs):
        x = to_nhwc(xs[0].astype(np.float64))
        if self.mode == "max":
            y = self._windows(x, -np.inf).max(axis=(4, 5))
        else:
            s = self._windows(x, 0.0).sum(axis=(4, 5))
            n = self._windows(np.ones_like(x[:1, ..., :1]), 0.0).sum(axis=(4, 5))
            y = s / n
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def forward_int(self, g, xs):
        x = to_nhwc(xs[0].astype(np.int64))
        if self.mode == "max":
            y = self._windows(x, -129).max(axis=(4, 5))
        else:
            s = self._windows(x, 0).sum(axis=(4, 5))
            n = self._windows(np.ones_like(x[:1, ..., :1]), 0).sum(axis=(4, 5))
            half = n // 2
            # C's truncating division, as TFLite's integer AveragePool.
            num = np.where(s > 0, s + half, s - half)
            y = np.sign(num) * (np.abs(num) // n)
        y = np.clip(y, -128, 127).astype(np.int8)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def c_call(self, g, c):
        ih, iw, ch = as_hwc(g.shape(self.inputs[0]))
        oh, ow, _ = as_hwc(g.shape(self.outputs[0]))
        return (
            f"mcg_{self.mode}_pool_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
            f"{ih}, {iw}, {ch}, {oh}, {ow}, {self.ksize[0]}, {self.ksize[1]}, "
            f"{self.strides[0]}, {self.strides[1]}, {self.pads[0][0]}, {self.pads[1][0]});"
        )

    def macs(self, g):
        return g.tensors[self.outputs[0]].size * self.ksize[0] * self.ksize[1]

    def describe(self):
        return f"{self.mode} {self.ksize[0]}x{self.ksize[1]} /{self.strides[0]}x{self.strides[1]}"


def _tuple(v, n):
    v = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    return v


@keras_layer("MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    cls = type(layer).__name__
    one_d = cls.endswith("1D")
    pool = _tuple(cfg["pool_size"], 1 if one_d else 2)
    strides = _tuple(cfg.get("strides") or pool, 1 if one_d else 2)
    if one_d:
        pool, strides = (1, pool[0]), (1, strides[0])
    padding = cfg.get("padding", "valid")
    hw = as_hwc(cx.g.shape(cx.inputs[0]))[:2]
    _, _, ph, pw = padding_2d(hw, pool, strides, padding)
    mode = "max" if cls.startswith("Max") else "avg"
    cx.add(Pool2D(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], mode=mode, ksize=pool, strides=strides, pads=(ph, pw)))


@keras_layer("GlobalMaxPooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalAveragePooling1D")
def global_from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    h, w, _ = as_hwc(cx.g.shape(cx.inputs[0]))
    mode = "max" if type(layer).__name__.startswith("GlobalMax") else "avg"
    cx.add(Pool2D(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], mode=mode, ksize=(h, w), strides=(1, 1), pads=((0, 0), (0, 0))))


def add_clamped(cx, op, activation: str | None) -> None:
    """Add ``op``; a fused RELU/RELU6 on an op whose kernel has no clamp runs
    as a following table lookup (TFLite clamps to the same range)."""
    if activation is None:
        op.outputs = [cx.output]
        cx.add(op)
        return
    from .tflite_lut import TFLiteLut

    q = cx.g.q(cx.output)
    mid = cx.tmp(cx.g.shape(cx.output), "pre_act", q)
    op.outputs = [mid]
    cx.add(op)
    clamp = TFLiteLut(name=f"{cx.name}_{activation}", inputs=[mid], outputs=[cx.output], fn="clamp",
                      activation=activation)
    clamp.lo, clamp.hi = clamp.act_range(cx.g)
    clamp.activation = None
    cx.add(clamp)


@tflite_op("MAX_POOL_2D", "AVERAGE_POOL_2D", options="Pool2DOptions", options_required=True)
def from_tflite(cx):
    """MAX_POOL_2D / AVERAGE_POOL_2D: TFLM's reference int8 pooling, the same
    arithmetic as mcugen's (output bytes keep the input's quantization)."""
    from .conv2d import tflite_pads

    o = cx.options
    src = cx.input(0)
    if len(cx.tshape(0)) != 4:
        cx.unsupported(f"input of rank {len(cx.tshape(0))} (NHWC expected)")
    k, strides = (int(o.filterHeight), int(o.filterWidth)), (int(o.strideH), int(o.strideW))
    pads = tflite_pads(cx, as_hwc(cx.g.shape(src))[:2], k, strides)
    mode = "max" if cx.opname == "MAX_POOL_2D" else "avg"
    add_clamped(cx, Pool2D(name=cx.name, inputs=[src], outputs=[], mode=mode, ksize=k, strides=strides, pads=pads),
                cx.activation)
