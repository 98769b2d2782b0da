"""Conv2D (and Conv1D as a 1xK Conv2D): NHWC input, OHWI int8 weights."""
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
    padding_2d,
    quantize_weighted,
    to_nhwc,
    windows,
)


@dataclass(kw_only=True)
class Conv2D(Op):
    kind: ClassVar[str] = "conv2d"
    kernel: ClassVar[str] = "conv2d"
    fusable: ClassVar[bool] = True

    weights: np.ndarray  # float (KH, KW, CIN, COUT), as Keras stores it
    bias: np.ndarray | None
    strides: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))
    dilation: tuple[int, int] = (1, 1)  # taps dilation[0] rows, dilation[1] columns apart
    # The TFLite operators this op stands for when a pass folded several
    # (mcugen.passes.fold_space_to_batch), for comparisons with TFLite.
    tflite_pattern: str | None = None
    # Integer constants, filled by quantize() (or given by a quantized model).
    w_q: np.ndarray | None = None  # int8 (KH, KW, CIN, COUT)
    w_scales: np.ndarray | None = None  # float32 (COUT,)
    b_q: np.ndarray | None = None  # int32 (COUT,)
    mult: np.ndarray | None = None
    shift: np.ndarray | None = None
    b_eff: np.ndarray | None = None  # int32 (COUT,): b_q with the input zero point folded in

    @property
    def ksize(self):
        return self.weights.shape[:2] if self.w_q is None else self.w_q.shape[:2]

    @property
    def dilated(self) -> bool:
        """Taps apart along an axis where the kernel has more than one: run by
        the generic dilated kernel (every per-family conv kernel assumes 1)."""
        return is_dilated(self.ksize, self.dilation)

    def forward_float(self, g, xs):
        x = to_nhwc(xs[0].astype(np.float64))
        win = windows(x, self.ksize, self.strides, self.pads, 0.0, self.dilation)
        y = np.tensordot(win, self.weights.astype(np.float64).transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2]))
        if self.bias is not None:
            y = y + self.bias
        y = self.apply_float_activation(y)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def quantize(self, g):
        qi, _ = quantize_weighted(self, g, self.weights, axis=3)
        w_sums = self.w_q.astype(np.int64).sum(axis=(0, 1, 2))
        self.b_eff = fold_input_offset(self.name, self.b_q, w_sums, qi.zero_point, int(np.prod(self.w_q.shape[:3])))
        check_dilated_window(self, g)

    def forward_int(self, g, xs):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        x = to_nhwc(xs[0])
        win = windows(x.astype(np.int64) - qi.zero_point, self.ksize, self.strides, self.pads, 0, self.dilation)
        acc = np.tensordot(win, self.w_q.astype(np.int64).transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2]))
        acc = acc + self.b_q.astype(np.int64)
        lo, hi = self.act_range(g)
        y = requantize(acc, self.mult.astype(np.int64), self.shift.astype(np.int64), qo.zero_point, lo, hi)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    @property
    def pointwise(self) -> bool:
        """A 1x1 convolution with stride 1 and no padding: a dense layer over
        the pixels, and run by the dense kernel."""
        return tuple(self.ksize) == (1, 1) and tuple(self.strides) == (1, 1) and self.pads == ((0, 0), (0, 0))

    def kernels(self, g):
        if self.dilated:
            return ["conv2d_dilated"]
        return ["dense"] if self.pointwise else ["conv2d"]

    def scratch_bytes(self, g):
        """Two input patches (KH x KW x CIN each): the generic kernel copies a
        window that overlaps the padding there (padded taps = the zero point);
        the arm_dsp kernel copies every window there, two output pixels at a
        time."""
        if self.pointwise:
            return 0
        kh, kw, cin = self.w_q.shape[:3]
        if self.dilated:  # the dilated kernel gathers one window at a time
            return kh * kw * cin
        return 2 * kh * kw * cin

    def constants(self):
        arrays = [CArray("w", "int8_t", self.w_q.transpose(3, 0, 1, 2))]  # OHWI
        if np.any(self.b_eff):
            arrays.append(CArray("b", "int32_t", self.b_eff))
        arrays += [CArray("m", "int32_t", self.mult), CArray("s", "int8_t", self.shift)]
        return arrays

    def c_call(self, g, c):
        ih, iw, ic = as_hwc(g.shape(self.inputs[0]))
        oh, ow, oc = as_hwc(g.shape(self.outputs[0]))
        kh, kw = self.ksize
        names = {a.suffix for a in self.constants()}
        bias = c.const(self, "b") if "b" in names else "NULL"
        lo, hi = self.act_range(g)
        head = (f"{c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
                f"{c.const(self, 'w')}, {bias}, {c.const(self, 'm')}, {c.const(self, 's')}")
        tail = f"{g.q(self.outputs[0]).zero_point}, {lo}, {hi});"
        if self.pointwise:
            return f"mcg_dense_s8({head}, {oh * ow}, {ic}, {oc}, {tail}"
        scratch = c.scratch(self)
        if self.dilated:
            return (
                f"mcg_conv2d_dilated_s8({head}, {scratch}, "
                f"{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, {self.strides[0]}, {self.strides[1]}, "
                f"{self.pads[0][0]}, {self.pads[1][0]}, {self.dilation[0]}, {self.dilation[1]}, "
                f"{g.q(self.inputs[0]).zero_point}, {tail}"
            )
        return (
            f"mcg_conv2d_s8({head}, {scratch}, "
            f"{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, {self.strides[0]}, {self.strides[1]}, "
            f"{self.pads[0][0]}, {self.pads[1][0]}, {g.q(self.inputs[0]).zero_point}, {tail}"
        )

    def computed_shape(self, g):
        return dilated_output_shape(self, g, self.ksize, self.weights.shape[3] if self.w_q is None
                                    else self.w_q.shape[3])

    def macs(self, g):
        kh, kw = self.ksize
        cin = self.weights.shape[2]
        return int(np.prod(g.shape(self.outputs[0]))) * kh * kw * cin

    def param_count(self):
        return int(self.weights.size + (0 if self.bias is None else self.bias.size))

    def describe(self):
        kh, kw = self.ksize
        return f"{kh}x{kw} /{self.strides[0]}x{self.strides[1]}{describe_dilation(self)}"


