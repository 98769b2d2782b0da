"""Flatten and Reshape: views. In NHWC order they change no byte, so they emit
no code; the memory planner gives the output the input's bytes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir import Op
from . import keras_layer


@dataclass(kw_only=True)
class Reshape(Op):
    kind: ClassVar[str] = "reshape"
    shares_qparams: ClassVar[bool] = True
    is_view: ClassVar[bool] = True

    def forward_float(self, g, xs):
        return xs[0].reshape((xs[0].shape[0],) + g.shape(self.outputs[0]))

    def forward_int8(self, g, xs):
        return xs[0].reshape((xs[0].shape[0],) + g.shape(self.outputs[0]))

    def c_call(self, g, c):
        return ""

    def describe(self):
        return "view"


@keras_layer("Flatten", "Reshape")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    cx.add(Reshape(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output]))
