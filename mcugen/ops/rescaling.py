"""Keras' preprocessing layers that are an affine map, y = x * a + b:
Rescaling (scale, offset) and an adapted Normalization ((x - mean) /
max(sqrt(variance), epsilon), or its inverse).

* One a and one b for the whole tensor (the usual Rescaling(1/255) or
  Rescaling(1/127.5, offset=-1)): an ``Affine`` op. On the model input (its
  only reader, not the output), it is folded into the input's quantization
  wherever that is exact: with the output's qparams (s, z), input bytes
  q = round(x / (s / a)) + z + b / s are exactly the output's bytes when
  b / s is an integer (always for offset 0), so the op becomes a view and
  emits no code (``quantize_input`` of the generated API then takes the raw
  values, 0..255 for pixels). Elsewhere it is a 256-entry table (a function
  of one int8 value): the float map rounded to the output scale, one lookup
  per byte.
* One a and b per channel (the last axis): a ``BatchNorm`` op (a per-channel
  affine, int8 weights; folded into a preceding Conv/Dense like a
  BatchNormalization).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import QParams
from . import keras_layer
from .batchnorm import BatchNorm
from .elementwise import Elementwise


@dataclass(kw_only=True)
class Affine(Elementwise):
    kind: ClassVar[str] = "affine"

    scale: float = 1.0
    offset: float = 0.0
    folded: bool = False  # folded into the model input's quantization: a view

    @property
    def is_view(self) -> bool:
        return self.folded

    def float_fn(self, x):
        return x * self.scale + self.offset

    def computed_shape(self, g):
        return g.shape(self.inputs[0])

    def fused_activation(self):
        return None

    def _try_fold(self, g) -> bool:
        src = self.inputs[0]
        if src not in g.inputs or [id(o) for o in g.consumers(src)] != [id(self)] or self.outputs[0] in g.outputs or self.scale <= 0:
            return False
        qo = g.q(self.outputs[0])
        k = self.offset / float(qo.scale)
        zp = qo.zero_point + round(k)
        if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)) or not -128 <= zp <= 127:
            return False
        g.tensors[src].q = QParams(float(np.float32(float(qo.scale) / self.scale)), int(zp))
        return True

    def quantize(self, g):
        self.folded = self._try_fold(g)
        if self.folded:
            self.table = np.arange(-128, 128).astype(np.int8)
        else:
            super().quantize(g)

    def kernels(self, g):
        return [] if self.folded else super().kernels(g)

    def constants(self):
        return [] if self.folded else super().constants()

    def c_call(self, g, c):
        return "" if self.folded else super().c_call(g, c)

    def describe(self):
        return f"x*{self.scale:g}{self.offset:+g}" + (" (in the input quantization)" if self.folded else " (table)")


def add_affine(cx, a, b) -> None:
    """Add y = x * a + b: an Affine op for scalars, a per-channel BatchNorm
    for vectors along the last axis."""
    shape = cx.g.shape(cx.inputs[0])
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 1 and b.size == 1:
        cx.add(Affine(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], fn="affine",
                      scale=float(a.reshape(-1)[0]), offset=float(b.reshape(-1)[0])))
        return
    n = shape[-1]
    try:
        a, b = (np.broadcast_to(v, np.broadcast_shapes(v.shape, (1,) * (len(shape) + 1))) for v in (a, b))
        if any(d != 1 for v in (a, b) for d in v.shape[:-1]) or any(v.shape[-1] not in (1, n) for v in (a, b)):
            raise ValueError
    except ValueError:
        cx.unsupported(f"scale / offset of shapes {a.shape}, {b.shape}: only scalars or one value per channel "
                       f"(the last axis, {n})")
    a = np.broadcast_to(a.reshape(-1), (n,)).astype(np.float64)
    b = np.broadcast_to(b.reshape(-1), (n,)).astype(np.float64)
    cx.add(BatchNorm(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], weights=a.reshape(1, 1, n, 1),
                     bias=b.copy(), strides=(1, 1), pads=((0, 0), (0, 0))))


@keras_layer("Rescaling")
def rescaling_from_keras(layer, cx):
    cfg = layer.get_config()
    scale, offset = cfg.get("scale", 1.0), cfg.get("offset", 0.0)
    if isinstance(scale, dict) or isinstance(offset, dict):  # a serialized array
        import keras

        scale, offset = keras.ops.convert_to_numpy(layer.scale), keras.ops.convert_to_numpy(layer.offset)
    add_affine(cx, scale, offset)


@keras_layer("Normalization")
def normalization_from_keras(layer, cx):
    import keras

    if getattr(layer, "mean", None) is None or getattr(layer, "variance", None) is None:
        cx.unsupported("a Normalization that was never adapted (no mean / variance)")
    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), np.float64)
    var = np.asarray(keras.ops.convert_to_numpy(layer.variance), np.float64)
    std = np.maximum(np.sqrt(var), float(keras.config.epsilon()))
    if layer.get_config().get("invert", False):
        add_affine(cx, std, mean)
    else:
        add_affine(cx, 1.0 / std, -mean / std)
