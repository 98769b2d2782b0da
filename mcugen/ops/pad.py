"""ZeroPadding1D/2D: pads with the zero point, the int8 code of 0.0."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer, tflite_op
from .common import as_hwc, to_nhwc


@dataclass(kw_only=True)
class Pad(Op):
    kind: ClassVar[str] = "pad"
    kernel: ClassVar[str] = "pad"
    shares_qparams: ClassVar[bool] = True

    pads: tuple[tuple[int, int], tuple[int, int]]

    def _pad(self, g, x, value):
        x = to_nhwc(x)
        y = np.pad(x, ((0, 0), self.pads[0], self.pads[1], (0, 0)), constant_values=value)
        return y.reshape((x.shape[0],) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        return self._pad(g, xs[0].astype(np.float64), 0.0)

    def forward_int(self, g, xs):
        return self._pad(g, xs[0], g.q(self.inputs[0]).zero_point)

    def c_call(self, g, c):
        ih, iw, ch = as_hwc(g.shape(self.inputs[0]))
        oh, ow, _ = as_hwc(g.shape(self.outputs[0]))
        return (
            f"mcg_pad_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, {ih}, {iw}, {ch}, "
            f"{oh}, {ow}, {self.pads[0][0]}, {self.pads[1][0]}, {g.q(self.outputs[0]).zero_point});"
        )

    def describe(self):
        return f"{self.pads}"


def _pairs(p, n):
    if isinstance(p, int):
        return ((p, p),) * n
    p = tuple(p)
    if all(isinstance(v, int) for v in p):
        return tuple((v, v) for v in p) if n == 2 else (tuple(p),)
    return tuple(tuple(v) for v in p)


@keras_layer("ZeroPadding2D", "ZeroPadding1D")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    if type(layer).__name__ == "ZeroPadding1D":
        pads = ((0, 0),) + _pairs(cfg["padding"], 1)
    else:
        pads = _pairs(cfg["padding"], 2)
    cx.add(Pad(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], pads=pads))


@tflite_op("PAD", options="PadOptions")
@tflite_op("PADV2", options="PadV2Options")
def from_tflite(cx):
    """PAD (and PADV2 whose constant is the zero point): zero padding of the
    height and width (or the time axis of a 1D tensor)."""
    src = cx.input(0)
    pads = np.asarray(cx.const(1), dtype=np.int64).reshape(-1, 2)
    rank = len(cx.tshape(0))
    qi, qo = cx.g.q(src), cx.g.q(cx.output)
    if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
        cx.unsupported("different input and output quantization")
    if cx.opname == "PADV2" and cx.n_inputs() > 2 and cx.const(2) is not None:
        value = np.asarray(cx.const(2)).reshape(-1)
        if value.size != 1 or int(value[0]) != qo.zero_point:
            cx.unsupported("a pad value other than the zero point")
    if len(pads) != rank or rank not in (2, 3, 4):
        cx.unsupported(f"paddings {pads.tolist()} for an input of rank {rank}")
    if pads[0].any() or pads[-1].any() or rank == 2:
        cx.unsupported(f"padding the batch or channel axis ({pads.tolist()})")
    hw = ((0, 0), tuple(int(v) for v in pads[1])) if rank == 3 else (tuple(int(v) for v in pads[1]), tuple(int(v) for v in pads[2]))
    cx.add(Pad(name=cx.name, inputs=[src], outputs=[cx.output], pads=hw))
