"""Conv2DTranspose / Conv1DTranspose (Keras) and TRANSPOSE_CONV (TFLite):
int8 input, per-channel int8 weights [COUT][KH][KW][CIN] (OHWI, TFLite's
filter layout), optional int32 bias.

Input pixel (iy, ix) adds x * w[ky][kx] to output pixel
(iy * stride - pad + ky, ix * stride - pad + kx). TFLM scatters every input
pixel into an int32 buffer the size of the output, then requantizes. The
kernel here gathers instead: each output pixel sums, over the taps whose
input pixel exists (ky = (oy + pad) mod stride, then every stride-th), the
same products (x - input zero point) * w, bias first. Integer addition is
exact, so it is the same int32 as TFLM's, with no output-sized int32 scratch
(4 bytes per output value: more than an Uno's SRAM for most decoders).
The input zero point cannot be folded into the bias as for a convolution:
how many taps reach an output pixel depends on where it lies.
|x - zp| <= 255 and |w| <= 127, so a product fits int16 (32,385)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op
from ..rounding import INT32_MAX, requantize
from . import keras_layer, tflite_op
from .activation import add_with_activation, keras_activation
from .common import as_hwc, from_file, quantize_weighted, to_nhwc


def transpose_pad(out_size: int, in_size: int, k: int, stride: int, same: bool) -> int:
    """The padding before, as TFLite's ComputePaddingHeightWidth gives it for
    TRANSPOSE_CONV (the output size in the role of the input) and as
    TensorFlow's conv2d_transpose pads: half the excess, rounded down."""
    if not same:
        return 0
    return max((in_size - 1) * stride + k - out_size, 0) // 2


