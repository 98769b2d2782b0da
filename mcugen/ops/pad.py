"""ZeroPadding1D/2D: pads with the zero point, the int8 code of 0.0."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer
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

    def forward_int8(self, g, xs):
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
