"""Keras GRU (reset_after true or false), int8 in and out, on int16
fixed-point internals (``rnn_common.py`` says what is computed and how it
relates to TFLM's integer LSTM).

Keras' GRU, gates in the column order [z, r, h] of its kernels:
    z  = sigmoid(x Wz + bz + h Uz (+ bz'))
    r  = sigmoid(x Wr + br + h Ur (+ br'))
    hh = tanh(x Wh + bh + r * (h Uh + bh'))      reset_after=True
    hh = tanh(x Wh + bh + (r * h) Uh)            reset_after=False
    h  = z * h + (1 - z) * hh
(b' the recurrent bias, reset_after only). In integers, per step:
    gx = FC(x -> Q3.12) over the 3U columns, gr = FC(h -> Q3.12)
    z  = Logistic16(sat(gx_z + gr_z)),  r = Logistic16(sat(gx_r + gr_r))   Q0.15
    reset_after:  a = sat(gx_h + Mul(r, gr_h -> Q3.12))
    otherwise:    a = sat(gx_h + FC(Mul(r, h -> Q0.15) -> Q3.12))
    hh = Tanh16(a)                                                          Q0.15
    h  = sat(Mul(z, h -> Q0.15) + Mul(32767 - z, hh -> Q0.15))
and the int8 output is h requantized to the output's scale. TFLM's LSTM
updates its cell state the same way (c = f * c + i * g, two MulElementwise
and a saturating add); its CIFG variant takes the input gate as 32767 - f
(Sub1Vector), as z and 1 - z here. The C kernel is templates/kernels/gru.c.j2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import keras_layer
from .rnn_common import (
    add_recurrent,
    ONE_Q15,
    Recurrent,
    check_recurrent_config,
    logistic16,
    mul16,
    recurrent_layer,
    sat16,
    sigmoid,
    tanh16,
)


@dataclass(kw_only=True)
class GRU(Recurrent):
    kind: ClassVar[str] = "gru"
    kernel: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3

    reset_after: bool = True

    def _cols(self):
        u = self.units
        return slice(0, u), slice(u, 2 * u), slice(2 * u, 3 * u)

    def cell_float(self, xw, h):
        cz, cr, ch = self._cols()
        if self.reset_after:
            rec = self.recurrent_float(h)
            z = sigmoid(xw[:, cz] + rec[:, cz])
            r = sigmoid(xw[:, cr] + rec[:, cr])
            hh = np.tanh(xw[:, ch] + r * rec[:, ch])
        else:
            rec = self.recurrent_float(h, slice(0, 2 * self.units))
            z = sigmoid(xw[:, cz] + rec[:, cz])
            r = sigmoid(xw[:, cr] + rec[:, cr])
            hh = np.tanh(xw[:, ch] + (r * h) @ self.recurrent_w[:, ch].astype(np.float64))
        return z * h + (1.0 - z) * hh

    def cell_int(self, gx, h):
        cz, cr, ch = self._cols()
        m, s = self.mul
        if self.reset_after:
            rec = self.recurrent_int(h)
            z = logistic16(sat16(gx[:, cz] + rec[:, cz]))
            r = logistic16(sat16(gx[:, cr] + rec[:, cr]))
            a = sat16(gx[:, ch] + mul16(r, rec[:, ch], m, s))
        else:
            rec = self.recurrent_int(h, slice(0, 2 * self.units))
            z = logistic16(sat16(gx[:, cz] + rec[:, cz]))
            r = logistic16(sat16(gx[:, cr] + rec[:, cr]))
            a = sat16(gx[:, ch] + self.recurrent_int(mul16(r, h, m, s), ch))
        hh = tanh16(a)
        return sat16(mul16(z, h, m, s) + mul16(ONE_Q15 - z, hh, m, s))

    def scratch_units(self):
        return 4  # h, z, and two vectors of the candidate (a; or r*h and gx_h)

    def extra_flags(self):
        return 8 if self.reset_after else 0

    def describe(self):
        return super().describe() + ("" if self.reset_after else ", reset_after=False")


@recurrent_layer("GRU")
def gru_op(layer, name, inputs, outputs, unsupported, reverse_output=False) -> GRU:
    cfg = layer.get_config()
    check_recurrent_config(layer, cfg, unsupported, {"activation": "tanh", "recurrent_activation": "sigmoid"})
    weights = layer.get_weights()
    units = int(cfg["units"])
    reset_after = bool(cfg.get("reset_after", True))
    bias_x = bias_h = None
    if cfg.get("use_bias", True):
        b = np.asarray(weights[2])
        if reset_after:
            bias_x, bias_h = b[0], b[1]
        else:
            bias_x = b
    return GRU(name=name, inputs=inputs, outputs=outputs, units=units, kernel_w=np.asarray(weights[0]),
               recurrent_w=np.asarray(weights[1]), bias_x=bias_x, bias_h=bias_h, reset_after=reset_after,
               go_backwards=bool(cfg.get("go_backwards", False)),
               return_sequences=bool(cfg.get("return_sequences", False)), reverse_output=reverse_output)


@keras_layer("GRU")
def from_keras(layer, cx):
    add_recurrent(cx, lambda inputs: gru_op(layer, cx.name, inputs, [cx.output], cx.unsupported))