@dataclass(kw_only=True)
class TransposeConv2D(Op):
    kind: ClassVar[str] = "transpose_conv"
    kernel: ClassVar[str] = "transpose_conv"
    fusable: ClassVar[bool] = True

    weights: np.ndarray  # float (COUT, KH, KW, CIN)
    bias: np.ndarray | None
    strides: tuple[int, int]
    padding: tuple[int, int]  # (top, left): output pixel oy gets input pixel iy at iy * stride - top + ky
    w_q: np.ndarray | None = None  # int8 (COUT, KH, KW, CIN)
    w_scales: np.ndarray | None = None
    b_q: np.ndarray | None = None
    mult: np.ndarray | None = None
    shift: np.ndarray | None = None

    @property
    def ksize(self):
        return tuple(self.weights.shape[1:3])

    def _scatter(self, g, x, w, dtype):
        """sum over taps of x * w placed at iy * stride - pad + ky (N,OH,OW,COUT)."""
        n, ih, iw, _ = x.shape
        cout, kh, kw, _ = w.shape
        oh, ow, _ = as_hwc(g.shape(self.outputs[0]))
        sh, sw = self.strides
        full_h = max((ih - 1) * sh + kh, self.padding[0] + oh)
        full_w = max((iw - 1) * sw + kw, self.padding[1] + ow)
        full = np.zeros((n, full_h, full_w, cout), dtype=dtype)
        for ky in range(kh):
            for kx in range(kw):
                full[:, ky: ky + (ih - 1) * sh + 1: sh, kx: kx + (iw - 1) * sw + 1: sw] += \
                    np.tensordot(x, w[:, ky, kx, :].T.astype(dtype), axes=([3], [0]))
        return full[:, self.padding[0]: self.padding[0] + oh, self.padding[1]: self.padding[1] + ow]

    def forward_float(self, g, xs):
        x = to_nhwc(xs[0].astype(np.float64))
        y = self._scatter(g, x, self.weights.astype(np.float64), np.float64)
        if self.bias is not None:
            y = y + self.bias
        y = self.apply_float_activation(y)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def quantize(self, g):
        quantize_weighted(self, g, self.weights, axis=0)
        cout, kh, kw, cin = self.w_q.shape
        # At most ceil(k / stride) taps per axis reach an output pixel.
        taps = -(-kh // self.strides[0]) * -(-kw // self.strides[1]) * cin
        bound = np.abs(self.b_q.astype(np.int64)) + taps * 255 * 127
        if int(bound.max(initial=0)) > INT32_MAX:
            raise ValueError(f"layer {self.name!r}: {taps} products per output could overflow the int32 accumulator")
        from ..limits import _requant_ok

        if not all(_requant_ok(int(a), int(s)) for a, s in zip(bound, self.shift)):
            raise ValueError(f"layer {self.name!r}: requantizing its accumulator could overflow int32: its output "
                             "scale is too small for its inputs and weights")

    def forward_int(self, g, xs):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        x = to_nhwc(xs[0]).astype(np.int64) - qi.zero_point
        acc = self._scatter(g, x, self.w_q.astype(np.int64), np.int64) + self.b_q.astype(np.int64)
        lo, hi = self.act_range(g)
        y = requantize(acc, self.mult.astype(np.int64), self.shift.astype(np.int64), qo.zero_point, lo, hi)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def constants(self):
        arrays = [CArray("w", "int8_t", self.w_q)]
        if np.any(self.b_q):
            arrays.append(CArray("b", "int32_t", self.b_q))
        return arrays + [CArray("m", "int32_t", self.mult), CArray("s", "int8_t", self.shift)]

    def c_call(self, g, c):
        ih, iw, ic = as_hwc(g.shape(self.inputs[0]))
        oh, ow, oc = as_hwc(g.shape(self.outputs[0]))
        _, kh, kw, _ = self.w_q.shape
        bias = c.const(self, "b") if np.any(self.b_q) else "NULL"
        lo, hi = self.act_range(g)
        return (
            f"mcg_transpose_conv_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
            f"{c.const(self, 'w')}, {bias}, {c.const(self, 'm')}, {c.const(self, 's')}, "
            f"{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, {self.strides[0]}, {self.strides[1]}, "
            f"{self.padding[0]}, {self.padding[1]}, {g.q(self.inputs[0]).zero_point}, "
            f"{g.q(self.outputs[0]).zero_point}, {lo}, {hi});"
        )

    def computed_shape(self, g):
        """Any output size works (pixels no tap reaches hold the bias); the
        padding must leave the first output pixel reachable, as TFLite's."""
        return None

    def macs(self, g):
        cout, kh, kw, cin = self.weights.shape
        return g.tensors[self.inputs[0]].size * kh * kw * cout

    def param_count(self):
        return int(self.weights.size + (0 if self.bias is None else self.bias.size))

    def describe(self):
        kh, kw = self.ksize
        return f"{kh}x{kw} /{self.strides[0]}x{self.strides[1]} transposed"


@keras_layer("Conv2DTranspose", "Conv1DTranspose")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    one_d = type(layer).__name__ == "Conv1DTranspose"

    def pair(v):
        v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
        return (1, int(v[0])) if one_d else (int(v[0]), int(v[-1]))

    if any(d != 1 for d in pair(cfg.get("dilation_rate", 1))):
        cx.unsupported(f"dilation_rate={cfg.get('dilation_rate')} (only 1 is supported)")
    if cfg.get("padding") not in ("valid", "same"):
        cx.unsupported(f"padding={cfg.get('padding')!r}")
    weights = layer.get_weights()
    w = weights[0]  # Keras: (KH, KW, COUT, CIN), (K, COUT, CIN) in 1-D
    if one_d:
        w = w[np.newaxis]
    bias = weights[1] if cfg.get("use_bias", True) else None
    strides = pair(cfg["strides"])
    ih, iw, _ = as_hwc(cx.g.shape(cx.inputs[0]))
    oh, ow, _ = as_hwc(cx.g.shape(cx.output))
    same = cfg["padding"] == "same"
    pads = (transpose_pad(oh, ih, w.shape[0], strides[0], same), transpose_pad(ow, iw, w.shape[1], strides[1], same))
    op = TransposeConv2D(name=cx.name, inputs=[cx.inputs[0]], outputs=[], weights=w.transpose(2, 0, 1, 3),
                         bias=bias, strides=strides, padding=pads)
    add_with_activation(cx, op, keras_activation(cx, cfg))


@tflite_op("TRANSPOSE_CONV", options="TransposeConvOptions", options_required=True)
def from_tflite(cx):
    """TRANSPOSE_CONV: input 0 the output shape (TFLM ignores it and takes
    the output tensor's), 1 the filter [COUT, KH, KW, CIN], 2 the input,
    3 an optional int32 bias. TFLM passes no fused activation to its kernel
    (kTfLiteActNone), so one in the file is refused rather than dropped."""
    o = cx.options
    src = cx.input(2)
    if len(cx.tshape(2)) != 4:
        cx.unsupported(f"input of rank {len(cx.tshape(2))} (NHWC expected)")
    if cx.activation is not None:
        cx.unsupported(f"fused activation {cx.activation.upper()} (TFLM's kernel ignores it)")
    padding = cx.loader.padding_names.get(int(o.padding), "?")
    if padding not in ("SAME", "VALID"):
        cx.unsupported(f"padding {padding}")
    strides = (int(o.strideH), int(o.strideW))
    w, scales = cx.weights(1, channel_axis=0)
    cout, kh, kw, cin = w.shape
    ih, iw, ic = as_hwc(cx.g.shape(src))
    dst = cx.output
    oh, ow, oc = as_hwc(cx.g.shape(dst))
    if cin != ic or cout != oc:
        cx.unsupported(f"a filter of shape {w.shape} from {ic} to {oc} channels")
    same = padding == "SAME"
    pads = (transpose_pad(oh, ih, kh, strides[0], same), transpose_pad(ow, iw, kw, strides[1], same))
    b = cx.bias(3, cout) if cx.n_inputs() > 3 else None
    weights, bias, b_q = from_file(np.moveaxis(w, 0, -1), scales, b, cx.g.q(src).scale, cout)
    cx.add(TransposeConv2D(name=cx.name, inputs=[src], outputs=[dst], weights=np.moveaxis(weights, -1, 0),
                           bias=bias, strides=strides, padding=pads, w_q=np.ascontiguousarray(w), w_scales=scales,
                           b_q=b_q))
