"""Resizing the height and width: UpSampling1D/2D (Keras) and
RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR (TFLite), with TFLite's
align_corners and half_pixel_centers.

Both keep the input's qparams (TFLite's "same scale" rule: TFLM copies or
interpolates the int8 bytes and never requantizes), so the int8 kernels take
bytes in and give bytes out. Where each output row and column reads is worked
out here once, per axis, as TFLM's kernels work it out, and stored as small
int16 tables (out_h + out_w entries; three per entry for bilinear):

* nearest (TFLM's GetNearestNeighbor, in float32 as TFLM computes it): the
  source row of each output row; Keras' UpSampling repeats, row // size;
* bilinear (TFLM's ResizeBilinearInteger, no float): the two source rows and
  the distance past the first in 1/1024ths, f, with
  scale = round(1024 * in / out) (or (in - 1) / (out - 1) with
  align_corners) and f = y * scale (+ scale / 2 - 512 with half-pixel
  centers) - 1024 * row0. The output is
  (sum of the four bytes x (1024 - f_y or f_y) x (1024 - f_x or f_x)
   + 2^19 with the sum's sign) / 2^20, truncated, as TFLM does it (its default
  build, without TFLITE_SINGLE_ROUNDING).
  f is in [-512, 1023], so each pair of weights sums to 1024 and takes at most
  2048 in magnitude: |sum| <= 128 * 2048 * 2048 = 2^29 fits int32."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op
from . import keras_layer, tflite_op
from .common import as_hwc, to_nhwc


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def nearest_rows(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """TFLM's GetNearestNeighbor for every output index (float32 arithmetic)."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel else f32(0.0)
    rows = []
    for v in range(out_size):
        s = (f32(v) + offset) * scale
        r = int(np.sign(s) * np.floor(np.abs(s) + f32(0.5))) if align_corners else int(np.floor(s))
        r = min(r, in_size - 1)
        rows.append(max(r, 0) if half_pixel else r)
    return np.array(rows, dtype=np.int16)