def is_dilated(ksize, dilation) -> bool:
    return any(int(d) > 1 and int(k) > 1 for k, d in zip(ksize, dilation))


def describe_dilation(op) -> str:
    return f" dil {op.dilation[0]}x{op.dilation[1]}" if is_dilated(op.ksize, op.dilation) else ""


def dilated_output_shape(op, g, ksize, out_c):
    """The output shape a dilated conv / depthwise computes, in the rank of
    the output tensor (for the loader's check); None for an undilated one,
    which the loader checks by kind."""
    if not is_dilated(ksize, op.dilation):
        return None
    from ..errors import McugenError
    from ..limits import shown

    ih, iw, _ = as_hwc(g.shape(op.inputs[0]))
    outs = []
    for size, k, s, d, (a, b) in zip((ih, iw), ksize, op.strides, op.dilation, op.pads):
        o = (size + a + b - (k - 1) * d - 1) // s + 1
        if o < 1:
            raise McugenError(f"layer {shown(op.name)!r} ({op.kind}): a {ksize[0]}x{ksize[1]} window dilated "
                              f"{op.dilation[0]}x{op.dilation[1]} does not fit its {ih}x{iw} input")
        outs.append(o)
    out = g.shape(op.outputs[0])
    if len(out) == 2 and outs[0] == 1:
        return (outs[1], out_c)
    return (outs[0], outs[1], out_c)


def check_dilated_window(op, g) -> None:
    """The kernels compute oy * stride - pad + (k - 1) * dilation in int16."""
    from ..limits import MAX_DIM

    oh, ow, _ = as_hwc(g.shape(op.outputs[0]))
    for o, k, s, d, (a, _) in zip((oh, ow), op.ksize, op.strides, op.dilation, op.pads):
        if o * s + a + (k - 1) * d + 1 > MAX_DIM:
            raise ValueError(f"layer {op.name!r}: a dilated window reaches past {MAX_DIM:,}, the int16 range "
                             "of the kernels")


