"""Keras SimpleRNN (tanh), int8 in and out, on int16 fixed-point internals
(``rnn_common.py`` says what is computed and how it relates to TFLM's
integer LSTM).

Keras: h = tanh(x W + b + h U). In integers, per step:
    a = sat(FC(x -> Q3.12) + FC(h -> Q3.12))     (TFLM's gate pre-activation)
    h = Tanh16(a)                                 Q0.15 (TFLM's Tanh on int16)
and the int8 output is h requantized to the output's scale. The C kernel
is templates/kernels/simple_rnn.c.j2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import keras_layer
from .rnn_common import Recurrent, add_recurrent, check_recurrent_config, recurrent_layer, sat16, tanh16


@dataclass(kw_only=True)
class SimpleRNN(Recurrent):
    kind: ClassVar[str] = "simple_rnn"
    kernel: ClassVar[str] = "simple_rnn"
    gates: ClassVar[int] = 1

    def cell_float(self, xw, h):
        return np.tanh(xw + self.recurrent_float(h))

    def cell_int(self, gx, h):
        return tanh16(sat16(gx + self.recurrent_int(h)))

    def scratch_units(self):
        return 2  # h and the pre-activations


@recurrent_layer("SimpleRNN")
def simple_rnn_op(layer, name, inputs, outputs, unsupported, reverse_output=False) -> SimpleRNN:
    cfg = layer.get_config()
    check_recurrent_config(layer, cfg, unsupported, {"activation": "tanh"})
    weights = layer.get_weights()
    bias = np.asarray(weights[2]) if cfg.get("use_bias", True) else None
    return SimpleRNN(name=name, inputs=inputs, outputs=outputs, units=int(cfg["units"]),
                     kernel_w=np.asarray(weights[0]), recurrent_w=np.asarray(weights[1]), bias_x=bias,
                     go_backwards=bool(cfg.get("go_backwards", False)),
                     return_sequences=bool(cfg.get("return_sequences", False)), reverse_output=reverse_output)


@keras_layer("SimpleRNN")
def from_keras(layer, cx):
    add_recurrent(cx, lambda inputs: simple_rnn_op(layer, cx.name, inputs, [cx.output], cx.unsupported))