def bilinear_rows(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """(out_size, 3) int16: TFLM's ComputeInterpolationValuesInteger,
    (row0, row1, f) for every output index."""
    scale = ((1 << 10) * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    rows = []
    for v in range(out_size):
        s = v * scale + scale // 2 - (1 << 9) if half_pixel else v * scale
        lo = max(_c_div(s, 1 << 10), 0)
        hi = min(_c_div(s + (1 << 10) - 1, 1 << 10), in_size - 1)
        rows.append((lo, hi, s - (lo << 10)))
    return np.array(rows, dtype=np.int64).reshape(out_size, 3)


@dataclass(kw_only=True)
class Resize(Op):
    kind: ClassVar[str] = "resize"
    shares_qparams: ClassVar[bool] = True

    mode: str  # "nearest" or "bilinear"
    align_corners: bool = False
    half_pixel: bool = False
    # Keras UpSampling (nearest): output row r reads row r // size exactly.
    repeat: tuple[int, int] | None = None
    ty: np.ndarray | None = None  # the row table, filled by quantize()
    tx: np.ndarray | None = None  # the column table

    @property
    def kernel(self) -> str:
        return f"resize_{self.mode}"

    def _sizes(self, g):
        ih, iw, c = as_hwc(g.shape(self.inputs[0]))
        oh, ow, _ = as_hwc(g.shape(self.outputs[0]))
        return ih, iw, oh, ow, c

    def tables(self, g) -> tuple[np.ndarray, np.ndarray]:
        ih, iw, oh, ow, _ = self._sizes(g)
        if self.mode == "nearest":
            if self.repeat is not None:
                return (np.arange(oh, dtype=np.int16) // self.repeat[0],
                        np.arange(ow, dtype=np.int16) // self.repeat[1])
            return (nearest_rows(ih, oh, self.align_corners, self.half_pixel),
                    nearest_rows(iw, ow, self.align_corners, self.half_pixel))
        return (bilinear_rows(ih, oh, self.align_corners, self.half_pixel),
                bilinear_rows(iw, ow, self.align_corners, self.half_pixel))

    def quantize(self, g):
        """Every source index inside the input: TFLM's bilinear leaves row0
        unclamped, and with an extreme ratio (upsampling by more than ~1000)
        its rounded scale would read past the input; refused."""
        ih, iw, *_ = self._sizes(g)
        self.ty, self.tx = self.tables(g)
        for t, size in ((self.ty, ih), (self.tx, iw)):
            rows = t if t.ndim == 1 else t[:, :2]
            if rows.min() < 0 or rows.max() >= size:
                raise ValueError(f"layer {self.name!r}: resizing {size} to {len(t)} reads outside the input "
                                 "in TFLite's kernel (ratio too large)")

    def _gather(self, g, x, fn):
        ty, tx = self.tables(g)
        x = to_nhwc(x)
        return fn(x, ty, tx).reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        if self.mode == "nearest":
            return self._gather(g, xs[0].astype(np.float64), lambda x, ty, tx: x[:, ty][:, :, tx])
        ih, iw, oh, ow, _ = self._sizes(g)
        # TFLite's float kernel: the same rows, the exact fractions.
        fy, fx = (_float_rows(i, o, self.align_corners, self.half_pixel) for i, o in ((ih, oh), (iw, ow)))
        return self._gather(g, xs[0].astype(np.float64), lambda x, ty, tx: _bilinear(x, fy, fx, np.float64))

    def forward_int(self, g, xs):
        if self.mode == "nearest":
            return self._gather(g, xs[0], lambda x, ty, tx: x[:, ty][:, :, tx])

        def interp(x, ty, tx):
            s = _bilinear(x.astype(np.int64), ty, tx, np.int64)
            q = np.where(s > 0, s + (1 << 19), s - (1 << 19))
            return (np.sign(q) * (np.abs(q) >> 20)).astype(np.int8)
        return self._gather(g, xs[0], interp)

    def constants(self):
        return [CArray("y", "int16_t", self.ty), CArray("x", "int16_t", self.tx)]

    def c_call(self, g, c):
        ih, iw, oh, ow, ch = self._sizes(g)
        return (f"mcg_resize_{self.mode}_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
                f"{c.const(self, 'y')}, {c.const(self, 'x')}, {ih}, {iw}, {ch}, {oh}, {ow});")

    def describe(self):
        opts = [k for k, v in (("align_corners", self.align_corners), ("half_pixel", self.half_pixel)) if v]
        return " ".join([self.mode] + opts)


def _float_rows(in_size, out_size, align_corners, half_pixel) -> np.ndarray:
    """TFLite's float ComputeInterpolationValues: (row0, row1, fraction)."""
    scale = in_size / out_size
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    v = np.arange(out_size, dtype=np.float64)
    s = (v + 0.5) * scale - 0.5 if half_pixel else v * scale
    lo = np.maximum(np.floor(s), 0)
    hi = np.minimum(np.ceil(s), in_size - 1)
    return np.stack([lo, hi, (s - lo) * 1024], axis=1)


def _bilinear(x, ty, tx, dtype):
    """sum of the four neighbours weighted (1024 - f or f) per axis."""
    y0, y1, fy = (ty[:, k].astype(np.int64) if k < 2 else ty[:, 2].astype(dtype) for k in range(3))
    x0, x1, fx = (tx[:, k].astype(np.int64) if k < 2 else tx[:, 2].astype(dtype) for k in range(3))
    wy0, wy1 = (1024 - fy)[None, :, None, None], fy[None, :, None, None]
    wx0, wx1 = (1024 - fx)[None, None, :, None], fx[None, None, :, None]
    top = x[:, y0] * wy0 + x[:, y1] * wy1  # (N, OH, W, C)
    s = top[:, :, x0] * wx0 + top[:, :, x1] * wx1
    return s / (1 << 20) if dtype == np.float64 else s


@keras_layer("UpSampling2D", "UpSampling1D")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    size = cfg["size"]
    size = tuple(size) if isinstance(size, (list, tuple)) else (size,)
    size = (1, int(size[0])) if type(layer).__name__ == "UpSampling1D" else (int(size[0]), int(size[-1]))
    mode = cfg.get("interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        cx.unsupported(f"interpolation={mode!r} (nearest and bilinear are supported)")
    # Keras' bilinear is tf.image.resize's: half-pixel centers, no corner alignment.
    op = Resize(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], mode=mode, half_pixel=mode == "bilinear",
                repeat=size if mode == "nearest" else None)
    cx.add(op)


@tflite_op("RESIZE_NEAREST_NEIGHBOR", options="ResizeNearestNeighborOptions")
@tflite_op("RESIZE_BILINEAR", options="ResizeBilinearOptions")
def from_tflite(cx):
    """RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR of an NHWC int8 tensor to the
    constant size input 1 gives (TFLM supports no other)."""
    src, dst = cx.input(0), cx.output
    if len(cx.tshape(0)) != 4:
        cx.unsupported(f"input of rank {len(cx.tshape(0))} (NHWC expected)")
    cx.require_int8(0)
    size = [int(v) for v in np.asarray(cx.const(1)).reshape(-1)]
    out = as_hwc(cx.g.shape(dst))
    if len(size) != 2 or tuple(size) != tuple(out[:2]):
        cx.unsupported(f"size {size} for an output of shape {out}")
    qi, qo = cx.g.q(src), cx.g.q(dst)
    if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
        cx.unsupported("different input and output quantization (TFLite's kernels copy the bytes)")
    o = cx.options
    align = bool(getattr(o, "alignCorners", False)) if o is not None else False
    half = bool(getattr(o, "halfPixelCenters", False)) if o is not None else False
    mode = "nearest" if cx.opname == "RESIZE_NEAREST_NEIGHBOR" else "bilinear"
    if mode == "bilinear" and align and half:
        cx.unsupported("align_corners with half_pixel_centers (TFLite refuses the pair)")
    cx.add(Resize(name=cx.name, inputs=[src], outputs=[dst], mode=mode, align_corners=align, half_pixel=half))