def conv_pads(cx, cfg, hw, k, strides, dilation=(1, 1)):
    padding = cfg["padding"]
    if padding == "causal":  # Keras pads (k - 1) * dilation steps on the left
        return ((0, 0), ((k[1] - 1) * dilation[1], 0))
    if padding not in ("valid", "same"):
        cx.unsupported(f"padding={padding!r}")
    _, _, ph, pw = padding_2d(hw, k, strides, padding, dilation)
    return (ph, pw)


def check_conv_config(cx, cfg):
    if cfg.get("data_format", "channels_last") != "channels_last":
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    dil = cfg.get("dilation_rate", 1)
    dil = dil if isinstance(dil, (list, tuple)) else (dil,)
    if not all(isinstance(d, int) and d >= 1 for d in dil):
        cx.unsupported(f"dilation_rate={tuple(dil)} (positive integers expected)")
    if cfg.get("groups", 1) != 1:
        cx.unsupported(f"groups={cfg['groups']} (only 1 is supported)")


def _pair(v, one_d: bool):
    v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    if one_d:
        return (1, v[0])
    return v if len(v) == 2 else (v[0], v[0])


@keras_layer("Conv2D", "Conv1D")
def from_keras(layer, cx):
    cfg = layer.get_config()
    check_conv_config(cx, cfg)
    one_d = type(layer).__name__ == "Conv1D"
    weights = layer.get_weights()
    w = weights[0]
    if one_d:
        w = w[np.newaxis]  # (K, CIN, COUT) -> (1, K, CIN, COUT)
    bias = weights[1] if cfg.get("use_bias", True) else None
    strides = _pair(cfg["strides"], one_d)
    dilation = _pair(cfg.get("dilation_rate", 1), one_d)
    hw = as_hwc(cx.g.shape(cx.inputs[0]))[:2]
    pads = conv_pads(cx, cfg, hw, w.shape[:2], strides, dilation)
    op = Conv2D(name=cx.name, inputs=[cx.inputs[0]], outputs=[], weights=w, bias=bias, strides=strides, pads=pads,
                dilation=dilation)
    add_with_activation(cx, op, keras_activation(cx, cfg))


def tflite_pads(cx, hw, k, strides, dilation=(1, 1)):
    """((top, bottom), (left, right)) of a TFLite SAME / VALID padding
    (TFLite's ComputePaddingHeightWidth)."""
    padding = cx.loader.padding_names.get(int(cx.options.padding), "?")
    if padding not in ("SAME", "VALID"):
        cx.unsupported(f"padding {padding}")
    _, _, ph, pw = padding_2d(hw, k, strides, padding.lower(), dilation)
    return (ph, pw)


def tflite_conv_config(cx):
    """(strides, dilation) of a CONV_2D / DEPTHWISE_CONV_2D."""
    o = cx.options
    if len(cx.tshape(0)) != 4:
        cx.unsupported(f"input of rank {len(cx.tshape(0))} (NHWC expected)")
    dilation = (int(getattr(o, "dilationHFactor", 1) or 1), int(getattr(o, "dilationWFactor", 1) or 1))
    return (int(o.strideH), int(o.strideW)), dilation


@tflite_op("CONV_2D", options="Conv2DOptions", options_required=True)
def from_tflite(cx):
    """CONV_2D: filter [COUT, KH, KW, CIN] int8 (per-channel or per-tensor
    scales), int32 bias; TFLM's reference ConvPerChannel is mcugen's conv."""
    strides, dilation = tflite_conv_config(cx)
    src = cx.input(0)
    w, scales = cx.weights(1, channel_axis=0)
    cout, kh, kw, cin = w.shape
    if cin != cx.g.shape(src)[-1]:
        cx.unsupported(f"grouped convolution ({cx.g.shape(src)[-1]} input channels, filter depth {cin})")
    w_q = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # (KH, KW, CIN, COUT)
    weights, bias, b_q = from_file(w_q, scales, cx.bias(2, cout), cx.g.q(src).scale, cout)
    op = Conv2D(
        name=cx.name,
        inputs=[src],
        outputs=[cx.output],
        activation=cx.activation,
        weights=weights,
        bias=bias,
        strides=strides,
        pads=tflite_pads(cx, as_hwc(cx.g.shape(src))[:2], (kh, kw), strides, dilation),
        dilation=dilation,
        w_q=w_q,
        w_scales=scales,
        b_q=b_q,
    )
    cx.add(op)
